"""Helpers for the pre-generation tests: a controllable clock, subprocess plumbing, waiting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from arena import PROJECT_ROOT
from arena.extensions import db
from arena.models import Response
from tests.support import databases


class FakeClock:
    """Wall-clock time that starts at ``start`` and runs ``rate`` times faster than real time.

    Intervals (``monotonic``) and sleeping stay real, so the backend behaves as usual.
    """

    def __init__(self, start: datetime, rate: float = 1.0) -> None:
        self.start = start
        self.rate = rate
        self.t0 = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self.t0) * self.rate)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


def local(hour: int, minute: int, second: int = 0) -> datetime:
    """Today at this local time, timezone-aware."""
    return (
        datetime.now().astimezone().replace(hour=hour, minute=minute, second=second, microsecond=0)
    )


def subprocess_env(instance: Path, ollama_url: str, **settings: object) -> dict[str, str]:
    """The environment of an arena subprocess: this instance folder and this fake Ollama."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update(
        ARENA_INSTANCE_PATH=str(instance),
        ARENA_OLLAMA_URL=ollama_url,
        ARENA_OLLAMA_RETRIES="1",
        ARENA_OLLAMA_BACKOFF="0.01",
        ARENA_GEN_RETRY_BACKOFF="0.01",
        PYTHONUNBUFFERED="1",
        **databases.subprocess_environ(instance),
    )
    env.update({f"ARENA_{key}": str(value) for key, value in settings.items()})
    return env


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start ``python <args>`` from the project root with the test's interpreter."""
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_when(process: subprocess.Popen[str], ready: Callable[[], object]) -> bool:
    """Wait for ``ready()``, then SIGKILL ``process`` if it still runs; True when it was
    killed (False: it had finished). The process is reaped whatever happens."""
    try:
        ready()
        killed = process.poll() is None
        if killed:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        return killed
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def answers(app: Flask, status: str = "ok") -> list[Response]:
    with app.app_context():
        db.session.expire_all()
        rows = db.session.scalars(select(Response).where(Response.status == status)).all()
        for row in rows:
            _ = (row.model.tag, row.prompt.text)  # load before the session closes
        return list(rows)
