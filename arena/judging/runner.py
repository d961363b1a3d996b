"""The judging runner: each judge's pairs in turn, both orders, one row per pair.

A judge is loaded once: its requests are contiguous, with a long ``keep_alive`` while it has
work and 0 on its last request. The run stops only between pairs (deadline, signal). A pair
whose requests fail (after retries) stores nothing and is tried again by the next run; a
judge that is missing, unreachable, fails ``JUDGE_MAX_FAILURES`` pairs in a row or gives no
verdict ``JUDGE_MAX_UNPARSED`` times in a row is skipped for the rest of the run, and the
other judges go on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from arena.backends import BackendError, ChatResult, GenerationOptions
from arena.backends.configured import get_backend
from arena.extensions import db
from arena.judging.planner import Candidate, JudgePlan, JudgeWork
from arena.judging.prompt import Fitted, JudgePrompt, fit
from arena.judging.summary import JudgeSummary
from arena.judging.verdicts import combine, parse_verdict
from arena.models import Judgement, Prompt, Response
from arena.pregen.generate import FailureNote, failure_kind
from arena.pregen.metered import MeteredBackend
from arena.pregen.runner import ProgressCallback, ProgressEvent, RunControl


@dataclass
class _Failed(Exception):
    """A pair whose request failed after its retries (``skip``: the judge cannot work)."""

    kind: str
    reason: str
    skip: bool
    attempts: int


class _Stopped(Exception):
    """Asked to stop while waiting to retry: the pair is left to the next run."""


def judge_options(config: Mapping[str, Any]) -> GenerationOptions:
    """Deterministic: temperature 0 and a fixed seed; the judge's own context length."""
    return GenerationOptions(
        temperature=0.0,
        num_predict=int(config["JUDGE_NUM_PREDICT"]),
        seed=int(config["JUDGE_SEED"]),
        num_ctx=judge_context(config),
    )


def judge_context(config: Mapping[str, Any]) -> int:
    """The judge's context in tokens: JUDGE_NUM_CTX, else GEN_NUM_CTX, else 2048 (Ollama's
    usual default)."""
    return int(config.get("JUDGE_NUM_CTX") or config.get("GEN_NUM_CTX") or 2048)


