"""What a request for a large vote export gets, and the threads that build export files.

:func:`prepare` answers a download request: the export's file when one is ready, None when the
export is small enough to stream in the request, else a note that it is being prepared
(:class:`Pending`: 202 and ``Retry-After``) or cannot be now (:class:`Unavailable`: 503).

Builds run in daemon threads of the process that was asked (:class:`Builder`), at most
``EXPORTS_BUILD_THREADS`` at once and a few more queued (then a 503 says to come back), never in
a request: the request answers at once, gunicorn's timeout watches the worker's main thread
only, and a build needs no other process running (the background worker may be down). A
build dies with its process (a worker recycled or restarted): its temporary file is never
served, and the next request for that export starts it again. The shape's lock file keeps
every process of the machine to one build per export.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy.exc import OperationalError

from arena.leaderboard import exports
from arena.ops.exports import FAILURE_PAUSE_SECONDS, ExportFile, ExportStore, VoteExport, build

log = logging.getLogger(__name__)

#: Seconds a client is asked to wait before asking again while its export is prepared.
RETRY_AFTER_SECONDS = 5
#: Seconds a client is asked to wait when this process has too many builds waiting.
BUSY_RETRY_SECONDS = 30
#: Builds that may wait in one process per build thread, beyond those running.
QUEUE_PER_THREAD = 4
_BUILDER = "arena_export_builder"


@dataclass(frozen=True)
class Pending:
    """The export is being prepared: ask again in ``retry_after`` seconds."""

    state: str  # "queued" (its build is about to start) or "building"
    bytes_written: int = 0
    retry_after: int = RETRY_AFTER_SECONDS

    def message(self) -> str:
        done = f" ({self.bytes_written / 1e6:.1f} MB written so far)" if self.bytes_written else ""
        return (
            f"This export is large: it is being prepared as a file{done}. Ask again in "
            f"{self.retry_after} s for the complete file (the same URL)."
        )


@dataclass(frozen=True)
class Unavailable:
    """The export cannot be prepared now (503), with why and when to ask again."""

    message: str
    retry_after: int


class Builder:
    """This process's build threads and their queue (one per process: :func:`builder_of`)."""

    def __init__(self, app: Flask, threads: int) -> None:
        self.app = app
        self.pid = os.getpid()
        self.threads = max(1, threads)
        self.store = ExportStore.of(app)
        self._jobs: dict[str, float] = {}  # shape -> when it was asked for
        self._queue: queue.Queue[VoteExport] = queue.Queue()
        self._started = 0
        self._changed = threading.Condition()

    def submit(self, export: VoteExport) -> bool:
        """Queue a build of ``export`` unless one is queued or running here already; False
        when too many builds wait in this process."""
        with self._changed:
            if export.shape in self._jobs:
                return True
            if len(self._jobs) >= self.threads * (1 + QUEUE_PER_THREAD):
                return False
            self._jobs[export.shape] = time.time()
            if self._started < min(self.threads, len(self._jobs)):
                self._started += 1
                name = f"export-build-{self._started}"
                threading.Thread(target=self._work, name=name, daemon=True).start()
        self._queue.put(export)
        return True

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no build is queued or running in this process; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._jobs, timeout)

    def _work(self) -> None:
        while True:
            export = self._queue.get()
            with self._changed:
                asked_at = self._jobs.get(export.shape)
            try:
                with self.app.app_context():
                    self._build(export, asked_at)
            finally:
                with self._changed:
                    self._jobs.pop(export.shape, None)
                    self._changed.notify_all()

    def _build(self, export: VoteExport, asked_at: float | None) -> None:
        started = time.monotonic()
        try:
            file = build(self.store, export, asked_at=asked_at)
        except Exception as error:  # the database or the disk: say so to the next request
            log.exception("vote export %s failed", export.shape)
            self.store.fail(export, _reason(error))
            return
        if file is None or file.started_at < (asked_at or 0):
            return  # built elsewhere
        log.info(
            "vote export %s built: %d rows, %.1f MB in %.1f s",
            file.path.name,
            file.rows,
            file.size / 1e6,
            time.monotonic() - started,
        )
        keep = int(float(self.app.config["EXPORTS_KEEP_MB"]) * 1e6)
        self.store.clean(keep, keep=[file.path])


def _reason(error: Exception) -> str:
    """What a client may be told about a failed build (details go to the log only)."""
    text = str(getattr(error, "orig", error)).lower()
    if (isinstance(error, OSError) and error.errno == errno.ENOSPC) or "disk is full" in text:
        return "the server's disk is full"
    if isinstance(error, OperationalError):
        return "the database is unavailable"
    return "an error on the server (it is logged)"


def builder_of(app: Flask) -> Builder:
    """This process's :class:`Builder` (a new one in a process forked from the one that made
    it: threads do not survive a fork)."""
    builder = app.extensions.get(_BUILDER)
    if not isinstance(builder, Builder) or builder.pid != os.getpid():
        builder = Builder(app, int(app.config["EXPORTS_BUILD_THREADS"]))
        app.extensions[_BUILDER] = builder
    return builder


def prepare(export: VoteExport, tag: str) -> ExportFile | Pending | Unavailable | None:
    """What a request for ``export`` (ETag ``tag`` over the data now) gets.

    The file of this data, or the newest one built within ``EXPORTS_MAX_STALE_SECONDS``;
    None when the export holds at most ``EXPORTS_STREAM_MAX_ROWS`` votes (stream it); else
    the build's progress, starting it if no process of this machine is building it.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    config = app.config
    store = ExportStore.of(app)
    file = store.find(export, tag) or store.newest(
        export, float(config["EXPORTS_MAX_STALE_SECONDS"])
    )
    if file is not None:
        store.touch(file)
        return file
    if not exports.more_rows_than(
        export.filters, export.page, int(config["EXPORTS_STREAM_MAX_ROWS"])
    ):
        return None
    written = store.building(export)
    if written is not None:
        return Pending("building", written)
    failure = store.failure(export)
    if failure is not None:
        return Unavailable(
            f"This export could not be prepared: {failure}. Please try again later.",
            FAILURE_PAUSE_SECONDS,
        )
    if not builder_of(app).submit(export):
        return Unavailable(
            "Too many large exports are being prepared right now. Please try again shortly.",
            BUSY_RETRY_SECONDS,
        )
    return Pending("queued")
