"""Many votes, fast: a bulk insert for export tests and benchmarks (a million in ~20 s).

The driver's own ``executemany`` in batches, on whichever database the app uses (SQLite
gets the times as the text SQLAlchemy stores); the votes are spread over a few models and the
bank's prompts, 10 s apart, so every column is filled.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from arena.extensions import db
from arena.models import Model, Prompt, Vote

START = datetime(2026, 1, 1, tzinfo=UTC)
OUTCOMES = ("a", "a", "b", "b", "tie", "both_bad")
BATCH = 20_000


COLUMNS = "prompt_id, model_a_id, model_b_id, outcome, source, excluded, created_at"


def _rows(
    count: int, models: list[int], prompts: list[int], sqlite: bool
) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(1)
    for k in range(count):
        a, b = rng.sample(models, 2)
        when: Any = START + timedelta(seconds=10 * k)
        if sqlite:
            when = when.strftime("%Y-%m-%d %H:%M:%S.%f")
        outcome = OUTCOMES[k % len(OUTCOMES)]
        yield prompts[k % len(prompts)], a, b, outcome, "arena", False, when


def fill_votes(app: Flask, count: int, models: int = 8) -> int:
    """Insert ``models`` models (if there are none) and ``count`` votes; the highest vote id."""
    with app.app_context():
        if not db.session.scalar(select(func.count()).select_from(Model)):
            for i in range(models):
                size = (0.5, 1.0, 1.5, 3.0, 4.0, 7.0, 8.0, 9.0)[i % 8]
                db.session.add(
                    Model(tag=f"m{i:02d}:{size:g}b", display_name=f"m{i}", params_b=size)
                )
            db.session.commit()
        model_ids = list(db.session.scalars(select(Model.id)))
        prompt_ids = list(db.session.scalars(select(Prompt.id)))
        sqlite = db.engine.dialect.name == "sqlite"
        mark = "?" if sqlite else "%s"
        sql = f"INSERT INTO vote ({COLUMNS}) VALUES ({', '.join([mark] * 7)})"
        rows = _rows(count, model_ids, prompt_ids, sqlite)
        with db.engine.begin() as conn:
            while batch := [row for _, row in zip(range(BATCH), rows, strict=False)]:
                conn.exec_driver_sql(sql, batch)
        highest = db.session.scalar(select(func.max(Vote.id)))
        db.engine.dispose()
    assert highest is not None
    return int(highest)
