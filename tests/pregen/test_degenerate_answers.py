"""Degenerate answers through a real batch run on the fake Ollama: excluded and regenerated,
or cut and kept with a note, counted per model on /status; answers stopped at the token
limit shown as stopped; the reveal's speed and time without the model's load."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from arena.config import DEFAULT_SYSTEM_PROMPT
from arena.extensions import db
from arena.models import Battle, GenerationFailure, Model
from arena.ops import pool_report_cache
from tests.support.battles import NEUTRAL_ANSWER, battle_id_of
from tests.support.fake_ollama import FakeOllama
from tests.support.pregen import answers

GEMMA = "gemma3:4b"
LLAMA = "llama3.2:1b"
QWEN = "qwen2.5:0.5b-instruct-q8_0"
CLEAN = "Paris is the capital of France, and it has been for centuries."
FAIR_START = (
    "The ocean covers about seventy per cent of the planet. It stores heat from the sun, "
    "moves it around the globe in currents, and gives us much of the oxygen we breathe. "
)
OCEAN = "The ocean is a large, warm body of water."


def _sync(runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["models", "sync"]).exit_code == 0


def _pool_answers(app: Flask, client: FlaskClient) -> dict[str, dict[str, Any]]:
    with app.app_context():
        pool_report_cache.refresh(app)
    pool = client.get("/status.json").get_json()["pool"]
    return {row["model"]: row for row in pool["answers"]}


def _display_name(app: Flask, tag: str) -> str:
    with app.app_context():
        model = db.session.scalar(select(Model).where(Model.tag == tag))
        assert model is not None
        return model.display_name


def test_an_echo_of_the_system_prompt_is_excluded_regenerated_and_counted(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    seeds: list[int] = []

    def gemma(request: dict[str, Any]) -> str:
        seeds.append(request["options"]["seed"])
        if len(seeds) == 1:  # the demo's Gemma, issue 14: the system prompt, then role words
            echo = f"{DEFAULT_SYSTEM_PROMPT}\n\nWrite a limerick. peringkatmodel\n"
            return echo + DEFAULT_SYSTEM_PROMPT
        return CLEAN

    for tag in (LLAMA, QWEN):
        fake_ollama.set_answer(tag, NEUTRAL_ANSWER)
    fake_ollama.set_answer(GEMMA, gemma)
    _sync(runner)
    result = runner.invoke(args=["pregenerate", "--prompts", "1"])
    assert result.exit_code == 0, result.output

    excluded = answers(app, "excluded")
    assert [r.model.tag for r in excluded] == [GEMMA]
    assert (excluded[0].status_reason or "").startswith("degenerate answer (echo)")
    assert excluded[0].seed == seeds[0] != seeds[1]
    assert [r.text for r in answers(app) if r.model.tag == GEMMA] == [CLEAN]

    rows = _pool_answers(app, client)
    gemma_row = rows[_display_name(app, GEMMA)]
    assert (gemma_row["usable"], gemma_row["degenerate"], gemma_row["leaks"]) == (1, 1, 0)
    assert rows[_display_name(app, LLAMA)]["degenerate"] == 0
    page = client.get("/status").get_data(as_text=True)
    assert "Answers per model" in page and "Excluded: degenerate" in page

    # Excluded answers never reach a battle.
    for _ in range(4):
        client.get("/")
    with app.app_context():
        shown = {
            response_id
            for battle in db.session.scalars(select(Battle))
            for response_id in (battle.left_response_id, battle.right_response_id)
        }
        assert shown and excluded[0].id not in shown


def test_a_model_that_loops_twice_gives_up_on_the_prompt(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_answer(None, NEUTRAL_ANSWER)
    fake_ollama.set_answer(GEMMA, " ".join([OCEAN] * 12))
    _sync(runner)
    result = runner.invoke(args=["pregenerate", "--prompts", "1"])
    assert result.exit_code == 3, result.output  # Gemma's answer failed
    assert len(answers(app, "excluded")) == 2  # the answer and its regeneration
    with app.app_context():
        failures = db.session.scalars(select(GenerationFailure)).all()
        assert [f.kind for f in failures] == ["degenerate"]
        assert "again with another seed" in failures[0].reason


def test_a_loop_after_a_fair_answer_is_cut_kept_and_shown_as_cut(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    for tag in (LLAMA, QWEN):
        fake_ollama.set_answer(tag, NEUTRAL_ANSWER)
    fake_ollama.set_answer(GEMMA, FAIR_START + " ".join([OCEAN] * 7))
    _sync(runner)
    assert runner.invoke(args=["pregenerate", "--prompts", "1"]).exit_code == 0
    (cut,) = [r for r in answers(app) if r.model.tag == GEMMA]
    assert cut.text == (FAIR_START + OCEAN) and cut.text.count(OCEAN) == 1
    assert (cut.status_reason or "").startswith("cut: loop")
    assert answers(app, "excluded") == []
    assert _pool_answers(app, client)[_display_name(app, GEMMA)]["cut"] == 1

    page = _battle_with(app, cut.id)
    assert "…cut here: the rest repeated itself" in page
    assert page.count('class="answer-note"') == 1  # the other answer ended by itself


def test_an_answer_stopped_at_the_token_limit_says_so(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    app.config["GEN_NUM_PREDICT"] = 6  # the fake answers one token per word
    long = "one two three four five six seven eight nine ten eleven twelve"
    fake_ollama.set_answer(None, long)
    fake_ollama.set_answer(GEMMA, "Short and done.")
    _sync(runner)
    assert runner.invoke(args=["pregenerate", "--prompts", "1"]).exit_code == 0
    stopped = [r for r in answers(app) if r.done_reason == "length"]
    assert {r.model.tag for r in stopped} == {LLAMA, QWEN}
    assert {r.eval_count for r in stopped} == {6}
    assert _pool_answers(app, client)[_display_name(app, LLAMA)]["at_limit"] == 1

    # Both sides stopped: the same note on each, naming no model.
    page = _battle_between(app, [r.id for r in stopped])
    assert page.count("…stopped at 6 tokens") == 2
    # One side stopped, the other ended by itself: only the stopped one has a note.
    (done,) = [r for r in answers(app) if r.model.tag == GEMMA]
    assert done.done_reason == "stop"
    mixed = _battle_between(app, [stopped[0].id, done.id])
    assert mixed.count("…stopped at 6 tokens") == 1


def test_the_reveal_speed_and_time_leave_out_the_load(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    fake_ollama.load_delay = 0.3  # every first answer of a model pays a load
    fake_ollama.set_answer(None, NEUTRAL_ANSWER)
    _sync(runner)
    assert runner.invoke(args=["pregenerate", "--prompts", "1"]).exit_code == 0
    page = client.get("/").get_data(as_text=True)
    battle_id = battle_id_of(page)
    assert client.post("/vote", data={"battle_id": battle_id, "outcome": "tie"}).status_code == 303
    reveal = client.get(f"/battle/{battle_id}").get_data(as_text=True)
    with app.app_context():
        battle = db.session.get_one(Battle, battle_id)
        for response in (battle.left, battle.right):
            assert response.load_duration is not None and response.load_duration >= 0.3e9
            assert response.total_duration is not None and response.eval_duration is not None
            generation = (response.total_duration - response.load_duration) / 1e9
            assert response.seconds == generation
            assert f"{generation:.1f} s" in reveal
            speed = response.eval_count / (response.eval_duration / 1e9)  # type: ignore[operator]
            assert f"{speed:.1f} tokens/s" in reveal
            assert response.options["concurrency"] == 1  # the batch runs one at a time
    assert "model loading excluded" in reveal
    assert "measured while its server had 1 request from the arena under way" in reveal


def _battle_with(app: Flask, response_id: int) -> str:
    """A battle showing ``response_id``, as a fresh voter meets it (a voter sees each answer
    once, so each try is a new voter)."""
    for _ in range(30):
        page = app.test_client().get("/").get_data(as_text=True)
        with app.app_context():
            battle = db.session.get_one(Battle, battle_id_of(page))
            if response_id in (battle.left_response_id, battle.right_response_id):
                return page
    raise AssertionError(f"answer {response_id} was never served")


def _battle_between(app: Flask, response_ids: list[int]) -> str:
    """A battle of exactly these two answers, as a fresh voter meets it."""
    for _ in range(30):
        page = app.test_client().get("/").get_data(as_text=True)
        with app.app_context():
            battle = db.session.get_one(Battle, battle_id_of(page))
            if {battle.left_response_id, battle.right_response_id} == set(response_ids):
                return page
    raise AssertionError(f"answers {response_ids} were never served together")
