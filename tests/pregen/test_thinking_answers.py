"""Thinking models through pre-generation, the battle and the reveal, on the fake Ollama:
the thinking stored apart and never shown, the reveal's thinking figures, the thinking
allowance, a refused think retried and remembered, inline blocks stripped, the leak rule
both ways, thinking off arena-wide, a reply cut while thinking, first-token time stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from arena.extensions import db
from arena.models import Battle, Model, Response
from tests.support.app import make_app
from tests.support.battles import NEUTRAL_ANSWER, battle_id_of
from tests.support.fake_ollama import FakeOllama
from tests.support.fake_openai import FakeOpenAI
from tests.support.fakes.ollama_api import FakeModel
from tests.support.pregen import answers

QWEN3 = "qwen3:0.6b"
R1 = "deepseek-r1:1.5b"
LLAMA = "llama3.2:1b"
THOUGHT = "The user wants a careful answer. I should list two points and stop there."
SELF_THOUGHT = "I am Qwen, created by Alibaba Cloud. The user wants two points."
LEAKY_ANSWER = "I am Qwen, created by Alibaba Cloud. Here are two points."


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    """A fake with a thinking model, a model writing inline <think> blocks, and one that
    cannot think."""
    models = [
        FakeModel(QWEN3, "0.6B", family="qwen3", capabilities=("completion", "thinking")),
        FakeModel(R1, "1.5B", family="qwen2", inline_think=True, thinking=THOUGHT),
        FakeModel(LLAMA, "1.2B"),
    ]
    with FakeOllama(models) as fake:
        fake.set_answer(None, NEUTRAL_ANSWER)
        yield fake


def _pregenerate(runner: FlaskCliRunner, code: int = 0) -> None:
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    result = runner.invoke(args=["pregenerate", "--prompts", "1"])
    assert result.exit_code == code, result.output


def _answer_of(app: Flask, tag: str, status: str = "ok") -> Response:
    (answer,) = [r for r in answers(app, status) if r.model.tag == tag]
    return answer


def _bodies(fake: FakeOllama, tag: str) -> list[dict[str, object]]:
    return [
        r.body
        for r in fake.requests_to("/api/chat")
        if r.body.get("model") == tag and r.body.get("messages")  # not an unload
    ]


def test_thinking_is_stored_apart_never_battled_and_revealed_as_figures(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _pregenerate(runner)
    qwen = _answer_of(app, QWEN3)
    assert qwen.text == NEUTRAL_ANSWER
    assert qwen.thinking and qwen.thinking.startswith("Let me think.")
    assert qwen.thinking_tokens == len(qwen.thinking.split())
    assert qwen.thinking_ns is not None and qwen.thinking_ns > 0
    assert qwen.eval_count == qwen.thinking_tokens + len(NEUTRAL_ANSWER.split())
    r1 = _answer_of(app, R1)
    assert (r1.text, r1.thinking) == (NEUTRAL_ANSWER, THOUGHT)  # the inline block stripped
    llama = _answer_of(app, LLAMA)
    assert llama.thinking is None and llama.thinking_tokens is None
    for answer in (qwen, r1, llama):
        assert answer.first_token_ns is not None and answer.first_token_ns > 0
        assert answer.prompt_eval_duration is not None

    # The thinking model gets the allowance on top of the answer's budget; others do not.
    budget, allowance = app.config["GEN_NUM_PREDICT"], app.config["GEN_THINK_TOKENS"]
    (qwen_body,) = _bodies(fake_ollama, QWEN3)
    assert qwen_body["options"]["num_predict"] == budget + allowance  # type: ignore[index]
    assert "think" not in qwen_body  # no setting: the model's own default
    (llama_body,) = _bodies(fake_ollama, LLAMA)
    assert llama_body["options"]["num_predict"] == budget  # type: ignore[index]

    # Battles show answers only; the reveal says how long each model thought.
    thinking_texts = {qwen.thinking, THOUGHT}
    seen_thinker = False
    for _ in range(12):
        voter = app.test_client()
        page = voter.get("/").get_data(as_text=True)
        if 'name="battle_id"' not in page:
            break
        assert not any(text in page for text in thinking_texts)
        assert "Let me think" not in page and "Thought for" not in page
        battle_id = battle_id_of(page)
        voted = voter.post("/vote", data={"battle_id": battle_id, "outcome": "a"})
        assert voted.status_code == 303
        reveal = voter.get(f"/battle/{battle_id}").get_data(as_text=True)
        assert not any(text in reveal for text in thinking_texts)
        with app.app_context():
            battle = db.session.get_one(Battle, battle_id)
            thinkers = [r for r in (battle.left, battle.right) if r.thinking_tokens]
            for response in thinkers:
                seconds = (response.thinking_ns or 0) / 1e9
                assert f"{response.thinking_tokens} tokens, {seconds:.1f} s" in reveal
            assert reveal.count("Thought for") == len(thinkers)
            seen_thinker = seen_thinker or bool(thinkers)
    assert seen_thinker


def test_a_refused_think_is_retried_without_it_and_remembered(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    result = runner.invoke(args=["models", "think", LLAMA, "on"])
    assert result.exit_code == 0, result.output
    assert f"{LLAMA}: think on" in result.output
    result = runner.invoke(args=["pregenerate", "--prompts", "1"])
    assert result.exit_code == 0, result.output
    first, second = _bodies(fake_ollama, LLAMA)
    assert first["think"] is True and "think" not in second  # the same request, without it
    assert first["messages"] == second["messages"]
    assert _answer_of(app, LLAMA).text == NEUTRAL_ANSWER
    with app.app_context():
        model = db.session.scalar(select(Model).where(Model.tag == LLAMA))
        assert model is not None and model.think_refused and model.think == "on"

    # Later requests for that model omit think at once.
    result = runner.invoke(args=["pregenerate", "--prompts", "2"])
    assert result.exit_code == 0, result.output
    later = _bodies(fake_ollama, LLAMA)[2:]
    assert later and not any("think" in body for body in later)

    # Setting it again asks the backend again; a bad setting is a usage error.
    assert runner.invoke(args=["models", "think", LLAMA, "default"]).exit_code == 0
    with app.app_context():
        model = db.session.scalar(select(Model).where(Model.tag == LLAMA))
        assert model is not None and not model.think_refused and model.think is None
    assert runner.invoke(args=["models", "think", LLAMA, "maybe"]).exit_code == 2
    missing = runner.invoke(args=["models", "think", "nope:1b", "on"])
    assert missing.exit_code == 1 and "no model 'nope:1b' is registered" in missing.output


def test_think_off_arena_wide(app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama) -> None:
    app.config["THINK_DEFAULT"] = "off"
    _pregenerate(runner)
    for tag in (QWEN3, LLAMA):
        (body,) = _bodies(fake_ollama, tag)
        assert body["think"] is False
        assert body["options"]["num_predict"] == app.config["GEN_NUM_PREDICT"]  # type: ignore[index]
    assert _answer_of(app, QWEN3).thinking is None


def test_a_model_naming_itself_only_while_thinking_is_kept(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    for model in fake_ollama.models:
        if model.tag == QWEN3:
            model.thinking = SELF_THOUGHT
    _pregenerate(runner)
    kept = _answer_of(app, QWEN3)
    assert kept.thinking == SELF_THOUGHT and kept.text == NEUTRAL_ANSWER
    assert [r for r in answers(app, "excluded") if r.model.tag == QWEN3] == []


def test_a_model_naming_itself_in_its_answer_is_excluded(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    for model in fake_ollama.models:
        if model.tag == QWEN3:
            model.thinking = SELF_THOUGHT
    fake_ollama.set_answer(QWEN3, LEAKY_ANSWER)
    _pregenerate(runner, code=3)  # excluded twice: the prompt failed for this model
    excluded = [r for r in answers(app, "excluded") if r.model.tag == QWEN3]
    assert len(excluded) == 2
    assert all((r.status_reason or "").startswith("identity leak") for r in excluded)


def test_a_reply_cut_while_thinking_is_no_answer(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    app.config["GEN_NUM_PREDICT"] = 3
    app.config["GEN_THINK_TOKENS"] = 2  # 5 tokens: all spent thinking
    _pregenerate(runner, code=3)
    excluded = [r for r in answers(app, "excluded") if r.model.tag in (QWEN3, R1)]
    assert len(excluded) == 4  # each answer and its regeneration
    for response in excluded:
        assert response.text == "" and response.thinking
        assert (response.status_reason or "").startswith(
            "degenerate answer: no answer, stopped at the token limit after"
        )
    assert [r.model.tag for r in answers(app) if r.model.tag in (QWEN3, R1)] == []


def test_an_openai_compatible_thinking_model_through_pregeneration(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    thinker, other = fake_openai.models
    fake_openai.set_reasoning(thinker, THOUGHT)
    fake_openai.set_answer(None, NEUTRAL_ANSWER)
    backends = [{"name": "lms", "kind": "openai", "url": fake_openai.url}]
    app = make_app(tmp_path / "instance", "http://127.0.0.1:9", BACKENDS=backends)
    try:
        runner = app.test_cli_runner()
        assert runner.invoke(args=["models", "sync"]).exit_code == 0
        result = runner.invoke(args=["pregenerate", "--prompts", "1"])
        assert result.exit_code == 0, result.output
        stored = {r.model.tag: r for r in answers(app)}
        assert stored[thinker].text == NEUTRAL_ANSWER
        assert stored[thinker].thinking == THOUGHT
        assert stored[thinker].thinking_tokens == len(THOUGHT.split())
        assert stored[other].thinking is None
        assert all(r.first_token_ns for r in stored.values())
        sent = [r.body for r in fake_openai.requests_to("/v1/chat/completions")]
        assert sent and not any("reasoning_effort" in body for body in sent)

        app.config["THINK_DEFAULT"] = "off"
        assert runner.invoke(args=["pregenerate", "--prompts", "2"]).exit_code == 0
        later = [r.body for r in fake_openai.requests_to("/v1/chat/completions")][len(sent) :]
        assert later and all(body["reasoning_effort"] == "none" for body in later)
    finally:
        with app.app_context():
            db.engine.dispose()
