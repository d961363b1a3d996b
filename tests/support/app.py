"""The app under test: on a fresh instance folder and the session's database (SQLite, or
PostgreSQL with ``ARENA_TEST_DATABASE_URL``), its database prepared."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from arena import create_app
from arena.ops.setup import ensure_database
from tests.support import databases


def make_app(instance: Path, ollama_url: str, **overrides: object) -> Flask:
    """The app on this instance folder, on the session's database (SQLite or PostgreSQL)."""
    database = databases.database_url(instance)
    if "DATABASE_URL" not in overrides and overrides.get("AUTO_MIGRATE", True):
        databases.seed_sqlite(instance)
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
