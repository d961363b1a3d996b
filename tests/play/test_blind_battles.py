"""The blindness rule: a voter never sees an answer twice, nor, on a prompt, an answer by a
model already revealed to them there; when nothing blind is left, nothing is served."""

from __future__ import annotations

import random
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select, update

from arena.extensions import db
from arena.models import Battle, Model, Prompt, Response, Vote
from arena.play.battles import record_vote, serve_battle
from arena.play.matchmaking import choose_matchup
from tests.support.app import make_app
from tests.support.battles import battle_id_of
from tests.support.blind import Witness, slate_pool

DONE = "You have judged every battle in the pool"


def test_a_voter_with_200_votes_never_sees_an_answer_twice_nor_a_revealed_model(
    tmp_path: Path, nothing_listens: str
) -> None:
    # Rate limits off: one client casts 200 votes in a few seconds.
    app = make_app(tmp_path / "instance", nothing_listens, RATELIMIT_ENABLED=False)
    slate_pool(app, 8, 60)  # 60 prompts x 8 answers: 4 battles each
    client = app.test_client()
    witness, votes, rng = Witness(), 0, random.Random(5)
    while True:
        page = client.get("/").get_data(as_text=True)
        if 'name="battle_id"' not in page:
            break
        battle_id = battle_id_of(page)
        prompt, a, b = witness.check(app, battle_id)
        if votes < 200 and witness.battles % 7 == 0:
            continue  # skipped: shown but never voted on, so its two answers are spent too
        outcome = rng.choice(("a", "b", "tie", "both_bad"))
        assert (
            client.post("/vote", data={"battle_id": battle_id, "outcome": outcome}).status_code
            == 303
        )
        witness.voted(prompt, a, b)
        votes += 1
    assert votes >= 200
    # Every answer was shown exactly once: all 60 x 8 / 2 battles, and then the empty page.
    assert witness.battles == 240 and len(witness.served) == 480
    assert DONE in page
    with app.app_context():
        served = db.session.scalar(select(func.count(Battle.id)))
        assert served == 240
    assert 'name="battle_id"' in app.test_client().get("/").get_data(as_text=True)


def test_skipped_battles_burn_their_answers(app: Flask) -> None:
    slate_pool(app, 2, 3)  # one battle per prompt
    client = app.test_client()
    witness = Witness()
    prompts = set()
    for _ in range(3):
        prompt, _a, _b = witness.check(app, battle_id_of(client.get("/").get_data(as_text=True)))
        prompts.add(prompt)
    assert len(prompts) == 3
    assert DONE in client.get("/").get_data(as_text=True)


def _replace_answer(app: Flask, prompt_id: int, model_id: int) -> int:
    """Another usable answer of this model to this prompt (another seed); the old one is
    taken out of use, as only one usable answer per (prompt, model) may exist at a time."""
    with app.app_context():
        db.session.execute(
            update(Response)
            .where(Response.prompt_id == prompt_id, Response.model_id == model_id)
            .values(status="excluded")
        )
        answer = Response(prompt_id=prompt_id, model_id=model_id, text="same model, new seed")
        db.session.add(answer)
        db.session.commit()
        return answer.id


def test_another_answer_of_a_revealed_model_is_never_shown_on_that_prompt(app: Flask) -> None:
    _, (prompt,) = slate_pool(app, 3, 1)
    client = app.test_client()
    witness = Witness()
    battle_id = battle_id_of(client.get("/").get_data(as_text=True))
    voted = witness.check(app, battle_id)
    assert client.post("/vote", data={"battle_id": battle_id, "outcome": "a"}).status_code == 303
    witness.voted(*voted)
    # One answer is still blind, but it has no blind partner: a new answer by a model just
    # revealed on this prompt does not count as one.
    _replace_answer(app, prompt, voted[1])
    assert DONE in client.get("/").get_data(as_text=True)
    # A newcomer may see it.
    stranger = app.test_client()
    witness_b = Witness()
    witness_b.check(app, battle_id_of(stranger.get("/").get_data(as_text=True)))


