"""Model registry: size parsing, sync from the backend, add/enable/disable/list."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from arena.extensions import db
from arena.models import Model
from arena.play.catalogue import (
    parse_parameter_size,
    quantization_from_tag,
    size_from_tag,
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
