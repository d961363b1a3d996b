"""How long answers take: each model's measured speed, and estimates for a plan or an ETA.

An answer costs ``tokens / tokens_per_second`` plus the model's usual prompt-processing time;
a run pays one load per model on top. Speeds come from the stored answers' timing stats and
are refined with each answer of the current run.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select

from arena.extensions import db
from arena.models import Response

#: Tokens per answer assumed before any answer was measured.
DEFAULT_ANSWER_TOKENS = 300


@dataclass
class ModelSpeed:
    """Running totals of one model's measured answers (durations in seconds)."""

    answers: int = 0
    tokens: int = 0
    eval_seconds: float = 0.0
    other_seconds: float = 0.0  # prompt processing and the rest, loads left out
    load_seconds: float = 0.0  # the longest load seen

    @property
    def tokens_per_second(self) -> float | None:
        return self.tokens / self.eval_seconds if self.tokens and self.eval_seconds > 0 else None

    @property
    def mean_tokens(self) -> float | None:
        return self.tokens / self.answers if self.answers else None

    def add(
        self,
        eval_count: int | None,
        eval_ns: int | None,
        total_ns: int | None,
        load_ns: int | None,
    ) -> None:
        if not eval_count or not eval_ns:
            return
        self.answers += 1
        self.tokens += eval_count
        self.eval_seconds += eval_ns / 1e9
        load = (load_ns or 0) / 1e9
        self.other_seconds += max(0.0, (total_ns or 0) / 1e9 - eval_ns / 1e9 - load)
        self.load_seconds = max(self.load_seconds, load)


@dataclass(frozen=True)
class ModelEstimate:
    tag: str
    answers: int
    tokens_per_second: float | None  # measured; None when the model has no answer yet
    seconds: float | None  # None when nothing at all has been measured
    guessed: bool  # the speed is the other models' median, not this model's own


@dataclass(frozen=True)
class PlanEstimate:
    models: list[ModelEstimate]

    @property
    def seconds(self) -> float | None:
        known = [m.seconds for m in self.models if m.seconds is not None]
        return sum(known) if known else None

    @property
    def complete(self) -> bool:
        return all(m.seconds is not None for m in self.models)


class Estimator:
    """Per-model speeds, from the database and then from this run's answers."""

    def __init__(self, speeds: dict[int, ModelSpeed]) -> None:
        self.speeds = speeds

    @classmethod
    def from_database(cls, model_ids: Iterable[int]) -> Estimator:
        ids = list(model_ids)
        speeds = {model_id: ModelSpeed() for model_id in ids}
        if ids:
            load = func.coalesce(Response.load_duration, 0)
            rows = db.session.execute(
                select(
                    Response.model_id,
                    func.count(),
                    func.sum(Response.eval_count),
                    func.sum(Response.eval_duration),
                    func.sum(Response.total_duration - Response.eval_duration - load),
                    func.max(load),
                )
                .where(Response.model_id.in_(ids), Response.eval_duration > 0)
                .where(Response.eval_count > 0, Response.total_duration.is_not(None))
                .group_by(Response.model_id)
            )
            for model_id, count, tokens, eval_ns, other_ns, load_ns in rows:
                speeds[model_id] = ModelSpeed(
                    answers=int(count),
                    # Never None: every group has rows with eval_count and eval_duration > 0.
                    tokens=int(tokens or 0),
                    eval_seconds=int(eval_ns or 0) / 1e9,
                    other_seconds=max(0, int(other_ns or 0)) / 1e9,
                    load_seconds=int(load_ns or 0) / 1e9,
                )
        return cls(speeds)

    def observe(
        self,
        model_id: int,
        eval_count: int | None,
        eval_ns: int | None,
        total_ns: int | None,
        load_ns: int | None,
    ) -> None:
        self.speeds.setdefault(model_id, ModelSpeed()).add(eval_count, eval_ns, total_ns, load_ns)

    def _fleet(self) -> tuple[float | None, float | None]:
        """The median speed and the mean answer length over the models measured."""
        rates = [s.tokens_per_second for s in self.speeds.values() if s.tokens_per_second]
        answers = sum(s.answers for s in self.speeds.values())
        tokens = sum(s.tokens for s in self.speeds.values())
        return (statistics.median(rates) if rates else None), (
            tokens / answers if answers else None
        )

    def per_answer(self, model_id: int) -> tuple[float | None, bool]:
        """Seconds per answer of this model (None: unknown), and whether it is guessed."""
        speed = self.speeds.get(model_id) or ModelSpeed()
        fleet_rate, fleet_tokens = self._fleet()
        rate = speed.tokens_per_second or fleet_rate
        if rate is None:
            return None, True
        tokens = speed.mean_tokens or fleet_tokens or DEFAULT_ANSWER_TOKENS
        other = speed.other_seconds / speed.answers if speed.answers else 0.0
        return tokens / rate + other, speed.tokens_per_second is None

    def seconds(self, model_id: int, answers: int, with_load: bool = True) -> float | None:
        each, _ = self.per_answer(model_id)
        if each is None:
            return None
        speed = self.speeds.get(model_id)
        load = speed.load_seconds if speed and with_load else 0.0
        return answers * each + (load if answers else 0.0)

    def estimate(self, work: Iterable[tuple[int, str, int]]) -> PlanEstimate:
        """For (model id, tag, answers) items: the time each model's share should take."""
        models = []
        for model_id, tag, answers in work:
            _, guessed = self.per_answer(model_id)
            speed = self.speeds.get(model_id)
            rate = speed.tokens_per_second if speed else None
            models.append(
                ModelEstimate(tag, answers, rate, self.seconds(model_id, answers), guessed)
            )
        return PlanEstimate(models)
