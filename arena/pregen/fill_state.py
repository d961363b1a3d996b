"""The pool filler's state, kept in ``<instance>/pool-filling.json``, and what a page tells a
visitor from it (:mod:`arena.pregen.filling` writes it; the web server, maybe another process,
reads it)."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from arena.play.ready import battles_ready

STATE_FILE = "pool-filling.json"


@dataclass
class FillState:
    """What the filler is doing, as the pages read it."""

    pid: int
    state: str  # generating, waiting (the pool is full), stopped, failed
    updated_at: float  # unix time
    battles_made: int = 0  # prompts answered by every model since the filler started
    prompts_planned: int = 0  # prompts the current plan still needs answers for
    next_at: float | None = None  # unix time the next battle is expected (None: unknown)
    message: str | None = None

    @property
    def active(self) -> bool:
        """Whether more battles are on their way (its process is alive and not stopped)."""
        return self.state in ("generating", "waiting") and _alive(self.pid)

    def next_in(self, now: float | None = None) -> float | None:
        """Seconds until the next battle is expected (0 when overdue; None: unknown)."""
        if self.next_at is None or self.state != "generating":
            return None
        return max(0.0, self.next_at - (time.time() if now is None else now))


def read_state(instance_path: str) -> FillState | None:
    """The filler's last state in this instance folder (None: none ever ran, or unreadable)."""
    try:
        data = json.loads((Path(instance_path) / STATE_FILE).read_text(encoding="utf-8"))
        return FillState(**data)
    except (OSError, ValueError, TypeError):
        return None


def write_state(instance_path: str, state: FillState) -> None:
    """Atomically: a reader sees the old file or the new one, never half of one."""
    path = Path(instance_path) / STATE_FILE
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        temporary.write_text(json.dumps(asdict(state)), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Coming:
    """What the page tells a visitor while the pool fills: battles ready for them, and when
    the next one is expected."""

    ready: int
    next_in: float | None  # seconds (None: not known yet)
    waiting: bool  # the pool is full for now: more are planned as battles are used up
    refresh_seconds: int  # when the empty page reloads itself

    @property
    def message(self) -> str:
        """One sentence for the page (no model is named: nothing here breaks blindness)."""
        ready = {0: "No battle is ready for you yet", 1: "1 battle is ready for you"}.get(
            self.ready, f"{self.ready} battles are ready for you"
        )
        if self.waiting:
            return f"{ready}; more will be generated as battles are used up."
        return f"{ready}, more are being generated: {self.when}."

    @property
    def when(self) -> str:
        if self.next_in is None:
            return "the next as soon as both models have answered its prompt"
        return f"the next in {about(self.next_in)}"


def about(seconds: float) -> str:
    """``about 20 s``, ``about 2 min``, ``any moment now``."""
    if seconds < 3:
        return "a moment"
    if seconds < 90:
        return f"about {5 * max(1, round(seconds / 5))} s" if seconds >= 10 else "a few seconds"
    return f"about {round(seconds / 60)} min"


def coming(instance_path: str, voter: str) -> Coming | None:
    """What is coming for ``voter`` while a filler runs on this instance (None: none runs)."""
    state = read_state(instance_path)
    if state is None or not state.active:
        return None
    next_in = state.next_in()
    refresh = 10 if next_in is None else int(min(30, max(5, next_in + 2)))
    return Coming(battles_ready(voter), next_in, state.state == "waiting", refresh)
