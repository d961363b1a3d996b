"""The runner: executes a plan model by model, within a deadline, and sums it up.

Each model is loaded once: its requests are contiguous, with a long ``keep_alive`` while it
still has work and 0 on its last request, so RAM is free for the next model. The run stops
only between answers (deadline, signal); a failing model never stops the others.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from arena.backends import Backend
from arena.models import GenerationRun
from arena.pregen.clock import SYSTEM_CLOCK, Clock, Deadline, format_seconds
from arena.pregen.estimate import Estimator
from arena.pregen.generate import AnswerMaker, FailureNote, MeteredBackend, ModelRef, Outcome
from arena.pregen.planner import ModelWork, Plan
from arena.pregen.records import note_progress, record_failure

#: A model whose answers fail this many times in a row (after retries) is skipped.
MAX_CONSECUTIVE_FAILURES = 3


def _never() -> bool:
    return False


@dataclass
class RunControl:
    """What may end or interleave a run: a clock, a deadline, a stop flag, visitors' work."""

    clock: Clock = SYSTEM_CLOCK
    deadline: Deadline | None = None
    stop_requested: Callable[[], bool] = _never
    # Called before each answer; the worker answers visitors' prompts here, ahead of the batch.
    between_answers: Callable[[], None] | None = None

    def stop_reason(self) -> tuple[str, str] | None:
        """(kind, message) when the run must stop now, else None."""
        if self.stop_requested():
            return "signal", "asked to stop"
        if self.deadline is not None and self.clock.now() >= self.deadline.at:
            when = self.deadline.at.astimezone().strftime("%Y-%m-%d %H:%M")
            return self.deadline.reason, f"{self.deadline.label} reached ({when})"
        return None


@dataclass(frozen=True)
class ProgressEvent:
    done: int
    total: int
    tag: str
    outcome: str  # stored, duplicate, excluded, failed, skipped
    tokens_per_second: float | None  # this model's, over this run
    eta_seconds: float | None
    elapsed_seconds: float


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class RunSummary:
    planned: dict[str, int] = field(default_factory=dict)
    stored: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    excluded: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tokens: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    eval_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    failures: list[FailureNote] = field(default_factory=list)
    model_loads: int = 0
    wall_seconds: float = 0.0
    backend_seconds: float = 0.0
    stop_kind: str | None = None  # budget, until, signal; None when the plan was completed
    stop_message: str | None = None

    @property
    def total_stored(self) -> int:
        return sum(self.stored.values())

    @property
    def backend_share(self) -> float:
        """Share of the wall time spent waiting on the backend."""
        return self.backend_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def tokens_per_second(self, tag: str) -> float | None:
        seconds = self.eval_seconds.get(tag, 0.0)
        return self.tokens[tag] / seconds if seconds > 0 and self.tokens.get(tag) else None

    def to_json(self) -> dict[str, Any]:
        models = sorted(set(self.planned) | set(self.stored) | set(self.excluded))
        return {
            "models": {
                tag: {
                    "planned": self.planned.get(tag, 0),
                    "stored": self.stored.get(tag, 0),
                    "excluded": self.excluded.get(tag, 0),
                    "tokens_per_second": _round(self.tokens_per_second(tag)),
                }
                for tag in models
            },
            "stored": self.total_stored,
            "failures": [note.to_json() for note in self.failures],
            "model_loads": self.model_loads,
            "wall_seconds": round(self.wall_seconds, 3),
            "backend_seconds": round(self.backend_seconds, 3),
            "backend_share": round(self.backend_share, 4),
            "stop": self.stop_kind,
            "stop_message": self.stop_message,
        }


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def summary_lines(data: dict[str, Any]) -> list[str]:
    """A run summary (``RunSummary.to_json()``) as lines of text for a terminal or a log."""
    lines = []
    for tag, row in data["models"].items():
        rate = row.get("tokens_per_second")
        speed = f"{rate:7.1f} tok/s" if rate else "      ? tok/s"
        extra = f", {row['excluded']} excluded (identity leak)" if row.get("excluded") else ""
        lines.append(f"stored {row['stored']:>4}/{row['planned']:<4} {speed}  {tag}{extra}")
    for note in data["failures"]:
        where = f" prompt {note['prompt']}" if note.get("prompt") is not None else ""
        tries = f" after {note['attempts']} attempts" if note.get("attempts", 1) > 1 else ""
        lines.append(f"failed {note['model']}{where} [{note['kind']}]{tries}: {note['reason']}")
    wall = data["wall_seconds"]
    lines.append(
        f"{data['stored']} answers stored in {format_seconds(wall)} ({wall:.1f} s); "
        f"model loads: {data['model_loads']}; waiting on the backend: "
        f"{100 * data['backend_share']:.1f}% of the time"
    )
    if data.get("stop"):
        lines.append(f"stopped between answers: {data['stop_message']}; the next run resumes")
    return lines