class JudgeRunner:
    def __init__(
        self,
        plan: JudgePlan,
        prompt: JudgePrompt,
        config: Mapping[str, Any],
        control: RunControl,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.plan = plan
        self.prompt = prompt
        self.config = config
        self.control = control
        self.clock = control.clock
        self.progress = progress
        self.options = judge_options(config)
        self.retries = max(0, int(config.get("GEN_RETRIES", 2)))
        self.backoff = float(config.get("GEN_RETRY_BACKOFF", 5.0))
        self.summary = JudgeSummary(planned=plan.per_judge())
        self.total = plan.total
        self.done = 0
        self.meters: dict[str, MeteredBackend] = {}

    def execute(self) -> JudgeSummary:
        self.started = self.clock.monotonic()
        try:
            for item in self.plan.work:
                if item.pairs and not self._judge(item):
                    break
        finally:
            s = self.summary
            s.wall_seconds = self.clock.monotonic() - self.started
            s.backend_seconds = sum(m.seconds for m in self.meters.values())
            s.model_loads = sum(m.loads for m in self.meters.values())
        return self.summary

    def _stop_reason(self) -> tuple[str, str] | None:
        return self.control.stop_reason()

    def _may_start(self) -> bool:
        reason = self._stop_reason()
        if reason is None and self.control.between_answers is not None:
            self.control.between_answers()  # visitors' prompts first
            reason = self._stop_reason()
        if reason is not None:
            self.summary.stop_kind, self.summary.stop_message = reason
            return False
        return True

    def _meter(self, item: JudgeWork) -> MeteredBackend:
        meter = self.meters.get(item.backend)
        if meter is None:
            meter = MeteredBackend(get_backend(item.backend), self.clock)
            self.meters[item.backend] = meter
        return meter

    def _judge(self, item: JudgeWork) -> bool:
        """Judge one judge's pairs; False when the whole run must stop."""
        try:
            meter = self._meter(item)
        except BackendError as error:
            self._skip(item, 0, FailureNote(item.tag, None, "backend", str(error)))
            return True
        failures = unparsed = 0
        for index, pair in enumerate(item.pairs):
            if not self._may_start():
                if meter.warm_model == item.served_tag:
                    meter.unload(item.served_tag)
                return False
            last = index == len(item.pairs) - 1
            try:
                label = self._pair(meter, item, pair, last)
            except _Stopped:
                self.summary.stop_kind, self.summary.stop_message = self._stop_reason() or (
                    "signal",
                    "asked to stop",
                )
                if meter.warm_model == item.served_tag:
                    meter.unload(item.served_tag)
                return False
            except _Failed as failed:
                note = FailureNote(
                    item.tag, pair.prompt_id, failed.kind, failed.reason, failed.attempts
                )
                self.summary.failures.append(note)
                self.summary.unjudged += 1
                self._report(item, "failed")
                failures += 1
                left = len(item.pairs) - index - 1
                if failed.skip or failures >= int(self.config["JUDGE_MAX_FAILURES"]):
                    why = (
                        f"skipped the remaining {left} pairs: {failed.reason}"
                        if failed.skip
                        else f"skipped the remaining {left} pairs after {failures} failed pairs "
                        "in a row"
                    )
                    self._skip(item, left, FailureNote(item.tag, None, "skipped", why))
                    if meter.warm_model == item.served_tag:
                        meter.unload(item.served_tag)
                    return True
                continue
            failures = 0
            unparsed = unparsed + 1 if label == "unparsed" else 0
            self._report(item, label)
            left = len(item.pairs) - index - 1
            if unparsed >= int(self.config["JUDGE_MAX_UNPARSED"]) and left:
                why = (
                    f"skipped the remaining {left} pairs: no verdict [[A]], [[B]] or [[C]] in "
                    f"{unparsed} answers in a row (is it able to follow the judge prompt?)"
                )
                self._skip(item, left, FailureNote(item.tag, None, "unparsed", why))
                if meter.warm_model == item.served_tag:
                    meter.unload(item.served_tag)
                return True
        return True

    def _skip(self, item: JudgeWork, left: int, note: FailureNote) -> None:
        self.summary.failures.append(note)
        self.summary.unjudged += left
        self.total -= left

    def _pair(self, meter: MeteredBackend, item: JudgeWork, pair: Candidate, last: bool) -> str:
        """Judge one pair in both orders and store it whole; the summary's label."""
        texts = self._texts(pair)
        if texts is None:
            return "skipped"  # an answer or the prompt was deleted meanwhile
        ctx = self.options.num_ctx or 2048
        fitted = fit(self.prompt, *texts, ctx, self.options.num_predict)
        keep = self.config["BACKEND_KEEP_ALIVE"]
        first, first_ms = self._ask(meter, item, self._messages(fitted, False), keep)
        second, second_ms = self._ask(
            meter, item, self._messages(fitted, True), 0 if last else keep
        )
        verdict_ab, verdict_ba = parse_verdict(first.text), parse_verdict(second.text)
        result = combine(verdict_ab, verdict_ba)
        row = Judgement(
            judge_id=item.judge_id,
            prompt_id=pair.prompt_id,
            model_a_id=pair.model_a,
            model_b_id=pair.model_b,
            response_a_id=pair.response_a,
            response_b_id=pair.response_b,
            status=result.status,
            outcome=result.outcome,
            verdict_ab=verdict_ab,
            verdict_ba=verdict_ba,
            output_ab=first.text.replace("\x00", ""),
            output_ba=second.text.replace("\x00", ""),
            duration_ab_ms=first_ms,
            duration_ba_ms=second_ms,
            truncated=fitted.truncated,
            self_judged=pair.self_judged,
        )
        db.session.add(row)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return "duplicate"  # another process judged it meanwhile
        self.summary.count(item.tag, result.status, first, second)
        return result.status

    def _messages(self, fitted: Fitted, swapped: bool) -> list[dict[str, str]]:
        a, b = (fitted.answer_b, fitted.answer_a) if swapped else (fitted.answer_a, fitted.answer_b)
        return self.prompt.messages(fitted.question, a, b)

    def _texts(self, pair: Candidate) -> tuple[str, str, str] | None:
        question = db.session.scalar(select(Prompt.text).where(Prompt.id == pair.prompt_id))
        query = select(Response.id, Response.text).where(
            Response.id.in_((pair.response_a, pair.response_b))
        )
        rows = {response_id: text for response_id, text in db.session.execute(query)}
        if question is None or len(rows) != 2:
            return None
        return question, rows[pair.response_a], rows[pair.response_b]

    def _ask(
        self,
        meter: MeteredBackend,
        item: JudgeWork,
        messages: list[dict[str, str]],
        keep_alive: int | str | None,
    ) -> tuple[ChatResult, int]:
        """The judge's reply and its duration in milliseconds (the last attempt's)."""
        attempts = 0
        while True:
            attempts += 1
            started = self.clock.monotonic()
            try:
                result = meter.chat(item.served_tag, messages, self.options, keep_alive=keep_alive)
                return result, round(1000 * (self.clock.monotonic() - started))
            except BackendError as error:
                kind, retry, skip = failure_kind(error)
                if skip or not retry or attempts > self.retries:
                    raise _Failed(kind, str(error), skip, attempts) from None
                self.clock.sleep(self.backoff * 2 ** (attempts - 1))
                if self._stop_reason() is not None:
                    raise _Stopped from None

    def _report(self, item: JudgeWork, label: str) -> None:
        self.done += 1
        self.summary.attempted = self.done
        if self.progress is None:
            return
        elapsed = self.clock.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        self.progress(
            ProgressEvent(
                self.done,
                self.total,
                item.tag,
                "stored" if label == "counted" else label,
                self.summary.tokens_per_second(item.tag),
                eta,
                elapsed,
            )
        )
