"""The battle-pool report of ``/status`` (and ``/admin``), kept and shared, never recomputed
per view: :func:`pool_report` reads every active voter's battles, about 10 s at a million
votes from 5,000 voters, so a page that computed it would let anyone hold a web worker that
long per request.

The last report is kept in the instance folder (:data:`REPORT_FILE`, JSON) with when it was
computed and how long that took, shared by every process of the machine, and shown while it is
younger than ``STATUS_POOL_CACHE_SECONDS``. Then one process of the machine computes it again
(a lock file taken without waiting; the others show the last report marked ``updating``):

- when the last computation took under :data:`QUICK_SECONDS`, or none was ever timed here, in
  a thread, which the view waits for at most :data:`WAIT_SECONDS` (small arenas stay current;
  past the wait the view shows the last report marked ``updating``, or before any
  "being computed", and the thread ends on its own);
- else in a process of its own (``python -m arena.ops.pool_report_cache``) at a lower CPU
  priority, as the export builds are (``arena.ops.export_builds``): a CPU-bound thread would
  hold the web worker's interpreter lock against its other requests for seconds. The view
  shows the last report marked ``updating`` at once. The process inherits the lock, which the
  kernel releases when it ends, however it ends.

A computation that failed is not started again for :data:`FAILURE_PAUSE_SECONDS` (views show
the last report, marked ``failed``). The worker stores a new report after each batch run
(:func:`refresh`); ``doctor`` computes its own, live (a command holds no web worker).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from flask import Flask

from arena.backends.redact import redact_data
from arena.filelocks import try_flock, unflock
from arena.pregen.status import pool_report

log = logging.getLogger(__name__)

#: The last report, in the instance folder, and the lock file of the process computing one.
REPORT_FILE = "status-pool.json"
REPORT_LOCK = ".status-pool.lock"
#: A computation that took less than this (seconds) is made again in a thread the view waits
#: for; a slower one in a process of its own while views show the last report.
QUICK_SECONDS = 0.5
#: The longest a view waits for a computation it started in a thread, in seconds.
WAIT_SECONDS = 2.0
#: How much lower than the web the computing process runs (``nice``).
PROCESS_NICE = 10
#: The folder that holds the ``arena`` package: the computing process imports it from there.
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]
#: After a computation failed, views show the last report this long (seconds) before one
#: starts another: a computation that fails is not started again on every view.
FAILURE_PAUSE_SECONDS = 60.0
FAILURE_FILE = "status-pool.failed"
BEING_COMPUTED = "The battle pool report is being computed: reload in a few seconds."
FAILED = (
    "The battle pool report could not be computed (the server's log says why); it is tried "
    "again within a minute."
)


@dataclass(frozen=True)
class PoolReport:
    """A pool report as a view gets it: ``report`` (None: none computed yet), when it was
    computed (unix time), how long that took, and whether a newer one is being computed."""

    report: dict[str, Any] | None
    computed_at: float | None
    seconds: float = 0.0
    updating: bool = False
    failed: bool = False  # the last computation failed (within FAILURE_PAUSE_SECONDS)

    def age_seconds(self, now: float | None = None) -> float | None:
        if self.computed_at is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.computed_at)

    def to_json(self, target: int) -> dict[str, Any]:
        """The report's fields, with ``computed_at`` (ISO, UTC), ``age_seconds``,
        ``compute_seconds`` and ``updating``; before the first report, ``target``, empty
        lists and a ``message`` saying it is being computed."""
        age = self.age_seconds()
        when = None
        if self.computed_at is not None:
            when = datetime.fromtimestamp(self.computed_at, UTC).isoformat(timespec="seconds")
        if self.report is None:
            body: dict[str, Any] = {
                "target": target,
                "pairs": [],
                "prompts": [],
                "capped": [],
                "message": FAILED if self.failed else BEING_COMPUTED,
            }
        else:
            body = dict(self.report)
        body.update(
            computed_at=when,
            age_seconds=None if age is None else round(age, 1),
            compute_seconds=round(self.seconds, 3),
            updating=self.updating,
            failed=self.failed,
        )
        return body


def served(app: Flask) -> PoolReport:
    """The pool report for a view: the last one while younger than
    ``STATUS_POOL_CACHE_SECONDS``, else computed again as the module's docstring says (never
    a wait past :data:`WAIT_SECONDS`). Needs no app context."""
    folder = Path(app.instance_path)
    key = _key(app.config)
    max_age = float(app.config["STATUS_POOL_CACHE_SECONDS"])
    last, seconds = _read(folder / REPORT_FILE, key)
    if last is not None and _younger(last, max_age):
        return last
    if _failed_lately(folder):
        return replace(last or PoolReport(None, None), updating=False, failed=True)
    stale = replace(last, updating=True) if last is not None else PoolReport(None, None, 0.0, True)
    lock = try_flock(folder / REPORT_LOCK)
    if lock is None:  # another process (or thread) of the machine is computing it
        return stale
    last, seconds = _read(folder / REPORT_FILE, key)  # stored while this one looked?
    if last is not None and _younger(last, max_age):
        unflock(lock)
        return last
    if seconds is not None and seconds >= QUICK_SECONDS:
        try:
            _start_process(app, lock)
        except OSError:
            log.exception("could not start the pool report's process")
            _record_failure(folder)
        finally:
            lock.close()  # held on by the process, if it started
        return stale
    job = _start_thread(app, lock)
    job.done.wait(WAIT_SECONDS)
    return job.result or stale


def _younger(report: PoolReport, max_age: float) -> bool:
    age = report.age_seconds()
    return age is not None and age < max_age


def refresh(app: Flask) -> bool:
    """Compute and store the report now, in this process (the worker, after a batch); False
    when another process of the machine is computing one."""
    folder = Path(app.instance_path)
    lock = try_flock(folder / REPORT_LOCK)
    if lock is None:
        return False
    try:
        _compute(app, folder, _key(app.config))
    finally:
        unflock(lock)
    return True


def _compute(app: Flask, folder: Path, key: str) -> PoolReport:
    """Compute the report (in an app context of its own) and store it."""
    started = time.perf_counter()
    with app.app_context():
        report = dict(redact_data(pool_report(app.config)))  # redacted once, not per view
    result = PoolReport(report, time.time(), time.perf_counter() - started)
    _write(folder / REPORT_FILE, key, result)
    (folder / FAILURE_FILE).unlink(missing_ok=True)
    return result


def _record_failure(folder: Path) -> None:
    try:
        (folder / FAILURE_FILE).write_text(str(time.time()), encoding="utf-8")
    except OSError:
        log.exception("could not record the pool report's failure")


def _failed_lately(folder: Path) -> bool:
    try:
        failed_at = float((folder / FAILURE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return 0 <= time.time() - failed_at < FAILURE_PAUSE_SECONDS


@dataclass
class _Job:
    done: threading.Event = field(default_factory=threading.Event)
    result: PoolReport | None = None


_RUNNING: list[threading.Thread | subprocess.Popen[bytes]] = []
_RUNNING_LOCK = threading.Lock()


def _start_thread(app: Flask, lock: IO[str]) -> _Job:
    job = _Job()
    folder, key = Path(app.instance_path), _key(app.config)

    def run() -> None:
        try:
            job.result = _compute(app, folder, key)
        except Exception:  # the views show the last report; tried again after a pause
            log.exception("the pool report could not be computed")
            _record_failure(folder)
        finally:
            unflock(lock)
            job.done.set()

    thread = threading.Thread(target=run, name="pool-report", daemon=True)
    _track(thread)
    thread.start()
    return job


def _start_process(app: Flask, lock: IO[str]) -> None:
    """Start the computing process, which inherits ``lock``."""
    plain = (str, int, float, bool, list, dict, type(None))  # what JSON carries, as for exports
    config = {k: v for k, v in app.config.items() if k.isupper() and isinstance(v, plain)}
    config.update(INSTANCE_PATH=app.instance_path, AUTO_MIGRATE=False)
    child = subprocess.Popen(
        [sys.executable, "-m", "arena.ops.pool_report_cache"],
        stdin=subprocess.PIPE,
        pass_fds=[lock.fileno()],
        cwd=_PACKAGE_PARENT,
        start_new_session=True,  # a signal to the web's process group does not cut it
    )
    assert child.stdin is not None
    with child.stdin:  # the key of this app's settings: what views look for
        child.stdin.write(
            json.dumps({"config": config, "key": _key(app.config)}, default=str).encode()
        )
    _track(child)
    threading.Thread(target=child.wait, name="pool-report-reaper", daemon=True).start()


def _track(job: threading.Thread | subprocess.Popen[bytes]) -> None:
    with _RUNNING_LOCK:
        _RUNNING[:] = [j for j in _RUNNING if _alive(j)] + [job]


def _alive(job: threading.Thread | subprocess.Popen[bytes]) -> bool:
    return job.is_alive() if isinstance(job, threading.Thread) else job.poll() is None


def wait_for_computations(timeout: float = 60.0) -> bool:
    """Wait for the computations this process started (threads and processes) to end (tests,
    benchmarks); False when one is still running after ``timeout`` seconds."""
    with _RUNNING_LOCK:
        jobs = list(_RUNNING)
    deadline = time.monotonic() + timeout
    for job in jobs:
        left = max(0.0, deadline - time.monotonic())
        if isinstance(job, threading.Thread):
            job.join(left)
        else:
            try:
                job.wait(left)
            except subprocess.TimeoutExpired:
                return False
    return not any(_alive(job) for job in jobs)


def _key(config: Mapping[str, Any]) -> str:
    """Which settings and database a stored report belongs to (a hash: no credential)."""
    names = ("POOL_TARGET", "POOL_ACTIVE_VOTER_DAYS", "BATTLE_CAP", "SQLALCHEMY_DATABASE_URI")
    raw = json.dumps([config.get(name) for name in names], default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _read(path: Path, key: str) -> tuple[PoolReport | None, float | None]:
    """The stored report if it belongs to ``key``, and how long the last computation took
    (whatever its settings: the cost of the next one)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        seconds = float(data["seconds"])
        if data.get("key") != key or not isinstance(data.get("report"), dict):
            return None, seconds
        return PoolReport(data["report"], float(data["computed_at"]), seconds), seconds
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def _write(path: Path, key: str, result: PoolReport) -> None:
    """Atomically (a reader sees the old file or the new one, never half of one)."""
    data = {
        "key": key,
        "computed_at": result.computed_at,
        "seconds": result.seconds,
        "report": result.report,
    }
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)  # shown this once; the next view computes again


def main() -> int:
    """The computing process: the app's settings and their key (JSON) on standard input, the
    lock inherited."""
    job = json.load(sys.stdin)
    os.nice(PROCESS_NICE)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s [pool report %(process)d] %(message)s"
    )
    try:
        from arena import create_app  # the factory: this process has no app of its own yet

        app = create_app(job["config"])
        result = _compute(app, Path(app.instance_path), str(job["key"]))
    except (Exception, SystemExit):  # the views show the last report; tried again after a pause
        log.exception("the pool report could not be computed")
        instance = job.get("config", {}).get("INSTANCE_PATH") if isinstance(job, dict) else None
        if instance:
            _record_failure(Path(instance))
        return 1
    log.info("pool report computed in %.1f s", result.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
