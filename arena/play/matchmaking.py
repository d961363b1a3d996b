"""Which two stored answers a voter sees next.

The policy of the original arena, made to work from stored answers: the first model is the
one with the fewest votes, the second is drawn with weight 1/(votes + 1) among the others,
leaving out the first model's last five opponents; then a prompt both have answered that
this voter has not yet judged for this pair. A model never meets itself.

This runs on every battle page view, so its statements are built once and reused (SQLAlchemy
then reuses their compiled form), and the per-model vote counts are cached for a few seconds.
"""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass, field
from functools import cache

from flask import current_app
from sqlalchemy import (
    Connection,
    Select,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import BindParameter, ColumnClause

from arena.extensions import db
from arena.models import Model, Prompt, Response, Vote

RECENT_OPPONENTS = 5
FIRST_MODEL_TRIES = 6
SECOND_MODEL_TRIES = 10


@dataclass(frozen=True)
class Matchup:
    prompt_id: int
    first_response_id: int
    second_response_id: int


@dataclass(frozen=True)
class PoolSnapshot:
    """What matchmaking reads on every request, shared by requests for a few seconds.

    ``votes`` is bumped in place by :func:`note_vote` so this process's own votes count at
    once; ``pairs`` fills lazily with the prompts two models both answered (the voter's own
    history is always read fresh).
    """

    taken_at: float
    models: tuple[int, ...]
    votes: dict[int, int]
    pairs: dict[tuple[int, int], tuple[tuple[int, int, int], ...]] = field(default_factory=dict)
    recent: dict[int, deque[int]] = field(default_factory=dict)

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


def snapshot() -> PoolSnapshot:
    """The current snapshot, rebuilt after ``MATCHMAKING_CACHE_SECONDS`` in this process."""
    ttl = float(current_app.config.get("MATCHMAKING_CACHE_SECONDS", 10))
    cached: PoolSnapshot | None = current_app.extensions.get("arena_pool_snapshot")
    now = time.monotonic()
    if cached is not None and now - cached.taken_at < ttl:
        return cached
    models = tuple(db.session.scalars(_candidate_models_statement()))
    votes = {m: n for m, n in db.session.execute(_vote_counts_statement())}
    fresh = PoolSnapshot(now, models, votes)
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
    """Votes per model id (both sides), from the cached snapshot."""
    return snapshot().votes


def recent_opponents(model_id: int) -> set[int]:
    """The model's last five opponents, from the cached snapshot."""
    return snapshot().recent_opponents(model_id)


def choose_matchup(
    voter: str, *, prompt_id: int | None = None, rng: random.Random | None = None
) -> Matchup | None:
    """A pair of stored answers to one prompt for this voter, or None when there is none.

    With ``prompt_id`` only that prompt is considered (a visitor's own prompt); otherwise only
    prompts in the shared pool.
    """
    rng = rng or random.Random()
    pool = snapshot()
    if len(pool.models) < 2:
        return None
    firsts = sorted(pool.models, key=lambda m: (pool.votes.get(m, 0), rng.random()))
    connection = db.session.connection()
    for first in firsts[:FIRST_MODEL_TRIES]:
        for second in _second_models(first, pool.models, pool.votes, rng)[:SECOND_MODEL_TRIES]:
            if prompt_id is not None:
                params = {"voter": voter, "x": first, "y": second, "prompt": prompt_id}
                row = connection.execute(_pair_statement(True), params).first()
                if row:
                    return Matchup(row[0], row[1], row[2])
                continue
            found = _unjudged_choice(connection, pool, voter, first, second, rng)
            if found:
                return found
    return _any_matchup(voter, pool.models, prompt_id)


def _unjudged_choice(
    connection: Connection,
    pool: PoolSnapshot,
    voter: str,
    first: int,
    second: int,
    rng: random.Random,
) -> Matchup | None:
    answers = pool.shared_answers(first, second)
    if not answers:
        return None
    params = {"voter": voter, "x": first, "y": second}
    judged = set(connection.execute(_judged_statement(), params).scalars())
    fresh = [row for row in answers if row[0] not in judged]
    return Matchup(*rng.choice(fresh)) if fresh else None


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
    counts = vote_counts()
    first = min(models, key=lambda m: (counts.get(m, 0), rng.random()))
    return first, _second_models(first, models, counts, rng)[0]


def _second_models(
    first: int, models: tuple[int, ...] | list[int], counts: dict[int, int], rng: random.Random
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


def _any_matchup(voter: str, models: tuple[int, ...], prompt_id: int | None) -> Matchup | None:
    """Last resort when the preferred pairs are exhausted for this voter: any pair at all."""
    query, first, second = _pairs_query(prompt_id is not None)
    query = query.where(
        first.model_id < second.model_id, first.model_id.in_(models), second.model_id.in_(models)
    )
    params = {"voter": voter, "prompt": prompt_id}
    row = db.session.execute(query.order_by(func.random()).limit(1), params).first()
    return Matchup(row[0], row[1], row[2]) if row else None


# Statements, built once per process.


@cache
def _candidate_models_statement() -> Select[int]:
    """Enabled models with at least one usable answer."""
    answered = select(Response.id).where(Response.model_id == Model.id, Response.status == "ok")
    return select(Model.id).where(Model.enabled.is_(True), answered.exists())


@cache
def _vote_counts_statement() -> Select[int, int]:
    sides = union_all(
        select(Vote.model_a_id.label("model_id")), select(Vote.model_b_id.label("model_id"))
    ).subquery()
    return select(sides.c.model_id, func.count()).group_by(sides.c.model_id)


@cache
def _recent_statement() -> Select[int, int]:
    model: BindParameter[int] = bindparam("model")
    return (
        select(Vote.model_a_id, Vote.model_b_id)
        .where(or_(Vote.model_a_id == model, Vote.model_b_id == model))
        .order_by(Vote.id.desc())
        .limit(bindparam("n"))
    )


@cache
def _pairs_query(one_prompt: bool) -> tuple[Select[int, int, int], type[Response], type[Response]]:
    """Answer pairs to the same prompt that ``:voter`` has not judged, in either order."""
    first, second = aliased(Response), aliased(Response)
    judged = (
        select(Vote.id)
        .where(
            Vote.voter == bindparam("voter"),
            Vote.prompt_id == first.prompt_id,
            or_(
                and_(Vote.model_a_id == first.model_id, Vote.model_b_id == second.model_id),
                and_(Vote.model_a_id == second.model_id, Vote.model_b_id == first.model_id),
            ),
        )
        .exists()
    )
    ok: ColumnClause[str] = literal_column(
        "'ok'"
    )  # a literal, so SQLite can use the partial unique index
    query = (
        select(first.prompt_id, first.id, second.id)
        .join(second, and_(second.prompt_id == first.prompt_id, second.status == ok))
        .where(first.status == ok, first.model_id != second.model_id, ~judged)
    )
    if one_prompt:
        query = query.where(first.prompt_id == bindparam("prompt"))
    else:
        query = query.join(Prompt, Prompt.id == first.prompt_id).where(Prompt.shared.is_(True))
    return query, first, second


@cache
def _shared_answers_statement() -> Select[int, int, int]:
    """Shared prompts answered by both ``:x`` and ``:y``, with both answers."""
    first, second = aliased(Response), aliased(Response)
    ok: ColumnClause[str] = literal_column("'ok'")
    return (
        select(first.prompt_id, first.id, second.id)
        .join(second, and_(second.prompt_id == first.prompt_id, second.model_id == bindparam("y")))
        .join(Prompt, Prompt.id == first.prompt_id)
        .where(first.model_id == bindparam("x"), first.status == ok, second.status == ok)
        .where(Prompt.shared.is_(True))
        .order_by(first.prompt_id)
    )


@cache
def _judged_statement() -> Select[int | None]:
    """Prompts on which ``:voter`` already judged the pair ``:x``, ``:y`` (either order)."""
    x: BindParameter[int] = bindparam("x")
    y: BindParameter[int] = bindparam("y")
    return select(Vote.prompt_id).where(
        Vote.voter == bindparam("voter"),
        or_(
            and_(Vote.model_a_id == x, Vote.model_b_id == y),
            and_(Vote.model_a_id == y, Vote.model_b_id == x),
        ),
    )


@cache
def _pair_statement(one_prompt: bool) -> Select[int, int, int]:
    """One random unjudged prompt answered by both ``:x`` and ``:y``."""
    query, first, second = _pairs_query(one_prompt)
    return (
        query.where(first.model_id == bindparam("x"), second.model_id == bindparam("y"))
        .order_by(func.random())
        .limit(1)
    )
