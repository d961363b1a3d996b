"""Several backend hosts at once: a plan split by backend, one thread per host.

Each host still answers its models one at a time (grouped by model: one load per model);
the hosts run side by side, since they are separate machines or servers. Each thread has
its own application context, hence its own database session; answers are stored in short
transactions (one INSERT and commit each), and SQLite waits for the write lock (busy
timeout) rather than failing. The threads share the run's control (deadline, stop flag),
its progress record and the estimator; their summaries are added up into one.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from flask import Flask

from arena.backends import Backend, BackendError, BackendModel, ChatResult, GenerationOptions
from arena.backends.configured import get_backend
from arena.models import GenerationRun
from arena.pregen.estimate import Estimator
from arena.pregen.generate import FailureNote
from arena.pregen.planner import Plan
from arena.pregen.records import RunProgress, record_failure
from arena.pregen.runner import (
    ProgressCallback,
    ProgressEvent,
    RunControl,
    RunSummary,
    run_plan,
)


def split_by_backend(plan: Plan) -> dict[str, Plan]:
    """The plan's work per backend name, each keeping the plan's model order."""
    parts: dict[str, Plan] = {}
    for item in plan.work:
        part = parts.get(item.backend)
        if part is None:
            part = parts[item.backend] = replace(plan, work=[])
        part.work.append(item)
    return parts


class _Progress:
    """Adds up the hosts' progress events into one (done and total summed, the longest ETA)."""

    def __init__(self, callback: ProgressCallback) -> None:
        self.callback = callback
        self.latest: dict[str, ProgressEvent] = {}
        self.totals: dict[str, int] = {}
        self.lock = threading.Lock()

    def for_host(self, name: str, total: int) -> ProgressCallback:
        self.totals[name] = total

        def report(event: ProgressEvent) -> None:
            with self.lock:
                self.latest[name] = event
                events = self.latest.values()
                etas = [e.eta_seconds for e in events]
                done = sum(e.done for e in events)
                total = sum(self.latest[n].total if n in self.latest else t
                            for n, t in self.totals.items())  # fmt: skip
                self.callback(
                    ProgressEvent(
                        done,
                        total,
                        event.tag,
                        event.outcome,
                        event.tokens_per_second,
                        None if None in etas else max(e for e in etas if e is not None),
                        max(e.elapsed_seconds for e in events),
                    )
                )

        return report


@dataclass
class _Host:
    name: str
    plan: Plan
    backend: Backend | None = None
    summary: RunSummary | None = None
    error: BaseException | None = None


def run_hosts(
    app: Flask,
    plan: Plan,
    config: Mapping[str, Any],
    *,
    control: RunControl,
    progress: ProgressCallback | None = None,
    rng: random.Random | None = None,
    run: GenerationRun | None = None,
    estimator: Estimator | None = None,
) -> RunSummary:
    """Run the plan with each backend host in its own thread, and sum up the run.

    Models of a backend that is not configured (or whose client cannot be made) are
    recorded as failures with the reason and skipped; the other hosts run as usual.
    """
    estimator = estimator or Estimator({})
    record = RunProgress(run)
    summary = RunSummary(planned=plan.per_model())
    hosts = _hosts(plan, run, summary)
    if not hosts:
        return summary
    started = control.clock.monotonic()
    if len(hosts) == 1:  # in this thread, as with one backend
        (host,) = hosts
        assert host.backend is not None
        host.summary = run_plan(
            host.plan,
            host.backend,
            config,
            control=control,
            progress=progress,
            rng=rng,
            run=run,
            estimator=estimator,
            record=record,
        )
    else:
        run_id = run.id if run is not None else None
        _run_threads(app, hosts, config, control, progress, rng, run_id, estimator, record)
    wall = control.clock.monotonic() - started
    return _merge(summary, hosts, wall, with_hosts=len(hosts) > 1)


def _hosts(plan: Plan, run: GenerationRun | None, summary: RunSummary) -> list[_Host]:
    """The plan's part of each backend with its client; the models of a backend whose client
    cannot be had are recorded as failed (in ``summary`` and in the run's record)."""
    hosts: list[_Host] = []
    for name, part in split_by_backend(plan).items():
        host = _Host(name, part)
        try:
            host.backend = get_backend(name)
        except BackendError as error:
            for item in part.work:
                note = FailureNote(item.tag, None, "backend", str(error))
                summary.failures.append(note)
                summary.unanswered += len(item.prompt_ids)
                record_failure(run, item.model_id, note)
            continue
        hosts.append(host)
    return hosts


