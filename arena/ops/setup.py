"""The database made ready for use: migrated to the newest schema, the prompt bank loaded.

Nothing of this runs when the app is created, so ``flask --app arena --help`` and every
command's ``--help`` only print help. The web calls :func:`ensure_database` before its first
request (``wsgi.py`` already at start-up, before gunicorn forks its workers), and commands
that need the database call it before they run (``arena.cli.common.with_database``).
"""

from __future__ import annotations

import threading

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, select

from arena.database import MIGRATIONS_DIR, database_lock
from arena.extensions import db
from arena.models import Prompt
from arena.ops.private_files import protect_sqlite, sqlite_file
from arena.play.prompts import load_builtin_prompts

#: ``app.extensions`` key set once the app's database is ready.
READY = "arena_database_ready"
#: ``app.extensions`` key set once the SQLite files are known to be private.
PRIVATE = "arena_database_private"
_LOCK = threading.Lock()


def prepare_database(app: Flask) -> None:
    """Bring the schema to the newest migration and load the built-in prompt bank once.

    Several gunicorn workers (and, on PostgreSQL, several machines) start together, so the
    work runs under :func:`arena.database.database_lock`.
    """
    with app.app_context():
        with database_lock(app, "prepare"):
            upgrade(directory=str(MIGRATIONS_DIR))
            if db.session.scalar(select(func.count(Prompt.id))) == 0:
                load_builtin_prompts()
            db.session.remove()
        # No pooled connection may cross a fork (gunicorn's preload_app): start afresh.
        db.engine.dispose()
    app.extensions[READY] = True


def ensure_database(app: Flask) -> None:
    """:func:`prepare_database` once per app, when ``AUTO_MIGRATE`` is on (the default);
    first, whatever that setting, :func:`protect_database_files`.

    Cheap after the first call (one dictionary lookup), so it may run before every request.
    With ``AUTO_MIGRATE`` off the operator runs ``flask --app arena db upgrade`` instead.
    """
    if not app.extensions.get(PRIVATE):
        protect_database_files(app)
        app.extensions[PRIVATE] = True
    if app.extensions.get(READY) or not app.config["AUTO_MIGRATE"]:
        return
    with _LOCK:  # the threads of one process: one prepares, the others wait for it
        if not app.extensions.get(READY):
            prepare_database(app)


def protect_database_files(app: Flask) -> None:
    """An SQLite database and its ``-wal``/``-shm`` files readable by their owner only: the
    file is created 0600 before SQLite would create it (0644 less the umask), an existing one
    made so (visitors' prompts are private). Nothing for other databases."""
    path = sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"], app.instance_path)
    if path is not None:
        protect_sqlite(path)
