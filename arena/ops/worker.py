"""The background worker: APScheduler running the nightly window, visitors' prompts and a
heartbeat, as exactly one process per instance folder (a non-blocking lock file).

Generation is serialised inside the worker: the nightly batch and the visitors' queue never
call the backend at the same time; during a batch, visitors' prompts are answered between
two batch answers, ahead of the rest of the batch.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from arena import leaderboard
from arena.ops import admin, backup, pool_report_cache
from arena.ops.heartbeat import beat
from arena.play.visitors import pending_count
from arena.pregen import batch as batch_service
from arena.pregen import visitor
from arena.pregen.clock import (
    SYSTEM_CLOCK,
    Clock,
    Deadline,
    clock_zone,
    instant,
    local_zone,
    resolve_until,
)
from arena.pregen.generate import AnswerMaker, MeteredBackend
from arena.pregen.hosts import ModelRouter
from arena.pregen.records import LockBusy, try_instance_lock
from arena.pregen.runner import RunControl, summary_lines

WORKER_LOCK = "worker"
#: How far back to look for the window's last start when the worker starts.
WINDOW_LOOKBACK = timedelta(hours=24)


class WorkerAlreadyRunning(RuntimeError):
    pass


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


class Worker:
    """One worker process: call :meth:`run` (blocks until :meth:`stop`)."""

    def __init__(
        self,
        app: Flask,
        *,
        clock: Clock = SYSTEM_CLOCK,
        say: Callable[[str], None] = print,
    ) -> None:
        self.app = app
        self.clock = clock
        self.say = say
        self.config = app.config
        self.stopping = threading.Event()
        self.generating = threading.Lock()  # one generation at a time
        self.state = "idle"
        self.detail: str | None = None
        self.rng = random.Random()
        self._meter: MeteredBackend | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def run(self, *, run_now: bool = False, budget: str | None = None) -> None:
        """Hold the worker lock, schedule the jobs, and wait until asked to stop."""
        try:
            with try_instance_lock(self.app, WORKER_LOCK):
                self._serve(run_now, budget)
        except LockBusy as busy:
            raise WorkerAlreadyRunning(
                f"another worker is already running for {self.app.instance_path}"
                + (f" (pid {busy.pid})" if busy.pid else "")
                + ": this one exits; stop the other first if you meant to restart it"
            ) from None

    def stop(self) -> None:
        self.stopping.set()

    def _serve(self, run_now: bool, budget: str | None) -> None:
        trigger = window_trigger(str(self.config["WORKER_WINDOW"]), clock_zone(self.clock))
        until = str(self.config["WORKER_WINDOW_UNTIL"])
        with self.app.app_context():
            requeued = visitor.requeue_abandoned()
            beat("idle", started=True)
        # A visitors' poll skipped while the previous one still runs is expected, not a warning.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        scheduler = BackgroundScheduler(timezone=trigger.timezone)
        every = float(self.config["WORKER_HEARTBEAT_SECONDS"])
        poll = float(self.config["VISITOR_POLL_SECONDS"])
        scheduler.add_job(self._heartbeat, IntervalTrigger(seconds=every), id="heartbeat")
        scheduler.add_job(
            self._visitor_job, IntervalTrigger(seconds=poll), id="visitors", coalesce=True
        )
        scheduler.add_job(
            self._window_job, trigger, id="window", coalesce=True, misfire_grace_time=3600
        )
        self._add_housekeeping(scheduler)
        scheduler.start()
        window = open_window(trigger, until, self.clock.now())
        self.say(
            f"worker started (pid {os.getpid()}): window {trigger_text(trigger)} "
            f"until {until} ({trigger.timezone}), visitors' prompts every {poll:g} s"
            + (f"; {requeued} visitors' prompts put back in the queue" if requeued else "")
        )
        if run_now or window is not None:
            scheduler.add_job(self._batch_job, args=(window, budget), id="batch-now")
        try:
            while not self.stopping.wait(0.2):
                pass
        finally:
            self.say("worker stopping: finishing the answer in progress")
            scheduler.shutdown(wait=True)
            with self.app.app_context():
                beat("stopped")
            self.say("worker stopped cleanly")

    def _add_housekeeping(self, scheduler: BackgroundScheduler) -> None:
        """Leaderboard refresh, operators' run requests (from /admin), the nightly backup."""
        refresh = float(self.config["LEADERBOARD_REFRESH_SECONDS"])
        if refresh > 0:
            scheduler.add_job(
                self._refresh_job, IntervalTrigger(seconds=refresh), id="leaderboard", coalesce=True
            )
        scheduler.add_job(
            self._requests_job,
            IntervalTrigger(seconds=float(self.config["RUN_REQUEST_POLL_SECONDS"])),
            id="run-requests",
            coalesce=True,
        )
        if int(self.config.get("BACKUP_KEEP") or 0) > 0 and self.config.get("BACKUP_CRON"):
            backup_trigger = CronTrigger.from_crontab(
                str(self.config["BACKUP_CRON"]), timezone=scheduler.timezone
            )
            scheduler.add_job(
                self._backup_job,
                backup_trigger,
                id="backup",
                coalesce=True,
                misfire_grace_time=3600,
            )

    # -- jobs -------------------------------------------------------------------------------

    def _refresh_job(self) -> None:
        """Recompute the cached leaderboards whose votes changed, so page views never do."""
        with self.app.app_context():
            try:
                refreshed = leaderboard.refresh_cache()
            except Exception as error:  # the database: log it, keep the worker up
                self.say(f"leaderboard refresh failed: {type(error).__name__}: {error}")
                return
        if refreshed:
            self.say(f"refreshed {refreshed} leaderboards")

    def _requests_job(self) -> None:
        """Start a run an operator asked for on /admin."""
        request = admin.take_run_request(self.app.instance_path)
        if request is not None and not self.stopping.is_set():
            self.say(f"run requested from /admin at {request.get('requested_at')}")
            self._batch_job(None, request.get("budget"))

    def _backup_job(self) -> None:
        with self.app.app_context():
            url, directory = self.config["SQLALCHEMY_DATABASE_URI"], backup.backup_dir()
            try:
                report = backup.nightly(url, directory, int(self.config["BACKUP_KEEP"]))
            except backup.BackupError as error:
                self.say(f"nightly backup skipped: {error}")
                return
        self.say(f"nightly backup: {report.votes} votes to {report.path}")

    def _heartbeat(self) -> None:
        with self.app.app_context():
            beat(self.state, self.detail)

    def _maker(self) -> AnswerMaker:
        if self._meter is None:
            with self.app.app_context():
                self._meter = MeteredBackend(ModelRouter(), self.clock)
        return AnswerMaker(self._meter, self.config, clock=self.clock, rng=self.rng)

    def serve_visitors(self) -> int:
        """Answer every queued visitor prompt (the caller holds the generation lock)."""
        with self.app.app_context():
            if not pending_count():
                return 0
            previous = self.state
            self.state, self.detail = "visitor", "answering visitors' prompts"
            beat(self.state, self.detail)
            try:
                handled = visitor.process_queue(
                    self._maker(),
                    self.config,
                    clock=self.clock,
                    rng=self.rng,
                    should_stop=self.stopping.is_set,
                )
            finally:
                self.state, self.detail = previous, None
            if handled:
                self.say(f"answered {handled} visitors' prompts")
            return handled

    def _visitor_job(self) -> None:
        if self.stopping.is_set() or not self.generating.acquire(blocking=False):
            return  # a batch is running: it serves visitors between its answers
        try:
            self.serve_visitors()
        finally:
            self.generating.release()

    def _window_job(self) -> None:
        trigger = window_trigger(str(self.config["WORKER_WINDOW"]), clock_zone(self.clock))
        window = open_window(trigger, str(self.config["WORKER_WINDOW_UNTIL"]), self.clock.now())
        if window is None:
            self.say("window started but already over: nothing to do")
            return
        self._batch_job(window, None)

    def _batch_job(self, window: Deadline | None, budget: str | None) -> None:
        """One batch run until the window's end (or the budget), visitors served first."""
        with self.generating, self.app.app_context():
            if self.stopping.is_set():
                return
            self.state, self.detail = "batch", "pre-generating answers"
            beat(self.state, self.detail)
            control = RunControl(
                clock=self.clock,
                deadline=window,
                stop_requested=self.stopping.is_set,
                between_answers=self.serve_visitors,
            )
            # Each model answers on its own backend (hosts in parallel); visitors' prompts go
            # through the router between two batch answers, one host at a time.
            request = batch_service.BatchRequest(budget=budget, trigger="worker")
            try:
                result = batch_service.run_batch(request, control=control)
            except LockBusy as busy:
                self.say(f"batch skipped: {busy} (the cron script?)")
                return
            except Exception as error:  # a bug or the database: log it, keep the worker up
                self.say(f"batch failed: {type(error).__name__}: {error}")
                return
            finally:
                self.state, self.detail = "idle", None
                beat(self.state)
            if result.summary is None:
                self.say("batch: nothing to do, the pool is full")
            else:
                for line in summary_lines(result.summary.to_json()):
                    self.say(f"batch: {line}")
            self._refresh_pool_report()
            self.serve_visitors()

    def _refresh_pool_report(self) -> None:
        """Store /status's pool report after a batch, so a page view need not compute it."""
        try:
            pool_report_cache.refresh(self.app)
        except Exception as error:  # the database: log it, keep the worker up
            self.say(f"pool report not refreshed: {type(error).__name__}: {error}")


def trigger_text(trigger: CronTrigger) -> str:
    fields = {f.name: str(f) for f in trigger.fields}
    return " ".join(fields[name] for name in ("minute", "hour", "day", "month", "day_of_week"))
