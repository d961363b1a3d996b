"""Which two stored answers a voter sees next.

The pair of models comes from the rule of the ``MATCHMAKING`` setting. ``classic`` is the
policy of the original arena, made to work from stored answers: the first model is the one
with the fewest votes, the second is drawn with weight 1/(votes + 1) among the others,
leaving out the first model's last five opponents. ``active`` and ``uniform`` draw pairs from
the pure rules of :mod:`arena.ratings.matchmaking` (:mod:`arena.play.pairing`: the expected
gain in certainty of the cached leaderboard's win table, with an exploration share). Then a
prompt both have answered whose two answers are still blind to this voter
(:mod:`arena.play.blindness`: never an answer already served to them, never a model already
revealed to them on that prompt); a pair without one is passed over. A model never meets
itself. When no pair is blind any more, nothing is served.

This runs on every battle page view, so its statements are built once and reused (SQLAlchemy
then reuses their compiled form), the pool (models, their vote counters, the answers pairs of
models share) is cached for a few seconds, and the voter's history is one indexed query.
Vote counts are ``Model.vote_count``, a counter kept with each vote, and the ``active``
rule's win table is the cached leaderboard's: no page view, and no refresh of the cache,
counts the vote log.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import islice

import numpy as np
from flask import current_app
from sqlalchemy import Select, and_, bindparam, func, literal_column, select, union_all
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import BindParameter, ColumnClause

from arena.extensions import db
from arena.models import Model, Prompt, Response, Vote
from arena.play.blindness import History, blind_answer, voter_history
from arena.play.focus import FOCUS_SHARE, focus_pairs
from arena.play.pairing import WinTable, board_table, rule_weights, weighted_pairs

RECENT_OPPONENTS = 5
FIRST_MODEL_TRIES = 6
SECOND_MODEL_TRIES = 10
PAIR_TRIES = FIRST_MODEL_TRIES * SECOND_MODEL_TRIES
"""Pairs the ``active`` and ``uniform`` rules try before the last-resort search."""


@dataclass(frozen=True)
class Matchup:
    prompt_id: int
    first_response_id: int
    second_response_id: int


@dataclass(frozen=True)
class PoolSnapshot:
    """What matchmaking reads on every request, shared by requests for a few seconds.

    ``models`` are the enabled models with a usable answer; ``votes`` every enabled model's
    vote counter, bumped in place by :func:`note_vote` so this process's own votes count at
    once; ``pairs`` fills lazily with the prompts two models both answered (the voter's own
    history is always read fresh); ``rule`` is the ``MATCHMAKING`` setting, ``tags`` the
    enabled models' tags and ``table`` the cached leaderboard's wins (``active`` only);
    ``weights`` fills lazily with the rule's pair probabilities per set of models.
    """

    taken_at: float
    models: tuple[int, ...]
    votes: dict[int, int]
    pairs: dict[tuple[int, int], tuple[tuple[int, int, int], ...]] = field(default_factory=dict)
    recent: dict[int, deque[int]] = field(default_factory=dict)
    rule: str = "classic"
    tags: dict[int, str] = field(default_factory=dict)
    table: WinTable = field(default_factory=WinTable)
    weights: dict[tuple[int, ...], np.ndarray] = field(default_factory=dict)

    def recent_opponents(self, model_id: int) -> set[int]:
        """The model's last opponents (read once per snapshot, then kept up by note_vote)."""
        found = self.recent.get(model_id)
        if found is None:
            params = {"model": model_id, "n": RECENT_OPPONENTS}
            rows = db.session.connection().execute(_recent_statement(), params)
            newest_first = [b if a == model_id else a for a, b in rows]
            found = self.recent[model_id] = deque(reversed(newest_first), RECENT_OPPONENTS)
        return set(found)

    def shared_answers(self, x: int, y: int) -> tuple[tuple[int, int, int], ...]:
        """(prompt, answer of x, answer of y) for every shared prompt both answered."""
        found = self.pairs.get((x, y))
        if found is None:
            rows = db.session.connection().execute(_shared_answers_statement(), {"x": x, "y": y})
            found = self.pairs[(x, y)] = tuple((p, a, b) for p, a, b in rows)
        return found

    def pair_weights(self, models: tuple[int, ...]) -> np.ndarray:
        """The rule's pair probabilities over ``models`` (computed once per snapshot)."""
        found = self.weights.get(models)
        if found is None:
            found = self.weights[models] = rule_weights(
                self.rule, models, self.tags, self.votes, self.table
            )
        return found


