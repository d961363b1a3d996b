"""Time for the runner: an injectable clock, and the ``--budget`` and ``--until`` limits."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

#: An ``--until`` time that passed less than this long ago is in the past (a late cron start
#: does not run into the day); one that passed longer ago means tomorrow.
UNTIL_GRACE = timedelta(hours=12)

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*(h|m|s|ms)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


class Clock(Protocol):
    """Wall-clock time (``now``, timezone-aware), an interval timer and sleeping."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now().astimezone()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


class LimitError(ValueError):
    """A ``--budget`` or ``--until`` value that cannot be understood."""


def parse_duration(text: str) -> timedelta:
    """``4h``, ``90m``, ``1h30m``, ``45s``, ``0.5s``, ``2.5h``; a bare number is seconds."""
    value = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        seconds = float(value)
    else:
        pos, seconds = 0, 0.0
        for match in _DURATION_PART.finditer(value):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos != len(value) or not value:
            raise LimitError(f"cannot read the duration {text!r}: use e.g. 4h, 90m, 1h30m or 45s")
    if seconds <= 0:
        raise LimitError(f"the budget {text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def resolve_until(text: str, now: datetime) -> datetime:
    """The deadline meant by ``--until``: ``HH:MM`` in local time, or an ISO date and time.

    ``HH:MM`` is the next such time, except one that passed less than 12 hours ago, which is
    in the past: ``--until 06:00`` started at 23:00 runs until tomorrow morning, but started
    at 06:30 it stops at once rather than run all day.
    """
    value = text.strip()
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value)
    if match is None:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise LimitError(
                f"cannot read the time {text!r}: use HH:MM (local time) or an ISO date and time"
            ) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise LimitError(f"{text!r} is not a time of day")
    today = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if today > now:
        return today
    if now - today < UNTIL_GRACE:
        return today  # just passed: the window is over
    return today + timedelta(days=1)


@dataclass(frozen=True)
class Deadline:
    """When a run must stop starting new answers, and which limit that is."""

    at: datetime
    reason: str  # "budget" or "until"
    label: str  # what the operator asked for, e.g. "--budget 4h"


def deadline_from(
    now: datetime, budget: str | timedelta | None = None, until: str | datetime | None = None
) -> Deadline | None:
    """The earlier of ``now + budget`` and ``until``; None when neither is given."""
    options: list[Deadline] = []
    if budget is not None:
        span = parse_duration(budget) if isinstance(budget, str) else budget
        label = budget if isinstance(budget, str) else f"{span.total_seconds():g}s"
        options.append(Deadline(now + span, "budget", f"--budget {label}"))
    if until is not None:
        moment = resolve_until(until, now) if isinstance(until, str) else until
        label = until if isinstance(until, str) else until.isoformat(timespec="minutes")
        options.append(Deadline(moment, "until", f"--until {label}"))
    return min(options, key=lambda d: d.at) if options else None


def format_seconds(seconds: float | None) -> str:
    """``75`` → ``1m 15s``, ``5400`` → ``1h 30m``; ``?`` when unknown."""
    if seconds is None:
        return "?"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
