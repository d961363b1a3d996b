"""Rate-limit counters in an SQLite file: shared by every process of a machine, kept across
restarts, with no server to run.

The ``limits`` library (under Flask-Limiter) keeps counters in each process's memory unless told
otherwise: every gunicorn worker would count alone (an address gets one limit per worker) and
a recycled or restarted worker forgets. This storage keeps them in a small SQLite file of their
own (by default ``<instance>/ratelimits.db``, see ``arena.web.limits``), apart from the arena's
database: counting a request never takes the votes' write lock, and the file needs no
migration (it is made on first use, and may be deleted at any time: limits start over).

URI: ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``, as SQLAlchemy writes
them. Every strategy of ``limits`` works: fixed window (Flask-Limiter's default), moving window
and sliding window counter. Each change is one statement (an ``INSERT ... ON CONFLICT DO
UPDATE``) or one ``BEGIN IMMEDIATE`` transaction, so concurrent processes never lose a count.
WAL lets readers go on while one process writes; a writer waits up to ``BUSY_TIMEOUT_SECONDS``.
Expired rows are deleted now and then (at most once a minute per process).
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager

from limits.errors import ConfigurationError
from limits.storage.base import (
    MovingWindowSupport,
    SlidingWindowCounterSupport,
    Storage,
    TimestampedSlidingWindow,
)

SCHEME = "sqlite"
BUSY_TIMEOUT_SECONDS = 5.0
CLEANUP_EVERY_SECONDS = 60.0

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS counter ("
    " key TEXT PRIMARY KEY, value INTEGER NOT NULL, expires_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_counter_expires_at ON counter (expires_at)",
    "CREATE TABLE IF NOT EXISTS event ("
    " key TEXT NOT NULL, at REAL NOT NULL, expires_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_event_key_at ON event (key, at)",
    "CREATE INDEX IF NOT EXISTS ix_event_expires_at ON event (expires_at)",
)

# One statement: a new key, an expired one started over, or a live one counted up.
INCREMENT = """
INSERT INTO counter (key, value, expires_at) VALUES (:key, :amount, :expires_at)
ON CONFLICT (key) DO UPDATE SET
    value = CASE WHEN counter.expires_at <= :now THEN excluded.value
                 ELSE counter.value + excluded.value END,
    expires_at = CASE WHEN counter.expires_at <= :now THEN excluded.expires_at
                      ELSE counter.expires_at END
RETURNING value
"""


def sqlite_uri(path: str) -> str:
    """The URI of the counters file at ``path`` (absolute paths get four slashes)."""
    return f"{SCHEME}:///{path}"


def path_of(uri: str) -> str:
    """The file a ``sqlite:///...`` URI names."""
    prefix = f"{SCHEME}:///"
    path = uri[len(prefix) :] if uri.startswith(prefix) else ""
    path = path.split("?", 1)[0]
    if not path or path == ":memory:":
        raise ConfigurationError(
            f"{uri!r}: expected {prefix}<file> (a file every process of the machine opens)"
        )
    return path


