"""The worker lease: of the workers sharing one database, exactly one runs the nightly jobs.

On PostgreSQL the lease is a session-level advisory lock (``pg_try_advisory_lock``) taken on
a connection of its own that the worker keeps open. The server releases a session's locks
when the session ends, so a worker killed with -9 loses the lease as soon as PostgreSQL
notices its connection is gone:

* the process dies, its machine lives: the kernel closes the socket, the server's backend
  reads end-of-file at once and exits (on loopback, or any live network, within milliseconds);
* the machine or its network dies: nothing closes the socket, so the session asks the server
  to probe it (``tcp_keepalives_idle`` 10 s, then 3 probes 5 s apart): released ~25 s after
  the last packet. The holder meanwhile checks the lease every poll with a query bounded by
  ``tcp_user_timeout`` (10 s), so a holder cut off from the server steps down (~15 s) before
  the server lets a standby in (~25 s): never two active workers.

``idle_session_timeout`` and ``idle_in_transaction_session_timeout`` are set to 0 on the lease
session: a server-wide idle timeout shorter than the poll would end the holder's session
between two checks and hand the lease to the standby every few seconds.

On SQLite (one machine) the lease is a lock file next to the database file (``flock``: the
kernel releases it when the holder dies however it dies), with the same interface.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from arena.database import advisory_key
from arena.filelocks import try_flock, unflock

LEASE_NAME = "worker-lease"
#: libpq settings of the lease connection: notice a dead server within ~15 s.
CLIENT_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,  # ms: a query unanswered this long fails
    "connect_timeout": 5,
    "application_name": "arena-worker-lease",
}
#: Session settings on the server: notice a dead client ~25 s after its last packet, never
#: end the (idle) holder's session for idling.
SESSION_SETTINGS = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
    "idle_session_timeout": "0",  # PostgreSQL 14+; skipped where the server has no such setting
    "idle_in_transaction_session_timeout": "0",
    "statement_timeout": "10s",
}


class Lease(ABC):
    """A lease only one worker holds at a time; its holder loses it if it dies."""

    #: How the lease is held, for the worker's log.
    description: str

    @abstractmethod
    def try_take(self) -> bool:
        """Take the lease if free (never waits); True when this worker holds it now."""

    @abstractmethod
    def still_held(self) -> bool:
        """Whether this worker still holds the lease (False: it lost it, step down)."""

    @abstractmethod
    def release(self) -> None:
        """Give the lease up (a clean stop); the next standby's poll takes it."""


class FileLease(Lease):
    """A lock file shared by the processes of one machine (SQLite)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"lock file {path}"
        self._handle: IO[str] | None = None

    def try_take(self) -> bool:
        if self._handle is None:
            self._handle = try_flock(self.path)
        return self._handle is not None

    def still_held(self) -> bool:
        return self._handle is not None  # an flock is never taken away from a live process

    def release(self) -> None:
        if self._handle is not None:
            unflock(self._handle)
            self._handle = None


class PostgresLease(Lease):
    """A session advisory lock on a connection of its own (PostgreSQL)."""

    def __init__(self, url: str, name: str = LEASE_NAME) -> None:
        self.url = url
        self.key = advisory_key(name)
        self.description = f"PostgreSQL advisory lock {self.key} ({name})"
        self._engine: Engine | None = None
        self._conn: Connection | None = None
        self._held = False

    def _connection(self) -> Connection:
        if self._conn is None:
            if self._engine is None:
                self._engine = create_engine(
                    self.url, poolclass=NullPool, connect_args=dict(CLIENT_KEEPALIVES)
                )
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            for name, value in SESSION_SETTINGS.items():
                conn.execute(
                    text(
                        "SELECT set_config(name, :value, false) FROM pg_settings WHERE name = :name"
                    ),
                    {"name": name, "value": value},
                )
            self._conn = conn
        return self._conn

    def _drop_connection(self) -> None:
        self._held = False
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already broken: nothing more to close
                self._conn.invalidate()  # never returned to a pool, never reused
                self._conn.close()
            self._conn = None

    def try_take(self) -> bool:
        if self._held:
            return self.still_held()
        try:
            taken = self._connection().scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            )
        except Exception:  # the server is away: no lease this time, try again at the next poll
            self._drop_connection()
            return False
        self._held = bool(taken)
        return self._held

    def still_held(self) -> bool:
        """Ask the server whether this session holds the lock (a query bounded in time)."""
        if not self._held or self._conn is None:
            return False
        try:
            held = self._conn.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid = pg_backend_pid() AND classid = :high AND objid = :low"
                ),
                _split(self.key),
            )
        except Exception:  # connection lost: the server releases the lock, so step down
            self._drop_connection()
            return False
        if not held:
            self._drop_connection()
        return bool(held)

    def release(self) -> None:
        if self._held and self._conn is not None:
            with contextlib.suppress(Exception):  # closing the session releases it anyway
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        self._drop_connection()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _split(key: int) -> dict[str, int]:
    """A bigint advisory key as pg_locks shows it: classid (high 32 bits), objid (low)."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return {"high": unsigned >> 32, "low": unsigned & 0xFFFFFFFF}


def lease_for(database_url: str, instance_path: str) -> Lease:
    """The lease of the workers of this database: an advisory lock on PostgreSQL; on SQLite a
    lock file next to the database file (the instance folder for an in-memory database)."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        return PostgresLease(url.render_as_string(hide_password=False))
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        # A relative path is the instance folder's, as Flask-SQLAlchemy reads it.
        database = (Path(instance_path) / url.database).resolve()
        return FileLease(database.with_name(f"{database.name}.{LEASE_NAME}.lock"))
    return FileLease(Path(instance_path) / f".{LEASE_NAME}.lock")
