"""The planner: which (prompt, model) answers are missing to keep the battle pool full.

Two targets, both ``POOL_TARGET``:

- every pair of working models (enabled, available, under the battle cap) has that many
  *fresh* battles: prompts both have answered whose two answers most active voters may
  still be shown (neither was shown to them nor revealed to them on that prompt);
- the least-supplied active voter has that many *blind* battles left
  (:mod:`arena.pregen.supply`): a voter meets each answer once and a prompt answered by k
  models gives them k // 2 battles, so voters run out long before pairs do.

Prompts are planned in slates (every working model answers them), prompts some models
already answered come first (so a newly added model first answers the existing slates and
enters battles at once), then new prompts, category by category. More prompts, not more
answers per (prompt, model): another seed of a model revealed on a prompt would still name it
(``scripts/bench/seed_similarity.py``), so it could never be shown blind. Under ``active``
matchmaking the pairs' targets and the models' order follow where the leaderboard is least
certain (:mod:`arena.pregen.certainty`). Showcase prompts never enter the pool; the answers
they lack follow the slate, within ``--prompts`` (:mod:`arena.pregen.showcase`).
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
from sqlalchemy import func, select, true, union_all

from arena.extensions import db
from arena.models import Model, Prompt, Response, Vote, utcnow
from arena.pregen.certainty import model_order, pair_priorities, pair_targets
from arena.pregen.showcase import missing_showcase
from arena.pregen.supply import BlindSupply, blind_supply
from arena.pregen.work import ModelWork as ModelWork  # re-exported
from arena.pregen.work import share_loads

#: A (prompt, model) with this many excluded answers (an identity leak, then another) is
#: given up: the planner asks for it no more.
GIVE_UP_AFTER_EXCLUDED = 2

Pair = tuple[int, int]  # model ids, smaller first


class PlanError(ValueError):
    """A plan that cannot be made as asked; the message says what to do."""


@dataclass
class Plan:
    """Work grouped by model, in the order it will run."""

    work: list[ModelWork]
    prompts: list[int] = field(default_factory=list)  # the slate, in the order chosen
    target: int = 0
    pairs: int = 0  # pairs of working models
    pairs_short: int = 0  # pairs below the target before this plan
    voter_short: int = 0  # blind battles the least-supplied active voter lacked before it
    capped: list[str] = field(default_factory=list)  # models over the battle cap
    targets: dict[Pair, int] = field(default_factory=dict)  # fresh battles each pair should have

    @property
    def total(self) -> int:
        return sum(len(item.prompt_ids) for item in self.work)

    def per_model(self) -> dict[str, int]:
        return {item.tag: len(item.prompt_ids) for item in self.work}


@dataclass
class PoolState:
    """What the pool holds now: answers, given-up answers and what active voters have seen."""

    categories: dict[int, str]  # shared prompt id -> category
    answered: dict[int, set[int]]  # prompt id -> models with a usable answer
    given_up: dict[int, set[int]]  # prompt id -> models that leaked twice on it
    active_voters: int
    supply: BlindSupply = field(default_factory=BlindSupply)

    def is_fresh(self, prompt_id: int, a: int, b: int) -> bool:
        """Whether most active voters may still be shown this pair's answers to this prompt
        (neither was shown to them, nor its model revealed to them there)."""
        voters = self.supply.lost(prompt_id, a, b)
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
    """Counted (not excluded) votes per model id, both sides: each model's vote counter less
    its flagged votes, read from the small partial index of flagged votes (never the log)."""
    totals = {model_id: n for model_id, n in db.session.execute(select(Model.id, Model.vote_count))}
    flagged = Vote.excluded == true()  # as the partial index ix_vote_excluded is written
    sides = union_all(
        select(Vote.model_a_id.label("model_id")).where(flagged),
        select(Vote.model_b_id.label("model_id")).where(flagged),
    ).subquery()
    rows = db.session.execute(select(sides.c.model_id, func.count()).group_by(sides.c.model_id))
    for model_id, count in rows:
        totals[model_id] = totals.get(model_id, 0) - count
    return {model_id: count for model_id, count in totals.items() if count}


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
    shared = db.session.execute(
        select(Prompt.id, Prompt.category).where(
            Prompt.shared.is_(True),
            Prompt.showcase.is_(False),  # showcase: never in battles
        )
    )
    categories = {prompt_id: category for prompt_id, category in shared}
    answered: dict[int, set[int]] = defaultdict(set)
    given_up: dict[int, set[int]] = defaultdict(set)
    answers: dict[int, tuple[int, int]] = {}  # usable answer -> (prompt, model)
    if model_ids:
        usable = db.session.execute(
            select(Response.id, Response.prompt_id, Response.model_id).where(
                Response.status == "ok", Response.model_id.in_(model_ids)
            )
        )
        for response_id, prompt_id, model_id in usable:
            if prompt_id in categories:
                answered[prompt_id].add(model_id)
                answers[response_id] = (prompt_id, model_id)
        leaked = db.session.execute(
            select(Response.prompt_id, Response.model_id)
            .where(Response.status == "excluded", Response.model_id.in_(model_ids))
            .group_by(Response.prompt_id, Response.model_id)
            .having(func.count() >= GIVE_UP_AFTER_EXCLUDED)
        )
        for prompt_id, model_id in leaked:
            given_up[prompt_id].add(model_id)
    since = (now or utcnow()) - timedelta(days=active_days)
    supply = blind_supply(answers, categories, since)
    return PoolState(categories, dict(answered), dict(given_up), supply.active_voters, supply)


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
    shares = pair_priorities(working, config)
    targets = pair_targets(list(sizes), target, shares)
    deficits = {p: max(0, targets[p] - fresh) for p, (_, fresh) in sizes.items()}
    short = sum(1 for d in deficits.values() if d > 0)
    least = state.supply.least
    voter_short = max(0, target - least) if least is not None and len(working) >= 2 else 0
    if rng is None:
        answers = sum(len(have) for have in state.answered.values())
        rng = random.Random(f"{len(state.categories)}:{answers}:{target}:{state.active_voters}")
    slate = _Slate(state, {m.id for m in working}, deficits, voter_short, n_prompts, rng).choose()
    selected = [m for m in model_order(working, shares) if not tags or m.tag in tags]
    room = None if n_prompts is None else n_prompts - len(slate)
    showcase, lacking = missing_showcase([m.id for m in selected], state.given_up, room)
    work = []
    for model in selected:
        missing = [
            p
            for p in slate
            if model.id not in state.answered.get(p, ())
            and model.id not in state.given_up.get(p, ())
        ] + lacking.get(model.id, [])
        if missing:
            work.append(ModelWork.of(model, missing))
    return Plan(
        share_loads(work),
        prompts=slate + showcase,
        target=target,
        pairs=len(sizes),
        pairs_short=short,
        voter_short=voter_short,
        capped=sorted(m.tag for m in models if m.id in capped),
        targets=targets,
    )


class _Slate:
    """Greedy choice of prompts: each chosen prompt is answered by every working model.

    A prompt is taken when it gives a pair short of fresh battles one more, or while the
    least-supplied active voter is short of blind battles: it then counts what the prompt
    adds for a voter who has seen none of it (an estimate; the next run corrects it).
    """

    def __init__(
        self,
        state: PoolState,
        working: set[int],
        deficits: dict[Pair, int],
        voter_short: int,
        limit: int | None,
        rng: random.Random,
    ) -> None:
        self.state = state
        self.working = working
        self.deficits = deficits
        self.voter_short = voter_short
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

    def _blind_gain(self, prompt_id: int) -> int:
        """Blind battles the prompt's missing answers add for a voter who has seen none."""
        have, todo = len(self._have(prompt_id)), len(self._todo(prompt_id))
        return (have + todo) // 2 - have // 2

    def _take_if_useful(self, prompt_id: int) -> bool:
        useful = [p for p in self._new_pairs(prompt_id) if self.deficits.get(p, 0) > 0]
        gain = self._blind_gain(prompt_id) if self.voter_short > 0 else 0
        if not useful and not gain:
            return False
        for p in useful:
            self.deficits[p] -= 1
        self.voter_short -= gain
        self.chosen.append(prompt_id)
        return True

    def _open(self) -> bool:
        full = self.limit is not None and len(self.chosen) >= self.limit
        short = self.voter_short > 0 or any(d > 0 for d in self.deficits.values())
        return not full and short

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