def snapshot() -> PoolSnapshot:
    """The current snapshot, rebuilt after ``MATCHMAKING_CACHE_SECONDS`` in this process."""
    ttl = float(current_app.config.get("MATCHMAKING_CACHE_SECONDS", 10))
    cached: PoolSnapshot | None = current_app.extensions.get("arena_pool_snapshot")
    now = time.monotonic()
    if cached is not None and now - cached.taken_at < ttl:
        return cached
    rows = db.session.execute(_enabled_models_statement()).all()
    models = tuple(model_id for model_id, _, answered, _ in rows if answered)
    rule = str(current_app.config.get("MATCHMAKING", "classic"))
    fresh = PoolSnapshot(
        now,
        models,
        {model_id: votes for model_id, votes, _, _ in rows},
        rule=rule,
        tags={model_id: tag for model_id, _, _, tag in rows},
        table=board_table() if rule == "active" else WinTable(),
    )
    current_app.extensions["arena_pool_snapshot"] = fresh
    return fresh


def note_vote(model_a: int, model_b: int) -> None:
    """Count a vote just stored in the cached snapshot, before its next refresh."""
    cached: PoolSnapshot | None = current_app.extensions.get("arena_pool_snapshot")
    if cached is not None:
        for model in (model_a, model_b):
            cached.votes[model] = cached.votes.get(model, 0) + 1
        for model, opponent in ((model_a, model_b), (model_b, model_a)):
            if model in cached.recent:
                cached.recent[model].append(opponent)


def vote_counts() -> dict[int, int]:
    """Votes per enabled model id (both sides, flagged ones included), from the snapshot."""
    return snapshot().votes


def recent_opponents(model_id: int) -> set[int]:
    """The model's last five opponents, from the cached snapshot."""
    return snapshot().recent_opponents(model_id)


def choose_matchup(
    voter: str,
    *,
    prompt_id: int | None = None,
    rng: random.Random | None = None,
    focus: Sequence[int] = (),
) -> Matchup | None:
    """Two answers to one prompt, both still blind to this voter, or None when there is none.

    With ``prompt_id`` only that prompt is considered (a visitor's own); otherwise only
    prompts in the shared pool. With ``focus`` (the picker's "settle it", see
    :mod:`arena.play.focus`) the pair is one of focus models with probability ``FOCUS_SHARE``
    when one still has a blind battle, else the rule's as usual.
    """
    rng = rng or random.Random()
    pool = snapshot()
    if len(pool.models) < 2:
        return None
    history = voter_history(voter)
    if prompt_id is not None:
        return _own_prompt_matchup(pool, history, prompt_id, rng)
    if focus and rng.random() < FOCUS_SHARE:
        for first, second in focus_pairs(focus, pool.models, rng):
            found = _blind_choice(pool, history, first, second, rng)
            if found:
                return found
    for first, second in _preferred_pairs(pool, pool.models, rng):
        found = _blind_choice(pool, history, first, second, rng)
        if found:
            return found
    return _any_matchup(voter, pool.models)


def _preferred_pairs(
    pool: PoolSnapshot, models: Sequence[int], rng: random.Random
) -> Iterator[tuple[int, int]]:
    """(first, second) in the order the rule tries them, among ``models``."""
    if pool.rule != "classic":
        chosen = tuple(models)
        yield from islice(weighted_pairs(chosen, pool.pair_weights(chosen), rng), PAIR_TRIES)
        return
    models = _below_cap(pool, models)
    firsts = sorted(models, key=lambda m: (pool.votes.get(m, 0), rng.random()))
    for first in firsts[:FIRST_MODEL_TRIES]:
        for second in _second_models(first, models, pool.votes, rng)[:SECOND_MODEL_TRIES]:
            yield first, second


def _below_cap(pool: PoolSnapshot, models: Sequence[int]) -> Sequence[int]:
    """``models`` without those at ``BATTLE_CAP`` votes, unless fewer than two are left."""
    cap = current_app.config.get("BATTLE_CAP")
    below = [m for m in models if not cap or pool.votes.get(m, 0) < int(cap)]
    return below if len(below) >= 2 else models


def _blind_choice(
    pool: PoolSnapshot, history: History, first: int, second: int, rng: random.Random
) -> Matchup | None:
    """A random shared prompt of this pair whose two answers are both blind to the voter."""
    blind = [
        (prompt, a, b)
        for prompt, a, b in pool.shared_answers(first, second)
        if history.allows_pair(prompt, (a, first), (b, second))
    ]
    return Matchup(*rng.choice(blind)) if blind else None


def _own_prompt_matchup(
    pool: PoolSnapshot, history: History, prompt_id: int, rng: random.Random
) -> Matchup | None:
    """Two blind answers to this one prompt, the pair chosen by the same policy."""
    rows = db.session.connection().execute(_prompt_answers_statement(), {"prompt": prompt_id})
    candidates = set(pool.models)
    answers = {
        model: response
        for response, model in rows
        if model in candidates and history.allows(prompt_id, response, model)
    }
    if len(answers) < 2:
        return None
    pair = next(_preferred_pairs(pool, sorted(answers), rng), None)
    if pair is None:
        return None
    first, second = pair
    return Matchup(prompt_id, answers[first], answers[second])


