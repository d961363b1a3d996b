"""Backups of a PostgreSQL database: ``pg_dump`` in its custom format, checked by a restore.

A dump is taken from an exported snapshot (``pg_export_snapshot``) in which the main tables'
rows are counted too, so the check knows exactly what the archive must hold: the archive is
listed (``pg_restore --list``, its tables present) and, when the role may create databases,
restored into a scratch database whose row counts must equal the snapshot's (the scratch
database is dropped afterwards). The password goes to the tools in ``PGPASSWORD``, never on
their command line (which other users of the machine can read).

``pg_dump`` refuses to dump a server of a newer major version than its own: the newest of
the ``pg_dump`` on ``PATH`` and Debian's ``/usr/lib/postgresql/<major>/bin/pg_dump`` is used,
and a clear error says which client to install when none is recent enough.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from glob import glob
from pathlib import Path

from flask import has_app_context
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import NullPool

from arena.ops.backup import REQUIRED_TABLES, BackupError, BackupReport, backup_dir
from arena.ops.private_files import create_private, make_private, private_folder

#: Tables whose rows are counted in the snapshot and in the scratch restore.
COUNTED_TABLES = ("model", "prompt", "response", "battle", "vote")
SUFFIX = ".dump"
DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin/{tool}"


def is_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


@dataclass(frozen=True)
class Tool:
    path: str
    major: int


def tool_major(path: str) -> int | None:
    """The major version a PostgreSQL client tool reports (``pg_dump (PostgreSQL) 15.18``)."""
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"\)\s*(\d+)", out)
    return int(found.group(1)) if found else None


def choose_tool(name: str, found: Mapping[str, int | None], server_major: int) -> Tool:
    """Of the copies of ``name`` found (path -> major version), the newest, if it is at least
    the server's major version; else a BackupError saying what to install."""
    known = {path: major for path, major in found.items() if major is not None}
    if not known:
        raise BackupError(
            f"{name} is not installed, and backups of a PostgreSQL database use it: install "
            f"the PostgreSQL client (Debian: apt-get install postgresql-client-{server_major})"
        )
    path, major = max(known.items(), key=lambda item: item[1])
    if major < server_major:
        raise BackupError(
            f"{name} {major} ({path}) is older than the server (PostgreSQL {server_major}) and "
            f"cannot read it: install the client of version {server_major} or newer "
            f"(Debian: apt-get install postgresql-client-{server_major})"
        )
    return Tool(path, major)


def find_tool(name: str, server_major: int) -> Tool:
    candidates = {p for p in [shutil.which(name), *glob(DEBIAN_BINARIES.format(tool=name))] if p}
    return choose_tool(name, {path: tool_major(path) for path in sorted(candidates)}, server_major)


def _engine_url(database_url: str) -> URL:
    return make_url(database_url)


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """The ``--dbname`` connection URI (no password) and the tools' environment."""
    bare = URL.create(  # URL.set(password=None) would keep the password
        "postgresql", url.username, None, url.host, url.port, url.database, url.query
    )
    conninfo = bare.render_as_string(hide_password=False)
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    return conninfo, env


def _run(tool: Tool, args: list[str], env: Mapping[str, str]) -> str:
    result = subprocess.run([tool.path, *args], capture_output=True, text=True, env=dict(env))
    if result.returncode != 0:
        name = Path(tool.path).name
        raise BackupError(f"{name} failed: {result.stderr.strip() or result.returncode}")
    return result.stdout


def _server_major(conn: Connection) -> int:
    return int(conn.scalar(text("SHOW server_version_num")) or 0) // 10000


def _counts(conn: Connection) -> dict[str, int]:
    return {
        table: int(conn.scalar(text(f'SELECT count(*) FROM "{table}"')) or 0)  # our constant names
        for table in COUNTED_TABLES
    }


def _target_file(target: Path) -> Path:
    """A folder (existing, or a path with no suffix) gets a time-stamped ``arena-*.dump``."""
    if not (target.is_dir() or not target.suffix):
        return target
    # The configured backup folder is ours to make private; one named on the command line
    # may be shared and keeps its mode.
    ours = has_app_context() and target.resolve() == backup_dir().resolve()
    private_folder(target, tighten=ours)
    for earlier in target.glob(f"arena-*{SUFFIX}"):
        make_private(earlier)
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    path, n = target / f"arena-{stamp}{SUFFIX}", 1
    while path.exists():
        n += 1
        path = target / f"arena-{stamp}-{n}{SUFFIX}"
    return path


