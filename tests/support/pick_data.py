"""Test data for the picker: models with measured memory and speed, and their answers."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select, update

from arena.extensions import db
from arena.models import Model, Prompt, Response
from tests.support.leaderboard_data import add_models

GIB = 1024**3
#: tag -> (memory in GiB or None, generation tokens per second)
MACHINE = {
    "alpha:7b": (6.0, 12.0),
    "beta:3b": (2.5, 30.0),
    "gamma:1b": (1.0, 5.0),
    "delta:2b": (None, 40.0),
}


def setup_arena(app: Flask) -> dict[str, int]:
    """Four models with measured memory and speed, answers to every coding prompt; ids."""
    add_models(app, {tag: None for tag in MACHINE})
    with app.app_context():
        ids = dict(db.session.execute(select(Model.tag, Model.id)).all())
        prompts = list(db.session.scalars(select(Prompt.id).where(Prompt.category == "coding")))
        for tag, (memory, speed) in MACHINE.items():
            db.session.execute(
                update(Model)
                .where(Model.id == ids[tag])
                .values(memory_bytes=None if memory is None else int(memory * GIB))
            )
            for prompt in prompts:
                db.session.add(
                    Response(
                        prompt_id=prompt,
                        model_id=ids[tag],
                        text=f"An answer to {prompt}.",
                        eval_count=100,
                        eval_duration=int(100 / speed * 1e9),
                    )
                )
        db.session.commit()
        return ids


def decisive(a: str, b: str, wins: int, losses: int = 0) -> list[tuple[str, str, str]]:
    return [(a, b, "a")] * wins + [(a, b, "b")] * losses
