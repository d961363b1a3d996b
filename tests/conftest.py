"""Shared pytest fixtures: the fake Ollama server, the app, its client and CLI runner.

With ``ARENA_TEST_DATABASE_URL`` set to a PostgreSQL URL, every test runs on a fresh
PostgreSQL database of its own instead of SQLite (see ``tests/support/databases.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from arena.extensions import db
from tests.support import databases
from tests.support.app import make_app
from tests.support.fake_ollama import FakeOllama, fake_ollama  # noqa: F401  (re-exported fixture)


@pytest.fixture(autouse=True)
def _test_databases() -> Iterator[None]:
    """On PostgreSQL, drop the databases this test made once it is over (nothing on SQLite)."""
    yield
    databases.drop_test_databases()


def pytest_report_header() -> str:
    return f"database: {databases.backend()}"


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
