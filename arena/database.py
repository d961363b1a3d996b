"""Database wiring: the extensions, SQLite's connection settings, and locks.

Locks: the instance folder's lock files (:func:`instance_lock`) coordinate the processes of
one machine. That is all SQLite needs (its database lives on one machine), but web machines
sharing a PostgreSQL database do not share an instance folder, so :func:`database_lock` adds
a PostgreSQL advisory lock, which every machine sees. Migrations take one too (in
``migrations/env.py``), so ``flask db upgrade`` and start-ups on several machines take turns.
The pre-generation and worker locks stay per machine: run one worker (or one cron line) for
the whole deployment.
"""

from __future__ import annotations

import fcntl
import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from arena.extensions import db, migrate

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def init_app(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    if not event.contains(Engine, "connect", sqlite_pragmas):
        event.listen(Engine, "connect", sqlite_pragmas)


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL (readers never block the writer), enforced foreign keys, and waiting for locks."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def instance_lock(app: Flask, name: str) -> Iterator[None]:
    """An exclusive lock file in the instance folder, shared by every local process."""
    path = Path(app.instance_path) / f".{name}.lock"
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def advisory_key(name: str) -> int:
    """A stable 64-bit key for a PostgreSQL advisory lock named ``name``."""
    digest = hashlib.sha256(f"gpu-poor-arena:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def database_lock(app: Flask, name: str) -> Iterator[None]:
    """An exclusive lock shared by every process using this database, on any machine.

    The instance lock file, and on PostgreSQL also a session advisory lock held on a
    connection of its own for the duration (released if the process dies).
    Needs an app context.
    """
    with instance_lock(app, name):
        if db.engine.dialect.name != "postgresql":
            yield
            return
        key = {"key": advisory_key(name)}
        with db.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), key)
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), key)
                conn.commit()
