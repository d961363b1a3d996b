"""The runner: executes a plan model by model, within a deadline, and sums it up.

Each model is loaded once: its requests are contiguous, with a long ``keep_alive`` while it
still has work and 0 on its last request, so RAM is free for the next model. The run stops
only between answers (deadline, signal); a failing model never stops the others, and a
backend whose server does not work is given up for the rest of the run (``breaker``).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from arena.backends import Backend
from arena.extensions import db
from arena.models import GenerationRun, Prompt
from arena.pregen.breaker import Breaker
from arena.pregen.clock import SYSTEM_CLOCK, Clock, Deadline, format_seconds
from arena.pregen.estimate import Estimator
from arena.pregen.generate import AnswerMaker, FailureNote, MeteredBackend, ModelRef, Outcome
from arena.pregen.planner import ModelWork, Plan
from arena.pregen.records import RunProgress, record_failure

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
    # What it returns (the worker's count of answered prompts) is ignored.
    between_answers: Callable[[], object] | None = None

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
    attempted: int = 0  # planned answers tried (stored, failed, leaked, or a duplicate)
    unanswered: int = 0  # planned answers that failed or were given up (not stopped before)
    given_up: dict[str, str] = field(default_factory=dict)  # backend name -> why (breaker)
    model_loads: int = 0
    wall_seconds: float = 0.0
    backend_seconds: float = 0.0
    stop_kind: str | None = None  # budget, until, signal; None when the plan was completed
    stop_message: str | None = None
    # Several backend hosts run in parallel: each one's figures, by backend name.
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def total_stored(self) -> int:
        return sum(self.stored.values())

    @property
    def result(self) -> str:
        """ok (no planned answer failed: the plan was done, or stopped between answers as
        asked), some_failed (some failed or were given up, some stored), nothing_stored."""
        if not self.failures:
            return "ok"
        return "some_failed" if self.total_stored else "nothing_stored"

    @property
    def backend_share(self) -> float:
        """Share of the wall time spent waiting on the backend (with several hosts in
        parallel: of the hosts' summed wall times)."""
        wall = sum(h["wall_seconds"] for h in self.hosts.values()) or self.wall_seconds
        return self.backend_seconds / wall if wall > 0 else 0.0

    def tokens_per_second(self, tag: str) -> float | None:
        seconds = self.eval_seconds.get(tag, 0.0)
        return self.tokens[tag] / seconds if seconds > 0 and self.tokens.get(tag) else None

    def to_json(self) -> dict[str, Any]:
        models = sorted(set(self.planned) | set(self.stored) | set(self.excluded))
        hosts = {"hosts": self.hosts} if self.hosts else {}
        return hosts | {
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
            "attempted": self.attempted,
            "unanswered": self.unanswered,
            "result": self.result,
            "given_up": dict(self.given_up),
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
        extra = f", {row['excluded']} excluded (leak or degenerate)" if row.get("excluded") else ""
        lines.append(f"stored {row['stored']:>4}/{row['planned']:<4} {speed}  {tag}{extra}")
    lines.extend(FailureNote.line(note) for note in data["failures"])
    wall = data["wall_seconds"]
    lines.append(
        f"{data['stored']} answers stored in {format_seconds(wall)} ({wall:.1f} s); "
        f"model loads: {data['model_loads']}; waiting on the backend: "
        f"{100 * data['backend_share']:.1f}% of the time"
    )
    for name, host in (data.get("hosts") or {}).items():
        lines.append(
            f"  backend {name}: {host['stored']} answers in {format_seconds(host['wall_seconds'])}"
            f", {host['model_loads']} model loads, waiting on it "
            f"{100 * host['backend_share']:.1f}% of the time"
            + ("; given up for this run" if host.get("given_up") else "")
        )
    if data.get("stop"):
        lines.append(f"stopped between answers: {data['stop_message']}; the next run resumes")
    outcome = outcome_line(data)
    if outcome is not None:
        lines.append(outcome)
    return lines


def outcome_line(data: dict[str, Any]) -> str | None:
    """The run's outcome in words (None for a summary older than the ``result`` field)."""
    result = data.get("result")
    planned = sum(row["planned"] for row in data["models"].values())
    missed = f"{data.get('unanswered', 0)} of {planned} planned answers failed or were given up"
    texts = {
        "ok": "no answer failed" if data.get("stop") else "every planned answer stored",
        "some_failed": f"some answers failed: {missed}; {data['stored']} stored",
        "nothing_stored": f"nothing could be stored: {missed}",
    }
    return f"outcome: {texts[result]}" if result in texts else None


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
    record: RunProgress | None = None,
) -> RunSummary:
    """Generate the planned answers model by model, loading each model once.

    ``record`` counts answers into the run's row (default: a new one for ``run``).
    """
    runner = _Runner(plan, backend, config, control or RunControl(), progress, rng, run)
    if record is not None:
        runner.record = record
    return runner.execute(estimator or Estimator({}))


class _Runner:
    """The state of one run: the metered backend, the counts, the summary."""

    def __init__(
        self,
        plan: Plan,
        backend: Backend,
        config: Mapping[str, Any],
        control: RunControl,
        progress: ProgressCallback | None,
        rng: random.Random | None,
        run: GenerationRun | None,
    ) -> None:
        self.plan = plan
        self.config = config
        self.control = control
        self.clock = control.clock
        meter = backend if isinstance(backend, MeteredBackend) else None
        self.meter = meter or MeteredBackend(backend, self.clock)
        self.maker = AnswerMaker(self.meter, config, clock=self.clock, rng=rng)
        self.breaker = Breaker(str(getattr(self.meter.backend, "name", "") or "backend"))
        self.progress = progress
        self.run = run
        self.record = RunProgress(run)
        self.summary = RunSummary(planned=plan.per_model())
        self.remaining = {item.model_id: len(item.prompt_ids) for item in plan.work}
        self.total = plan.total
        self.done = 0

    def execute(self, estimator: Estimator) -> RunSummary:
        self.estimator = estimator
        rows = db.session.execute(
            select(Prompt.id, Prompt.text).where(Prompt.id.in_(self.plan.prompts))
        )
        self.texts = {prompt_id: text for prompt_id, text in rows}
        loads, waited = self.meter.loads, self.meter.seconds
        self.started = self.clock.monotonic()
        try:
            for item in self.plan.work:
                if self.breaker.open:  # the backend was given up: record each model's skip
                    model = ModelRef(item.model_id, item.tag, item.family)
                    reason = f"not tried: {self.breaker.reason}"
                    self._skip(model, FailureNote(model.tag, None, "backend", reason))
                elif not self._model(item):
                    break
        finally:
            summary = self.summary
            summary.wall_seconds = self.clock.monotonic() - self.started
            summary.backend_seconds = self.meter.seconds - waited
            summary.model_loads = self.meter.loads - loads
        return summary

    def _may_start(self) -> bool:
        reason = self.control.stop_reason()
        if reason is None:
            return True
        self.summary.stop_kind, self.summary.stop_message = reason
        return False

    def _release(self, tag: str) -> None:
        """Unload a model left loaded with a long keep_alive (stopped before its end)."""
        if self.meter.warm_model == tag:
            self.meter.unload(tag)

    def _model(self, item: ModelWork) -> bool:
        """Answer one model's prompts; False when the whole run must stop."""
        model = ModelRef(item.model_id, item.tag, item.family)
        consecutive = 0
        for index, prompt_id in enumerate(item.prompt_ids):
            if not self._may_start():
                self._release(model.tag)
                return False
            if self.control.between_answers is not None:
                self.control.between_answers()  # visitors' prompts first
                if not self._may_start():
                    self._release(model.tag)
                    return False
            last = index == len(item.prompt_ids) - 1
            outcome = self.maker.answer(
                model,
                prompt_id,
                keep_alive=0 if last else self.config["BACKEND_KEEP_ALIVE"],
                may_continue=lambda: self.control.stop_reason() is None,
                prompt_text=self.texts.get(prompt_id),
            )
            self._account(model, outcome)
            failure = outcome.failure
            if failure is not None:
                self._fail(model, failure)
                self.summary.unanswered += 1
                consecutive += 1
                self.breaker.failed(model.tag, outcome.blames_server, failure.reason)
            elif outcome.response_id is not None or outcome.duplicate:
                consecutive = 0
                self.breaker.succeeded()
            self._report(model, _label(outcome))
            left = len(item.prompt_ids) - index - 1
            if self.breaker.open:
                self.summary.given_up[self.breaker.backend] = self.breaker.reason or ""
                why = f"skipped the remaining {left} prompts: {self.breaker.reason}"
                gone = FailureNote(model.tag, None, "backend", why)  # unless its own says why:
                self._skip(model, gone if left and not outcome.skip_model else None)
                self._release(model.tag)
                return True
            if outcome.skip_model or consecutive >= MAX_CONSECUTIVE_FAILURES:
                note = None
                if not outcome.skip_model:
                    reason = (
                        f"skipped the remaining {left} prompts after {consecutive} failed "
                        "answers in a row"
                    )
                    note = FailureNote(model.tag, None, "skipped", reason)
                    self._release(model.tag)
                self._skip(model, note)
                return True
        return True

    def _skip(self, model: ModelRef, note: FailureNote | None) -> None:
        """Give up the model's planned answers not yet tried, recording ``note`` if any."""
        if note is not None:
            self._fail(model, note)
        left = self.remaining.get(model.id, 0)
        self.summary.unanswered += left
        self.total -= left
        self.remaining[model.id] = 0

    def _fail(self, model: ModelRef, note: FailureNote) -> None:
        self.summary.failures.append(note)
        record_failure(self.run, model.id, note)

    def _account(self, model: ModelRef, outcome: Outcome) -> None:
        summary = self.summary
        if outcome.response_id is not None:
            summary.stored[model.tag] += 1
        if outcome.excluded:
            summary.excluded[model.tag] += outcome.excluded
        self.record.answered(outcome.response_id is not None)
        result = outcome.result
        if result is not None and result.eval_count and result.eval_duration:
            summary.tokens[model.tag] += result.eval_count
            summary.eval_seconds[model.tag] += result.eval_duration / 1e9
            self.estimator.observe(
                model.id,
                result.eval_count,
                result.eval_duration,
                result.total_duration,
                result.load_duration,
            )

    def _report(self, model: ModelRef, outcome: str) -> None:
        """Count one answer and tell the progress callback, with the ETA."""
        self.done += 1
        self.summary.attempted = self.done
        self.remaining[model.id] -= 1
        if self.progress is None:
            return
        parts = [
            self.estimator.seconds(model_id, left, with_load=model_id != model.id)
            for model_id, left in self.remaining.items()
            if left
        ]
        eta = None if None in parts else sum(p for p in parts if p is not None)
        self.progress(
            ProgressEvent(
                self.done,
                self.total,
                model.tag,
                outcome,
                self.summary.tokens_per_second(model.tag),
                eta,
                self.clock.monotonic() - self.started,
            )
        )


def _label(outcome: Outcome) -> str:
    if outcome.response_id is not None:
        return "stored"
    if outcome.duplicate:
        return "duplicate"
    if outcome.failure is not None:
        return "failed"
    if outcome.excluded:
        return "excluded"
    return "skipped"
