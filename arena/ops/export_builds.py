"""What a request for a large vote export gets, and the processes that build export files.

:func:`prepare` answers a download request: the export's file when one is ready, None when the
export is small enough to stream in the request, else a note that it is being prepared
(:class:`Pending`: 202 and ``Retry-After``) or that its last build failed (:class:`Unavailable`:
a 503 for a minute).

A build runs in a process of its own (``python -m arena.ops.export_builds``), started by the
request that found none running and answered at once. Not a thread of the web worker: a
CPU-bound thread would hold the worker's interpreter lock against its requests (pages then
took seconds), and the web must not depend on the background worker running. The build
process runs at a lower CPU priority (``nice`` :data:`BUILD_NICE`), so pages keep theirs. It
inherits the locks the request took: the shape's (one build per export on the machine) and
one of ``EXPORTS_MAX_BUILDS`` build slots (when all are taken the request answers 202 and a
later one starts the build); the kernel releases both when it ends, however it ends. Its log
lines go to the web server's log.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from flask import Flask, current_app
from sqlalchemy.exc import DBAPIError

from arena.leaderboard import exports
from arena.leaderboard.filters import parse_filters
from arena.ops.exports import (
    FAILURE_PAUSE_SECONDS,
    FOLDER,
    ExportFile,
    ExportStore,
    VoteExport,
    build,
)

log = logging.getLogger(__name__)

#: Seconds a client is asked to wait before asking again while its export is prepared.
RETRY_AFTER_SECONDS = 5
#: How much lower than the web a build process runs (``nice``; 19 is the lowest priority).
BUILD_NICE = 10
#: The folder that holds the ``arena`` package: a build process imports it from there.
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]
#: Where an app keeps its :class:`Builder` (``app.extensions``).
BUILDER_KEY = "arena_export_builder"


@dataclass(frozen=True)
class Pending:
    """The export is being prepared: ask again in ``retry_after`` seconds."""

    state: str  # "queued" (its build just started), "building", or "waiting" (for a slot)
    bytes_written: int = 0
    retry_after: int = RETRY_AFTER_SECONDS

    def message(self) -> str:
        done = f" ({self.bytes_written / 1e6:.1f} MB written so far)" if self.bytes_written else ""
        waiting = ", after other large exports" if self.state == "waiting" else ""
        return (
            f"This export is large: it is being prepared as a file{waiting}{done}. Ask again "
            f"in {self.retry_after} s for the complete file (the same URL)."
        )


@dataclass(frozen=True)
class Unavailable:
    """The export cannot be prepared now (503), with why and when to ask again."""

    message: str
    retry_after: int


class Builder:
    """The build processes this process started (one per process: :func:`builder_of`)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.pid = os.getpid()
        self.started = 0
        self._children: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()

    def start(self, export: VoteExport, locks: list[IO[str]]) -> None:
        """Start a build process for ``export`` that inherits ``locks`` (held open)."""
        job = {
            "config": _config(self.app),
            "fmt": export.fmt,
            "filters": export.filters.params(),
            "page": [export.page.limit, export.page.after, export.page.answers],
        }
        child = subprocess.Popen(
            [sys.executable, "-m", "arena.ops.export_builds"],
            stdin=subprocess.PIPE,
            pass_fds=[lock.fileno() for lock in locks],
            cwd=_PACKAGE_PARENT,
            start_new_session=True,  # a signal to the web's process group does not cut it
        )
        assert child.stdin is not None
        with child.stdin:
            child.stdin.write(json.dumps(job, default=str).encode())
        with self._lock:
            self._children = [c for c in self._children if c.poll() is None] + [child]
            self.started += 1
        threading.Thread(target=child.wait, name="export-build-reaper", daemon=True).start()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every build process this one started has ended; False on timeout."""
        with self._lock:
            children = list(self._children)
        try:
            for child in children:
                child.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True


def _config(app: Flask) -> dict[str, Any]:
    """The app's settings for a build process: what JSON carries (every setting does), the
    database the app uses, and no migration."""
    plain = (str, int, float, bool, list, dict, type(None))
    config = {k: v for k, v in app.config.items() if k.isupper() and isinstance(v, plain)}
    config.update(INSTANCE_PATH=app.instance_path, AUTO_MIGRATE=False)
    return config


def builder_of(app: Flask) -> Builder:
    """This process's :class:`Builder` (a new one in a process forked from the one that made
    it, such as a gunicorn worker)."""
    builder = app.extensions.get(BUILDER_KEY)
    if not isinstance(builder, Builder) or builder.pid != os.getpid():
        builder = Builder(app)
        app.extensions[BUILDER_KEY] = builder
    return builder


def _ready(store: ExportStore, export: VoteExport, tag: str, max_stale: float) -> ExportFile | None:
    return store.find(export, tag) or store.newest(export, max_stale)


def prepare(export: VoteExport, tag: str) -> ExportFile | Pending | Unavailable | None:
    """What a request for ``export`` (ETag ``tag`` over the data now) gets.

    The file of this data, or the newest one built within ``EXPORTS_MAX_STALE_SECONDS``;
    None when the export holds at most ``EXPORTS_STREAM_MAX_ROWS`` votes (stream it); else
    the build's progress, starting it if no process of this machine is building it.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    config = app.config
    store = ExportStore.of(app)
    max_stale = float(config["EXPORTS_MAX_STALE_SECONDS"])
    file = _ready(store, export, tag, max_stale)
    if file is None:
        rows = int(config["EXPORTS_STREAM_MAX_ROWS"])
        if not exports.more_rows_than(export.filters, export.page, rows):
            return None
        failure = store.failure(export)
        if failure is not None:
            message = f"This export could not be prepared: {failure}. Please try again later."
            return Unavailable(message, FAILURE_PAUSE_SECONDS)
        shape_lock = store.try_lock(export)
        if shape_lock is None:
            return Pending("building", store.building(export) or 0)
        with shape_lock:  # closed here, held on by the build process it is passed to
            file = _ready(store, export, tag, max_stale)  # built while this one looked
            if file is None:
                slot = store.try_slot(int(config["EXPORTS_MAX_BUILDS"]))
                if slot is None:
                    return Pending("waiting")
                with slot:
                    builder_of(app).start(export, [shape_lock, slot])
                return Pending("queued")
    store.touch(file)
    return file


