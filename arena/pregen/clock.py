"""Time for the runner: an injectable clock, the local time zone, and the ``--budget`` and
``--until`` limits.

Wall-clock times (``--until 06:00``, ``WORKER_WINDOW_UNTIL``, an ISO time without an offset)
are read in a time zone with its daylight-saving rules, never in the fixed offset of the
moment they are read at: ``06:00`` asked at 23:00 on the night clocks go forward is 06:00 at
the next morning's offset. The zone is the machine's (:func:`local_zone`) unless a caller
passes one (the worker passes its trigger's, tests pass any). Instants handed out (``now()``,
deadlines) carry a fixed offset, the right one for that instant, so that adding a duration
or comparing two of them is exact whatever the zone does in between.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from datetime import time as time_of_day
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: An ``--until`` time that passed less than this long ago is in the past (a late cron start
#: does not run into the day); one that passed longer ago means tomorrow.
UNTIL_GRACE = timedelta(hours=12)
#: Where the C library (so ``date`` and ``cron``) finds the zone when ``TZ`` is not set.
LOCALTIME = Path("/etc/localtime")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*(h|m|s|ms)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def local_zone() -> tzinfo:
    """The machine's time zone, with its rules, read where the C library reads it: ``TZ``
    (a name such as ``Europe/Berlin``, ``:Europe/Berlin``, a zone file's path, or empty for
    UTC), else ``/etc/localtime``.

    A ``TZ`` that names no zone file (a POSIX rule string such as ``CET-1CEST,M3.5.0``) or a
    machine without zone files gives the current fixed offset, as before: correct except
    across a daylight-saving change. Chosen over ``tzlocal`` (which APScheduler uses) so that
    this process's wall clock agrees with ``date`` and cron, and no direct dependency is
    added; the worker hands this zone to its triggers, so its window agrees with it too.
    """
    setting = os.environ.get("TZ")
    if setting is not None:
        name = setting.removeprefix(":")
        if not name:
            return UTC
        if name.startswith("/"):
            return _zone_file(Path(name)) or _current_offset()
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return _current_offset()
    return _zone_file(LOCALTIME) or _current_offset()


def _zone_file(path: Path) -> tzinfo | None:
    """The zone of a compiled zone file, by its name when it is a link into a zoneinfo tree."""
    try:
        resolved = path.resolve(strict=True)
    except OSError:
        return None
    _, found, key = resolved.as_posix().rpartition("/zoneinfo/")
    if found:
        try:
            return ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        with resolved.open("rb") as handle:
            return ZoneInfo.from_file(handle, key=path.name)
    except (OSError, ValueError):
        return None


def _current_offset() -> tzinfo:
    offset = datetime.now().astimezone().tzinfo
    return offset if offset is not None else UTC


def instant(moment: datetime) -> datetime:
    """``moment`` (timezone-aware) with the fixed offset it has, e.g. ``+02:00``: the same
    instant, on which ``+ timedelta`` and comparisons count real time."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"{moment!r} has no time zone")
    name = moment.tzname()
    return moment.astimezone(timezone(offset, name) if name else timezone(offset))


def wall_time(naive: datetime, zone: tzinfo) -> datetime:
    """The instant at which clocks in ``zone`` show ``naive``, with its fixed offset.

    A time that does not exist there (skipped when clocks go forward, e.g. 02:30 on
    2026-03-29 in Berlin) is read with the offset before the change, so it moves forward by
    the length of the gap (03:30 CEST), as Python's ``fold=0``, java.time and APScheduler's
    cron triggers do. A time that happens twice (when clocks go back) is its first
    occurrence, still on summer time (``fold=0``).
    """
    shown = naive.replace(tzinfo=zone, fold=0)
    return instant(shown.astimezone(UTC).astimezone(zone))


def zone_of(now: datetime) -> tzinfo:
    """The zone to read wall-clock times in beside ``now``: its own when it carries one with
    rules (a ``ZoneInfo``, e.g. an APScheduler fire time), else :func:`local_zone`."""
    return now.tzinfo if isinstance(now.tzinfo, ZoneInfo) else local_zone()


class Clock(Protocol):
    """Wall-clock time (``now``, timezone-aware), an interval timer and sleeping."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The machine's clock. ``now()`` has the offset ``zone`` (default: :func:`local_zone`)
    has at that instant; the worker reads its window's times in the same zone
    (:func:`clock_zone`)."""

    def __init__(self, zone: tzinfo | None = None) -> None:
        self._zone = zone

    @property
    def zone(self) -> tzinfo:
        """The zone given, else the local zone as it is now (read again each time, as
        ``resolve_until`` reads it, so the two never disagree)."""
        return self._zone if self._zone is not None else local_zone()

    def now(self) -> datetime:
        return instant(datetime.now(self.zone))

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


def clock_zone(clock: Clock) -> tzinfo:
    """The zone ``clock`` keeps (a :class:`SystemClock`'s), else :func:`local_zone`."""
    zone = getattr(clock, "zone", None)
    return zone if isinstance(zone, tzinfo) else local_zone()


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


def resolve_until(text: str, now: datetime, zone: tzinfo | None = None) -> datetime:
    """The deadline meant by ``--until``: ``HH:MM`` or an ISO date and time, as an instant
    with its fixed offset (see :func:`instant`).

    Wall-clock times are read in ``zone`` (default: :func:`zone_of` ``now``): ``HH:MM`` is that
    time on that day's offset, and so is an ISO time without an offset; a time skipped or
    repeated by a daylight-saving change is read as :func:`wall_time` says. ``HH:MM`` is the
    next such time, except one that passed less than 12 hours ago, which is in the past:
    ``--until 06:00`` started at 23:00 runs until tomorrow morning, but started at 06:30 it
    stops at once rather than run all day.
    """
    zone = zone if zone is not None else zone_of(now)
    value = text.strip()
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value)
    if match is None:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise LimitError(
                f"cannot read the time {text!r}: use HH:MM (local time) or an ISO date and time"
            ) from None
        return instant(moment) if moment.tzinfo else wall_time(moment, zone)
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise LimitError(f"{text!r} is not a time of day")
    at = time_of_day(hour, minute)
    today: date = now.astimezone(zone).date()
    start = now.astimezone(UTC)  # compared in UTC: a shared tzinfo compares wall times
    deadline = wall_time(datetime.combine(today, at), zone)
    if deadline > start or start - deadline < UNTIL_GRACE:
        return deadline  # still ahead, or just passed: the window is over
    # Tomorrow's date at that time (not 24 hours later: the night may be 23 or 25 hours long).
    return wall_time(datetime.combine(today + timedelta(days=1), at), zone)


@dataclass(frozen=True)
class Deadline:
    """When a run must stop starting new answers, and which limit that is."""

    at: datetime
    reason: str  # "budget" or "until"
    label: str  # what the operator asked for, e.g. "--budget 4h"


def deadline_from(
    now: datetime,
    budget: str | timedelta | None = None,
    until: str | datetime | None = None,
    zone: tzinfo | None = None,
) -> Deadline | None:
    """The earlier of ``now + budget`` (real time) and ``until`` (read in ``zone``, see
    :func:`resolve_until`); None when neither is given."""
    options: list[Deadline] = []
    if budget is not None:
        span = parse_duration(budget) if isinstance(budget, str) else budget
        label = budget if isinstance(budget, str) else f"{span.total_seconds():g}s"
        end = (instant(now) + span).astimezone(zone if zone is not None else zone_of(now))
        options.append(Deadline(instant(end), "budget", f"--budget {label}"))
    if until is not None:
        moment = resolve_until(until, now, zone) if isinstance(until, str) else until
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
