"""The background worker: APScheduler running the nightly window, visitors' prompts and a
heartbeat, as exactly one process per instance folder (a non-blocking lock file).

Several workers may share one database (a standby on another machine): the one holding the
lease (``arena.ops.lease``) is *active* and runs the nightly jobs (the window's batch, run
requests, the leaderboard refresh, the backup); the others are *standby*, poll for the lease
every ``WORKER_LEASE_POLL_SECONDS`` and take over when the active one dies. Every worker
answers visitors' prompts: each request is claimed by one worker (``visitor.claim_next``).

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

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from arena import judging, leaderboard
from arena.models import utcnow
from arena.ops import admin, backup, backups, pool_report_cache
from arena.ops.heartbeat import beat, live_workers, mark_others_standby, worker_name
from arena.ops.lease import Lease, lease_for
from arena.ops.window import open_window, trigger_text, window_trigger
from arena.play.visitors import pending_count
from arena.pregen import batch as batch_service
from arena.pregen import visitor
from arena.pregen.clock import (
    SYSTEM_CLOCK,
    Clock,
    Deadline,
    clock_zone,
)
from arena.pregen.generate import AnswerMaker, MeteredBackend
from arena.pregen.hosts import ModelRouter
from arena.pregen.records import LockBusy, try_instance_lock
from arena.pregen.runner import RunControl, summary_lines

WORKER_LOCK = "worker"


class WorkerAlreadyRunning(RuntimeError):
    pass


class Worker:
    """One worker process: call :meth:`run` (blocks until :meth:`stop`)."""

    def __init__(
        self,
        app: Flask,
        *,
        clock: Clock = SYSTEM_CLOCK,
        say: Callable[[str], None] = print,
        lease: Lease | None = None,
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
        self.lease = lease or lease_for(
            str(app.config["SQLALCHEMY_DATABASE_URI"]), app.instance_path
        )
        self.name = worker_name(app.instance_path)
        self.role = "standby"
        self.role_since = utcnow()
        self._roles = threading.Lock()  # one lease check at a time
        self._pending_run: tuple[bool, str | None] = (False, None)
        self._scheduler: BackgroundScheduler | None = None

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
            # Its own last life's requests, and those of workers gone silent.
            requeued = visitor.release_abandoned(live_workers(self.config) - {self.name})
            beat("idle", started=True, role=self.role, role_since=self.role_since)
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
        self._scheduler = scheduler
        self._pending_run = (run_now, budget)
        lease_poll = float(self.config["WORKER_LEASE_POLL_SECONDS"])
        scheduler.add_job(
            self._lease_job, IntervalTrigger(seconds=lease_poll), id="lease", coalesce=True
        )
        scheduler.start()
        self.say(
            f"worker started (pid {os.getpid()}): window {trigger_text(trigger)} "
            f"until {until} ({trigger.timezone}), visitors' prompts every {poll:g} s"
            + (f"; {requeued} visitors' prompts put back in the queue" if requeued else "")
        )
        self._lease_job()  # a lone worker is active at once
        if self.role == "standby":
            self.say(
                f"standby: another worker holds the lease ({self.lease.description}); "
                f"trying again every {lease_poll:g} s"
            )
        try:
            while not self.stopping.wait(0.2):
                pass
        finally:
            self.say("worker stopping: finishing the answer in progress")
            scheduler.shutdown(wait=True)
            self.lease.release()
            with self.app.app_context():
                beat("stopped")
            self.say("worker stopped cleanly")

    # -- the lease --------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.role == "active" and not self.stopping.is_set()

    def _lease_job(self) -> None:
        """The standby tries to take the lease; the active worker checks it still holds it."""
        with self._roles:
            if self.stopping.is_set():
                return
            if self.role == "active":
                if not self.lease.still_held():
                    self._set_role("standby")
                    self.say("lease lost (database unreachable?): standby now, jobs stop")
            elif self.lease.try_take():
                self._set_role("active")
                self.say(f"active: this worker runs the nightly jobs ({self.lease.description})")
                self._start_due_batch()

    def _set_role(self, role: str) -> None:
        self.role, self.role_since = role, utcnow()
        with self.app.app_context():
            try:
                if role == "active":
                    mark_others_standby()
                beat(self.state, self.detail, role=role, role_since=self.role_since)
            except Exception as error:  # the database: the next heartbeat says it
                self.say(f"role not recorded: {type(error).__name__}: {error}")

    def _start_due_batch(self) -> None:
        """On becoming active: the batch of an open window (the one a dead worker left), or
        the run asked for with --run-now."""
        run_now, budget = self._pending_run
        self._pending_run = (False, None)
        trigger = window_trigger(str(self.config["WORKER_WINDOW"]), clock_zone(self.clock))
        window = open_window(trigger, str(self.config["WORKER_WINDOW_UNTIL"]), self.clock.now())
        if self._scheduler is not None and (run_now or window is not None):
            self._scheduler.add_job(
                self._batch_job, args=(window, budget), id="batch-now", replace_existing=True
            )

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
        if not self.active:
            return
        with self.app.app_context():
            try:
                refreshed = leaderboard.refresh_cache()
            except Exception as error:  # the database: log it, keep the worker up
                self.say(f"leaderboard refresh failed: {type(error).__name__}: {error}")
                return
        if refreshed:
            self.say(f"refreshed {refreshed} leaderboards")

    def _requests_job(self) -> None:
        """Start a run an operator asked for on /admin (on any web node)."""
        if not self.active:
            return
        with self.app.app_context():
            request = admin.take_run_request(self.name)
        if request is not None and not self.stopping.is_set():
            self.say(f"run requested from /admin at {request.get('requested_at')}")
            self._batch_job(None, request.get("budget"))

    def _backup_job(self) -> None:
        if not self.active:
            return
        with self.app.app_context():
            url, directory = self.config["SQLALCHEMY_DATABASE_URI"], backup.backup_dir()
            try:
                report = backups.nightly(url, directory, int(self.config["BACKUP_KEEP"]))
            except backup.BackupError as error:
                self.say(f"nightly backup skipped: {error}")
                return
        self.say(f"nightly backup: {report.votes} votes to {report.path}")

    def _heartbeat(self) -> None:
        with self.app.app_context():
            beat(self.state, self.detail, role=self.role, role_since=self.role_since)

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
            beat(self.state, self.detail, role=self.role, role_since=self.role_since)
            try:
                # Requests of workers gone silent go back in the queue first.
                visitor.release_abandoned(live_workers(self.config) | {self.name})
                handled = visitor.process_queue(
                    self._maker(),
                    self.config,
                    clock=self.clock,
                    rng=self.rng,
                    should_stop=self.stopping.is_set,
                    worker=self.name,
                )
            finally:
                self.state, self.detail = previous, None
            if handled:
                self.say(f"answered {handled} visitors' prompts")
            return handled

    def visitors_waiting(self) -> bool:
        """Whether visitors' prompts are queued (a parallel slate then lets its requests
        end and serves them)."""
        with self.app.app_context():
            return bool(pending_count())

    def _visitor_job(self) -> None:
        if self.stopping.is_set() or not self.generating.acquire(blocking=False):
            return  # a batch is running: it serves visitors between its answers
        try:
            self.serve_visitors()
        finally:
            self.generating.release()

    def _window_job(self) -> None:
        if not self.active:
            return
        trigger = window_trigger(str(self.config["WORKER_WINDOW"]), clock_zone(self.clock))
        window = open_window(trigger, str(self.config["WORKER_WINDOW_UNTIL"]), self.clock.now())
        if window is None:
            self.say("window started but already over: nothing to do")
            return
        self._batch_job(window, None)

    def _batch_job(self, window: Deadline | None, budget: str | None) -> None:
        """One batch run until the window's end (or the budget), visitors served first."""
        with self.generating, self.app.app_context():
            if not self.active:
                return
            self.state, self.detail = "batch", "pre-generating answers"
            beat(self.state, self.detail, role=self.role, role_since=self.role_since)
            control = RunControl(
                clock=self.clock,
                deadline=window,
                stop_requested=lambda: not self.active,  # stopping, or the lease lost
                between_answers=self.serve_visitors,
                visitors_waiting=self.visitors_waiting,
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
                beat(self.state, role=self.role, role_since=self.role_since)
            if result.summary is None:
                self.say("batch: nothing to do, the pool is full")
            else:
                for line in summary_lines(result.summary.to_json()):
                    self.say(f"batch: {line}")
            if window is not None and self.config.get("JUDGE_IN_WINDOW"):
                self._judge(control)
            self._refresh_pool_report()
            self.serve_visitors()

    def _judge(self, control: RunControl) -> None:
        """After generation in the window, judge stored pairs until it ends (JUDGE_IN_WINDOW)."""
        if not self.active:
            return
        self.state, self.detail = "batch", "judging stored answer pairs"
        beat(self.state, self.detail, role=self.role, role_since=self.role_since)
        try:
            for line in judging.run_in_window(control):
                self.say(f"judging: {line}")
        finally:
            self.state, self.detail = "idle", None
            beat(self.state, role=self.role, role_since=self.role_since)

    def _refresh_pool_report(self) -> None:
        """Store /status's pool report after a batch, so a page view need not compute it."""
        try:
            pool_report_cache.refresh(self.app)
        except Exception as error:  # the database: log it, keep the worker up
            self.say(f"pool report not refreshed: {type(error).__name__}: {error}")
