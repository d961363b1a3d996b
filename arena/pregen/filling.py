"""Filling the battle pool while the arena serves (``flask --app arena demo``).

A whole pool generated before anything is served keeps a new visitor waiting for minutes. The
filler runs batches of growing size instead (1 prompt, then 2, then 4): every model answers the
first prompt before any model answers a second one, so the first battle is ready after one
answer of each model; later batches load each model once for several answers. Between batches
the pool is planned again (:func:`arena.pregen.planner.plan_batch`); once it is full the filler
plans again every :data:`FULL_POLL_SECONDS`: a visitor who votes uses battles up, and more are
generated before they run out.

The filler's state (generating, waiting, stopped; battles made; when the next one is expected)
is kept in ``<instance>/pool-filling.json`` for the pages, which may be served by another
process (:mod:`arena.pregen.fill_state`). The expected time of the next battle comes from the
answers' own timings with the model's load time left out (``total_duration - load_duration``),
plus a load only where the order of the batch needs one: the first answer, which includes
loading the model, never makes every later estimate look slow. Stopping ends the answer in
progress at its next token (:class:`StoppableRouter`): it is not stored.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import select

from arena.backends import BackendError
from arena.backends.base import BackendModel, ChatResult, GenerationOptions
from arena.extensions import db
from arena.models import Model, Response
from arena.pregen.batch import BatchRequest, BatchResult, run_batch
from arena.pregen.fill_state import (
    STATE_FILE,
    Coming,
    FillState,
    about,
    coming,
    read_state,
    write_state,
)
from arena.pregen.hosts import ModelRouter
from arena.pregen.planner import enabled_models, plan_batch
from arena.pregen.runner import ProgressEvent, RunControl

__all__ = [
    "STATE_FILE",
    "Coming",
    "FillState",
    "PoolFiller",
    "StoppableRouter",
    "Timings",
    "about",
    "coming",
    "next_battle_seconds",
    "pool_is_full",
    "read_state",
    "write_state",
]

#: Prompts per batch: the first batch makes one battle as soon as possible; the last size
#: repeats (each batch loads each model once).
CHUNKS = (1, 2, 4)
#: Seconds between two plans once the pool is full.
FULL_POLL_SECONDS = 15.0
#: Answers per model whose timings make the estimate (the most recent ones).
RECENT_ANSWERS = 8
#: A load shorter than this is no load (the model was in memory).
LOAD_FLOOR_SECONDS = 0.05


@dataclass
class Timings:
    """Per model: seconds per answer without the load, and seconds to load it."""

    answer: dict[str, list[float]] = field(default_factory=dict)
    load: dict[str, list[float]] = field(default_factory=dict)

    def observe(self, tag: str, total_s: float | None, load_s: float | None) -> None:
        if total_s is None:
            return
        load = load_s or 0.0
        self.answer.setdefault(tag, []).append(max(0.0, total_s - load))
        del self.answer[tag][:-RECENT_ANSWERS]
        if load > LOAD_FLOOR_SECONDS:
            self.load.setdefault(tag, []).append(load)
            del self.load[tag][:-RECENT_ANSWERS]

    def answer_seconds(self, tag: str) -> float | None:
        """This model's median answer, else the slowest known model's (None: none known)."""
        mine = self.answer.get(tag)
        if mine:
            return statistics.median(mine)
        known = [statistics.median(v) for v in self.answer.values() if v]
        return max(known) if known else None

    def load_seconds(self, tag: str) -> float:
        mine = self.load.get(tag)
        if mine:
            return statistics.median(mine)
        known = [statistics.median(v) for v in self.load.values() if v]
        return max(known) if known else 0.0

    @classmethod
    def from_database(cls, tags: Sequence[str]) -> Timings:
        """The recent stored answers' timings of these models (a warm start knows them)."""
        timings = cls()
        for tag in tags:
            rows = db.session.execute(
                select(Response.total_duration, Response.load_duration)
                .join(Model, Model.id == Response.model_id)
                .where(Model.tag == tag, Response.total_duration.is_not(None))
                .order_by(Response.id.desc())
                .limit(RECENT_ANSWERS)
            ).all()
            for total, load in reversed(rows):
                if total is not None:
                    timings.observe(tag, total / 1e9, (load or 0) / 1e9)
        return timings


