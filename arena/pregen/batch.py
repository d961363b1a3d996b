"""One batch run, the single code path behind ``flask --app arena pregenerate``,
``scripts/pregenerate.py`` (cron) and the worker's nightly window.

Under the instance's ``pregen`` lock (one batch at a time on this machine): mark runs of dead
processes as interrupted, plan, record a GenerationRun, run the plan, store its summary.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app

from arena.backends import Backend
from arena.pregen.clock import Deadline, deadline_from
from arena.pregen.estimate import Estimator, PlanEstimate
from arena.pregen.hosts import run_hosts
from arena.pregen.planner import Plan, plan_batch
from arena.pregen.records import (
    abort_run,
    finish_run,
    interrupt_dead_runs,
    start_run,
    try_instance_lock,
)
from arena.pregen.runner import ProgressCallback, RunControl, RunSummary, run_plan

LOCK_NAME = "pregen"


@dataclass
class BatchRequest:
    """What the operator asked for; every field is optional."""

    n_prompts: int | None = None
    tags: Sequence[str] | None = None
    budget: str | timedelta | None = None
    until: str | datetime | None = None
    dry_run: bool = False
    trigger: str = "cli"


@dataclass
class BatchResult:
    plan: Plan
    estimate: PlanEstimate
    deadline: Deadline | None
    summary: RunSummary | None = None  # None for a dry run
    run_id: int | None = None
    interrupted_runs: int = 0
    notes: list[str] = field(default_factory=list)


def estimate_plan(plan: Plan) -> PlanEstimate:
    estimator = Estimator.from_database(item.model_id for item in plan.work)
    return estimator.estimate((i.model_id, i.tag, len(i.prompt_ids)) for i in plan.work)


def run_batch(
    request: BatchRequest,
    *,
    backend: Backend | None = None,
    control: RunControl | None = None,
    progress: ProgressCallback | None = None,
    on_plan: Callable[[BatchResult], None] | None = None,
    rng: random.Random | None = None,
) -> BatchResult:
    """Plan (and unless it is a dry run, run) one batch; raises LockBusy if another runs.

    ``control.deadline`` (e.g. the worker's window) and the request's budget/until combine:
    the earliest wins. ``on_plan`` sees the plan before the first answer. Without a
    ``backend``, each model is answered by its own (``Model.backend``), several backend
    hosts in parallel (one thread each, still grouped by model).
    """
    # The app behind the proxy (Flask types current_app as Flask, without this method).
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    control = control or RunControl()
    asked = deadline_from(control.clock.now(), request.budget, request.until)
    deadlines = [d for d in (asked, control.deadline) if d is not None]
    control.deadline = min(deadlines, key=lambda d: d.at) if deadlines else None
    if request.dry_run:
        plan = plan_batch(request.n_prompts, request.tags, rng)
        return BatchResult(plan, estimate_plan(plan), control.deadline)
    with try_instance_lock(app, LOCK_NAME, "pre-generation run"):
        interrupted = interrupt_dead_runs()
        plan = plan_batch(request.n_prompts, request.tags, rng)
        estimator = Estimator.from_database(item.model_id for item in plan.work)
        estimate = estimator.estimate((i.model_id, i.tag, len(i.prompt_ids)) for i in plan.work)
        result = BatchResult(plan, estimate, control.deadline, interrupted_runs=interrupted)
        if on_plan is not None:
            on_plan(result)
        if not plan.work:
            return result
        deadline_at = control.deadline.at if control.deadline else None
        run = start_run(request.trigger, plan.per_model(), deadline_at)
        result.run_id = run.id
        try:
            if backend is not None:  # one given backend answers for every model
                summary = run_plan(
                    plan,
                    backend,
                    app.config,
                    control=control,
                    progress=progress,
                    rng=rng,
                    run=run,
                    estimator=estimator,
                )
            else:  # each model by its own backend; several hosts run in parallel
                summary = run_hosts(
                    app,
                    plan,
                    app.config,
                    control=control,
                    progress=progress,
                    rng=rng,
                    run=run,
                    estimator=estimator,
                )
        except BaseException as error:
            reason = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
            abort_run(run, reason, f"{type(error).__name__}: {error}")
            raise
        status = "stopped" if summary.stop_kind else "finished"
        finish_run(run, status, summary.stop_message, summary.to_json(), done=summary.attempted)
        result.summary = summary
        return result
