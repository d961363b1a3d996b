"""What may end or interleave a run (``RunControl``) and what a run tells as it goes
(``ProgressEvent``): shared by the pre-generation runner, the pool filler and judging."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from arena.pregen.clock import SYSTEM_CLOCK, Clock, Deadline


def _never() -> bool:
    return False


@dataclass
class RunControl:
    """What may end or interleave a run: a clock, a deadline, a stop flag, visitors' work."""

    clock: Clock = SYSTEM_CLOCK
    deadline: Deadline | None = None
    stop_requested: Callable[[], bool] = _never
    # Called before each answer; the worker answers visitors' prompts here, ahead of the batch.
    # What it returns (the worker's count of answered prompts) is ignored.
    between_answers: Callable[[], object] | None = None
    # Whether visitors' prompts wait now (a cheap check): lets a parallel slate go on while
    # none wait, serving them only with no request under way (None: not known, in waves).
    visitors_waiting: Callable[[], bool] | None = None

    def stop_reason(self) -> tuple[str, str] | None:
        """(kind, message) when the run must stop now, else None."""
        if self.stop_requested():
            return "signal", "asked to stop"
        if self.deadline is not None and self.clock.now() >= self.deadline.at:
            when = self.deadline.at.astimezone().strftime("%Y-%m-%d %H:%M")
            return self.deadline.reason, f"{self.deadline.label} reached ({when})"
        return None


@dataclass(frozen=True)
class ProgressEvent:
    done: int
    total: int
    tag: str
    outcome: str  # stored, duplicate, excluded, failed, skipped
    tokens_per_second: float | None  # this model's, over this run
    eta_seconds: float | None
    elapsed_seconds: float


ProgressCallback = Callable[[ProgressEvent], None]