def choose_model_pair(rng: random.Random | None = None) -> tuple[int, int] | None:
    """Two enabled models to answer a new prompt (a visitor's own), by the same policy."""
    rng = rng or random.Random()
    models = list(
        db.session.scalars(
            select(Model.id).where(Model.enabled.is_(True), Model.available.is_(True))
        )
    )
    if len(models) < 2:
        return None
    pool = snapshot()
    if pool.rule != "classic":
        return next(_preferred_pairs(pool, sorted(models), rng), None)
    counts = pool.votes
    models = list(_below_cap(pool, models))
    first = min(models, key=lambda m: (counts.get(m, 0), rng.random()))
    return first, _second_models(first, models, counts, rng)[0]


def _second_models(
    first: int, models: Sequence[int], counts: dict[int, int], rng: random.Random
) -> list[int]:
    """Opponents in the order to try: weighted by 1/(votes + 1), recent opponents last."""
    recent = recent_opponents(first)
    others = [m for m in models if m != first]
    fresh = [m for m in others if m not in recent]
    stale = [m for m in others if m in recent]
    return _weighted_order(fresh, counts, rng) + _weighted_order(stale, counts, rng)


def _weighted_order(items: list[int], counts: dict[int, int], rng: random.Random) -> list[int]:
    # Weighted sampling without replacement (Efraimidis-Spirakis): key = u^(1/w), largest first.
    keyed = [(rng.random() ** (counts.get(m, 0) + 1), m) for m in items]
    return [m for _, m in sorted(keyed, reverse=True)]


def _any_matchup(voter: str, models: tuple[int, ...]) -> Matchup | None:
    """Last resort when the preferred pairs have nothing blind left for this voter: any two
    blind answers to one shared prompt, by any two models (one query over the pool)."""
    params = {"voter": voter, "models": list(models)}
    row = db.session.execute(_any_blind_pair_statement(), params).first()
    return Matchup(row[0], row[1], row[2]) if row else None


# Statements, built once per process.

# A literal, so SQLite can use the partial unique index on usable answers.
_OK: ColumnClause[str] = literal_column("'ok'")


@cache
def _enabled_models_statement() -> Select[int, int, bool, str]:
    """Enabled models: id, vote counter, whether they have a usable answer, tag."""
    answered = select(Response.id).where(Response.model_id == Model.id, Response.status == _OK)
    return select(Model.id, Model.vote_count, answered.exists(), Model.tag).where(
        Model.enabled.is_(True)
    )


@cache
def _recent_statement() -> Select[int, int]:
    """The last ``:n`` votes naming ``:model`` on either side, each side from its index."""
    model: BindParameter[int] = bindparam("model")
    n: BindParameter[int] = bindparam("n")
    sides = union_all(
        select(Vote.id, Vote.model_a_id, Vote.model_b_id)
        .where(Vote.model_a_id == model)
        .order_by(Vote.id.desc())
        .limit(n)
        .subquery()
        .select(),
        select(Vote.id, Vote.model_a_id, Vote.model_b_id)
        .where(Vote.model_b_id == model)
        .order_by(Vote.id.desc())
        .limit(n)
        .subquery()
        .select(),
    ).subquery()
    return select(sides.c.model_a_id, sides.c.model_b_id).order_by(sides.c.id.desc()).limit(n)


@cache
def _shared_answers_statement() -> Select[int, int, int]:
    """Shared prompts answered by both ``:x`` and ``:y``, with both answers."""
    first, second = aliased(Response), aliased(Response)
    return (
        select(first.prompt_id, first.id, second.id)
        .join(second, and_(second.prompt_id == first.prompt_id, second.model_id == bindparam("y")))
        .join(Prompt, Prompt.id == first.prompt_id)
        .where(first.model_id == bindparam("x"), first.status == _OK, second.status == _OK)
        .where(Prompt.shared.is_(True), Prompt.showcase.is_(False))
        .order_by(first.prompt_id)
    )


@cache
def _prompt_answers_statement() -> Select[int, int]:
    """(answer, model) of every usable answer to ``:prompt``."""
    return select(Response.id, Response.model_id).where(
        Response.prompt_id == bindparam("prompt"), Response.status == _OK
    )


@cache
def _any_blind_pair_statement() -> Select[int, int, int]:
    """One random pair of answers to a shared prompt by two of ``:models`` (distinct), both
    blind to ``:voter``: the blind answers are found first, then paired."""
    voter: BindParameter[str] = bindparam("voter")
    answer = aliased(Response)
    blind = (
        select(answer.id, answer.prompt_id, answer.model_id)
        .join(Prompt, Prompt.id == answer.prompt_id)
        .where(
            answer.status == _OK,
            answer.model_id.in_(bindparam("models", expanding=True)),
            Prompt.shared.is_(True),
            Prompt.showcase.is_(False),  # kept out of battles (model pages show them)
            blind_answer(answer, voter),
        )
        .cte("blind")
    )
    first, second = blind.alias("first"), blind.alias("second")
    return (
        select(first.c.prompt_id, first.c.id, second.c.id)
        .join(
            second,
            and_(second.c.prompt_id == first.c.prompt_id, second.c.model_id > first.c.model_id),
        )
        .order_by(func.random())
        .limit(1)
    )
