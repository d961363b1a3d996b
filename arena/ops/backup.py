"""Online backups of the SQLite database, restore, and rotation of nightly copies.

SQLite's online backup API copies a consistent snapshot while the app keeps serving and
writing: readers and the writer are never blocked for longer than one step of pages.
PostgreSQL's backups are ``arena.ops.pg_backup``; ``arena.ops.backups`` picks one.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app, has_app_context
from sqlalchemy.engine import make_url

from arena.ops.private_files import create_private, make_private, private_folder, protect_sqlite

REQUIRED_TABLES = {"model", "prompt", "response", "battle", "vote", "alembic_version"}
PAGES_PER_STEP = 1024


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupReport:
    path: Path
    bytes: int
    votes: int
    checked: str = "SQLite's integrity check"  # how the copy was checked


def backup_dir() -> Path:
    """Where backups go: ``BACKUP_DIR``, else ``<instance>/backups`` (needs an app context)."""
    configured = current_app.config.get("BACKUP_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "backups"


def sqlite_path(database_url: str) -> Path:
    """The file behind an SQLite URL; other databases have their own backup tools."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise BackupError(
            f"backups here use SQLite's online backup API, and the database is "
            f"{url.get_backend_name()}: use that server's own tool (e.g. pg_dump) instead"
        )
    return Path(url.database)


def backup(database_url: str, target: Path) -> BackupReport:
    """Copy the live database to ``target`` (written beside it, then renamed into place).

    A folder (an existing one, or a path with no file suffix) gets a time-stamped file. The
    copy is readable by its owner only (mode 0600, whatever the umask), so are the earlier
    backups in that folder, and the folder when it is created or is the backup folder.
    """
    source_path = sqlite_path(database_url)
    if not source_path.is_file():
        raise BackupError(f"there is no database at {source_path} yet")
    if target.is_dir() or not target.suffix:
        private_folder(target, tighten=_is_backup_dir(target))
        for earlier in target.glob("arena-*.db"):
            make_private(earlier)
        stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        target = target / f"arena-{stamp}.db"
        n = 1
        while target.exists():  # two backups within one second keep both
            n += 1
            target = target.with_name(f"arena-{stamp}-{n}.db")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    create_private(partial)  # SQLite would create it 0644 (less the umask)
    try:
        with _connect(source_path) as source, _connect(partial) as copy:
            source.backup(copy, pages=PAGES_PER_STEP, sleep=0.005)
            copy.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        votes = check_database(partial)
        os.replace(partial, target)
    except sqlite3.Error as error:
        partial.unlink(missing_ok=True)
        raise BackupError(f"backup to {target} failed: {error}") from None
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    return BackupReport(target, target.stat().st_size, votes)


def restore(database_url: str, source: Path, safety_dir: Path) -> BackupReport:
    """Replace the live database's content with a backup's, keeping a copy of the current one.

    The backup is checked first (integrity, the arena's tables); the current database is
    saved into ``safety_dir``; then the backup API writes the pages into the live file, so
    processes that hold it open see the restored data at their next transaction.
    """
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    try:
        votes = check_database(source)
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{source} is not an SQLite database: {error}") from None
    live = sqlite_path(database_url)
    if live.is_file():
        backup(database_url, safety_dir)
    live.parent.mkdir(parents=True, exist_ok=True)
    protect_sqlite(live)
    with _connect(source) as backup_copy, _connect(live) as target:
        backup_copy.backup(target, pages=PAGES_PER_STEP, sleep=0.005)
    return BackupReport(live, live.stat().st_size, votes)


def _is_backup_dir(folder: Path) -> bool:
    """Whether ``folder`` is the configured (or default) backup folder, which is ours to make
    private; a folder named on the command line may be shared and keeps its mode."""
    return has_app_context() and folder.resolve() == backup_dir().resolve()


def check_database(path: Path) -> int:
    """Raise BackupError unless ``path`` is a sound arena database; return its vote count."""
    with _connect(path) as connection:
        verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise BackupError(f"{path} failed SQLite's integrity check: {verdict}")
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        missing = REQUIRED_TABLES - tables
        if missing:
            raise BackupError(f"{path} is not an arena database (no {', '.join(sorted(missing))})")
        return int(connection.execute("SELECT count(*) FROM vote").fetchone()[0])


def rotate(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups named ``arena-*.db`` (SQLite) or
    ``arena-*.dump`` (PostgreSQL); return what was removed."""
    found = [p for p in directory.glob("arena-*") if p.suffix in (".db", ".dump")]
    backups = sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)
    removed = backups[max(keep, 0) :]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


class _connect:
    """``sqlite3.connect`` as a context manager that really closes the connection."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, timeout=30)

    def __enter__(self) -> sqlite3.Connection:
        return self.connection

    def __exit__(self, *exc: object) -> None:
        self.connection.close()
