"""A visitor's own prompt: queued from the page, answered by the worker with two models
ahead of batch work, and the waiting page becomes the battle."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from arena.backends.configured import get_backend
from arena.extensions import db
from arena.models import Model, Prompt, Response, VisitorRequest
from arena.ops.heartbeat import beat
from arena.pregen import BatchRequest, RunControl, run_batch, visitor
from arena.pregen.generate import AnswerMaker, MeteredBackend, ModelRef
from tests.support.fake_ollama import FakeOllama
from tests.support.html_checks import start_tags

QUESTION = "Which is heavier, a kilogram of feathers or a kilogram of iron?"


def _sync(runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["models", "sync"]).exit_code == 0


def _ask(client: FlaskClient, text: str = QUESTION) -> str:
    response = client.post("/ask", data={"prompt": text})
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def _worker_tick(app: Flask) -> int:
    """What the worker's visitors' job does once, in-process."""
    with app.app_context():
        beat("idle")
        maker = AnswerMaker(MeteredBackend(get_backend()), app.config)
        return visitor.process_queue(maker, app.config)


def test_a_visitors_prompt_becomes_their_battle(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _sync(runner)
    form = client.get("/ask").get_data(as_text=True)
    assert 'name="prompt"' in form and 'maxlength="4000"' in form
    waiting = _ask(client)

    page = client.get(waiting)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "No worker is running" in html  # no heartbeat yet
    assert 'number <strong data-field="position">1</strong> in the queue' in html
    refresh = [a for tag, a in start_tags(html) if tag == "meta" and ("http-equiv", "refresh") in a]
    assert refresh == [[("http-equiv", "refresh"), ("content", "3")]]
    scripts = [dict(a) for tag, a in start_tags(html) if tag == "script"]
    assert [(s["src"].split("?v=")[0], s) for s in scripts] == [
        ("/static/ask.js", {"src": scripts[0]["src"], "defer": None})
    ]  # no inline script (static URLs carry ?v=<hash of the file>)
    status = client.get(waiting + ".json").get_json()
    assert status["state"] == "queued" and status["position"] == 1
    assert status["worker_running"] is False

    assert _worker_tick(app) == 1
    status = client.get(waiting + ".json").get_json()
    assert (status["state"], status["answers_done"]) == ("done", 2)
    assert len(fake_ollama.chat_models_in_order()) == 2

    battle = client.get(waiting)
    assert battle.status_code == 303 and "/battle/" in battle.headers["Location"]
    html = client.get(battle.headers["Location"]).get_data(as_text=True)
    assert "kilogram of feathers" in html and 'name="battle_id"' in html
    assert client.get(waiting).headers["Location"] == battle.headers["Location"]  # same battle
    battle_id = re.search(r'name="battle_id" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    voted = client.post("/vote", data={"battle_id": battle_id, "outcome": "tie"})
    assert voted.status_code == 303


def test_the_prompt_stays_private_unless_the_operator_shares_it(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _sync(runner)
    _ask(client)
    _worker_tick(app)
    with app.app_context():
        prompt = db.session.scalar(select(Prompt).where(Prompt.source == "visitor"))
        assert prompt is not None and prompt.shared is False
    other = app.test_client()
    for _ in range(3):
        assert "kilogram of feathers" not in other.get("/").get_data(as_text=True)
    app.config["VISITOR_PROMPTS_SHARED"] = True
    _ask(app.test_client(), "Explain rainbows to a child.")
    with app.app_context():
        shared = db.session.scalar(select(Prompt).where(Prompt.text.startswith("Explain rainbows")))
        assert shared is not None and (shared.source, shared.shared) == ("visitor", True)


def test_bad_prompts_get_a_clear_error(app: Flask, client: FlaskClient) -> None:
    long = client.post("/ask", data={"prompt": "x" * 4001})
    assert long.status_code == 400
    html = long.get_data(as_text=True)
    assert "the prompt is 4001 characters long; the limit is 4000" in html
    empty = client.post("/ask", data={"prompt": "   "})
    assert empty.status_code == 400 and "the prompt is empty" in empty.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(VisitorRequest)).all() == []


def test_one_waiting_prompt_per_visitor_and_a_bounded_queue(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _sync(runner)
    first = _ask(client)
    again = client.post("/ask", data={"prompt": "Another question?"})
    assert again.status_code == 303 and again.headers["Location"].startswith(first)
    assert "You already have a prompt waiting" in client.get(again.headers["Location"]).get_data(
        as_text=True
    )
    app.config["VISITOR_QUEUE_MAX"] = 1
    full = app.test_client().post("/ask", data={"prompt": "A third one?"})
    assert full.status_code == 503 and "queue" in full.get_data(as_text=True)
    # Someone else's waiting page is not yours to see.
    assert app.test_client().get(first).status_code == 403
    assert client.get("/ask/nope").status_code == 404


def test_a_running_worker_shows_the_queue_position(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _sync(runner)
    _ask(app.test_client(), "First visitor's question?")
    waiting = _ask(client)
    with app.app_context():
        beat("idle")
    html = client.get(waiting).get_data(as_text=True)
    assert "No worker is running" not in html
    assert '(<span data-field="ahead">1</span> ahead of you)' in html
    assert client.get(waiting + ".json").get_json()["worker_running"] is True


def test_visitors_are_answered_ahead_of_the_batch(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _sync(runner)
    _ask(client)
    with app.app_context():
        maker = AnswerMaker(MeteredBackend(get_backend()), app.config)

        def serve_visitors() -> None:
            visitor.process_queue(maker, app.config)

        control = RunControl(between_answers=serve_visitors)
        result = run_batch(BatchRequest(n_prompts=2, trigger="worker"), control=control)
        visitor_prompt = db.session.scalar(select(Prompt.id).where(Prompt.source == "visitor"))
        first_two = db.session.scalars(select(Response.prompt_id).order_by(Response.id).limit(2))
        assert set(first_two) == {visitor_prompt}
    assert result.summary is not None and result.summary.total_stored == 6


def test_a_failing_model_is_replaced(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _sync(runner)
    fake_ollama.add_model("smollm2:360m", "361.82M", "Q8_0", "llama")
    _sync(runner)
    fake_ollama.remove_model("gemma3:4b")
    fake_ollama.remove_model("llama3.2:1b")
    waiting = _ask(client)
    _worker_tick(app)
    status = client.get(waiting + ".json").get_json()
    assert status["state"] == "done", status
    with app.app_context():
        tags = {r.model.tag for r in db.session.scalars(select(Response))}
    assert tags == {"qwen2.5:0.5b-instruct-q8_0", "smollm2:360m"}


def test_a_prompt_nobody_can_answer_fails_with_the_reason(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _sync(runner)
    for tag in ("gemma3:4b", "llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0"):
        fake_ollama.remove_model(tag)
    waiting = _ask(client)
    _worker_tick(app)
    html = client.get(waiting).get_data(as_text=True)
    assert "could not be answered" in html and "not found" in html


def test_the_battle_page_offers_to_ask_and_the_reveal_has_the_form(
    pool: Flask, client: FlaskClient
) -> None:
    html = client.get("/").get_data(as_text=True)
    assert 'href="/ask"' in html and html.count("<form") == 1  # only the vote form
    battle_id = re.search(r'name="battle_id" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    reveal = client.get(
        client.post("/vote", data={"battle_id": battle_id, "outcome": "a"}).headers["Location"]
    )
    assert 'action="/ask"' in reveal.get_data(as_text=True)


def test_a_prompt_already_answered_needs_no_wait(
    pool: Flask, client: FlaskClient, fake_ollama: FakeOllama
) -> None:
    from datetime import timedelta

    from arena.models import utcnow

    with pool.app_context():
        answered = db.session.scalar(select(Response.prompt_id).where(Response.status == "ok"))
        text = db.session.get(Prompt, answered).text  # type: ignore[union-attr]
    fake_ollama.reset()
    waiting = _ask(client, text)
    battle = client.get(waiting)
    assert battle.status_code == 303 and "/battle/" in battle.headers["Location"]
    assert fake_ollama.chat_models_in_order() == []  # nothing generated
    # Once this voter has judged every pair of answers, no battle can be made: say so.
    html = client.get(battle.headers["Location"]).get_data(as_text=True)
    while 'name="battle_id"' in html:
        battle_id = re.search(r'name="battle_id" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
        client.post("/vote", data={"battle_id": battle_id, "outcome": "tie"})
        with pool.app_context():
            request = db.session.scalar(select(VisitorRequest))
            request.battle_id = None  # type: ignore[union-attr]
            request.finished_at = utcnow() - timedelta(minutes=5)  # type: ignore[union-attr]
            db.session.commit()
        page = client.get(waiting)
        if page.status_code != 303:
            html = page.get_data(as_text=True)
            break
        html = client.get(page.headers["Location"]).get_data(as_text=True)
    assert "No battle could be made from them for you" in html
    assert "http-equiv" not in html  # and it stops reloading


def test_a_request_left_half_answered_by_a_dead_worker_is_resumed_with_its_pair(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    """A worker killed after its first answer: the request goes back in the queue, and the
    next worker answers with the same pair (the stored answer counts): two answers, never a
    third model's."""
    _sync(runner)
    _ask(client)
    with app.app_context():
        maker = AnswerMaker(MeteredBackend(get_backend()), app.config)
        request = visitor.claim_next("dead-worker")
        assert request is not None
        models = db.session.scalars(select(Model).order_by(Model.id)).all()
        first, second = models[0], models[-1]
        pair, tags = sorted([first.id, second.id]), sorted([first.tag, second.tag])
        request.model_a_id, request.model_b_id = first.id, second.id
        db.session.commit()
        ref = ModelRef(first.id, first.tag, first.family)
        stored = maker.answer(ref, request.prompt_id, keep_alive=app.config["BACKEND_KEEP_ALIVE"])
        assert stored.response_id is not None  # then it died
        assert visitor.release_abandoned(set()) == 1
        assert visitor.process_queue(maker, app.config) == 1
        db.session.expire_all()
        done = db.session.get(VisitorRequest, request.id)
        assert done is not None and done.status == "done"
        answered = db.session.scalars(
            select(Response.model_id).where(Response.prompt_id == done.prompt_id)
        ).all()
        resumed = sorted([done.model_a_id, done.model_b_id])
    assert sorted(answered) == pair
    assert resumed == pair
    assert sorted(fake_ollama.chat_models_in_order()) == tags