def _reason(error: Exception) -> str:
    """What a client may be told about a failed build (details go to the log only)."""
    text = str(getattr(error, "orig", error)).lower()
    if (isinstance(error, OSError) and error.errno == errno.ENOSPC) or "disk is full" in text:
        return "the server's disk is full"
    if isinstance(error, DBAPIError):  # a read that failed: locked, gone, a schema not as expected
        return "the database could not be read"
    return "an error on the server (it is logged)"


def main() -> int:
    """A build process: the job (JSON) on standard input, the locks inherited."""
    job = json.load(sys.stdin)
    os.nice(BUILD_NICE)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s [export build %(process)d] %(message)s"
    )
    config = job["config"]
    store = ExportStore(Path(config["INSTANCE_PATH"]) / FOLDER)
    limit, after, answers = job["page"]
    filters = parse_filters(job["filters"], config.get("SIZE_CLASS_BOUNDS_B"))
    export = VoteExport(job["fmt"], filters, exports.VotePage(limit, after, answers))
    started = time.time()
    try:
        from arena import create_app  # the factory: this process has no app of its own yet

        app = create_app(config)
        with app.app_context():
            file = build(store, export)
            keep = int(float(app.config["EXPORTS_KEEP_MB"]) * 1e6)
            store.clean(keep, keep=[file.path])
    except (Exception, SystemExit) as error:  # say so to the next request, details in the log
        log.exception("vote export %s failed", export.shape)
        store.fail(export, _reason(error) if isinstance(error, Exception) else "a bad setting")
        return 1
    if file.started_at >= started:
        log.info(
            "vote export %s built: %d rows, %.1f MB in %.1f s",
            file.path.name,
            file.rows,
            file.size / 1e6,
            file.built_at - file.started_at,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
