"""Test data for leaderboards: models and votes inserted with the ORM (plain data setup)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select

from arena.extensions import db
from arena.models import LeaderboardCache, Model, Prompt, Vote

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def add_models(app: Flask, sizes: dict[str, float | None], enabled: bool = True) -> None:
    with app.app_context():
        for tag, size in sizes.items():
            db.session.add(Model(tag=tag, display_name=tag, params_b=size, enabled=enabled))
        db.session.commit()


def prompt_of(category: str) -> int:
    """The id of a built-in prompt of ``category`` (the bank is loaded at start-up)."""
    prompt_id = db.session.scalar(select(Prompt.id).where(Prompt.category == category).limit(1))
    assert prompt_id is not None, f"no built-in prompt in {category!r}"
    return prompt_id


def add_votes(
    app: Flask,
    votes: list[tuple[str, str, str]],
    *,
    start: datetime = T0,
    step: timedelta = timedelta(minutes=1),
    category: str = "coding",
    excluded: bool = False,
    source: str = "arena",
) -> list[int]:
    """Insert ``(model_a, model_b, outcome)`` votes, ``step`` apart from ``start``; their ids."""
    with app.app_context():
        ids = dict(db.session.execute(select(Model.tag, Model.id)).all())
        prompt_id = prompt_of(category)
        rows = [
            Vote(
                model_a_id=ids[a],
                model_b_id=ids[b],
                outcome=outcome,
                prompt_id=prompt_id,
                voter=f"voter-secret-{n}",
                source=source,
                excluded=excluded,
                created_at=start + n * step,
            )
            for n, (a, b, outcome) in enumerate(votes)
        ]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


def computations(app: Flask) -> dict[str, int]:
    """Cached filter set (as stored) -> how many times it was computed."""
    with app.app_context():
        rows = db.session.execute(select(LeaderboardCache.filters, LeaderboardCache.computations))
        return dict(rows.all())


def rows_by_model(document: dict) -> dict[str, dict]:
    return {row["model"]: row for row in document["models"]}
