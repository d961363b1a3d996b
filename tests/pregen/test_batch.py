"""The first batch command: every enabled model answers the same prompts, one model at a time."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from arena.extensions import db
from arena.models import Response
from tests.support.fake_ollama import FakeOllama

TAGS = ("llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0", "gemma3:4b")


def _answers(app: Flask) -> list[tuple[int, int]]:
    with app.app_context():
        rows = db.session.execute(select(Response.prompt_id, Response.model_id))
        return [tuple(row) for row in rows]


def test_pregenerate_answers_a_slate_grouped_by_model(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    result = runner.invoke(args=["pregenerate", "--prompts", "5"])
    assert result.exit_code == 0, result.output
    assert "15 answers stored" in result.output

    order = fake_ollama.chat_models_in_order()
    assert len(order) == 15
    runs = [tag for i, tag in enumerate(order) if i == 0 or order[i - 1] != tag]
    assert sorted(runs) == sorted(TAGS), f"a model's requests are not contiguous: {order}"

    answers = _answers(app)
    assert len(answers) == len(set(answers)) == 15
    prompts_per_model: dict[int, set[int]] = {}
    for prompt_id, model_id in answers:
        prompts_per_model.setdefault(model_id, set()).add(prompt_id)
    assert len({frozenset(p) for p in prompts_per_model.values()}) == 1, "not one shared slate"


def test_keep_alive_is_long_until_each_models_last_request(
    runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    runner.invoke(args=["models", "sync"])
    runner.invoke(args=["pregenerate", "--prompts", "3"])
    chats = [r for r in fake_ollama.requests_log if r.path == "/api/chat"]
    by_model: dict[str, list[object]] = {}
    for record in chats:
        by_model.setdefault(record.body["model"], []).append(record.body["keep_alive"])
    for keep_alives in by_model.values():
        assert keep_alives[-1] == 0
        assert all(value == "30m" for value in keep_alives[:-1])


def test_rerun_completes_partial_slates_without_duplicates(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    runner.invoke(args=["models", "sync"])
    runner.invoke(args=["pregenerate", "--prompts", "2", "--models", "llama3.2:1b"])
    assert len(_answers(app)) == 2
    fake_ollama.reset()
    result = runner.invoke(args=["pregenerate", "--prompts", "2"])
    assert "4 answers stored" in result.output  # the two other models catch up on that slate
    assert len(fake_ollama.chat_models_in_order()) == 4
    answers = _answers(app)
    assert len(answers) == len(set(answers)) == 6
    with app.app_context():
        assert db.session.scalar(select(func.count(func.distinct(Response.prompt_id)))) == 2


def test_a_failing_model_does_not_stop_the_others(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    runner.invoke(args=["models", "sync"])
    fake_ollama.remove_model("gemma3:4b")  # pulled away after the sync
    # Three times in a row: the first attempt and both retries (GEN_RETRIES = 2) fail.
    fake_ollama.fail_mid_stream(
        2, "llama runner process has terminated", times=3, model="llama3.2:1b"
    )
    result = runner.invoke(args=["pregenerate", "--prompts", "3"])
    assert result.exit_code == 3, result.output  # some planned answers failed
    assert "failed gemma3:4b" in result.output
    assert "not found" in result.output
    assert "llama runner process has terminated" in result.output
    assert "5 answers stored" in result.output  # qwen 3, llama 2 (one failed mid-stream)