def dump(database_url: str, target: Path) -> BackupReport:
    """``pg_dump -Fc`` of the database to ``target`` (a file, or a folder for a time-stamped
    one), written beside it and renamed into place once checked (0600)."""
    url = _engine_url(database_url)
    engine = create_engine(url, poolclass=NullPool)
    target = _target_file(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    create_private(partial)  # pg_dump keeps the mode of the file it truncates
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot = str(conn.scalar(text("SELECT pg_export_snapshot()")))
                counts = _counts(conn)
                tools = _tools(_server_major(conn))
                conninfo, env = _libpq(url)
                _run(
                    tools["pg_dump"],
                    ["--format=custom", f"--snapshot={snapshot}", f"--file={partial}", conninfo],
                    env,
                )
        how = check_dump(database_url, partial, counts, tools["pg_restore"])
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        engine.dispose()
    return BackupReport(target, target.stat().st_size, counts["vote"], how)


def _tools(server_major: int) -> dict[str, Tool]:
    return {name: find_tool(name, server_major) for name in ("pg_dump", "pg_restore")}


def listed_tables(pg_restore: Tool, archive: Path) -> set[str]:
    """The tables whose data an archive holds (``pg_restore --list``)."""
    listing = _run(pg_restore, ["--list", str(archive)], os.environ)
    # e.g. "3401; 0 16390 TABLE DATA public vote arena"
    return set(re.findall(r"^\d+; \d+ \d+ TABLE DATA \S+ (\S+) ", listing, re.MULTILINE))


def check_dump(
    database_url: str, archive: Path, counts: Mapping[str, int] | None, pg_restore: Tool
) -> str:
    """Raise BackupError unless ``archive`` is a sound arena dump; say how it was checked.

    Listed first (its tables present); then, when the role may create a database, restored
    into a scratch one whose row counts must equal ``counts`` (when given).
    """
    missing = REQUIRED_TABLES - listed_tables(pg_restore, archive)
    if missing:
        raise BackupError(f"{archive} is not an arena dump (no {', '.join(sorted(missing))})")
    url = _engine_url(database_url)
    admin = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            may_create = conn.scalar(
                text("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user")
            )
            if not may_create:
                return "listed (pg_restore --list); the role may not create a scratch database"
            scratch = f"arena_restore_check_{secrets.token_hex(4)}"
            conn.execute(text(f'CREATE DATABASE "{scratch}" TEMPLATE template0'))
        try:
            restored = _restore_into(url.set(database=scratch), archive, pg_restore)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}"'))
    finally:
        admin.dispose()
    if counts is not None and dict(counts) != restored:
        raise BackupError(f"{archive} restored other row counts ({restored}) than {dict(counts)}")
    rows = ", ".join(f"{n} {table}" for table, n in restored.items())
    return f"restored into a scratch database: {rows}"


def _restore_into(
    url: URL, archive: Path, pg_restore: Tool, *, clean: bool = False
) -> dict[str, int]:
    """``pg_restore`` the archive into the database at ``url``; its row counts after."""
    conninfo, env = _libpq(url)
    args = ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if clean:
        args += ["--clean", "--if-exists"]
    _run(pg_restore, [*args, f"--dbname={conninfo}", str(archive)], env)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return _counts(conn)
    finally:
        engine.dispose()


def restore(database_url: str, source: Path, safety_dir: Path) -> BackupReport:
    """Replace the database's content with a dump's, keeping a dump of the current one.

    The dump is checked first (listed, and restored into a scratch database when the role
    may create one); the current database is dumped into ``safety_dir``; then
    ``pg_restore --clean --single-transaction`` replaces the arena's tables (all or nothing).
    Stop the web nodes and workers first: their open transactions would make it wait.
    """
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    url = _engine_url(database_url)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            tools = _tools(_server_major(conn))
    finally:
        engine.dispose()
    check_dump(database_url, source, None, tools["pg_restore"])
    dump(database_url, safety_dir)
    counts = _restore_into(url, source, tools["pg_restore"], clean=True)
    return BackupReport(source, source.stat().st_size, counts["vote"], "restored")
