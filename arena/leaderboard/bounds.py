"""What keeps leaderboard computations from piling up behind web requests.

A computation takes seconds at a million votes, so a request never queues for one without a
bound (:func:`serve_request`): it tries the computation lock without waiting
(:func:`try_lock`), runs the computation in a thread of its own (:func:`start`) and waits for
it only as long as it chooses, and waits only in one of a few waiting places per machine
(:func:`waiting_place`); without a place it is answered at once. The lock is the one
``arena.database.database_lock(app, "leaderboard")`` takes (the same lock file, and on
PostgreSQL the same advisory lock), so the worker's refresh and the web take turns with it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from flask import Flask
from sqlalchemy import Connection, text

from arena.database import advisory_key
from arena.extensions import db
from arena.filelocks import try_flock, unflock
from arena.leaderboard.board import Board

log = logging.getLogger(__name__)

#: ``app.extensions`` key of the web's gate (``arena.web.limits``): a callable asked in a
#: request before it starts a computation, which answers None (go ahead) or the seconds the
#: client must wait before it may start another.
COMPUTE_GATE = "arena_leaderboard_compute_gate"
#: A request that can show the previous board still waits for the new one when the last
#: computation of that board took less than this (seconds): small data stays exact.
QUICK_SECONDS = 0.5
#: How often a waiting request looks whether its board is computed, in seconds.
POLL_SECONDS = 0.2
LOCK_NAME = "leaderboard"
TOO_MANY = (
    "This leaderboard is not computed yet, and your address has started too many new "
    "leaderboard computations lately. Leaderboards already computed are still shown at once."
)
BEING_COMPUTED = (
    "This leaderboard is being computed (or waits for another computation to end): "
    "please try again in a few seconds."
)


@dataclass(frozen=True)
class Cached:
    """A filter set's cache row as read: its board (None when absent or unreadable), when it
    was computed and how long that took."""

    board: Board | None = None
    computed_at: datetime | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Served:
    """A board as a request gets it: ``updating`` when newer data exists than it counts (a
    computation is under way, or waits its turn), with ``computed_at`` to tell its age."""

    board: Board
    computed_at: datetime | None
    updating: bool = False

    def age_seconds(self, now: datetime | None = None) -> float | None:
        if self.computed_at is None:
            return None
        return max(0.0, ((now or datetime.now(UTC)) - self.computed_at).total_seconds())


class LeaderboardUnavailable(Exception):
    """No board to show a request yet: its HTTP ``status`` (429 or 503), a message for the
    visitor and the seconds after which to retry."""

    def __init__(self, status: int, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.status, self.retry_after = status, retry_after


def serve_request(
    app: Flask, lookup: Callable[[], tuple[Cached, bool]], compute: Callable[[], Board]
) -> Served:
    """A board for a request that found none up to date, without queueing for seconds.

    ``lookup`` reads the cache row and says whether it is up to date; ``compute`` computes
    and stores the board (its caller holds the lock). One computation runs at a time per
    machine (and across machines on PostgreSQL), in a thread of its own. A request that can
    show the previous board shows it at once, marked ``updating`` (it waits for the new one
    only when the last computation of this board was quick, and only in a free waiting
    place). A request with nothing to show waits in one of ``LEADERBOARD_MAX_WAITING`` places
    for at most ``LEADERBOARD_WAIT_SECONDS``; without a place or past that, it gets
    :class:`LeaderboardUnavailable` (503). The web's gate (:data:`COMPUTE_GATE`) is asked
    before each computation a request starts: past the client's limit the request gets the
    previous board, or with nothing to show a 429.
    """
    deadline = time.monotonic() + float(app.config["LEADERBOARD_WAIT_SECONDS"])
    places = int(app.config["LEADERBOARD_MAX_WAITING"])
    place: WaitingPlace | None = None
    try:
        while True:
            cached, fresh = lookup()
            board = cached.board
            if fresh and board is not None:
                return Served(board, cached.computed_at)
            retry = max(1, math.ceil(cached.seconds or 5))
            lock = try_lock(app, LOCK_NAME)
            if lock is not None:
                gate = app.extensions.get(COMPUTE_GATE)
                refused = gate() if gate is not None else None
                if refused is not None:
                    lock.release()
                    if board is not None:
                        return Served(board, cached.computed_at, updating=True)
                    raise LeaderboardUnavailable(429, TOO_MANY, int(refused))
                job = start(app, compute, lock)
                if board is not None and cached.seconds >= QUICK_SECONDS:
                    return Served(board, cached.computed_at, updating=True)
                place = place or waiting_place(app, LOCK_NAME, places)
                if place is not None:
                    job.done.wait(max(0.0, deadline - time.monotonic()))
                if job.error is not None:
                    raise job.error
                if isinstance(job.result, Board):
                    return Served(job.result, datetime.now(UTC))
            if board is not None:
                return Served(board, cached.computed_at, updating=True)
            place = place or waiting_place(app, LOCK_NAME, places)
            if place is None or time.monotonic() >= deadline:
                raise LeaderboardUnavailable(503, BEING_COMPUTED, retry)
            time.sleep(POLL_SECONDS)
    finally:
        if place is not None:
            place.release()


_RUNNING: set[threading.Thread] = set()
_RUNNING_LOCK = threading.Lock()


@dataclass
class HeldLock:
    """A lock taken by :func:`try_lock`; :meth:`release` it once (from any thread)."""

    handle: IO[str]
    name: str
    conn: Connection | None = None
    _released: bool = field(default=False, repr=False)

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        try:
            if self.conn is not None:
                self.conn.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": advisory_key(self.name)}
                )
                self.conn.commit()
                self.conn.close()
        finally:
            unflock(self.handle)


def try_lock(app: Flask, name: str) -> HeldLock | None:
    """``database_lock(app, name)`` if it is free now, else None (never waits).

    The instance's lock file ``.<name>.lock`` (as ``arena.database.instance_lock`` names it),
    and on PostgreSQL the advisory lock of ``name`` on a connection of its own. Needs an app
    context.
    """
    handle = try_flock(Path(app.instance_path) / f".{name}.lock")
    if handle is None:
        return None
    if db.engine.dialect.name != "postgresql":
        return HeldLock(handle, name)
    conn = db.engine.connect()
    try:
        taken = conn.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": advisory_key(name)}
        ).scalar()
        conn.commit()
    except BaseException:
        conn.close()
        unflock(handle)
        raise
    if not taken:
        conn.close()
        unflock(handle)
        return None
    return HeldLock(handle, name, conn)


@dataclass
class WaitingPlace:
    """One of the few places a request may wait in; :meth:`release` it when done."""

    handle: IO[str]

    def release(self) -> None:
        unflock(self.handle)


def waiting_place(app: Flask, name: str, places: int) -> WaitingPlace | None:
    """A free waiting place among ``places`` for ``name`` on this machine (lock files, freed
    when their process ends), or None when all are taken."""
    for number in range(places):
        handle = try_flock(Path(app.instance_path) / f".{name}-wait-{number}.lock")
        if handle is not None:
            return WaitingPlace(handle)
    return None


@dataclass
class Job:
    """A computation running in a thread: ``done`` is set when it ended, with its
    ``result`` or the ``error`` it raised."""

    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


def start(app: Flask, work: Callable[[], Any], lock: HeldLock) -> Job:
    """Run ``work`` in an app context of its own, in a thread, then release ``lock``.

    The thread outlives the request that started it: its result is stored (in the cache
    table) for the requests that come after.
    """
    job = Job()

    def run() -> None:
        try:
            with app.app_context():
                job.result = work()
        except BaseException as error:  # handed to whoever waits for it
            job.error = error
            log.exception("leaderboard computation failed")
        finally:
            lock.release()
            with _RUNNING_LOCK:
                _RUNNING.discard(threading.current_thread())
            job.done.set()

    thread = threading.Thread(target=run, name="leaderboard-computation", daemon=True)
    with _RUNNING_LOCK:
        _RUNNING.add(thread)
    thread.start()
    return job


def wait_for_computations(timeout: float | None = None) -> bool:
    """Wait for this process's background computations to end (tests, shutdown); True when
    none is left running."""
    with _RUNNING_LOCK:
        threads = list(_RUNNING)
    for thread in threads:
        thread.join(timeout)
    with _RUNNING_LOCK:
        return not _RUNNING
