"""Which database the tests run on: SQLite (the default) or PostgreSQL.

Set ``ARENA_TEST_DATABASE_URL`` to a PostgreSQL URL whose role may create databases (see
``scripts/ci/postgres.sh``), and every test gets a database of its own instead of the SQLite
file in its instance folder. The first use in a session migrates a template database to the
newest revision; each test's database is then a copy of it (``CREATE DATABASE ... TEMPLATE``,
about 15 ms, against about 1 s to migrate an empty one), and is dropped when the test ends.

A database belongs to an instance folder: ``make_app`` and the environment of subprocesses
(gunicorn, the worker, the cron script) ask :func:`database_url` with the same folder and get
the same database, so every process of one test shares it as it would share the SQLite file.
No pytest here: ``tests/support/live_server.py`` (used by benchmarks too) imports this module.
"""

from __future__ import annotations

import atexit
import hashlib
import itertools
import os
import re
import secrets
import shutil
import socket
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine, make_url

ENV_VAR = "ARENA_TEST_DATABASE_URL"

_url: str | None = os.environ.get(ENV_VAR) or None
_engine: Engine | None = None
_template: str | None = None
_by_instance: dict[str, str] = {}
_sqlite_template: Path | None = None
_serial = itertools.count(1)
# arena_t_<host>_<pid>_<random>: a session's databases, told apart from other sessions' (a
# killed session's leftovers are dropped by the next session on the same host).
_host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
_prefix = f"arena_t_{_host}_{os.getpid()}_{secrets.token_hex(2)}"


def backend() -> str:
    """``sqlite`` or ``postgresql``: what the tests of this session run on."""
    return make_url(_url).get_backend_name() if _url else "sqlite"


def on_postgres() -> bool:
    return backend() == "postgresql"


def database_url(instance: Path, *, empty: bool = False) -> str | None:
    """The database of this instance folder (created on first use), or None on SQLite.

    ``empty`` gives a database with no tables at all (for tests of migrations themselves);
    it only matters for the call that creates it.
    """
    if not on_postgres():
        return None
    key = str(Path(instance).resolve())
    found = _by_instance.get(key)
    if found is None:
        name = f"{_prefix}_{next(_serial)}"  # never reused, even if a drop failed
        template = "template0" if empty else _migrated_template()
        _admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        found = _by_instance[key] = _render(_base_url().set(database=name))
    return found


def seed_sqlite(instance: Path) -> None:
    """On SQLite, start the instance's database as a copy of one prepared once per session
    (migrated, prompt bank loaded): a file copy instead of ~0.2 s of migrations per test. The
    app's own start-up check still runs on it. Nothing on PostgreSQL (its databases are copies
    of a template already) or when the instance already has a database."""
    if on_postgres():
        return
    target = Path(instance) / "arena.db"
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_prepared_sqlite(), target)


def _prepared_sqlite() -> Path:
    """The session's prepared SQLite file (made at first use, removed at exit)."""
    global _sqlite_template
    if _sqlite_template is None:
        from arena import create_app
        from arena.extensions import db
        from arena.ops.setup import prepare_database

        folder = Path(tempfile.mkdtemp(prefix="arena-template-"))
        app = create_app({"TESTING": True, "INSTANCE_PATH": str(folder), "SECRET_KEY": "t"})
        prepare_database(app)
        with app.app_context():
            db.engine.dispose()  # the last connection closed: the WAL is folded into the file
        _sqlite_template = folder / "arena.db"
        atexit.register(shutil.rmtree, folder, True)
    return _sqlite_template


def subprocess_environ(instance: Path) -> dict[str, str]:
    """``ARENA_DATABASE_URL`` for a subprocess using this instance folder (none on SQLite)."""
    url = database_url(instance)
    return {"ARENA_DATABASE_URL": url} if url else {}


def drop_test_databases() -> None:
    """Drop every database made for the instance folders of the test that just ended."""
    names = [make_url(url).database for url in _by_instance.values()]
    _by_instance.clear()
    for name in names:
        _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_template() -> None:
    global _template
    drop_test_databases()
    if _template is not None:
        _admin_execute(f'DROP DATABASE IF EXISTS "{_template}" WITH (FORCE)')
        _template = None
    if _engine is not None:
        _engine.dispose()


def _base_url() -> URL:
    assert _url is not None
    return make_url(_url)


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def _admin() -> Engine:
    """An engine on the base database, outside transactions (CREATE/DROP DATABASE)."""
    global _engine
    if _engine is None:
        _engine = create_engine(_url or "", isolation_level="AUTOCOMMIT", pool_size=1)
    return _engine


def _admin_execute(sql: str) -> None:
    with _admin().connect() as conn:
        conn.execute(text(sql))


def _migrated_template() -> str:
    """A database at the newest migration, made once per session (and dropped at exit)."""
    global _template
    if _template is None:
        from flask_migrate import upgrade

        from arena import create_app
        from arena.database import MIGRATIONS_DIR
        from arena.extensions import db

        _drop_leftovers()
        name = f"{_prefix}_template"
        _admin_execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        app = create_app(
            {
                "TESTING": True,
                "INSTANCE_PATH": tempfile.mkdtemp(prefix=name),
                "DATABASE_URL": _render(_base_url().set(database=name)),
                "AUTO_MIGRATE": False,
                "SECRET_KEY": "template",
            }
        )
        with app.app_context():
            upgrade(directory=str(MIGRATIONS_DIR))
            db.engine.dispose()
        _template = name
        atexit.register(drop_template)
    return _template


def _drop_leftovers() -> None:
    """Drop the databases of earlier sessions on this host whose process is gone."""
    pattern = re.compile(rf"arena_t_{_host}_(\d+)_[0-9a-f]+_\w+")
    with _admin().connect() as conn:
        names = conn.scalars(text("SELECT datname FROM pg_database")).all()
    for name in names:
        match = pattern.fullmatch(name)
        if match and not _alive(int(match.group(1))):
            _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
