"""Backups on either database, with the same rotation and restore check: SQLite's online
backup API (``arena.ops.backup``) or ``pg_dump`` (``arena.ops.pg_backup``)."""

from __future__ import annotations

from pathlib import Path

from arena.ops import backup as sqlite_backup
from arena.ops import pg_backup
from arena.ops.backup import BackupReport, rotate


def backup(database_url: str, target: Path) -> BackupReport:
    """Copy the live database to ``target`` (a file, or a folder for a time-stamped one)."""
    if pg_backup.is_postgres(database_url):
        return pg_backup.dump(database_url, target)
    return sqlite_backup.backup(database_url, target)


def restore(database_url: str, source: Path, safety_dir: Path) -> BackupReport:
    """Replace the live database's content with a backup's, keeping a copy of the current
    one in ``safety_dir``."""
    if pg_backup.is_postgres(database_url):
        return pg_backup.restore(database_url, source, safety_dir)
    return sqlite_backup.restore(database_url, source, safety_dir)


def nightly(database_url: str, directory: Path, keep: int) -> BackupReport:
    """One rotated backup into ``directory``: what the worker runs each night."""
    report = backup(database_url, directory)
    rotate(directory, keep)
    return report
