"""The planner: which (prompt, model) answers are missing to keep the battle pool full.

Every pair of working models (enabled, available, under the battle cap) should have at least
``POOL_TARGET`` *fresh* battles: prompts both have answered that most active voters have not
yet judged for that pair. Prompts are planned in slates (every working model answers them),
prompts some models already answered come first (so a newly added model first answers the
existing slates and enters battles at once), then new prompts, category by category.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, union_all

from arena.extensions import db
from arena.models import Model, Prompt, Response, Vote, utcnow

#: A (prompt, model) with this many excluded answers (an identity leak, then another) is
#: given up: the planner asks for it no more.
GIVE_UP_AFTER_EXCLUDED = 2

Pair = tuple[int, int]  # model ids, smaller first


class PlanError(ValueError):
    """A plan that cannot be made as asked; the message says what to do."""


@dataclass
class ModelWork:
    """The prompts one model answers in a run, in order."""

    model_id: int
    tag: str
    prompt_ids: list[int]
    family: str | None = None
    backend: str = "ollama"  # the name of the backend that serves it (Model.backend)


@dataclass
class Plan:
    """Work grouped by model, in the order it will run."""

    work: list[ModelWork]
    prompts: list[int] = field(default_factory=list)  # the slate, in the order chosen
    target: int = 0
    pairs: int = 0  # pairs of working models
    pairs_short: int = 0  # pairs below the target before this plan
    capped: list[str] = field(default_factory=list)  # models over the battle cap

    @property
    def total(self) -> int:
        return sum(len(item.prompt_ids) for item in self.work)

    def per_model(self) -> dict[str, int]:
        return {item.tag: len(item.prompt_ids) for item in self.work}


@dataclass
class PoolState:
    """What the pool holds now: answers, given-up answers and who judged what."""

    categories: dict[int, str]  # shared prompt id -> category
    answered: dict[int, set[int]]  # prompt id -> models with a usable answer
    given_up: dict[int, set[int]]  # prompt id -> models that leaked twice on it
    judged: dict[tuple[int, int, int], int]  # (prompt, model, model) -> active voters
    active_voters: int

    def is_fresh(self, prompt_id: int, a: int, b: int) -> bool:
        """Whether most active voters have not judged this prompt for this pair."""
        voters = self.judged.get((prompt_id, min(a, b), max(a, b)), 0)
        return voters == 0 or 2 * voters < self.active_voters


def pair(a: int, b: int) -> Pair:
    return (a, b) if a < b else (b, a)


def pairs_of(models: Iterable[int]) -> list[Pair]:
    return [pair(a, b) for a, b in itertools.combinations(sorted(models), 2)]


def enabled_models() -> list[Model]:
    """Enabled models the backend still lists, smallest first."""
    query = (
        select(Model)
        .where(Model.enabled.is_(True), Model.available.is_(True))
        .order_by(Model.params_b.is_(None), Model.params_b, Model.tag)
    )
    return list(db.session.scalars(query))


def vote_totals() -> dict[int, int]:
    """Counted (not excluded) votes per model id, both sides."""
    sides = union_all(
        select(Vote.model_a_id.label("model_id")).where(Vote.excluded.is_(False)),
        select(Vote.model_b_id.label("model_id")).where(Vote.excluded.is_(False)),
    ).subquery()
    rows = db.session.execute(select(sides.c.model_id, func.count()).group_by(sides.c.model_id))
    return {model_id: count for model_id, count in rows}


def capped_models(models: Sequence[Model], cap: int | None) -> set[int]:
    """Models that reached the battle cap (none when the cap is off)."""
    if not cap:
        return set()
    votes = vote_totals()
    return {m.id for m in models if votes.get(m.id, 0) >= int(cap)}


def load_pool_state(
    model_ids: Sequence[int], *, active_days: float, now: datetime | None = None
) -> PoolState:
    """Read the shared pool for these models from the database."""
    shared = db.session.execute(select(Prompt.id, Prompt.category).where(Prompt.shared.is_(True)))
    categories = {prompt_id: category for prompt_id, category in shared}
    answered: dict[int, set[int]] = defaultdict(set)
    given_up: dict[int, set[int]] = defaultdict(set)
    if model_ids:
        usable = db.session.execute(
            select(Response.prompt_id, Response.model_id).where(
                Response.status == "ok", Response.model_id.in_(model_ids)
            )
        )
        for prompt_id, model_id in usable:
            if prompt_id in categories:
                answered[prompt_id].add(model_id)
        leaked = db.session.execute(
            select(Response.prompt_id, Response.model_id)
            .where(Response.status == "excluded", Response.model_id.in_(model_ids))
            .group_by(Response.prompt_id, Response.model_id)
            .having(func.count() >= GIVE_UP_AFTER_EXCLUDED)
        )
        for prompt_id, model_id in leaked:
            given_up[prompt_id].add(model_id)
    since = (now or utcnow()) - timedelta(days=active_days)
    recent = (Vote.created_at >= since, Vote.voter.is_not(None))
    active = db.session.scalar(select(func.count(func.distinct(Vote.voter))).where(*recent))
    judged: dict[tuple[int, int, int], int] = defaultdict(int)
    judgements = db.session.execute(
        select(Vote.prompt_id, Vote.model_a_id, Vote.model_b_id, func.count(Vote.voter.distinct()))
        .where(*recent, Vote.prompt_id.is_not(None))
        .group_by(Vote.prompt_id, Vote.model_a_id, Vote.model_b_id)
    )
    for voted_prompt, a, b, voters in judgements:
        if voted_prompt is not None:  # always (the query leaves out votes without a prompt)
            judged[(voted_prompt, *pair(a, b))] += voters
    return PoolState(categories, dict(answered), dict(given_up), dict(judged), active or 0)


def pool_sizes(state: PoolState, model_ids: Iterable[int]) -> dict[Pair, tuple[int, int]]:
    """(battles, fresh battles) per pair of these models."""
    models = set(model_ids)
    sizes = {p: [0, 0] for p in pairs_of(models)}
    for prompt_id, have in state.answered.items():
        for a, b in pairs_of(have & models):
            sizes[(a, b)][0] += 1
            sizes[(a, b)][1] += state.is_fresh(prompt_id, a, b)
    return {p: (total, fresh) for p, (total, fresh) in sizes.items()}


def plan_batch(
    n_prompts: int | None = None,
    tags: Sequence[str] | None = None,
    rng: random.Random | None = None,
    *,
    config: Mapping[str, Any] | None = None,
) -> Plan:
    """The missing answers that bring every pair up to the pool target, grouped by model.

    ``n_prompts`` caps the prompts in this plan; ``tags`` limits the work to those models
    (the slates are still chosen for all working models, which answer them in later runs).
    The plan is deterministic for a given database state unless ``rng`` is given, so a dry
    run shows exactly what the real run does.
    """
    config = config if config is not None else current_app.config
    target = int(config.get("POOL_TARGET", 20))
    models = enabled_models()
    if tags:
        unknown = set(tags) - {m.tag for m in models}
        if unknown:
            raise PlanError(
                f"not enabled or not registered: {', '.join(sorted(unknown))} "
                "(see `flask --app arena models list`)"
            )
    capped = capped_models(models, config.get("BATTLE_CAP"))
    working = [m for m in models if m.id not in capped]
    state = load_pool_state(
        [m.id for m in working], active_days=float(config.get("POOL_ACTIVE_VOTER_DAYS", 30))
    )
    sizes = pool_sizes(state, [m.id for m in working])
    deficits = {p: max(0, target - fresh) for p, (_, fresh) in sizes.items()}
    short = sum(1 for d in deficits.values() if d > 0)
    if rng is None:
        answers = sum(len(have) for have in state.answered.values())
        rng = random.Random(f"{len(state.categories)}:{answers}:{target}:{state.active_voters}")
    slate = _Slate(state, {m.id for m in working}, deficits, n_prompts, rng).choose()
    selected = [m for m in working if not tags or m.tag in tags]
    work = []
    for model in selected:
        missing = [
            p
            for p in slate
            if model.id not in state.answered.get(p, ())
            and model.id not in state.given_up.get(p, ())
        ]
        if missing:
            work.append(ModelWork(model.id, model.tag, missing, model.family, model.backend))
    return Plan(
        work,
        prompts=slate,
        target=target,
        pairs=len(sizes),
        pairs_short=short,
        capped=sorted(m.tag for m in models if m.id in capped),
    )


class _Slate:
    """Greedy choice of prompts: each chosen prompt is answered by every working model."""

    def __init__(
        self,
        state: PoolState,
        working: set[int],
        deficits: dict[Pair, int],
        limit: int | None,
        rng: random.Random,
    ) -> None:
        self.state = state
        self.working = working
        self.deficits = deficits
        self.limit = limit
        self.rng = rng
        self.chosen: list[int] = []

    def _have(self, prompt_id: int) -> set[int]:
        return self.state.answered.get(prompt_id, set()) & self.working

    def _todo(self, prompt_id: int) -> set[int]:
        return self.working - self._have(prompt_id) - self.state.given_up.get(prompt_id, set())

    def _new_pairs(self, prompt_id: int) -> list[Pair]:
        have = self._have(prompt_id)
        will = have | self._todo(prompt_id)
        return [
            (a, b)
            for a, b in pairs_of(will)
            if not (a in have and b in have) and self.state.is_fresh(prompt_id, a, b)
        ]

    def _take_if_useful(self, prompt_id: int) -> bool:
        useful = [p for p in self._new_pairs(prompt_id) if self.deficits.get(p, 0) > 0]
        if not useful:
            return False
        for p in useful:
            self.deficits[p] -= 1
        self.chosen.append(prompt_id)
        return True

    def _open(self) -> bool:
        full = self.limit is not None and len(self.chosen) >= self.limit
        return not full and any(d > 0 for d in self.deficits.values())

    def choose(self) -> list[int]:
        if not self._open():
            return []
        categories = self.state.categories
        prompts = sorted(categories)
        # 1. Prompts some working models answered: the most complete first (cheapest to
        # finish; a new model thus answers the existing slates), categories interleaved.
        partial = [p for p in prompts if self._have(p) and self._todo(p)]
        by_done: dict[int, list[int]] = defaultdict(list)
        for p in partial:
            by_done[len(self._have(p))].append(p)
        for done in sorted(by_done, reverse=True):
            for p in self._interleave(by_done[done]):
                if not self._open():
                    return self.chosen
                self._take_if_useful(p)
        # 2. New prompts, always from the category least represented in the pool so far.
        in_pool = Counter(categories[p] for p in prompts if len(self._have(p)) >= 2)
        in_pool.update(categories[p] for p in self.chosen)
        fresh: dict[str, list[int]] = defaultdict(list)
        for p in prompts:
            if not self._have(p) and len(self._todo(p)) >= 2:
                fresh[categories[p]].append(p)
        for ids in fresh.values():
            self.rng.shuffle(ids)
        order = {c: i for i, c in enumerate(self.rng.sample(sorted(fresh), len(fresh)))}
        while fresh and self._open():
            category = min(fresh, key=lambda c: (in_pool[c], order[c]))
            p = fresh[category].pop()
            if not fresh[category]:
                del fresh[category]
            if self._take_if_useful(p):
                in_pool[category] += 1
        return self.chosen

    def _interleave(self, prompt_ids: list[int]) -> list[int]:
        """Round-robin over categories (shuffled), so no category crowds out the others."""
        groups: dict[str, list[int]] = defaultdict(list)
        for p in prompt_ids:
            groups[self.state.categories[p]].append(p)
        for ids in groups.values():
            self.rng.shuffle(ids)
        names = self.rng.sample(sorted(groups), len(groups))
        return [
            p
            for row in itertools.zip_longest(*(groups[n] for n in names))
            for p in row
            if p is not None
        ]
