"""Which pairs each judge judges, in which order.

Candidates are pairs of usable answers (``status='ok'``) of two different enabled contestants
to the same shared prompt, ``response_a`` being the lower model id's. A judge skips pairs it
has judged (a rerun resumes), and pairs holding its own answer unless ``JUDGE_ALLOW_SELF``.

Order: the pairs of models least certain on the leaderboard first. Each pair of models gets
its share of the expected gain of a battle on the cached default leaderboard
(:func:`arena.pregen.certainty.pair_gains`, the planner's notion); pairs of answers are taken
in a weighted round robin over the pairs of models (a pair of models with twice the share
gets four times as many judgements early, see SHARPNESS), counting what this judge judged
before, so a run cut short by its budget or ``--limit`` has spent its work where it teaches
most without starving any pair. Without a leaderboard every pair of models weighs the same.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from arena.extensions import db
from arena.models import Judge, Judgement, Model, Prompt, Response
from arena.pregen.certainty import pair_gains

#: A pair of models with no share of the gain still gets this weight (it is never starved).
MIN_WEIGHT = 0.1
#: Weights are the share relative to the mean raised to this power: a pair twice as uncertain
#: as the mean gets four times the judgements early on.
SHARPNESS = 2.0


@dataclass(frozen=True)
class Candidate:
    prompt_id: int
    model_a: int
    model_b: int
    response_a: int
    response_b: int
    self_judged: bool = False


@dataclass
class JudgeWork:
    judge_id: int
    model_id: int
    tag: str
    backend: str
    pairs: list[Candidate] = field(default_factory=list)
    excluded_self: int = 0  # pairs left out because they hold the judge's own answer
    seconds_per_pair: float | None = None  # from its earlier judgements (both orders)
    served: str | None = None  # the backend's model when the judge is a contestant variant

    @property
    def served_tag(self) -> str:
        """What is sent to the backend."""
        return self.served or self.tag


@dataclass
class JudgePlan:
    work: list[JudgeWork]
    candidates: int  # pairs of answers that any judge could judge

    @property
    def total(self) -> int:
        return sum(len(item.pairs) for item in self.work)

    def per_judge(self) -> dict[str, int]:
        return {item.tag: len(item.pairs) for item in self.work}


def candidate_pairs() -> list[Candidate]:
    """Every pair of usable answers of two enabled contestants to one shared prompt."""
    ra, rb = aliased(Response), aliased(Response)
    ma, mb = aliased(Model), aliased(Model)
    query = (
        select(ra.prompt_id, ra.model_id, rb.model_id, ra.id, rb.id)
        .join(rb, (rb.prompt_id == ra.prompt_id) & (rb.model_id > ra.model_id))
        .join(ma, ma.id == ra.model_id)
        .join(mb, mb.id == rb.model_id)
        .join(Prompt, Prompt.id == ra.prompt_id)
        .where(ra.status == "ok", rb.status == "ok")
        .where(ma.enabled.is_(True), mb.enabled.is_(True), Prompt.shared.is_(True))
        .order_by(ra.prompt_id, ra.model_id, rb.model_id)
    )
    return [Candidate(*row) for row in db.session.execute(query)]


def model_weights() -> dict[tuple[int, int], float]:
    """Each pair of enabled models' weight: its share of the gain times the number of pairs
    (1 on average) to the power SHARPNESS, at least MIN_WEIGHT; {} without a leaderboard."""
    models = list(db.session.scalars(select(Model).where(Model.enabled.is_(True))))
    shares = pair_gains(models)
    if not shares:
        return {}
    n = len(shares)
    return {pair: max(MIN_WEIGHT, (share * n) ** SHARPNESS) for pair, share in shares.items()}


def order_pairs(
    pairs: Sequence[Candidate],
    weights: Mapping[tuple[int, int], float],
    judged_before: Mapping[tuple[int, int], int],
) -> list[Candidate]:
    """``pairs`` in a weighted round robin over their pairs of models (see the module)."""
    seen: dict[tuple[int, int], int] = defaultdict(int)
    keyed = []
    for pair in pairs:
        models = (pair.model_a, pair.model_b)
        rank = judged_before.get(models, 0) + seen[models]
        seen[models] += 1
        weight = weights.get(models, 1.0)
        keyed.append(((rank + 0.5) / weight, -weight, pair.prompt_id, models, pair))
    keyed.sort(key=lambda item: item[:4])
    return [item[-1] for item in keyed]


def plan_judging(
    judges: Sequence[Judge], config: Mapping[str, Any], limit: int | None = None
) -> JudgePlan:
    """Each judge's pairs still to judge, least certain first, at most ``limit`` each."""
    candidates = candidate_pairs()
    weights = model_weights() if candidates else {}
    allow_self = bool(config.get("JUDGE_ALLOW_SELF"))
    work = []
    for judge in judges:
        judged = select(Judgement.response_a_id, Judgement.response_b_id).where(
            Judgement.judge_id == judge.id
        )
        done = {(a, b) for a, b in db.session.execute(judged)}
        before: dict[tuple[int, int], int] = defaultdict(int)
        for model_a, model_b, count in db.session.execute(
            select(Judgement.model_a_id, Judgement.model_b_id, func.count())
            .where(Judgement.judge_id == judge.id)
            .group_by(Judgement.model_a_id, Judgement.model_b_id)
        ):
            before[(model_a, model_b)] = int(count)
        item = JudgeWork(judge.id, judge.model_id, judge.model.tag, judge.model.backend)
        item.served = judge.model.backend_tag
        todo = []
        for pair in candidates:
            if (pair.response_a, pair.response_b) in done:
                continue
            own = judge.model_id in (pair.model_a, pair.model_b)
            if own and not allow_self:
                item.excluded_self += 1
                continue
            todo.append(
                Candidate(
                    pair.prompt_id,
                    pair.model_a,
                    pair.model_b,
                    pair.response_a,
                    pair.response_b,
                    own,
                )
            )
        ordered = order_pairs(todo, weights, before)
        item.pairs = ordered[:limit] if limit is not None else ordered
        item.seconds_per_pair = _seconds_per_pair(judge.id)
        work.append(item)
    return JudgePlan(work, len(candidates))


def _seconds_per_pair(judge_id: int) -> float | None:
    """The median time of this judge's last 50 judgements (both orders), if any."""
    rows = db.session.execute(
        select(Judgement.duration_ab_ms, Judgement.duration_ba_ms)
        .where(Judgement.judge_id == judge_id)
        .order_by(Judgement.id.desc())
        .limit(50)
    ).all()
    times = [(ab or 0) + (ba or 0) for ab, ba in rows if ab is not None and ba is not None]
    return median(times) / 1000 if times else None