def next_battle_seconds(
    order: Sequence[tuple[str, int]], done: dict[str, int], timings: Timings
) -> float | None:
    """Seconds until the batch's next prompt has every model's answer, from the batch's start
    of the current answer: ``order`` is the batch's (model tag, prompts) in running order
    (model by model), ``done`` the answers each has given. Each model not yet started adds
    its load. None when no model's speed is known yet."""
    if not order:
        return None
    total = 0.0
    last_tag, _ = order[-1]
    for index, (tag, planned) in enumerate(order):
        answer = timings.answer_seconds(tag)
        if answer is None:
            return None
        made = done.get(tag, 0)
        needed = 1 + done.get(last_tag, 0) if index == len(order) - 1 else planned
        left = max(0, needed - made)
        if left and made == 0:
            total += timings.load_seconds(tag)
        total += left * answer
    return total


class Stopped(BackendError):
    """The filler was asked to stop while an answer was being written (it is not stored)."""


class StoppableRouter:
    """Each model's own backend (:class:`~arena.pregen.hosts.ModelRouter`), whose answer in
    progress stops at the next token once ``stopping`` is set: Ctrl-C ends the demo at once
    rather than after an answer that a busy machine may take minutes to finish."""

    name = "router"
    parallel = 1  # requests to one loaded model at once (BACKENDS' `parallel`)

    def __init__(self, stopping: threading.Event) -> None:
        self.router = ModelRouter()
        self.stopping = stopping

    def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        options: GenerationOptions,
        *,
        keep_alive: int | str | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> ChatResult:
        def token(piece: str) -> None:
            if self.stopping.is_set():
                raise Stopped("asked to stop")
            if on_token is not None:
                on_token(piece)

        if self.stopping.is_set():
            raise Stopped("asked to stop")
        return self.router.chat(model, messages, options, keep_alive=keep_alive, on_token=token)

    def list_models(self) -> list[BackendModel]:
        return self.router.list_models()

    def version(self) -> str:
        return self.router.version()

    def unload(self, model: str) -> None:
        self.router.unload(model)


