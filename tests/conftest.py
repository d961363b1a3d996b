"""Shared pytest fixtures: the fake Ollama server, the app, its client and CLI runner.

With ``ARENA_TEST_DATABASE_URL`` set to a PostgreSQL URL, every test runs on a fresh
PostgreSQL database of its own instead of SQLite (see ``tests/databases.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from arena import create_app
from arena.extensions import db
from arena.ops.setup import ensure_database
from tests import databases
from tests.fake_ollama import FakeOllama, fake_ollama  # noqa: F401  (re-exported fixture)


def make_app(instance: Path, ollama_url: str, **overrides: object) -> Flask:
    """The app on this instance folder, on the session's database (SQLite or PostgreSQL)."""
    database = databases.database_url(instance)
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
        **({"DATABASE_URL": database} if database else {}),
        **overrides,
    }
    app = create_app(config)
    ensure_database(app)
    return app


#: Marks a test that checks SQLite itself; it is skipped when the suite runs on PostgreSQL.
sqlite_only = pytest.mark.skipif(
    databases.on_postgres(), reason="checks SQLite itself; the suite runs on PostgreSQL"
)


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
