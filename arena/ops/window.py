"""The worker's nightly window: a cron expression for its start (local time, with its
daylight-saving rules) and an end time."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.cron import CronTrigger

from arena.pregen.clock import Deadline, instant, local_zone, resolve_until

#: How far back to look for the window's last start when the worker starts.
WINDOW_LOOKBACK = timedelta(hours=24)


def window_trigger(expression: str, zone: tzinfo | None = None) -> CronTrigger:
    """The window's start as an APScheduler trigger in ``zone`` (default: the local zone,
    ``clock.local_zone``), with its daylight-saving rules."""
    zone = zone if zone is not None else local_zone()
    try:
        return CronTrigger.from_crontab(expression, timezone=zone)
    except ValueError as error:
        raise ValueError(
            f"WORKER_WINDOW {expression!r} is not a cron expression: {error}"
        ) from None


def open_window(trigger: CronTrigger, until: str, now: datetime) -> Deadline | None:
    """The current window's end if ``now`` is inside a window, else None.

    ``until`` is read in the trigger's zone, on the day after the window's last start when
    that time has passed (``resolve_until``): a window starting at 23:00 until 06:00 ends at
    06:00 of the next morning's offset, also on the nights clocks change.
    """
    now = instant(now)  # compared as instants, whatever zone ``now`` carries
    fire = trigger.get_next_fire_time(None, now - WINDOW_LOOKBACK)
    last = None
    while fire is not None and fire <= now:
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    if last is None:
        return None
    end = resolve_until(until, last, trigger.timezone)
    return Deadline(end, "until", f"window end {until}") if end > now else None


def trigger_text(trigger: CronTrigger) -> str:
    fields = {f.name: str(f) for f in trigger.fields}
    return " ".join(fields[name] for name in ("minute", "hour", "day", "month", "day_of_week"))
