"""Test data for style control: stored answers of chosen lengths and Markdown, and votes on them
whose winner follows the answers' style rather than the models."""

from __future__ import annotations

import random
from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from arena.extensions import db
from arena.models import Model, Prompt, Response, Vote
from tests.support.leaderboard_data import T0

#: Model tag -> (characters of plain text, Markdown headers, list items, bold spans).
STYLES = {
    "terse:1b": (120, 0, 0, 0),
    "even:1b": (500, 0, 2, 1),
    "verbose:1b": (2400, 3, 8, 4),
}


def styled_answer(chars: int, headers: int, lists: int, bold: int) -> str:
    lines = [f"## Part {i}" for i in range(headers)]
    lines += [f"- point {i}" for i in range(lists)]
    lines += [f"**key {i}** matters" for i in range(bold)]
    lines.append("word " * (chars // 5))
    return "\n".join(lines)


def add_styled_answers(app: Flask, prompts: int, tokens: bool = True) -> list[int]:
    """One stored answer per (prompt, model of :data:`STYLES`) on the first ``prompts`` prompts
    (models created); the prompt ids."""
    with app.app_context():
        for tag in STYLES:
            db.session.add(Model(tag=tag, display_name=tag, params_b=1.0))
        db.session.commit()
        ids = dict(db.session.execute(select(Model.tag, Model.id)).all())
        prompt_ids = list(db.session.scalars(select(Prompt.id).order_by(Prompt.id).limit(prompts)))
        assert len(prompt_ids) == prompts
        for prompt_id in prompt_ids:
            for tag, style in STYLES.items():
                text = styled_answer(*style)
                db.session.add(
                    Response(
                        prompt_id=prompt_id,
                        model_id=ids[tag],
                        text=text,
                        eval_count=len(text) // 4 if tokens else None,
                        eval_duration=10**9 if tokens else None,
                    )
                )
        db.session.commit()
        return prompt_ids


def add_length_biased_votes(app: Flask, prompt_ids: list[int], votes: int, seed: int = 1) -> None:
    """``votes`` votes between equally good models in which the longer answer wins 80% of the
    time (ties 10%): a plain rating puts the verbose model first, style control should not."""
    rng = random.Random(seed)
    order = list(STYLES)
    with app.app_context():
        ids = dict(db.session.execute(select(Model.tag, Model.id)).all())
        rows = []
        for n in range(votes):
            a, b = rng.sample(order, 2)
            longer_is_a = STYLES[a][0] > STYLES[b][0]
            draw = rng.random()
            if draw < 0.1:
                outcome = "tie"
            elif draw < 0.82:
                outcome = "a" if longer_is_a else "b"
            else:
                outcome = "b" if longer_is_a else "a"
            rows.append(
                Vote(
                    model_a_id=ids[a],
                    model_b_id=ids[b],
                    outcome=outcome,
                    prompt_id=rng.choice(prompt_ids),
                    voter=f"voter-{n}",
                    created_at=T0 + n * timedelta(minutes=1),
                )
            )
        db.session.add_all(rows)
        db.session.commit()
