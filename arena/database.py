"""Database wiring: the extensions, migrations on start-up, the first prompt bank, locks.

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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, select, text

from arena.extensions import db, migrate

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def init_app(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)


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


def prepare(app: Flask) -> None:
    """Bring the schema to the newest migration and load the built-in prompt bank once.

    Several gunicorn workers (and, on PostgreSQL, several machines) start together, so the
    work runs under :func:`database_lock`.
    """
    from arena.models import Prompt
    from arena.prompts import load_builtin_prompts

    with app.app_context():
        with database_lock(app, "prepare"):
            upgrade(directory=str(MIGRATIONS_DIR))
            if db.session.scalar(select(func.count(Prompt.id))) == 0:
                load_builtin_prompts()
            db.session.remove()
        # No pooled connection may cross a fork (gunicorn's preload_app): start afresh.
        db.engine.dispose()
