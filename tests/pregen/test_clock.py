"""Wall-clock times in a time zone with its rules: ``--until 06:00`` on the nights clocks
change, times skipped or repeated by the change, and the machine's zone read as libc reads it.

The zone is passed in (or carried by ``now``), never set on this process; the tests of the
machine's zone run a subprocess with ``TZ`` set.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from arena import PROJECT_ROOT
from arena.pregen.clock import (
    LimitError,
    SystemClock,
    clock_zone,
    deadline_from,
    instant,
    local_zone,
    resolve_until,
    wall_time,
)

try:
    BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
except ZoneInfoNotFoundError:  # no zone files on this machine (apt: tzdata)
    pytest.skip("no time zone database", allow_module_level=True)


def _berlin(year: int, month: int, day: int, hour: int, minute: int, fold: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN, fold=fold)


def _new_york(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("evening", "expected"),
    [
        # Clocks go forward at 02:00 (Berlin: 2026-03-29; New York: 2026-03-08): a short night.
        (_berlin(2026, 3, 28, 23, 0), "2026-03-29T06:00:00+02:00"),
        (_new_york(2026, 3, 7, 23, 0), "2026-03-08T06:00:00-04:00"),
        # Clocks go back at 03:00 / 02:00 (2026-10-25 / 2026-11-01): a long night.
        (_berlin(2026, 10, 24, 23, 0), "2026-10-25T06:00:00+01:00"),
        (_new_york(2026, 10, 31, 23, 0), "2026-11-01T06:00:00-05:00"),
        # An ordinary night: the same offset at both ends.
        (_berlin(2026, 6, 1, 23, 0), "2026-06-02T06:00:00+02:00"),
    ],
)
def test_a_time_of_day_is_that_time_on_that_mornings_offset(
    evening: datetime, expected: str
) -> None:
    until = resolve_until("06:00", evening)
    assert until.isoformat() == expected
    assert until == datetime.fromisoformat(expected)
    # What the system clock gives: the evening's fixed offset (+01:00), the zone apart.
    assert resolve_until("06:00", instant(evening), evening.tzinfo).isoformat() == expected


def test_the_zone_can_be_given_apart_from_now() -> None:
    # The same instant as 23:00 in Berlin, carried in UTC or in a fixed offset.
    for now in (
        datetime(2026, 3, 28, 22, 0, tzinfo=UTC),
        datetime(2026, 3, 28, 23, 0, tzinfo=timezone(timedelta(hours=1))),
    ):
        assert resolve_until("06:00", now, BERLIN).isoformat() == "2026-03-29T06:00:00+02:00"
    # Without a zone, a time of day is read in the machine's zone (UTC here or not, the same).
    now = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
    assert resolve_until("06:00", now) == resolve_until("06:00", now, local_zone())


def test_the_night_after_the_change_and_the_grace_after_a_deadline() -> None:
    # Started after the change, before 06:00: this morning's 06:00, four real hours away.
    early = _berlin(2026, 3, 29, 1, 0)
    assert resolve_until("06:00", early) - early == timedelta(hours=4)
    # 06:00 passed half an hour ago (across the change): the window is over, not tomorrow.
    assert resolve_until("06:00", _berlin(2026, 3, 29, 6, 30)) == _berlin(2026, 3, 29, 6, 0)
    # Passed 17 hours ago: tomorrow's, at tomorrow's offset.
    assert resolve_until("06:00", _berlin(2026, 10, 24, 23, 0)).utcoffset() == timedelta(hours=1)


def test_a_time_skipped_by_the_change_moves_forward_by_the_gap() -> None:
    # 02:30 does not happen on 2026-03-29 in Berlin (02:00 CET is 03:00 CEST): read with the
    # offset before the change, it is 03:30 CEST (01:30 UTC), as APScheduler fires it too.
    until = resolve_until("02:30", _berlin(2026, 3, 28, 23, 0))
    assert until.isoformat() == "2026-03-29T03:30:00+02:00"
    assert until == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert resolve_until("02:30", _new_york(2026, 3, 7, 23, 0)).isoformat() == (
        "2026-03-08T03:30:00-04:00"
    )
    assert wall_time(datetime(2026, 3, 29, 2, 0), BERLIN).isoformat() == (
        "2026-03-29T03:00:00+02:00"
    )


def test_a_time_repeated_by_the_change_is_its_first_occurrence() -> None:
    # 02:30 happens twice on 2026-10-25 in Berlin: first on summer time (+02:00).
    until = resolve_until("02:30", _berlin(2026, 10, 24, 23, 0))
    assert until.isoformat() == "2026-10-25T02:30:00+02:00"
    assert until == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    # ...also when asked during the repeated hour's second pass (02:10 CET, fold=1): the
    # first 02:30 passed 40 minutes ago, so the run is over.
    second_pass = _berlin(2026, 10, 25, 2, 10, fold=1)
    assert resolve_until("02:30", second_pass) < second_pass
    assert resolve_until("01:30", _new_york(2026, 10, 31, 23, 0)).isoformat() == (
        "2026-11-01T01:30:00-04:00"
    )


def test_an_iso_time_without_an_offset_is_local_with_its_days_offset() -> None:
    evening = _berlin(2026, 3, 28, 23, 0)
    assert resolve_until("2026-03-29T06:00", evening).isoformat() == "2026-03-29T06:00:00+02:00"
    assert resolve_until("2026-03-29 02:30", evening).isoformat() == "2026-03-29T03:30:00+02:00"
    assert resolve_until("2026-10-25T02:30", evening).isoformat() == "2026-10-25T02:30:00+02:00"
    # With an offset, it is that instant as given.
    given = "2026-03-29T06:00:00+01:00"
    assert resolve_until(given, evening).isoformat() == given
    for bad in ("25:00", "6", "tomorrow", "06:61"):
        with pytest.raises(LimitError):
            resolve_until(bad, evening)


def test_a_budget_counts_real_hours_across_the_change() -> None:
    start = _berlin(2026, 3, 29, 0, 30)  # 00:30 CET; at 02:00 clocks jump to 03:00
    deadline = deadline_from(start, "4h")
    assert deadline is not None and deadline.reason == "budget"
    assert deadline.at - start == timedelta(hours=4)
    assert deadline.at.isoformat() == "2026-03-29T05:30:00+02:00"
    earlier = deadline_from(start, "6h", "06:00")  # 06:00 CEST is 4.5 real hours away
    assert earlier is not None and earlier.reason == "until"
    assert earlier.at.isoformat() == "2026-03-29T06:00:00+02:00"


def test_the_system_clock_keeps_its_zone() -> None:
    clock = SystemClock(zone=NEW_YORK)
    now = clock.now()
    assert clock_zone(clock) is NEW_YORK
    assert now.utcoffset() in (timedelta(hours=-4), timedelta(hours=-5))
    assert now.utcoffset() == now.astimezone(NEW_YORK).utcoffset()
    assert str(clock_zone(SystemClock())) == str(local_zone())


#: Run in one subprocess: for each ``TZ`` (set, then ``tzset``), the zone ``--until`` reads
#: times in, the worker's trigger's, the system clock's, and whether the clock's offset is
#: the C library's (what ``date`` shows).
_SHOW_ZONES = """
import os, sys, time
from datetime import datetime
from arena.ops.window import window_trigger
from arena.pregen.clock import SystemClock, local_zone
for tz in sys.argv[1:]:
    os.environ["TZ"] = tz
    time.tzset()
    clock = SystemClock()
    same = clock.now().utcoffset() == datetime.now().astimezone().utcoffset()
    print(local_zone(), window_trigger("0 1 * * *").timezone, clock.zone, same, sep="|")
"""
#: TZ as set -> the zone's name (None: a POSIX rule, read as the current fixed offset).
_ZONES = {
    "Europe/Berlin": "Europe/Berlin",
    ":America/New_York": "America/New_York",
    "/usr/share/zoneinfo/Asia/Tokyo": "Asia/Tokyo",
    "": "UTC",
    "CET-1CEST,M3.5.0,M10.5.0/3": None,
}


def test_the_machines_zone_is_read_as_libc_reads_it() -> None:
    """``TZ`` (a name, ``:name``, a zone file, empty, a POSIX rule) as the C library reads it;
    ``--until``, the worker's trigger and the system clock use that one zone."""
    zones = {tz: name for tz, name in _ZONES.items() if not tz.startswith("/") or Path(tz).exists()}
    found = subprocess.run(
        [sys.executable, "-c", _SHOW_ZONES, *zones],
        cwd=PROJECT_ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(found) == len(zones)
    for (tz, name), line in zip(zones.items(), found, strict=True):
        *names, same = line.split("|")
        assert len(set(names)) == 1, (tz, names)  # one zone for all three
        assert name is None or names[0] == name, (tz, names)
        assert same == "True", tz
