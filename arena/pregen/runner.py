"""The runner: executes a plan model by model, within a deadline, and sums it up.

Each model is loaded once: its requests are contiguous, with a long ``keep_alive`` while it
still has work and 0 on its last request, so RAM is free for the next model. The run stops
only between answers (deadline, signal); a failing model never stops the others, and a
backend whose server does not work is given up for the rest of the run (``breaker``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from arena.backends import Backend
from arena.extensions import db
from arena.models import GenerationRun, Prompt
from arena.pregen.breaker import Breaker
from arena.pregen.control import ProgressCallback, ProgressEvent, RunControl
from arena.pregen.estimate import Estimator
from arena.pregen.footprint import record_memory
from arena.pregen.generate import AnswerMaker, FailureNote, MeteredBackend, ModelRef, Outcome
from arena.pregen.planner import ModelWork, Plan
from arena.pregen.records import RunProgress, record_failure
from arena.pregen.slate import MAX_CONSECUTIVE_FAILURES, ParallelSlate
from arena.pregen.summary import RunSummary, outcome_line, summary_lines

__all__ = [
    "MAX_CONSECUTIVE_FAILURES",
    "ProgressCallback",
    "ProgressEvent",
    "RunControl",
    "RunSummary",
    "outcome_line",
    "run_plan",
    "summary_lines",
]


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


class _Runner(ParallelSlate):
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
        self.parallel = self.meter.parallel  # requests to one loaded model at once

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
                    model = item.ref()
                    reason = f"not tried: {self.breaker.reason}"
                    self._skip(model, FailureNote(model.tag, None, "backend", reason))
                elif not self._model(item):
                    break
            if self.meter.warm_model is not None:  # kept for a variant that was skipped
                self.meter.unload(self.meter.warm_model)
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
        if self.parallel > 1:
            return self._slate(item, self.parallel)
        model = item.ref()
        consecutive = 0
        for index, prompt_id in enumerate(item.prompt_ids):
            if not self._may_start():
                self._release(model.served_tag)
                return False
            if self.control.between_answers is not None:
                self.control.between_answers()  # visitors' prompts first
                if not self._may_start():
                    self._release(model.served_tag)
                    return False
            last = index == len(item.prompt_ids) - 1
            # The last answer unloads the model, unless a variant of it is next
            # (item.keep_warm: it shares the load) or its memory is still to be read
            # (``measure``): then it stays loaded for /api/ps and is unloaded right after.
            ends = last and not item.keep_warm
            measure = ends and not self.summary.stored.get(model.tag)
            outcome = self.maker.answer(
                model,
                prompt_id,
                keep_alive=0 if ends and not measure else self.config["BACKEND_KEEP_ALIVE"],
                may_continue=lambda: self.control.stop_reason() is None,
                prompt_text=self.texts.get(prompt_id),
            )
            consecutive = self._settle(model, outcome, consecutive)
            if measure:
                self._release(model.served_tag)
            left = len(item.prompt_ids) - index - 1
            if self.breaker.open:
                self.summary.given_up[self.breaker.backend] = self.breaker.reason or ""
                why = f"skipped the remaining {left} prompts: {self.breaker.reason}"
                gone = FailureNote(model.tag, None, "backend", why)  # unless its own says why:
                self._skip(model, gone if left and not outcome.skip_model else None)
                self._release(model.served_tag)
                return True
            if outcome.skip_model or consecutive >= MAX_CONSECUTIVE_FAILURES:
                note = None
                if not outcome.skip_model:
                    reason = (
                        f"skipped the remaining {left} prompts after {consecutive} failed "
                        "answers in a row"
                    )
                    note = FailureNote(model.tag, None, "skipped", reason)
                    self._release(model.served_tag)
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
            if summary.stored[model.tag] == 1:  # the slate's first answer: while it is loaded
                record_memory(self.meter, model.id)
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
