"""Which two stored answers a voter sees next.

The policy of the original arena, made to work from stored answers: the first model is the
one with the fewest votes, the second is drawn with weight 1/(votes + 1) among the others,
leaving out the first model's last five opponents; then a prompt both have answered that
this voter has not yet judged for this pair. A model never meets itself.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import and_, func, or_, select, union_all
from sqlalchemy.orm import aliased

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


def vote_counts() -> dict[int, int]:
    """Votes per model id (both sides), cached for ``MATCHMAKING_CACHE_SECONDS`` per process."""
    ttl = float(current_app.config.get("MATCHMAKING_CACHE_SECONDS", 10))
    cached = current_app.extensions.get("arena_vote_counts")
    now = time.monotonic()
    if cached and now - cached[0] < ttl:
        return cached[1]
    sides = union_all(
        select(Vote.model_a_id.label("model_id")), select(Vote.model_b_id.label("model_id"))
    ).subquery()
    rows = db.session.execute(select(sides.c.model_id, func.count()).group_by(sides.c.model_id))
    counts = {model_id: count for model_id, count in rows}
    current_app.extensions["arena_vote_counts"] = (now, counts)
    return counts


def recent_opponents(model_id: int, n: int = RECENT_OPPONENTS) -> set[int]:
    rows = db.session.execute(
        select(Vote.model_a_id, Vote.model_b_id)
        .where(or_(Vote.model_a_id == model_id, Vote.model_b_id == model_id))
        .order_by(Vote.id.desc())
        .limit(n)
    )
    return {b if a == model_id else a for a, b in rows}


def candidate_models() -> list[int]:
    """Enabled models with at least one usable answer."""
    query = (
        select(Model.id)
        .where(Model.enabled.is_(True))
        .where(
            select(Response.id)
            .where(Response.model_id == Model.id, Response.status == "ok")
            .exists()
        )
    )
    return list(db.session.scalars(query))


def choose_matchup(
    voter: str, *, prompt_id: int | None = None, rng: random.Random | None = None
) -> Matchup | None:
    """A pair of stored answers to one prompt for this voter, or None when there is none.

    With ``prompt_id`` only that prompt is considered (a visitor's own prompt); otherwise only
    prompts in the shared pool.
    """
    rng = rng or random.Random()
    models = candidate_models()
    if len(models) < 2:
        return None
    counts = vote_counts()
    firsts = sorted(models, key=lambda m: (counts.get(m, 0), rng.random()))
    for first in firsts[:FIRST_MODEL_TRIES]:
        for second in _second_models(first, models, counts, rng)[:SECOND_MODEL_TRIES]:
            found = _pair_matchup(voter, first, second, prompt_id)
            if found:
                return found
    return _any_matchup(voter, models, prompt_id)


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
    first: int, models: list[int], counts: dict[int, int], rng: random.Random
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


def _unjudged(voter: str, prompt_column, model_x, model_y):  # type: ignore[no-untyped-def]
    """No vote of this voter on this prompt for this pair, in either order."""
    return ~(
        select(Vote.id)
        .where(
            Vote.voter == voter,
            Vote.prompt_id == prompt_column,
            or_(
                and_(Vote.model_a_id == model_x, Vote.model_b_id == model_y),
                and_(Vote.model_a_id == model_y, Vote.model_b_id == model_x),
            ),
        )
        .exists()
    )


def _pairs_query(voter: str, prompt_id: int | None):  # type: ignore[no-untyped-def]
    first, second = aliased(Response), aliased(Response)
    query = (
        select(first.prompt_id, first.id, second.id, first.model_id, second.model_id)
        .join(second, and_(second.prompt_id == first.prompt_id, second.status == "ok"))
        .where(first.status == "ok", first.model_id != second.model_id)
        .where(_unjudged(voter, first.prompt_id, first.model_id, second.model_id))
    )
    if prompt_id is None:
        query = query.join(Prompt, Prompt.id == first.prompt_id).where(Prompt.shared.is_(True))
    else:
        query = query.where(first.prompt_id == prompt_id)
    return query, first, second


def _pair_matchup(voter: str, model_x: int, model_y: int, prompt_id: int | None) -> Matchup | None:
    query, first, second = _pairs_query(voter, prompt_id)
    query = query.where(first.model_id == model_x, second.model_id == model_y)
    row = db.session.execute(query.order_by(func.random()).limit(1)).first()
    return Matchup(row[0], row[1], row[2]) if row else None


def _any_matchup(voter: str, models: list[int], prompt_id: int | None) -> Matchup | None:
    """Last resort when the preferred pairs are exhausted for this voter: any pair at all."""
    query, first, second = _pairs_query(voter, prompt_id)
    query = query.where(
        first.model_id < second.model_id, first.model_id.in_(models), second.model_id.in_(models)
    )
    row = db.session.execute(query.order_by(func.random()).limit(1)).first()
    return Matchup(row[0], row[1], row[2]) if row else None
