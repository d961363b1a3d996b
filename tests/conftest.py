"""Shared pytest fixtures: the fake model servers, the app, its client and CLI runner.

The app talks to the test's ``fake_ollama`` when the test (or one of its fixtures) asks for
one; otherwise no fake server starts and the app's Ollama URL is an address where nothing
listens, so a test that reaches the backend without asking for it fails at once.

With ``ARENA_TEST_DATABASE_URL`` set to a PostgreSQL URL, every test runs on a fresh
PostgreSQL database of its own instead of SQLite (see ``tests/support/databases.py``).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, has_app_context
from flask.testing import FlaskClient, FlaskCliRunner

from arena.extensions import db
from arena.leaderboard import cost_cache
from arena.ops import pool_report_cache
from arena.ops.export_builds import BUILDER_KEY, Builder
from tests.support import databases
from tests.support.app import make_app
from tests.support.fake_ollama import FakeOllama
from tests.support.fake_openai import FakeOpenAI


@pytest.fixture(autouse=True)
def _test_databases() -> Iterator[None]:
    """On PostgreSQL, drop the databases this test made once it is over (nothing on SQLite)."""
    yield
    databases.drop_test_databases()


@pytest.fixture(autouse=True)
def _costs_computed_afresh() -> None:
    """Each test's database starts with no process-kept costs: PostgreSQL's test databases
    share a URL, and two of them may hold answers alike in count and highest id."""
    cost_cache.forget_costs()


@pytest.fixture(autouse=True)
def _no_app_context_left() -> Iterator[None]:
    """A test leaves no application context pushed: a leftover one would be the app of every
    later test's CLI runs (Flask's commands use the current app when there is one)."""
    yield
    assert not has_app_context(), "the test left an application context pushed"


@pytest.fixture(autouse=True)
def _pool_reports_wait_for_their_computation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test databases are tiny: /status computes its pool report in a thread and the view
    waits for it, however long a busy machine makes it take (the background process of large
    arenas is tested on its own, in tests/ops/test_status_cache.py)."""
    monkeypatch.setattr(pool_report_cache, "QUICK_SECONDS", 60.0)
    monkeypatch.setattr(pool_report_cache, "WAIT_SECONDS", 120.0)


def pytest_report_header() -> str:
    return f"database: {databases.backend()}"


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    """A started FakeOllama with the three DEFAULT_MODELS and no delays."""
    with FakeOllama() as fake:
        yield fake


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A started FakeOpenAI serving two models, with no delays."""
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="session")
def nothing_listens() -> Iterator[str]:
    """A URL where nothing listens: its port is bound for the session but never listened
    on, so no one else takes it and every connection to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: Path, nothing_listens: str) -> Iterator[Flask]:
    """The app on a fresh instance folder; its Ollama is the test's ``fake_ollama`` if the
    test uses that fixture, else ``nothing_listens`` (and no fake server is started)."""
    if "fake_ollama" in request.fixturenames:
        ollama_url = request.getfixturevalue("fake_ollama").url
    else:
        ollama_url = nothing_listens
    app = make_app(tmp_path / "instance", ollama_url)
    yield app
    builder = app.extensions.get(BUILDER_KEY)
    if isinstance(builder, Builder):  # a build the test started ends before its database
        builder.wait_idle(60)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def pool(app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama) -> Flask:
    """An app whose models are synced from the fake server and which has answers stored."""
    result = runner.invoke(args=["models", "sync"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["pregenerate", "--prompts", "4"])
    assert result.exit_code == 0, result.output
    return app
