"""Vote log exports too large to stream in one request: built once into a file, then served.

A download of the vote log that holds more than ``EXPORTS_STREAM_MAX_ROWS`` votes is not
streamed by the web worker that received it (gunicorn kills a worker that is busy for more than
its timeout, which cut million-row downloads silently). Instead it is written once into a file
of the instance folder's ``exports/`` by a build process (:mod:`arena.ops.export_builds`), and
every request for the same data is then served that file (Werkzeug's ``send_file``, or nginx
itself through ``X-Accel-Redirect``), with a ``Content-Length``, ranges and the export's ETag.

- **Whole or nothing.** A build writes a temporary file and renames it into place when it is
  complete, after its description (``.meta.json``), so a half file is never served.
- **One build per export.** An export is named by its *shape* (format, filters, page and
  columns); a build holds the shape's lock file (``.build-<shape>.lock``, ``flock``), so the
  processes of a machine never build the same shape twice at once, and one of a few build
  slots (``.slot-<n>.lock``, ``EXPORTS_MAX_BUILDS``), so few builds run at once.
- **One snapshot.** The data signature (``votes_version``) and the rows are read in one read
  transaction, so a file's ETag is exactly the data it holds.
- **Served for a while.** A file is served for ``EXPORTS_MAX_STALE_SECONDS`` after it was
  built even if votes came in since (with its own ETag), so a busy arena's votes do not
  restart the build under a client that waits for it.
- **Bounded disk.** A new file replaces the older ones of its shape (a download in progress
  keeps its open file); after each build, files beyond ``EXPORTS_KEEP_MB`` are deleted, the
  least recently served first (serving touches the description), and temporary files of
  builds that died with their process are removed.
- **Failures are visible.** A failed build leaves a note (``.failed-<shape>.json``); requests
  get a 503 saying why for :data:`FAILURE_PAUSE_SECONDS`, then the next one tries again.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from flask import Flask
from sqlalchemy import Connection

from arena.extensions import db
from arena.filelocks import try_flock
from arena.leaderboard import exports
from arena.leaderboard.cache import votes_version
from arena.leaderboard.filters import Filters

#: The instance folder's sub-folder that holds the files.
FOLDER = "exports"
#: After a failed build, requests for that export get a 503 this long before one tries again.
FAILURE_PAUSE_SECONDS = 60
_META = ".meta.json"


@dataclass(frozen=True)
class VoteExport:
    """One vote log export as asked for: its format, filters, page and columns."""

    fmt: str
    filters: Filters
    page: exports.VotePage

    @property
    def suffix(self) -> str:
        return "csv" if self.fmt == "csv" else "jsonl"

    @property
    def shape(self) -> str:
        """What the export holds whatever the data: the same shape, the same file name stem."""
        raw = json.dumps(["votes", self.suffix, self.filters.key(), self.page.key()])
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def tag(self, version: str) -> str:
        """The ETag of this export over data of ``version`` (``votes_version``)."""
        return exports.etag("votes", self.fmt, self.filters, version, self.page.key())


@dataclass(frozen=True)
class ExportFile:
    """A complete export file and what it holds."""

    path: Path
    tag: str
    rows: int
    size: int
    last_vote_id: int | None
    next_after: int | None
    started_at: float
    built_at: float

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "path"}


class ExportStore:
    """The files of one folder: finding, writing, locking and cleaning them up."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def of(cls, app: Flask) -> ExportStore:
        return cls(Path(app.instance_path) / FOLDER)

    def _stem(self, export: VoteExport, tag: str) -> str:
        return f"votes-{export.shape}-{tag}.{export.suffix}"

    def _read(self, meta: Path) -> ExportFile | None:
        try:
            fields = json.loads(meta.read_text(encoding="utf-8"))
            path = meta.with_name(meta.name.removesuffix(_META))
            found = ExportFile(path=path, **fields)
        except (OSError, ValueError, TypeError):
            return None
        return found if path.is_file() else None

    def find(self, export: VoteExport, tag: str) -> ExportFile | None:
        """The complete file of ``export`` with ETag ``tag``, if there is one."""
        return self._read(self.folder / (self._stem(export, tag) + _META))

    def newest(self, export: VoteExport, max_age: float | None = None) -> ExportFile | None:
        """The most recently built complete file of ``export``'s shape, if any was built in the
        last ``max_age`` seconds (any age when None)."""
        found = [self._read(meta) for meta in self.folder.glob(f"votes-{export.shape}-*{_META}")]
        files = [f for f in found if f is not None]
        if not files:
            return None
        newest = max(files, key=lambda f: f.built_at)
        if max_age is not None and time.time() - newest.built_at > max_age:
            return None
        return newest

    def touch(self, file: ExportFile) -> None:
        """Mark ``file`` as just served (clean-up deletes the least recently served first)."""
        with suppress(OSError):  # deleted meanwhile: a download in progress keeps its file
            os.utime(file.path.with_name(file.path.name + _META))

    def _lock_path(self, export: VoteExport) -> Path:
        return self.folder / f".build-{export.shape}.lock"

    def _try_lock(self, path: Path) -> IO[str] | None:
        """``path`` opened and locked (``flock``, not blocking), or None when it is held."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return try_flock(path)

    def try_lock(self, export: VoteExport) -> IO[str] | None:
        """The shape's build lock, open and held, or None when a build holds it. The lock is
        held while any copy of the descriptor is open: a build process it is passed to keeps
        it, and the kernel releases it when that process ends, however it ends."""
        return self._try_lock(self._lock_path(export))

    def try_slot(self, slots: int) -> IO[str] | None:
        """One of ``slots`` build slots of the machine (a lock file each), or None when every
        one is held."""
        for n in range(slots):
            handle = self._try_lock(self.folder / f".slot-{n}.lock")
            if handle is not None:
                return handle
        return None

    @contextmanager
    def lock(self, export: VoteExport) -> Iterator[bool]:
        """Hold the shape's build lock if no one else does; yields whether it is held."""
        handle = self.try_lock(export)
        try:
            yield handle is not None
        finally:
            if handle is not None:
                handle.close()

    def building(self, export: VoteExport) -> int | None:
        """Bytes written so far when a build of ``export`` runs (in any local process),
        else None."""
        if not self._lock_path(export).exists():
            return None
        with self.lock(export) as free:
            if free:
                return None
        return sum(self._size(p) for p in self.folder.glob(f".tmp-votes-{export.shape}-*"))

    @staticmethod
    def _size(path: Path) -> int:
        try:
            return path.stat().st_size
        except OSError:
            return 0

    @contextmanager
    def writing(self, export: VoteExport) -> Iterator[Path]:
        """A temporary file for a build (under its lock), removed if the build fails."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".tmp-votes-{export.shape}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            yield tmp
        finally:
            tmp.unlink(missing_ok=True)

    def commit(self, export: VoteExport, tmp: Path, **fields: Any) -> ExportFile:
        """Move a complete temporary file into place: its description first, then the data,
        whose appearance makes the file complete."""
        path = self.folder / self._stem(export, fields["tag"])
        file = ExportFile(path=path, size=tmp.stat().st_size, **fields)
        meta = path.with_name(path.name + _META)
        meta_tmp = tmp.with_name(tmp.name + _META)
        meta_tmp.write_text(json.dumps(file.describe()), encoding="utf-8")
        os.replace(meta_tmp, meta)
        os.replace(tmp, path)
        self._failed_path(export).unlink(missing_ok=True)
        for older in self.folder.glob(f"votes-{export.shape}-*{_META}"):
            if older != meta:  # superseded (a download in progress keeps its open file)
                older.with_name(older.name.removesuffix(_META)).unlink(missing_ok=True)
                older.unlink(missing_ok=True)
        return file

    def _failed_path(self, export: VoteExport) -> Path:
        return self.folder / f".failed-{export.shape}.json"

    def fail(self, export: VoteExport, message: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        note = {"message": message, "at": time.time()}
        self._failed_path(export).write_text(json.dumps(note), encoding="utf-8")

    def failure(self, export: VoteExport, within: float = FAILURE_PAUSE_SECONDS) -> str | None:
        """Why the last build of ``export`` failed, if it failed in the last ``within`` s."""
        try:
            note = json.loads(self._failed_path(export).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return str(note["message"]) if time.time() - float(note["at"]) < within else None

    def clean(self, keep_bytes: int, keep: Sequence[Path] = ()) -> list[Path]:
        """Delete the least recently served files beyond ``keep_bytes`` (never those of
        ``keep``) and the temporary files no build holds; return the deleted data files."""
        self._clean_orphans()
        metas = sorted(
            self.folder.glob(f"votes-*{_META}"), key=lambda m: self._mtime(m), reverse=True
        )
        total, deleted = 0, []
        for meta in metas:
            path = meta.with_name(meta.name.removesuffix(_META))
            total += self._size(path)
            if total > keep_bytes and path not in keep:
                path.unlink(missing_ok=True)
                meta.unlink(missing_ok=True)
                deleted.append(path)
        return deleted

    @staticmethod
    def _mtime(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0

    def _clean_orphans(self) -> None:
        for lock in self.folder.glob(".build-*.lock"):
            shape = lock.name.removeprefix(".build-").removesuffix(".lock")
            handle = self._try_lock(lock)
            if handle is None:
                continue  # a build of that shape is running: its file is not an orphan
            with handle:
                for tmp in self.folder.glob(f".tmp-votes-{shape}-*"):
                    tmp.unlink(missing_ok=True)


@contextmanager
def snapshot() -> Iterator[Connection]:
    """A connection whose reads all see one state of the database (one read transaction).

    SQLite's driver starts no transaction for reads, so each statement would see its own
    state: ``BEGIN`` makes the signature and the rows one snapshot. PostgreSQL: REPEATABLE READ.
    """
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")
        elif conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        try:
            yield conn
        finally:
            conn.rollback()


class _Counted:
    """Rows passed through, counted, the last vote id kept."""

    def __init__(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.count = 0
        self.last_id: int | None = None

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        for row in self.rows:
            self.count += 1
            self.last_id = row[0]
            yield row


def build(store: ExportStore, export: VoteExport) -> ExportFile:
    """Write ``export``'s file now, in this thread (which needs an app context), unless the
    file of the data as it is now exists; the caller holds the shape's lock.

    Raises what the database or the disk raise: the temporary file is removed and nothing is
    served from it.
    """
    started = time.time()
    with snapshot() as conn:
        tag = export.tag(votes_version(conn, answers=export.page.answers))
        existing = store.find(export, tag)
        if existing is not None:
            return existing
        upto = exports.next_after(export.filters, export.page, conn)
        rows = _Counted(exports.vote_rows(export.filters, export.page, upto, conn))
        with store.writing(export) as tmp:
            with open(tmp, "w", encoding="utf-8", newline="", buffering=1 << 20) as out:
                for chunk in exports.votes_text(rows, export.fmt, export.page):
                    out.write(chunk)
            return store.commit(
                export,
                tmp,
                tag=tag,
                rows=rows.count,
                last_vote_id=rows.last_id,
                next_after=upto,
                started_at=started,
                built_at=time.time(),
            )