class SQLiteStorage(
    Storage, MovingWindowSupport, SlidingWindowCounterSupport, TimestampedSlidingWindow
):
    """``limits`` storage in an SQLite file; one connection per thread and process."""

    # The base class declares it an instance attribute; the registry reads it off the class.
    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012

    def __init__(
        self, uri: str | None = None, wrap_exceptions: bool = False, **options: float | str | bool
    ) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = path_of(uri or "")
        self._local = threading.local()
        self._last_cleanup = 0.0
        self._check_place()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sqlite3.Error

    # -- connections ----------------------------------------------------------------------

    def _check_place(self) -> None:
        """Fail now (a wrong setting stops the start) if the file could not be opened later,
        without making it: a command that counts nothing (``--help``) leaves no file behind."""
        if os.path.exists(self.path):
            with closing(sqlite3.connect(f"file:{self.path}?mode=rw", uri=True)) as conn:
                conn.execute("PRAGMA schema_version")  # raises if it is not an SQLite file
            return
        folder = os.path.dirname(os.path.abspath(self.path))
        while not os.path.isdir(folder):
            folder = os.path.dirname(folder)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigurationError(f"cannot create {self.path}: {folder} is not writable")

    def _open(self) -> sqlite3.Connection:
        """A connection to the counters file, made with its tables on first use. Opened in
        the process that uses it, never before a fork (gunicorn's preload_app)."""
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        for statement in SCHEMA:
            conn.execute(statement)
        return conn

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection, opened again in a forked child."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = self._open()
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``: the write lock from the start, so a read-then-write decision
        (moving and sliding windows) sees no other process's change in between."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _cleanup(self, now: float) -> None:
        if now - self._last_cleanup < CLEANUP_EVERY_SECONDS:
            return
        self._last_cleanup = now
        with self._transaction() as conn:
            conn.execute("DELETE FROM counter WHERE expires_at <= ?", (now,))
            conn.execute("DELETE FROM event WHERE expires_at <= ?", (now,))

    # -- fixed window ---------------------------------------------------------------------

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        self._cleanup(now)
        return self._incr(self._conn(), key, expiry, amount, now)

    @staticmethod
    def _incr(conn: sqlite3.Connection, key: str, expiry: float, amount: int, now: float) -> int:
        params = {"key": key, "amount": amount, "expires_at": now + expiry, "now": now}
        row = conn.execute(INCREMENT, params).fetchone()
        return int(row[0])

    def get(self, key: str) -> int:
        return self._get(self._conn(), key, time.time())

    @staticmethod
    def _get(conn: sqlite3.Connection, key: str, now: float) -> int:
        row = conn.execute(
            "SELECT value FROM counter WHERE key = ? AND expires_at > ?", (key, now)
        ).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        now = time.time()
        row = (
            self._conn()
            .execute("SELECT expires_at FROM counter WHERE key = ? AND expires_at > ?", (key, now))
            .fetchone()
        )
        return float(row[0]) if row else now

    def clear(self, key: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM counter WHERE key = ?", (key,))
            conn.execute("DELETE FROM event WHERE key = ?", (key,))

    def reset(self) -> int | None:
        with self._transaction() as conn:
            counters = conn.execute("DELETE FROM counter").rowcount
            events = conn.execute("SELECT COUNT(DISTINCT key) FROM event").fetchone()[0]
            conn.execute("DELETE FROM event")
        return int(counters) + int(events)

    def check(self) -> bool:
        try:
            self._conn().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    # -- moving window --------------------------------------------------------------------

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = time.time()
        self._cleanup(now)
        with self._transaction() as conn:
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM event WHERE key = ? AND at >= ?", (key, now - expiry)
            ).fetchone()
            if count + amount > limit:
                return False
            conn.executemany(
                "INSERT INTO event (key, at, expires_at) VALUES (?, ?, ?)",
                [(key, now, now + expiry)] * amount,
            )
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        oldest, count = (
            self._conn()
            .execute(
                "SELECT MIN(at), COUNT(*) FROM event WHERE key = ? AND at >= ?",
                (key, now - expiry),
            )
            .fetchone()
        )
        return (float(oldest), int(count)) if count else (now, 0)

    # -- sliding window counter -----------------------------------------------------------

    def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        if amount > limit:
            return False
        now = time.time()
        self._cleanup(now)
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        with self._transaction() as conn:
            previous, previous_ttl, current, _ = self._window(
                conn, previous_key, current_key, expiry, now
            )
            if math.floor(previous * previous_ttl / expiry + current) + amount > limit:
                return False
            # The current window's counter lives for two windows: it is the previous one next.
            self._incr(conn, current_key, 2 * expiry, amount, now)
        return True

    def _window(
        self, conn: sqlite3.Connection, previous_key: str, current_key: str, expiry: int, now: float
    ) -> tuple[int, float, int, float]:
        previous = self._get(conn, previous_key, now)
        current = self._get(conn, current_key, now)
        previous_ttl = 0.0 if previous == 0 else (1 - (((now - expiry) / expiry) % 1)) * expiry
        current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
        return previous, previous_ttl, current, current_ttl

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        now = time.time()
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        return self._window(self._conn(), previous_key, current_key, expiry, now)

    def clear_sliding_window(self, key: str, expiry: int) -> None:
        previous_key, current_key = self.sliding_window_keys(key, expiry, time.time())
        self.clear(previous_key)
        self.clear(current_key)
