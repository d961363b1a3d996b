"""The record of runs: a GenerationRun row per batch, its failures, and the instance locks."""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select, update

from arena.backends.redact import redact, redact_data
from arena.extensions import db
from arena.models import GenerationFailure, GenerationRun, utcnow
from arena.pregen.generate import FailureNote


class LockBusy(RuntimeError):
    """Another process holds the lock; ``pid`` is its process id when known."""

    def __init__(self, label: str, pid: int | None) -> None:
        self.label = label
        self.pid = pid
        who = f" (pid {pid})" if pid else ""
        super().__init__(f"another {label} is in progress{who}")


@contextmanager
def try_instance_lock(app: Flask, name: str, label: str | None = None) -> Iterator[None]:
    """Hold ``<instance>/.<name>.lock`` or raise LockBusy at once; the holder's pid is written
    into the file. The kernel releases the lock when the process dies, even by kill -9.
    ``label`` names the holder in the error ("pre-generation run")."""
    path = Path(app.instance_path) / f".{name}.lock"
    handle = open(path, "a+")  # noqa: SIM115  (held open for the lock's lifetime)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read().strip()
            raise LockBusy(label or name, int(text) if text.isdigit() else None) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def interrupt_dead_runs() -> int:
    """Mark runs left 'running' by a process of this host that no longer exists."""
    host = socket.gethostname()
    runs = db.session.scalars(select(GenerationRun).where(GenerationRun.status == "running"))
    count = 0
    for run in runs:
        if run.host == host and run.pid and run.pid != os.getpid() and not _alive(run.pid):
            run.status = "interrupted"
            run.stop_reason = (
                f"the process (pid {run.pid}) ended without finishing, e.g. killed; "
                f"{run.stored} answers were stored, the next run picks up the rest"
            )
            run.finished_at = run.updated_at
            count += 1
    db.session.commit()
    return count


def start_run(trigger: str, plan: dict[str, int], deadline: datetime | None) -> GenerationRun:
    run = GenerationRun(
        trigger=trigger,
        status="running",
        pid=os.getpid(),
        host=socket.gethostname(),
        plan=plan,
        planned=sum(plan.values()),
        deadline=deadline,
    )
    db.session.add(run)
    db.session.commit()
    return run


class RunProgress:
    """Counts a run's answers and writes them to its row at most every ``every`` seconds
    (a heartbeat for /status and a trace if the process dies; the summary has the exact
    figures). One UPDATE, no ORM reload: this runs once per answer. Runners of several
    backend hosts may share one (it is thread-safe; each writes with its own session)."""

    def __init__(self, run: GenerationRun | None, every: float = 1.0) -> None:
        self.run_id = run.id if run is not None else None
        self.every = every
        self.done = self.stored = 0
        self._written = time.monotonic()
        self._lock = threading.Lock()

    def answered(self, stored: bool) -> None:
        with self._lock:
            self.done += 1
            self.stored += int(stored)
            due = self.run_id is not None and time.monotonic() - self._written >= self.every
            if due:
                self._written = time.monotonic()
        if due:
            self.write()

    def write(self) -> None:
        if self.run_id is None:
            return
        with self._lock:
            done, stored = self.done, self.stored
        db.session.execute(
            update(GenerationRun)
            .where(GenerationRun.id == self.run_id)
            .values(done=done, stored=stored, updated_at=utcnow())
        )
        db.session.commit()
        self._written = time.monotonic()


def record_failure(run: GenerationRun | None, model_id: int, note: FailureNote) -> None:
    db.session.add(
        GenerationFailure(
            run_id=run.id if run is not None else None,
            model_id=model_id,
            prompt_id=note.prompt_id,
            kind=note.kind,
            reason=redact(note.reason),  # stored text never holds a credential
            attempts=note.attempts,
        )
    )
    db.session.commit()


def finish_run(
    run: GenerationRun,
    status: str,
    reason: str | None,
    summary: dict[str, Any],
    done: int | None = None,
) -> None:
    if done is not None:
        run.done = done
    run.status = status
    run.stop_reason = redact(reason) if reason else reason
    run.summary = redact_data(summary)  # failure reasons included: never a credential
    run.stored = int(summary.get("stored", run.stored))
    run.finished_at = run.updated_at = utcnow()
    db.session.commit()


def abort_run(run: GenerationRun, status: str, reason: str) -> None:
    """Record that an error or an interrupt ended the run (after undoing any half-done write)."""
    db.session.rollback()
    finish_run(run, status, reason, {})


def last_run() -> GenerationRun | None:
    return db.session.scalar(
        select(GenerationRun).order_by(GenerationRun.started_at.desc(), GenerationRun.id.desc())
    )
