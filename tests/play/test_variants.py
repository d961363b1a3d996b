"""Contestant variants: options checked against the accepted list, `models add --option
--system` registering a variant, sync following its backend model, disabling cascading."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from arena.backends import GenerationOptions
from arena.extensions import db
from arena.models import Model
from arena.play.variants import (
    OPTIONS,
    VariantError,
    apply_options,
    parse_options,
    slug,
    variant_key,
)
from tests.support.fake_ollama import FakeOllama

BASE = "llama3.2:1b"
KEY = "llama3.2:1b~llama-3-2-1b-creative"


def _models(app: Flask) -> dict[str, Model]:
    with app.app_context():
        return {m.tag: m for m in db.session.scalars(select(Model))}


def _add_variant(runner: FlaskCliRunner, tmp_path: Path, *extra: str) -> str:
    system = tmp_path / "pirate.txt"
    system.write_text("You are a cheerful pirate. Answer in pirate speech.\n", encoding="utf-8")
    result = runner.invoke(
        args=[
            "models", "add", BASE, "--name", "Llama 3.2 1B, creative",
            "--option", "temperature=1.1", "--option", "top_k=50", "--system", str(system),
            *extra,
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output


def test_options_are_checked_and_typed() -> None:
    checked = parse_options(["temperature=1.1", "top_k=50", "stop=###", "stop=END"])
    assert checked == {"temperature": 1.1, "top_k": 50, "stop": ["###", "END"]}
    assert isinstance(checked["top_k"], int)
    options = apply_options(GenerationOptions(temperature=0.7, seed=3), checked)
    assert (options.temperature, options.top_k, options.seed) == (1.1, 50, 3)
    assert options.to_ollama()["stop"] == ["###", "END"]
    assert apply_options(options, None) is options


def test_an_unknown_option_is_refused_with_the_accepted_list() -> None:
    with pytest.raises(VariantError) as error:
        parse_options(["temprature=1.1"])
    message = str(error.value)
    assert "'temprature'" in message and "no such option" in message
    for key in OPTIONS:
        assert key in message


@pytest.mark.parametrize(
    ("pair", "words"),
    [
        ("num_ctx=8192", "runner option"),
        ("seed=4", "new seed for every answer"),
        ("temperature=hot", "expected a number from 0 to 5"),
        ("temperature=nan", "expected a number"),
        ("top_p=1.5", "from 0 to 1"),
        ("top_k=2.5", "a whole number"),
        ("num_predict=0", "from 1 to"),
        ("temperature=1 ", None),  # spaces around a number are fine
        ("temperature", "KEY=VALUE"),
        ("=3", "KEY=VALUE"),
        ("stop=", "1 to 200 characters"),
    ],
)
def test_wrong_options_get_clear_errors(pair: str, words: str | None) -> None:
    if words is None:
        assert parse_options([pair]) == {"temperature": 1.0}
        return
    with pytest.raises(VariantError, match=words):
        parse_options([pair])


def test_a_repeated_single_option_is_refused() -> None:
    with pytest.raises(VariantError, match="given 2 times"):
        parse_options(["temperature=1", "temperature=2"])


def test_the_key_is_the_tag_and_the_names_slug() -> None:
    assert slug("SmolLM2 135M, créative!") == "smollm2-135m-creative"
    assert variant_key("smollm2:135m", "Creative") == "smollm2:135m~creative"
    with pytest.raises(VariantError, match="no letter or digit"):
        variant_key("smollm2:135m", "!!!")
    with pytest.raises(VariantError, match="needs a name"):
        variant_key("smollm2:135m", " ")


def test_models_add_registers_a_variant(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    output = _add_variant(runner, tmp_path)
    assert f"added variant 'Llama 3.2 1B, creative' of {BASE}" in output
    assert f"key: {KEY}" in output
    variant = _models(app)[KEY]
    assert variant.backend_tag == BASE and variant.served_tag == BASE
    assert variant.display_name == "Llama 3.2 1B, creative"
    assert variant.variant_options == {"temperature": 1.1, "top_k": 50}
    assert variant.system_prompt == "You are a cheerful pirate. Answer in pirate speech."
    assert variant.enabled and variant.available
    assert variant.params_b == 1.2  # the backend model's facts (the fake lists 1.2B)
    assert BASE not in _models(app)  # the base is not registered by adding a variant
    # Added again with other settings: the same contestant, updated.
    result = runner.invoke(
        args=["models", "add", BASE, "--name", "Llama 3.2 1B, creative", "--option", "top_p=0.5"]
    )
    assert result.exit_code == 0, result.output
    variant = _models(app)[KEY]
    assert variant.variant_options == {"top_p": 0.5} and variant.system_prompt is None
    listing = runner.invoke(args=["models", "list"]).output
    assert KEY in listing and "Llama 3.2 1B, creative" in listing


def test_models_add_refuses_unknown_options_before_asking_the_backend(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    result = runner.invoke(args=["models", "add", BASE, "--name", "Hot", "--option", "mirostat=2"])
    assert result.exit_code == 2
    assert "cannot set 'mirostat'" in result.output
    assert "accepted options: temperature, top_p, top_k" in result.output
    result = runner.invoke(args=["models", "add", BASE, "--option", "temperature=1.1"])
    assert result.exit_code == 2 and "a variant needs --name" in result.output
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    result = runner.invoke(args=["models", "add", BASE, "--name", "X", "--system", str(empty)])
    assert result.exit_code == 2 and "system prompt file is empty" in result.output
    assert not fake_ollama.requests_to("/api/tags")
    assert _models(app) == {}
    result = runner.invoke(
        args=["models", "add", "nope:1b", "--name", "X", "--option", "temperature=1"]
    )
    assert result.exit_code == 1 and "has no model 'nope:1b'" in result.output


def test_sync_matches_a_variant_by_its_backend_model(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    _add_variant(runner, tmp_path)
    again = runner.invoke(args=["models", "sync"])
    assert again.exit_code == 0, again.output
    assert KEY not in again.output  # listed, nothing to say
    models = _models(app)
    assert models[KEY].available and models[KEY].enabled and models[BASE].available
    fake_ollama.remove_model(BASE)
    gone = runner.invoke(args=["models", "sync"])
    assert f"disabled  {BASE}" in gone.output and f"disabled  {KEY}" in gone.output
    models = _models(app)
    assert not models[KEY].available and not models[KEY].enabled
    assert sum(1 for m in models.values() if m.backend_tag == BASE) == 1  # sync adds none
    fake_ollama.add_model(BASE, parameter_size="3.2B")
    back = runner.invoke(args=["models", "sync"])
    assert f"available {KEY}" in back.output
    assert _models(app)[KEY].available and _models(app)[KEY].params_b == 3.2
    enabled = runner.invoke(args=["models", "enable", KEY])
    assert enabled.exit_code == 0, enabled.output


def test_disabling_a_model_disables_its_variants(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    _add_variant(runner, tmp_path)
    result = runner.invoke(args=["models", "disable", BASE])
    assert result.exit_code == 0, result.output
    assert f"disabled {KEY} (a variant of {BASE})" in result.output
    assert not _models(app)[KEY].enabled
    assert runner.invoke(args=["models", "disable", KEY]).exit_code == 0
