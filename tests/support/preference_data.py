"""Votes with battles for the preference data tests: cast over HTTP by voters of the real app,
on answers pre-generated from the fake Ollama (a text per model, so each side tells its model)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from arena.extensions import db
from arena.models import Vote
from tests.support.battles import battle_id_of
from tests.support.fake_ollama import FakeOllama

SIDE_ANSWERS = {
    "llama3.2:1b": "A first careful answer.",
    "qwen2.5:0.5b-instruct-q8_0": "A second careful answer.",
    "gemma3:4b": "A third careful answer.",
}


def answer_pool(runner: FlaskCliRunner, fake_ollama: FakeOllama, prompts: int) -> None:
    """The three fake models' answers to ``prompts`` prompts: with 3 models a voter gets one
    blind battle per prompt, so ``prompts`` votes per voter."""
    for tag, text in SIDE_ANSWERS.items():
        fake_ollama.set_answer(tag, text)
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    result = runner.invoke(args=["pregenerate", "--prompts", str(prompts)])
    assert result.exit_code == 0, result.output


def cast_votes(app: Flask, outcomes: list[str], per_voter: int) -> list[int]:
    """Votes with these outcomes, in order, by new voters (a new client each ``per_voter``
    votes); their ids."""
    ids: list[int] = []
    client = app.test_client()
    for n, outcome in enumerate(outcomes):
        if n and n % per_voter == 0:
            client = app.test_client()
        battle_id = battle_id_of(client.get("/").get_data(as_text=True))
        response = client.post("/vote", data={"battle_id": battle_id, "outcome": outcome})
        assert response.status_code in (200, 302, 303), response.status_code
        with app.app_context():
            vote_id = db.session.scalar(select(Vote.id).where(Vote.battle_id == battle_id))
        assert vote_id is not None
        ids.append(vote_id)
    return ids


@dataclass(frozen=True)
class Voted:
    """One stored vote as the database has it, read through the ORM (not the export's SQL)."""

    id: int
    outcome: str
    prompt: str
    category: str
    model_a: str
    model_b: str
    answer_a: str
    answer_b: str

    def record(self, with_outcome: bool = False) -> dict[str, str]:
        """The preference record this vote should give."""
        a = (self.answer_a, self.model_a)
        b = (self.answer_b, self.model_b)
        chosen, rejected = (b, a) if self.outcome == "b" else (a, b)
        record = {
            "prompt": self.prompt,
            "chosen": chosen[0],
            "rejected": rejected[0],
            "chosen_model": chosen[1],
            "rejected_model": rejected[1],
            "category": self.category,
        }
        if with_outcome:
            record["outcome"] = self.outcome
        return record


def stored_votes(app: Flask) -> dict[int, Voted]:
    """Every vote with a battle, by id."""
    with app.app_context():
        votes = db.session.scalars(select(Vote).where(Vote.battle_id.is_not(None))).all()
        found = {}
        for vote in votes:
            battle = vote.battle
            assert battle is not None
            assert (battle.left.model.tag, battle.right.model.tag) == (
                vote.model_a.tag,
                vote.model_b.tag,
            )
            found[vote.id] = Voted(
                vote.id,
                vote.outcome,
                battle.prompt.text,
                battle.prompt.category,
                battle.left.model.tag,
                battle.right.model.tag,
                battle.left.text,
                battle.right.text,
            )
        return found