def test_a_visitors_own_prompt_obeys_the_rule(app: Flask) -> None:
    _, (prompt,) = slate_pool(app, 3, 1)
    with app.app_context():
        db.session.execute(update(Prompt).values(shared=False))  # private, like a visitor's
        db.session.commit()
    with app.test_request_context():
        view = serve_battle("visitor", prompt_id=prompt)
        assert view is not None
        vote = record_vote(view.id, "visitor", "tie")
        revealed = {vote.model_a_id, vote.model_b_id}
        assert choose_matchup("visitor", prompt_id=prompt) is None  # one blind answer left
    _replace_answer(app, prompt, min(revealed))
    with app.test_request_context():
        assert choose_matchup("visitor", prompt_id=prompt) is None  # its model was revealed
        assert serve_battle("visitor") is None  # not in the shared pool either
        for seed in range(10):  # someone else: any two of the three usable answers
            matchup = choose_matchup(f"other{seed}", prompt_id=prompt, rng=random.Random(seed))
            assert matchup is not None and matchup.prompt_id == prompt
        # Skipped (served, never voted): its answers are spent too.
        view = serve_battle("skipper", prompt_id=prompt)
        assert view is not None
        assert choose_matchup("skipper", prompt_id=prompt) is None


def test_the_last_resort_search_obeys_the_rule(app: Flask) -> None:
    # 12 models. The six with the fewest votes (the only first models tried) answered only
    # prompt P1, all of whose answers this voter was already shown; the six others answered
    # only P2: a battle there is found by the last-resort search over the whole pool.
    with app.app_context():
        db.session.execute(update(Prompt).values(shared=False))
        models = [Model(tag=f"r{i}:1b", display_name=f"r{i}") for i in range(12)]
        p1, p2 = (Prompt(text=t, text_hash=t, category="fun") for t in ("p1", "p2"))
        db.session.add_all([*models, p1, p2])
        db.session.flush()
        low, high = [m.id for m in models[:6]], [m.id for m in models[6:]]
        answers = {
            (p.id, m): Response(prompt_id=p.id, model_id=m, text="x")
            for p, group in ((p1, low), (p2, high))
            for m in group
        }
        db.session.add_all(answers.values())
        db.session.add_all(
            Vote(model_a_id=a, model_b_id=b, outcome="a")
            for a, b in zip(high, high[1:] + high[:1], strict=True)
        )
        db.session.flush()
        for i in range(0, 6, 2):
            left, right = answers[(p1.id, low[i])], answers[(p1.id, low[i + 1])]
            db.session.add(
                Battle(
                    id=f"seen{i}",
                    prompt_id=p1.id,
                    left_response_id=left.id,
                    right_response_id=right.id,
                    voter="heavy",
                )
            )
        db.session.commit()
        p1_id, p2_id = p1.id, p2.id
    witness = Witness(served={r for (p, _), r in _ids(app, p1_id)})
    with app.test_request_context():
        battles = []
        while (view := serve_battle("heavy", rng=random.Random(len(battles)))) is not None:
            battles.append(view.id)
            if len(battles) == 1:
                record_vote(view.id, "heavy", "a")
    assert len(battles) == 3  # six answers to P2: three battles, then nothing
    first = witness.check(app, battles[0])
    witness.voted(*first)
    for battle_id in battles[1:]:
        assert witness.check(app, battle_id)[0] == p2_id
    # A new answer by a model revealed on P2 is not blind: still nothing for this voter.
    _replace_answer(app, p2_id, first[1])
    with app.test_request_context():
        assert serve_battle("heavy") is None
        assert choose_matchup("newcomer") is not None


def _ids(app: Flask, prompt_id: int) -> list[tuple[tuple[int, int], int]]:
    with app.app_context():
        rows = db.session.execute(
            select(Response.prompt_id, Response.model_id, Response.id).where(
                Response.prompt_id == prompt_id
            )
        )
        return [((p, m), r) for p, m, r in rows]
