"""The demo's pool filler: batches of growing size (a first battle after one answer of each
model), the state the pages read, and a restart that generates nothing when the pool is full
and says so (``arena.cli.demo.plan_line``)."""

from __future__ import annotations

import threading
import time

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from arena.cli.demo import plan_line
from arena.extensions import db
from arena.models import GenerationRun, Model, Response
from arena.pregen.filling import (
    PoolFiller,
    Timings,
    about,
    next_battle_seconds,
    read_state,
)
from tests.support.battles import battle_id_of
from tests.support.fake_ollama import FakeOllama
from tests.support.pregen import wait_for

TAGS = ["llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0"]


@pytest.fixture
def two_models(app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama) -> list[str]:
    for tag in TAGS:
        result = runner.invoke(args=["models", "add", tag])
        assert result.exit_code == 0, result.output
    app.config["POOL_TARGET"] = 5
    return TAGS


def answers_in_order(app: Flask) -> list[tuple[int, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(Response.prompt_id, Model.tag)
            .join(Model, Model.id == Response.model_id)
            .order_by(Response.id)
        )
        return [(prompt_id, tag) for prompt_id, tag in rows]


def test_the_first_prompt_is_answered_by_both_models_before_any_other(
    app: Flask, two_models: list[str]
) -> None:
    said: list[str] = []
    PoolFiller(app, tags=two_models, say=said.append, until_full=True).run()

    order = answers_in_order(app)
    assert len(order) == 10  # 5 prompts x 2 models
    first_prompt = order[0][0]
    assert [p for p, _ in order[:2]] == [first_prompt, first_prompt]
    assert {tag for _, tag in order[:2]} == set(two_models)
    with app.app_context():
        runs = db.session.scalars(select(GenerationRun).order_by(GenerationRun.id)).all()
        # 1 prompt, then 2, then the 2 the target still lacks: each model loaded once a batch
        assert [run.planned for run in runs] == [2, 4, 4]
    assert said[0].startswith("battle 1 ready")
    assert any(line.startswith("battle 5 ready") for line in said), said
    state = read_state(app.instance_path)
    assert state is not None and state.state == "stopped" and state.battles_made == 5
    assert not state.active


def test_a_restart_on_a_full_pool_generates_nothing_and_says_so(
    app: Flask, two_models: list[str]
) -> None:
    with app.app_context():
        before = plan_line(two_models)
    assert (
        "the pool has 0 battles for a new visitor (target 5); generating 5 more prompts x 2"
        in before
    )
    PoolFiller(app, tags=two_models, say=lambda _line: None, until_full=True).run()
    generated = len(answers_in_order(app))
    with app.app_context():
        again = plan_line(two_models)
    assert again.startswith("the pool has 5 battles for a new visitor (target 5): nothing to")
    assert "generating" not in again

    said: list[str] = []
    PoolFiller(app, tags=two_models, say=said.append, until_full=True).run()
    assert len(answers_in_order(app)) == generated  # nothing generated, as announced
    assert said == []
    with app.app_context():
        assert len(db.session.scalars(select(GenerationRun)).all()) == 3  # no new run


def test_the_filler_serves_visitors_and_stops_when_asked_while_the_pool_is_full(
    app: Flask, two_models: list[str]
) -> None:
    visits = threading.Event()
    filler = PoolFiller(
        app,
        tags=two_models,
        say=lambda _line: None,
        between_answers=visits.set,
        poll_seconds=60,
    )
    thread = threading.Thread(target=filler.run)
    thread.start()
    try:
        assert wait_for(lambda: getattr(read_state(app.instance_path), "state", "") == "waiting")
        state = read_state(app.instance_path)
        assert state is not None and state.active  # this process, waiting for battles to go
        assert visits.is_set()
    finally:
        filler.stop()
        thread.join(30)
    assert not thread.is_alive()
    state = read_state(app.instance_path)
    assert state is not None and state.state == "stopped" and not state.active


def test_the_guard_is_held_while_the_filler_runs(app: Flask, two_models: list[str]) -> None:
    guard = threading.Lock()
    seen: list[bool] = []
    filler = PoolFiller(
        app,
        tags=two_models,
        guard=guard,
        say=lambda _line: None,
        between_answers=lambda: seen.append(guard.locked()),
        until_full=True,
    )
    filler.run()
    assert seen and all(seen)
    assert not guard.locked()


def test_the_estimate_leaves_the_load_out_of_each_answer() -> None:
    timings = Timings()
    timings.observe("a", total_s=14.0, load_s=4.0)  # a first answer: 4 s of it loading
    timings.observe("a", total_s=10.0, load_s=0.0)
    timings.observe("b", total_s=23.0, load_s=3.0)
    assert timings.answer_seconds("a") == 10.0  # not 12: the load is not an answer's time
    assert timings.load_seconds("a") == 4.0
    order = [("a", 2), ("b", 2)]
    # model by model: load a, a answers both its prompts, load b, b answers the first
    assert next_battle_seconds(order, {}, timings) == 4 + 2 * 10 + 3 + 20
    # a answered both prompts: b loads and answers one
    assert next_battle_seconds(order, {"a": 2}, timings) == 3 + 20
    # b answered the first prompt: it is loaded, the next battle is one answer away
    assert next_battle_seconds(order, {"a": 2, "b": 1}, timings) == 20
    # a model never seen is guessed from the slowest known one, not left out
    assert next_battle_seconds([("c", 1), ("b", 1)], {}, timings) == 4 + 20 + 3 + 20
    assert next_battle_seconds(order, {}, Timings()) is None


def test_about() -> None:
    assert about(1) == "a moment"
    assert about(7) == "a few seconds"
    assert about(21) == "about 20 s"
    assert about(200) == "about 3 min"


def test_a_restart_after_a_voter_judged_everything_generates_for_them_and_says_why(
    app: Flask, two_models: list[str]
) -> None:
    PoolFiller(app, tags=two_models, say=lambda _line: None, until_full=True).run()
    client = app.test_client()
    for _ in range(5):
        html = client.get("/").get_data(as_text=True)
        client.post("/vote", data={"battle_id": battle_id_of(html), "outcome": "tie"})
    assert 'name="battle_id"' not in client.get("/").get_data(as_text=True)
    with app.app_context():
        line = plan_line(two_models)
    assert line.startswith(
        "the pool has 5 battles for a new visitor (target 5; a recent voter has 0 left); "
        "generating 5 more prompts x 2 models"
    ), line
    before = len(answers_in_order(app))
    PoolFiller(app, tags=two_models, say=lambda _line: None, until_full=True).run()
    assert len(answers_in_order(app)) == before + 10  # the 5 prompts announced, 2 answers each


def test_stopping_ends_the_answer_in_progress_which_is_not_stored(
    app: Flask, two_models: list[str], fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_answer(two_models[0], " ".join(["word"] * 2000))
    fake_ollama.token_delay = 0.25  # the whole answer would take minutes
    filler = PoolFiller(app, tags=two_models, say=lambda _line: None)
    thread = threading.Thread(target=filler.run)
    thread.start()
    try:
        assert wait_for(lambda: bool(fake_ollama.requests_to("/api/chat")), timeout=60)
        time.sleep(1.0)  # a few words streamed
    finally:
        filler.stop()
        thread.join(120)
    assert not thread.is_alive()
    assert answers_in_order(app) == []  # the half-written answer was dropped
    state = read_state(app.instance_path)
    assert state is not None and state.state == "stopped"
