"""Model registry: size parsing, sync from the backend, add/enable/disable/list."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from arena.extensions import db
from arena.models import Model
from arena.play.catalogue import (
    MAX_TAG_LENGTH,
    InvalidTag,
    parse_parameter_size,
    quantization_from_tag,
    size_from_tag,
    validate_tag,
)
from tests.support.fake_ollama import FakeOllama


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7.6B", 7.6),
        ("14.5B", 14.5),
        ("360M", 0.36),
        ("494.03M", 0.49403),
        ("1,000M", 1.0),
        ("1B", 1.0),
        ("8x7B", 56.0),
        ("  3.2b ", 3.2),
        ("", None),
        (None, None),
        ("unknown", None),
        ("7.6", None),
    ],
)
def test_parse_parameter_size(text: str | None, expected: float | None) -> None:
    assert parse_parameter_size(text) == expected


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("qwen2.5:0.5b-instruct-q8_0", 0.5),
        ("llama3.2:1b", 1.0),
        ("smollm2:135m", 0.135),
        ("gemma3:27b", 27.0),
        ("mixtral:8x7b", 56.0),
        ("hf.co/org/tinyllama-1.1b:latest", 1.1),
        ("phi3:mini", None),
        ("qwen2.5:latest", None),
        ("gemma3n:e2b", None),
    ],
)
def test_size_from_tag(tag: str, expected: float | None) -> None:
    assert size_from_tag(tag) == expected


def test_quantization_from_tag() -> None:
    assert quantization_from_tag("qwen2.5:0.5b-instruct-q8_0") == "Q8_0"
    assert quantization_from_tag("llama3.1:8b-instruct-q4_K_M") == "Q4_K_M"
    assert quantization_from_tag("llama3.1:8b-instruct-fp16") == "FP16"
    assert quantization_from_tag("llama3.2:1b") is None


def _models(app: Flask) -> dict[str, Model]:
    with app.app_context():
        return {m.tag: m for m in db.session.scalars(select(Model))}


def test_sync_registers_models_with_details(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model("big:70b", parameter_size="70.6B", quantization="Q4_0", family="llama")
    fake_ollama.add_model("mystery:latest", parameter_size="", quantization="", family="")
    result = runner.invoke(args=["models", "sync"])
    assert result.exit_code == 0, result.output
    assert "big:70b (70.6B is over the 14B cap" in result.output
    models = _models(app)
    assert "big:70b" not in models
    qwen = models["qwen2.5:0.5b-instruct-q8_0"]
    assert qwen.params_b == pytest.approx(0.49403)
    assert qwen.quantization == "Q8_0"
    assert qwen.family == "qwen2"
    assert models["mystery:latest"].params_b is None
    assert models["mystery:latest"].display_name == "mystery"


def test_vanished_model_is_disabled_not_deleted(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    fake_ollama.remove_model("gemma3:4b")
    result = runner.invoke(args=["models", "sync"])
    assert "disabled  gemma3:4b" in result.output
    gemma = _models(app)["gemma3:4b"]
    assert (gemma.enabled, gemma.available) == (False, False)
    refused = runner.invoke(args=["models", "enable", "gemma3:4b"])
    assert refused.exit_code != 0
    assert "no longer listed" in refused.output
    fake_ollama.add_model("gemma3:4b", parameter_size="4.3B", quantization="Q4_K_M")
    runner.invoke(args=["models", "sync"])
    assert runner.invoke(args=["models", "enable", "gemma3:4b"]).exit_code == 0
    assert _models(app)["gemma3:4b"].enabled


def test_add_enable_disable_list(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model("big:70b", parameter_size="70.6B", quantization="Q4_0", family="llama")
    result = runner.invoke(args=["models", "add", "big:70b", "--name", "Big Llama"])
    assert result.exit_code == 0, result.output
    assert _models(app)["big:70b"].display_name == "Big Llama"
    missing = runner.invoke(args=["models", "add", "nope:1b"])
    assert missing.exit_code != 0
    assert "ollama pull nope:1b" in missing.output
    assert runner.invoke(args=["models", "disable", "big:70b"]).exit_code == 0
    assert not _models(app)["big:70b"].enabled
    unknown = runner.invoke(args=["models", "disable", "nope:1b"])
    assert unknown.exit_code != 0
    assert "no model 'nope:1b' is registered" in unknown.output
    listing = runner.invoke(args=["models", "list"])
    assert listing.exit_code == 0
    header, row = listing.output.splitlines()[:2]
    assert header.split()[:4] == ["TAG", "NAME", "SIZE", "QUANT"]
    assert row.startswith("big:70b")
    assert "70.6B" in row


def test_sync_with_ollama_down_is_a_clear_error(
    runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    fake_ollama.stop()
    result = runner.invoke(args=["models", "sync"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "ARENA_OLLAMA_URL" in result.output or "ollama serve" in result.output


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("", "no model tag given ('')"),
        ("   ", "no model tag given ('   ')"),
        ("llama3.2:1b\nrm -rf /", "control or invisible character '\\n' at position 12"),
        ("qwen2.5:0.5b\t", "control or invisible character '\\t'"),
        ("x" * 300, "is 300 characters long; a tag holds at most 200"),
        (" llama3.2:1b", "starts or ends with a space"),
        ("llama 3.2:1b", "cannot be an Ollama model name"),
        ("llama3.2:1b;", "cannot be an Ollama model name"),
    ],
)
def test_a_tag_no_backend_can_list_is_a_usage_error_before_any_request(
    runner: FlaskCliRunner, fake_ollama: FakeOllama, tag: str, message: str
) -> None:
    result = runner.invoke(args=["models", "add", tag])
    assert result.exit_code == 2, result.output  # click's usage error
    assert "Invalid value for 'TAG'" in result.output and message in result.output
    assert "Traceback" not in result.output
    assert fake_ollama.requests_log == []  # refused here: the server never heard of it


@pytest.mark.parametrize(
    "tag",
    [
        "qwen2.5:0.5b-instruct-q8_0",
        "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
        "registry.ollama.ai/library/llama3.2:latest",
        "user_name/my-model.v2:7b+Q4_0",
    ],
)
def test_real_tags_pass_the_check(tag: str) -> None:
    assert validate_tag(tag, "ollama") == tag
    assert validate_tag(tag) == tag


def test_openai_ids_are_free_text_under_the_common_rules() -> None:
    for tag in ("Qwen/Qwen2.5-7B-Instruct", "/models/My Model Q4.gguf", "ft:gpt-4o:org:x:1"):
        assert validate_tag(tag, "openai") == tag
    for bad in ("", "a\x1b[31mb", "zero\u200bwidth", "tail ", "x" * 201):
        with pytest.raises(InvalidTag):
            validate_tag(bad, "openai")
    assert validate_tag("x" * MAX_TAG_LENGTH, "openai")
    assert Model.__table__.c.tag.type.length == MAX_TAG_LENGTH  # type: ignore[attr-defined]


def test_a_real_tag_still_reaches_the_backend(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    result = runner.invoke(args=["models", "add", "qwen2.5:0.5b-instruct-q8_0"])
    assert result.exit_code == 0, result.output
    assert fake_ollama.requests_to("/api/tags")
    assert "qwen2.5:0.5b-instruct-q8_0" in _models(app)


def test_enable_and_disable_check_the_tag_too(
    runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    for command in ("enable", "disable"):
        for tag in ("", "a\nb", "y" * 300):
            result = runner.invoke(args=["models", command, tag])
            assert result.exit_code == 2, result.output
            assert "Invalid value for 'TAG'" in result.output
    assert fake_ollama.requests_log == []


def test_an_unknown_backend_is_a_usage_error_listing_the_configured_ones(
    runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    for args in (
        ["models", "add", "llama3.2:1b", "--backend", "lmstudio"],
        ["models", "add", "llama3.2:1b", "--backend", ""],
        ["models", "sync", "--backend", "lmstudio"],
    ):
        result = runner.invoke(args=args)
        assert result.exit_code == 2, result.output
        assert "Invalid value for '--backend'" in result.output
        assert "(BACKENDS has: ollama)" in result.output
    assert fake_ollama.requests_log == []
