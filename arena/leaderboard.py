"""Leaderboards: load the vote log from the database and rate it with ``arena.ratings``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import aliased

from arena.extensions import db
from arena.models import Model, Vote
from arena.ratings import VoteLog, arena_scores, sort_by_score


@dataclass(frozen=True)
class ModelInfo:
    tag: str
    display_name: str
    params_b: float | None
    quantization: str | None


def load_vote_log() -> tuple[VoteLog, dict[str, ModelInfo]]:
    """Every counted vote (excluded ones never count) as a columnar log, in time order."""
    models = db.session.scalars(select(Model).order_by(Model.tag)).all()
    info = {m.tag: ModelInfo(m.tag, m.display_name, m.params_b, m.quantization) for m in models}
    model_a, model_b = aliased(Model), aliased(Model)
    rows = db.session.execute(
        select(model_a.tag, model_b.tag, Vote.outcome, Vote.created_at)
        .join(model_a, model_a.id == Vote.model_a_id)
        .join(model_b, model_b.id == Vote.model_b_id)
        .where(Vote.excluded.is_(False))
        .order_by(Vote.created_at, Vote.id)
    )
    records = [(a, b, outcome, created.timestamp()) for a, b, outcome, created in rows]
    return VoteLog.from_records(records, models=[m.tag for m in models]), info


def arena_leaderboard() -> list[dict[str, object]]:
    """The classic arena score table, best first, for models that have battled."""
    log, info = load_vote_log()
    rows = sort_by_score(row for row in arena_scores(log) if row.battles)
    return [{"info": info[row.model], "row": row} for row in rows]
