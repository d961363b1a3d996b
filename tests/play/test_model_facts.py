"""Model facts (issue 15.2, 12.1): only chat models are contestants; exact parameter count,
context length, family, quantisation and disk size from the backend; resident memory from
Ollama's /api/ps after a pre-generation run, or the operator's figure for an OpenAI-compatible
server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from arena.extensions import db
from arena.models import Model
from tests.support.app import make_app
from tests.support.fake_ollama import FakeOllama
from tests.support.fake_openai import FakeOpenAI

EMBEDDER = "nomic-embed-text:latest"
NEUTRAL = "A careful, neutral answer with a few points."


def _models(app: Flask) -> dict[str, Model]:
    with app.app_context():
        db.session.expire_all()
        return {m.tag: m for m in db.session.scalars(select(Model))}


def _embedder(fake: FakeOllama) -> None:
    fake.add_model(
        EMBEDDER, "137M", "F16", "nomic-bert", capabilities=("embedding",), context_length=2048
    )


def test_sync_skips_an_embedding_model_and_names_it(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _embedder(fake_ollama)
    result = runner.invoke(args=["models", "sync"])
    assert result.exit_code == 0, result.output
    assert EMBEDDER not in _models(app)
    (line,) = [line for line in result.output.splitlines() if EMBEDDER in line]
    assert line.startswith("skipped")
    assert "an embedding model" in line and "cannot compete" in line
    assert "3 added" in result.output and "1 not chat models" in result.output


def test_an_embedding_model_registered_before_is_disabled_by_sync(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    with app.app_context():  # registered by an older version, which did not ask
        db.session.add(Model(tag=EMBEDDER, backend="ollama", display_name="nomic", enabled=True))
        db.session.commit()
    _embedder(fake_ollama)
    result = runner.invoke(args=["models", "sync"])
    assert result.exit_code == 0, result.output
    assert not _models(app)[EMBEDDER].enabled
    assert f"skipped   {EMBEDDER!r} is an embedding model" in result.output


def test_add_refuses_an_embedding_model_with_the_reason(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _embedder(fake_ollama)
    result = runner.invoke(args=["models", "add", EMBEDDER])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "is an embedding model (its capabilities: embedding" in result.output
    assert "cannot answer a prompt, so it cannot compete" in result.output
    assert EMBEDDER not in _models(app)
    variant = runner.invoke(
        args=["models", "add", EMBEDDER, "--name", "Hot", "--option", "temperature=1.2"]
    )
    assert variant.exit_code == 1 and "is an embedding model" in variant.output


def test_facts_are_stored_from_model_info(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model(
        "qwen3:0.6b",
        "751.63M",
        "Q4_K_M",
        "qwen3",
        capabilities=("completion", "thinking"),
        param_count=751_632_384,
        context_length=40960,
        size=522_653_767,
    )
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    qwen3 = _models(app)["qwen3:0.6b"]
    assert qwen3.param_count == 751_632_384  # exact, not the rounded "751.63M"
    assert qwen3.params_b == pytest.approx(0.751632384)
    assert qwen3.context_length == 40960
    assert qwen3.capabilities == ["completion", "thinking"]
    assert (qwen3.family, qwen3.quantization) == ("qwen3", "Q4_K_M")
    assert qwen3.disk_bytes == 522_653_767  # /api/tags size
    assert qwen3.memory_bytes is None  # not loaded yet
    listing = runner.invoke(args=["models", "list"])
    (row,) = [line for line in listing.output.splitlines() if line.startswith("qwen3:0.6b")]
    assert "751,632,384" in row and "40,960" in row


def test_without_a_count_in_model_info_the_tags_string_is_the_fallback(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    odd_model = fake_ollama.add_model("odd:1b", "1.5B", "Q8_0", "odd")
    odd_model.param_count = None  # /api/show's model_info without general.parameter_count
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    odd = _models(app)["odd:1b"]
    assert odd.param_count is None
    assert odd.params_b == pytest.approx(1.5)  # from "1.5B"
    assert odd.context_length == 131072


def test_a_server_without_capabilities_has_chat_models_and_says_so(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _embedder(fake_ollama)
    fake_ollama.legacy_show = True  # before 0.6.4: nothing tells an embedder apart
    result = runner.invoke(args=["models", "sync"])
    assert result.exit_code == 0, result.output
    assert "does not report capabilities (Ollama before 0.6.4) for 4 models" in result.output
    models = _models(app)
    assert EMBEDDER in models and models[EMBEDDER].capabilities is None


@pytest.mark.parametrize("prompts", [2, 1])
def test_memory_is_recorded_from_api_ps_after_a_pregeneration_run(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama, prompts: int
) -> None:
    """Also when each model answers one prompt: its slate keeps it loaded for /api/ps, then
    unloads it."""
    fake_ollama.set_answer(None, NEUTRAL)
    sizes = {model.tag: model.memory for model in fake_ollama.models}
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    result = runner.invoke(args=["pregenerate", "--prompts", str(prompts)])
    assert result.exit_code == 0, result.output
    models = _models(app)
    for tag, memory in sizes.items():
        assert (models[tag].memory_bytes, models[tag].memory_source) == (memory, "ps")
        assert models[tag].memory_bytes != models[tag].disk_bytes  # loaded, not the file
    # One load per model, and none left holding memory once the run is over.
    assert fake_ollama.loads == len(sizes)
    assert fake_ollama.loaded_model is None


def test_a_failure_to_read_memory_does_not_fail_the_run(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_answer(None, NEUTRAL)
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    fake_ollama.fail_next(500, "ps broke", times=10, path="/api/ps")
    result = runner.invoke(args=["pregenerate", "--prompts", "2"])
    assert result.exit_code == 0, result.output
    models = _models(app).values()
    assert all(model.memory_bytes is None for model in models)
    with app.app_context():
        from arena.models import Response

        assert len(db.session.scalars(select(Response)).all()) == 6


@pytest.fixture
def openai_app(tmp_path: Path, fake_ollama: FakeOllama) -> Iterator[tuple[Flask, FakeOpenAI]]:
    with FakeOpenAI(("smollm2:360m", "granite3:2b")) as fake:
        fake.set_answer(None, NEUTRAL)
        backends = [
            {"name": "lmstudio", "kind": "openai", "url": fake.base_url, "retries": 1,
             "memory": {"smollm2:360m": "1.2GB"}},
        ]  # fmt: skip
        app = make_app(tmp_path / "instance", fake_ollama.url, BACKENDS=backends)
        yield app, fake
        with app.app_context():
            db.engine.dispose()


def test_openai_memory_is_the_configured_figure(
    openai_app: tuple[Flask, FakeOpenAI],
) -> None:
    app, _ = openai_app
    runner = app.test_cli_runner()
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    models = _models(app)
    smol, granite = models["smollm2:360m"], models["granite3:2b"]
    assert (smol.memory_bytes, smol.memory_source) == (1_200_000_000, "configured")
    assert (granite.memory_bytes, granite.memory_source) == (None, None)  # unknown
    assert smol.capabilities is None  # such servers do not say
    result = runner.invoke(args=["pregenerate", "--prompts", "1"])
    assert result.exit_code == 0, result.output
    assert _models(app)["smollm2:360m"].memory_bytes == 1_200_000_000