class PoolFiller:
    """Fills the pool in growing batches until :meth:`stop`; call :meth:`run` in a thread.

    ``guard`` is held while the filler runs (the demo's worker's generation lock: the
    worker's own batches, such as its nightly window's, wait until the filler stops, so they
    never reorder the pool model by model); ``between_answers`` runs before each answer and
    every few seconds while the pool is full (the worker answers visitors' prompts there).
    ``until_full``: return once the pool is full instead of waiting for visitors to use it up.
    """

    def __init__(
        self,
        app: Flask,
        *,
        tags: Sequence[str] | None = None,
        guard: AbstractContextManager[Any] | None = None,
        between_answers: Callable[[], object] | None = None,
        say: Callable[[str], None] = print,
        until_full: bool = False,
        chunks: Sequence[int] = CHUNKS,
        poll_seconds: float = FULL_POLL_SECONDS,
    ) -> None:
        self.app = app
        self.tags = list(tags) if tags else None
        self.guard = guard
        self.between_answers = between_answers
        self.say = say
        self.until_full = until_full
        self.chunks = list(chunks)
        self.poll_seconds = poll_seconds
        self.stopping = threading.Event()
        self.state = FillState(os.getpid(), "generating", time.time())
        self.batches = 0
        self.timings = Timings()
        self._order: list[tuple[str, int]] = []
        self._done: dict[str, int] = {}  # answers per model in the current batch
        self._made = 0  # battles made in the current batch
        self._planned = 0

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        """Batches until stopped (or, with ``until_full``, until the pool is full)."""
        with self.guard if self.guard is not None else nullcontext():
            self._run()

    def _run(self) -> None:
        with self.app.app_context():
            self.timings = Timings.from_database(self._tags())
        try:
            while not self.stopping.is_set():
                result = self._one_batch()
                if result.summary is None:  # nothing was missing
                    self._publish("waiting", next_at=None)
                    if self.until_full:
                        return
                    self._wait(self.poll_seconds)
                    continue
                for failure in result.summary.failures:
                    self.say(f"failed {failure.tag}: {failure.reason}")
                if not result.summary.total_stored and not self.stopping.is_set():
                    # every answer failed: say so, wait, then try again
                    self._publish("generating", message="the last answers failed")
                    self._wait(self.poll_seconds)
        except Exception as error:  # the database or a bug: say it, leave the pages honest
            self._publish("failed", next_at=None, message=f"{type(error).__name__}: {error}")
            raise
        finally:
            if self.state.state != "failed":
                self._publish("stopped", next_at=None)

    def _wait(self, seconds: float) -> None:
        """Wait (the guard held), answering visitors' prompts every VISITOR_POLL_SECONDS."""
        end = time.monotonic() + seconds
        every = float(self.app.config.get("VISITOR_POLL_SECONDS") or 2.0)
        while not self.stopping.is_set() and (left := end - time.monotonic()) > 0:
            if self.between_answers is not None:
                self.between_answers()
            self.stopping.wait(min(every, left))

    def _tags(self) -> list[str]:
        if self.tags:
            return self.tags
        return [model.tag for model in enabled_models()]

    def _one_batch(self) -> BatchResult:
        size = self.chunks[min(self.batches, len(self.chunks) - 1)]
        with self.app.app_context():
            control = RunControl(
                stop_requested=self.stopping.is_set, between_answers=self.between_answers
            )
            request = BatchRequest(n_prompts=size, tags=self.tags, trigger="cli")
            result = run_batch(
                request,
                backend=StoppableRouter(self.stopping),
                control=control,
                progress=self._progress,
                on_plan=self._on_plan,
            )
        if result.summary is not None:
            self.batches += 1
        return result

    def _on_plan(self, result: BatchResult) -> None:
        self._order = [(item.tag, len(item.prompt_ids)) for item in result.plan.work]
        self._done = {}
        self._made = 0
        self._planned = len(result.plan.prompts) if result.plan.work else 0
        if result.plan.work:
            self._publish("generating", next_at=self._expected())

    def _progress(self, event: ProgressEvent) -> None:
        self._done[event.tag] = self._done.get(event.tag, 0) + 1
        if event.outcome == "stored":
            self._observe(event.tag)
        made = self._made_now()
        if len(self._order) >= 2 and made > self._made:
            self.state.battles_made += made - self._made
            self._made = made
            expected = self._expected()
            soon = f"; the next in about {round(expected - time.time())} s" if expected else ""
            self.say(f"battle {self.state.battles_made} ready{soon}")
        self._publish("generating", next_at=self._expected())

    def _made_now(self) -> int:
        """Prompts of this batch that every model has answered (tried)."""
        return min((self._done.get(tag, 0) for tag, _ in self._order), default=0)

    def _observe(self, tag: str) -> None:
        """The timings of the model's answer just stored."""
        row = db.session.execute(
            select(Response.total_duration, Response.load_duration)
            .join(Model, Model.id == Response.model_id)
            .where(Model.tag == tag)
            .order_by(Response.id.desc())
            .limit(1)
        ).first()
        if row is not None and row[0] is not None:
            self.timings.observe(tag, row[0] / 1e9, (row[1] or 0) / 1e9)

    def _expected(self) -> float | None:
        if len(self._order) < 2 or self._made_now() >= min(n for _, n in self._order):
            return None  # the batch's last battle is made: the next batch's plan says more
        seconds = next_battle_seconds(self._order, self._done, self.timings)
        return None if seconds is None else time.time() + seconds

    def _publish(
        self, state: str, *, next_at: float | None = None, message: str | None = None
    ) -> None:
        self.state.state = state
        self.state.updated_at = time.time()
        self.state.next_at = next_at
        self.state.message = message
        left = max(0, self._planned - self._made_now())
        self.state.prompts_planned = left if state == "generating" else 0
        write_state(self.app.instance_path, self.state)


def pool_is_full(tags: Sequence[str] | None = None) -> bool:
    """Whether a plan now would generate nothing (needs an app context)."""
    return not plan_batch(None, tags).work
