"""Real processes for end-to-end tests and benchmarks: gunicorn serving the arena, the worker.

Both run as subprocesses of the current Python (the project's virtualenv) on 127.0.0.1,
with their own instance folder, and are always stopped on the way out.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import requests

from arena import PROJECT_ROOT
from tests.support import databases

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def arena_env(
    instance: Path, ollama_url: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of an arena process on ``instance``: no ARENA_* of this shell, but
    the test session's database for that folder (PostgreSQL when the suite runs on it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update(
        {
            "ARENA_INSTANCE_PATH": str(instance),
            "ARENA_OLLAMA_URL": ollama_url,
            "PYTHONUNBUFFERED": "1",
            **databases.subprocess_environ(instance),
            **(extra or {}),
        }
    )
    return env


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before answering")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen[bytes], grace: float = 15.0) -> int:
    """SIGTERM, then SIGKILL after ``grace`` seconds; return the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def start_gunicorn(
    instance: Path,
    ollama_url: str,
    *,
    workers: int,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> tuple[str, subprocess.Popen[bytes], IO[bytes]]:
    """Start gunicorn serving ``wsgi:app`` on ``instance`` with this project's
    gunicorn.conf.py: its URL, its process and its log file (the caller closes it)."""
    port = free_port()
    command = [
        str(BIN / "gunicorn"),
        "--config", str(PROJECT_ROOT / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--access-logfile", "/dev/null",
        "wsgi:app",
    ]  # fmt: skip
    output = open(log or os.devnull, "ab")  # noqa: SIM115  (the caller closes it)
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=arena_env(instance, ollama_url, env),
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    return f"http://127.0.0.1:{port}", process, output


@contextmanager
def gunicorn(
    instance: Path,
    ollama_url: str,
    *,
    workers: int = 4,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> Iterator[str]:
    """Serve ``wsgi:app`` with gunicorn and this project's gunicorn.conf.py; yield its URL."""
    url, process, output = start_gunicorn(instance, ollama_url, workers=workers, env=env, log=log)
    try:
        wait_until_up(url + "/static/style.css", process)
        yield url
    finally:
        stop(process)
        output.close()


@contextmanager
def flask_process(
    args: list[str],
    instance: Path,
    ollama_url: str,
    *,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``flask --app arena ARGS`` (e.g. the worker) in the background while in the block."""
    output = open(log or os.devnull, "ab")  # noqa: SIM115  (the caller closes it)
    process = subprocess.Popen(
        [str(BIN / "flask"), "--app", "arena", *args],
        cwd=PROJECT_ROOT,
        env=arena_env(instance, ollama_url, env),
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        stop(process)
        output.close()
