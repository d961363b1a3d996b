"""Files only the arena's own user may read: the SQLite database, its backups, their folder.

They hold visitors' own prompts and the vote log. Whatever the process's umask, such a file is
created with mode 0600 (a folder 0700), and one found readable by others (made by an older
version, or copied by hand) is made so at start-up and at each backup. A file that belongs to
another user is left as it is (only its owner may change its mode).
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

__all__ = [
    "SQLITE_COMPANIONS",
    "create_private",
    "make_private",
    "private_folder",
    "protect_sqlite",
    "sqlite_file",
]

FILE_MODE = 0o600
FOLDER_MODE = 0o700
#: The files SQLite keeps beside a database (they take the database file's mode when created).
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def make_private(path: Path, mode: int = FILE_MODE) -> None:
    """Take the group's and others' access away from ``path``, if it exists and is ours."""
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(mode)
    except OSError:  # gone, or another user's
        pass


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (then make it private)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        make_private(path)


def private_folder(path: Path, *, tighten: bool = False) -> Path:
    """``path`` as a folder, created with mode 0700 when missing (its parents as usual);
    ``tighten`` also takes others' access away from an existing one."""
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=FOLDER_MODE, exist_ok=True)
    elif tighten:
        make_private(path, FOLDER_MODE)
    return path


def sqlite_file(database_url: str, instance_path: str) -> Path | None:
    """The file of an SQLite URL (a relative one is in the instance folder, as Flask-SQLAlchemy
    places it); None for another database or an in-memory one."""
    url = make_url(database_url)
    name = url.database
    if url.get_backend_name() != "sqlite" or not name or name == ":memory:":
        return None
    if name.startswith("file:") or url.query.get("mode") == "memory":
        return None
    path = Path(name)
    return path if path.is_absolute() else Path(instance_path) / path


def protect_sqlite(path: Path) -> None:
    """Create the database file 0600 before SQLite does (it would use 0644 less the umask;
    its ``-wal`` and ``-shm`` files then take the same mode), and make the existing database
    and companions private."""
    if path.parent.is_dir():
        create_private(path)
    for suffix in SQLITE_COMPANIONS:
        make_private(path.with_name(path.name + suffix))
