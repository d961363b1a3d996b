"""One judging run, the single code path behind ``flask --app arena judge``,
``scripts/judge.py`` (cron) and the worker's nightly window (``JUDGE_IN_WINDOW``).

Under the instance's ``judge`` lock (one judging run at a time on this machine): read and
check the judge prompt, plan, run judge by judge. Nothing is written but whole judgements,
so a run killed at any point (even by kill -9) is resumed by the next: it skips judged pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from arena.judging.judges import JudgeError, enabled_judges
from arena.judging.planner import JudgePlan, plan_judging
from arena.judging.prompt import JudgePrompt, JudgePromptError, check_room, load_prompt
from arena.judging.runner import JudgeRunner, judge_context
from arena.judging.summary import JudgeSummary, summary_lines
from arena.pregen.clock import Deadline, deadline_from
from arena.pregen.records import LockBusy, try_instance_lock
from arena.pregen.runner import ProgressCallback, RunControl

LOCK_NAME = "judge"


@dataclass
class JudgeRequest:
    """What the operator asked for; every field is optional."""

    tags: Sequence[str] | None = None
    budget: str | timedelta | None = None
    until: str | datetime | None = None
    limit: int | None = None  # at most this many pairs per judge
    dry_run: bool = False


@dataclass
class JudgeResult:
    plan: JudgePlan
    prompt: JudgePrompt
    deadline: Deadline | None
    summary: JudgeSummary | None = None  # None for a dry run or nothing to do


def run_judging(
    request: JudgeRequest,
    *,
    control: RunControl | None = None,
    progress: ProgressCallback | None = None,
    on_plan: Callable[[JudgeResult], None] | None = None,
) -> JudgeResult:
    """Plan (and unless it is a dry run, run) one judging run.

    Raises JudgeError (an unknown or removed judge), JudgePromptError (a prompt file
    without its placeholders) before any work, and LockBusy when another run holds the lock.
    ``control.deadline`` (the worker's window) and the request's budget/until combine: the
    earliest wins. ``on_plan`` sees the plan before the first request.
    """
    # The app behind the proxy (Flask types current_app as Flask, without this method).
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    control = control or RunControl()
    asked = deadline_from(control.clock.now(), request.budget, request.until)
    deadlines = [d for d in (asked, control.deadline) if d is not None]
    control.deadline = min(deadlines, key=lambda d: d.at) if deadlines else None
    judges = enabled_judges(request.tags)
    prompt = load_prompt(app.config, app.instance_path)
    check_room(prompt, judge_context(app.config), int(app.config["JUDGE_NUM_PREDICT"]))
    if request.dry_run:
        plan = plan_judging(judges, app.config, request.limit)
        return JudgeResult(plan, prompt, control.deadline)
    with try_instance_lock(app, LOCK_NAME, "judging run"):
        plan = plan_judging(judges, app.config, request.limit)
        result = JudgeResult(plan, prompt, control.deadline)
        if on_plan is not None:
            on_plan(result)
        if not plan.total:
            return result
        runner = JudgeRunner(plan, prompt, app.config, control, progress)
        result.summary = runner.execute()
        return result


def run_in_window(control: RunControl) -> list[str]:
    """The worker's judging run after generation in its nightly window (``JUDGE_IN_WINDOW``),
    until ``control``'s deadline: the lines to log. Never raises: a bad prompt file, another
    judging run (cron) or a failure is a line, and the worker goes on."""
    try:
        result = run_judging(JudgeRequest(), control=control)
    except LockBusy as busy:
        return [f"skipped: {busy} (the cron script?)"]
    except (JudgeError, JudgePromptError) as error:
        return [f"not run: {error}"]
    except Exception as error:  # a bug or the database: log it, keep the worker up
        return [f"failed: {type(error).__name__}: {error}"]
    if result.summary is None:
        return ["nothing to do: every pair is judged" if result.plan.work else "no judges"]
    return summary_lines(result.summary.to_json())
