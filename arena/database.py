"""Database wiring: the extensions, migrations on start-up, and the first prompt bank."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, select

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


def prepare(app: Flask) -> None:
    """Bring the schema to the newest migration and load the built-in prompt bank once.

    Several gunicorn workers start together, so the work runs under a file lock.
    """
    from arena.models import Prompt
    from arena.prompts import load_builtin_prompts

    with app.app_context(), instance_lock(app, "migrate"):
        upgrade(directory=str(MIGRATIONS_DIR))
        if db.session.scalar(select(func.count(Prompt.id))) == 0:
            load_builtin_prompts()
        db.session.remove()
        # No pooled connection may cross a fork (gunicorn's preload_app): start afresh.
        db.engine.dispose()