def run_plan(
    plan: Plan,
    backend: Backend,
    config: Mapping[str, Any],
    *,
    control: RunControl | None = None,
    progress: ProgressCallback | None = None,
    rng: random.Random | None = None,
    run: GenerationRun | None = None,
    estimator: Estimator | None = None,
) -> RunSummary:
    """Generate the planned answers model by model, loading each model once."""
    control = control or RunControl()
    clock = control.clock
    meter = backend if isinstance(backend, MeteredBackend) else MeteredBackend(backend, clock)
    loads_before, backend_before = meter.loads, meter.seconds
    maker = AnswerMaker(meter, config, clock=clock, rng=rng)
    estimator = estimator or Estimator({})
    summary = RunSummary(planned=plan.per_model())
    state = _Progress(plan, estimator, clock, progress)
    started = clock.monotonic()
    try:
        for item in plan.work:
            if not _run_model(item, maker, meter, config, control, summary, state, run):
                break
    finally:
        summary.wall_seconds = clock.monotonic() - started
        summary.backend_seconds = meter.seconds - backend_before
        summary.model_loads = meter.loads - loads_before
    return summary


class _Progress:
    """Counts answers and computes the ETA from each model's measured speed."""

    def __init__(
        self, plan: Plan, estimator: Estimator, clock: Clock, callback: ProgressCallback | None
    ) -> None:
        self.remaining = {item.model_id: len(item.prompt_ids) for item in plan.work}
        self.total = plan.total
        self.done = 0
        self.estimator = estimator
        self.clock = clock
        self.callback = callback
        self.started = clock.monotonic()

    def skip(self, model_id: int) -> None:
        self.total -= self.remaining.get(model_id, 0)
        self.remaining[model_id] = 0

    def answered(self, item_model: ModelRef, outcome: str, summary: RunSummary) -> None:
        self.done += 1
        self.remaining[item_model.id] -= 1
        if self.callback is None:
            return
        parts = [
            self.estimator.seconds(model_id, left, with_load=model_id != item_model.id)
            for model_id, left in self.remaining.items()
            if left
        ]
        eta = None if None in parts else sum(p for p in parts if p is not None)
        self.callback(
            ProgressEvent(
                self.done,
                self.total,
                item_model.tag,
                outcome,
                summary.tokens_per_second(item_model.tag),
                eta,
                self.clock.monotonic() - self.started,
            )
        )


def _run_model(
    item: ModelWork,
    maker: AnswerMaker,
    meter: MeteredBackend,
    config: Mapping[str, Any],
    control: RunControl,
    summary: RunSummary,
    state: _Progress,
    run: GenerationRun | None,
) -> bool:
    """Answer one model's prompts; False when the whole run must stop."""
    model = ModelRef(item.model_id, item.tag, item.family)
    consecutive = 0
    for index, prompt_id in enumerate(item.prompt_ids):
        if not _may_start(control, summary):
            _release(meter, model.tag)
            return False
        if control.between_answers is not None:
            control.between_answers()
            if not _may_start(control, summary):
                _release(meter, model.tag)
                return False
        last = index == len(item.prompt_ids) - 1
        outcome = maker.answer(
            model,
            prompt_id,
            keep_alive=0 if last else config["OLLAMA_KEEP_ALIVE"],
            may_continue=lambda: control.stop_reason() is None,
        )
        _account(model, outcome, summary, state.estimator)
        note_progress(run, outcome.response is not None)
        if outcome.failure is not None:
            summary.failures.append(outcome.failure)
            record_failure(run, model.id, outcome.failure)
            consecutive += 1
        elif outcome.response is not None or outcome.duplicate:
            consecutive = 0
        state.answered(model, _label(outcome), summary)
        if outcome.skip_model or consecutive >= MAX_CONSECUTIVE_FAILURES:
            if not outcome.skip_model:
                note = FailureNote(
                    model.tag,
                    None,
                    "skipped",
                    f"skipped the remaining {len(item.prompt_ids) - index - 1} prompts after "
                    f"{consecutive} failed answers in a row",
                )
                summary.failures.append(note)
                record_failure(run, model.id, note)
                _release(meter, model.tag)
            state.skip(model.id)
            return True
    return True


def _may_start(control: RunControl, summary: RunSummary) -> bool:
    reason = control.stop_reason()
    if reason is None:
        return True
    summary.stop_kind, summary.stop_message = reason
    return False


def _release(meter: MeteredBackend, tag: str) -> None:
    """Unload a model left loaded with a long keep_alive (the run stopped before its end)."""
    if meter.warm_model == tag:
        meter.unload(tag)


def _account(model: ModelRef, outcome: Outcome, summary: RunSummary, estimator: Estimator) -> None:
    if outcome.response is not None:
        summary.stored[model.tag] += 1
    if outcome.excluded:
        summary.excluded[model.tag] += outcome.excluded
    result = outcome.result
    if result is not None and result.eval_count and result.eval_duration:
        summary.tokens[model.tag] += result.eval_count
        summary.eval_seconds[model.tag] += result.eval_duration / 1e9
        estimator.observe(
            model.id,
            result.eval_count,
            result.eval_duration,
            result.total_duration,
            result.load_duration,
        )


def _label(outcome: Outcome) -> str:
    if outcome.response is not None:
        return "stored"
    if outcome.duplicate:
        return "duplicate"
    if outcome.failure is not None:
        return "failed"
    if outcome.excluded:
        return "excluded"
    return "skipped"