def _run_threads(
    app: Flask,
    hosts: list[_Host],
    config: Mapping[str, Any],
    control: RunControl,
    progress: ProgressCallback | None,
    rng: random.Random | None,
    run_id: int | None,
    estimator: Estimator,
    record: RunProgress,
) -> None:
    """Each host's part in a thread of its own; a failure or Ctrl-C stops them all."""
    abort = threading.Event()
    shared = RunControl(
        clock=control.clock,
        deadline=control.deadline,
        stop_requested=lambda: abort.is_set() or control.stop_requested(),
        between_answers=_serialised(control.between_answers),
        visitors_waiting=control.visitors_waiting,
    )
    adder = _Progress(progress) if progress is not None else None
    threads = []
    for host in hosts:
        host_rng = random.Random(rng.random()) if rng is not None else None
        host_progress = adder.for_host(host.name, host.plan.total) if adder else None
        args = (app, host, config, shared, host_progress, host_rng, run_id, estimator, record)
        threads.append(
            threading.Thread(
                target=_host_thread, args=args, name=f"pregen-{host.name}", daemon=True
            )
        )
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():  # short joins: the main thread still sees Ctrl-C
                thread.join(0.2)
    except BaseException:
        abort.set()
        raise
    for host in hosts:
        if host.error is not None:
            raise host.error


def _serialised(between: Any) -> Any:
    """Visitors' prompts between answers: one host at a time serves them, the others go on."""
    if between is None:
        return None
    lock = threading.Lock()

    def call() -> None:
        if lock.acquire(blocking=False):
            try:
                between()
            finally:
                lock.release()

    return call


def _host_thread(
    app: Flask,
    host: _Host,
    config: Mapping[str, Any],
    control: RunControl,
    progress: ProgressCallback | None,
    rng: random.Random | None,
    run_id: int | None,
    estimator: Estimator,
    record: RunProgress,
) -> None:
    """One host's part of the run, in its own application context (its own DB session)."""
    from arena.extensions import db

    try:
        with app.app_context():
            run = db.session.get(GenerationRun, run_id) if run_id is not None else None
            assert host.backend is not None
            host.summary = run_plan(
                host.plan,
                host.backend,
                config,
                control=control,
                progress=progress,
                rng=rng,
                run=run,
                estimator=estimator,
                record=record,
            )
    except BaseException as error:  # re-raised by the main thread
        host.error = error


def _merge(summary: RunSummary, hosts: list[_Host], wall: float, with_hosts: bool) -> RunSummary:
    """Add the hosts' summaries into ``summary`` (which holds the whole plan's counts)."""
    for host in hosts:
        part = host.summary
        if part is None:
            continue
        for target, source in (
            (summary.stored, part.stored),
            (summary.excluded, part.excluded),
            (summary.tokens, part.tokens),
        ):
            for tag, count in source.items():
                target[tag] += count
        for tag, seconds in part.eval_seconds.items():
            summary.eval_seconds[tag] += seconds
        summary.failures.extend(part.failures)
        summary.attempted += part.attempted
        summary.unanswered += part.unanswered
        summary.given_up.update(part.given_up)
        summary.model_loads += part.model_loads
        summary.backend_seconds += part.backend_seconds
        if part.stop_kind and not summary.stop_kind:
            summary.stop_kind, summary.stop_message = part.stop_kind, part.stop_message
        if with_hosts:
            summary.hosts[host.name] = {
                "models": len(host.plan.work),
                "stored": part.total_stored,
                "attempted": part.attempted,
                "model_loads": part.model_loads,
                "wall_seconds": round(part.wall_seconds, 3),
                "backend_seconds": round(part.backend_seconds, 3),
                "backend_share": round(part.backend_share, 4),
                "given_up": host.name in part.given_up,
            }
    summary.wall_seconds = wall
    return summary


class ModelRouter:
    """A Backend that sends each model's requests to the backend it is registered on
    (``Model.backend``): the worker answers visitors' prompts through it. It needs an
    application context when called."""

    name = "router"
    parallel = 1  # requests to one loaded model at once (BACKENDS' `parallel`)

    def _backend(self, tag: str) -> Backend:
        """The backend of the model sent as ``tag``: a contestant's ``served_tag``, which a
        variant shares with its backend model."""
        from sqlalchemy import or_, select

        from arena.extensions import db
        from arena.models import Model

        served = or_(Model.tag == tag, Model.backend_tag == tag)
        name = db.session.scalar(select(Model.backend).where(served).limit(1))
        return get_backend(name or "ollama")

    def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        options: GenerationOptions,
        *,
        keep_alive: int | str | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> ChatResult:
        backend = self._backend(model)
        return backend.chat(model, messages, options, keep_alive=keep_alive, on_token=on_token)

    def unload(self, model: str) -> None:
        self._backend(model).unload(model)

    def list_models(self) -> list[BackendModel]:
        from arena.backends.configured import backend_specs

        return [m for spec in backend_specs() for m in get_backend(spec.name).list_models()]

    def version(self) -> str:
        from arena.backends.configured import backend_specs

        return "; ".join(
            f"{spec.name}: {get_backend(spec.name).version()}" for spec in backend_specs()
        )
