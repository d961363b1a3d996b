"""Shared pytest fixtures: the fake Ollama server, the app, its client and CLI runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from arena import create_app
from arena.extensions import db
from tests.fake_ollama import FakeOllama, fake_ollama  # noqa: F401  (re-exported fixture)


def make_app(instance: Path, ollama_url: str, **overrides: object) -> Flask:
    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(instance),
        "OLLAMA_URL": ollama_url,
        "OLLAMA_RETRIES": 1,
        "OLLAMA_BACKOFF": 0.01,
        "GEN_RETRY_BACKOFF": 0.01,
        "OLLAMA_READ_TIMEOUT": 10.0,
        "MATCHMAKING_CACHE_SECONDS": 0,
        "MIN_READ_SECONDS": 0,  # tests vote at once; the rule has its own tests
        "WTF_CSRF_ENABLED": False,  # posted directly; tests/test_csrf.py checks the tokens
        **overrides,
    }
    return create_app(config)


@pytest.fixture
def app(tmp_path: Path, fake_ollama: FakeOllama) -> Iterator[Flask]:  # noqa: F811
    app = make_app(tmp_path / "instance", fake_ollama.url)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def pool(app: Flask, runner: FlaskCliRunner) -> Flask:
    """An app whose models are synced from the fake server and which has answers stored."""
    result = runner.invoke(args=["models", "sync"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["pregenerate", "--prompts", "4"])
    assert result.exit_code == 0, result.output
    return app
