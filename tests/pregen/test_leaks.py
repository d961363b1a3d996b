"""Identity leaks: answers naming their model or maker are excluded and regenerated once."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from arena.extensions import db
from arena.models import Battle, GenerationFailure, Response
from arena.pregen.leaks import family_of, find_leak
from tests.support.fake_ollama import FakeOllama
from tests.support.pregen import answers

QWEN = "qwen2.5:0.5b-instruct-q8_0"


@pytest.mark.parametrize(
    ("text", "tag", "family", "name"),
    [
        (
            "I am Qwen, created by Alibaba Cloud. I am a large language model.",
            QWEN,
            "qwen2",
            "Qwen",
        ),
        ("I'm Gemma, an open-weights AI assistant.", "gemma3:4b", "gemma3", "Gemma"),
        ("Sure! I'm a large language model, trained by Google.", "gemma3:4b", "gemma3", "Google"),
        ("As an AI developed by Microsoft, I cannot browse.", "phi3:mini", "phi3", "Microsoft"),
        ("I was trained by Meta AI on public data.", "llama3.2:1b", "llama", "Meta AI"),
        ("Hello! I'm SmolLM, your assistant.", "smollm2:360m", "llama", "SmolLM"),
        ("I am DeepSeek-R1, here to help.", "deepseek-r1:1.5b", "qwen2", "DeepSeek"),
        ("I'm Mistral, an assistant.", "mistral:7b", "llama", "Mistral"),
        ("I am Qwen2.5, a model from Alibaba.", QWEN, "qwen2", "Qwen"),
        ("我是通义千问，由阿里云开发的语言模型。", QWEN, "qwen2", "通义千问"),
        # Claiming to be another known model misleads the voter as much.
        ("I'm ChatGPT, a model by OpenAI.", "llama3.2:1b", "llama", "ChatGPT"),
        ("My name is Claude and I was made by Anthropic.", "llama3.2:1b", "llama", "Claude"),
        # A family not in the list: the name comes from the tag.
        ("I'm Zephyrine, a helpful model.", "zephyrine:2b", None, "Zephyrine"),
    ],
)
def test_self_identification_is_a_leak(text: str, tag: str, family: str | None, name: str) -> None:
    leak = find_leak(text, tag, family)
    assert leak is not None, text
    assert leak.name == name
    assert name in leak.reason()


@pytest.mark.parametrize(
    "text",
    [
        "Google Maps is developed by Google. It works offline too.",
        "I'm going to recommend Google Docs for this.",
        "I am a falcon, soaring over the hills.",  # a poem, not a model
        "I'm a Gemini, so I love talking.",
        "I am Claude, a baker in Lyon, and this is my story.",
        "I'm a llama with fluffy wool.",
        "I am made of granite and stone.",
        "Meta reported strong earnings; I am not sure why.",
        "The golden ratio phi is 1.618. I am happy to help.",
        "I am at Microsoft's office today.",
        "I'm meta about it.",
        "Soy sauce from Japan is great.",
        "Answer from qwen2.5:0.5b-instruct-q8_0 to: Explain how Google ranks pages",
    ],
)
def test_mentions_that_are_not_self_identification_pass(text: str) -> None:
    assert find_leak(text, "llama3.2:1b", "llama") is None
    assert find_leak(text, QWEN, "qwen2") is None


def test_family_comes_from_the_tag_or_ollamas_family() -> None:
    assert family_of("mistral:7b", "llama") == "mistral"
    assert family_of("qwen2.5:0.5b") == "qwen"
    assert family_of("my-finetune:1b", "gemma3") == "gemma"
    assert family_of("unknown:1b") is None


def test_the_built_in_prompts_echoed_back_are_not_leaks() -> None:
    from arena.play.prompts import builtin_bank

    for _, text, _ in builtin_bank():
        for tag, family in (("llama3.2:1b", "llama"), (QWEN, "qwen2"), ("gemma3:4b", "gemma3")):
            assert find_leak(f"Answer from {tag} to: {text}", tag, family) is None, text


def test_a_leak_is_excluded_and_regenerated_with_another_seed(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    calls: list[int] = []

    def qwen(request: dict[str, object]) -> str:
        calls.append(request["options"]["seed"])  # type: ignore[index]
        if len(calls) == 1:
            return "I am Qwen, created by Alibaba Cloud. Paris is the capital of France."
        return "Paris is the capital of France."

    fake_ollama.set_answer(QWEN, qwen)
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    result = runner.invoke(args=["pregenerate", "--prompts", "1"])
    assert result.exit_code == 0, result.output
    assert "1 excluded (leak or degenerate)" in result.output

    excluded = answers(app, "excluded")
    assert len(excluded) == 1
    assert excluded[0].model.tag == QWEN
    assert "Qwen" in excluded[0].status_reason and "identity leak" in excluded[0].status_reason
    clean = [r for r in answers(app) if r.model.tag == QWEN]
    assert [r.text for r in clean] == ["Paris is the capital of France."]
    assert len(calls) == 2 and calls[0] != calls[1]
    assert clean[0].seed == calls[1] and excluded[0].seed == calls[0]

    # Excluded answers never reach a battle.
    for _ in range(6):
        client.get("/")
    with app.app_context():
        served = db.session.scalars(select(Battle)).all()
        assert served
        shown = {b.left_response_id for b in served} | {b.right_response_id for b in served}
        statuses = set(db.session.scalars(select(Response.status).where(Response.id.in_(shown))))
        assert statuses == {"ok"}


def test_a_model_that_leaks_twice_gives_up_on_that_prompt(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_answer(QWEN, "I'm Qwen, a large language model created by Alibaba Cloud.")
    runner.invoke(args=["models", "sync"])
    result = runner.invoke(args=["pregenerate", "--prompts", "2"])
    assert result.exit_code == 3, result.output  # Qwen's two answers failed
    assert len(answers(app, "excluded")) == 4  # 2 prompts x (first answer + one regeneration)
    assert [r for r in answers(app) if r.model.tag == QWEN] == []
    with app.app_context():
        kinds = db.session.scalars(select(GenerationFailure.kind)).all()
        assert kinds == ["leak", "leak"]
    given_up = {r.prompt.text for r in answers(app, "excluded")}
    # Given up: the next run does not ask Qwen for those prompts again (only for new ones).
    fake_ollama.reset()
    runner.invoke(args=["pregenerate", "--prompts", "2"])
    asked = [
        r.body["messages"][-1]["content"]
        for r in fake_ollama.requests_to("/api/chat")
        if r.body["model"] == QWEN and r.body.get("messages")
    ]
    assert asked and not given_up & set(asked)
