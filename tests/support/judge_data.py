"""Test data for judges: registered judges, pairs of stored answers, judge verdicts on them
and human votes on battles made of the same answers (plain ORM inserts, in an app context).

A verdict's ``winner`` and a vote's ``pick`` name a side by the answer (``"x"`` for the first
answer given, ``"y"`` for the second, ``"tie"``), so a test says who won without caring which
side has the lower model id (the ``Judgement``'s ``a``) or was shown on the left (the vote's).
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from arena.extensions import db
from arena.models import Battle, Judge, Judgement, Model, Prompt, Response, Vote
from arena.models.types import utcnow

_counter = itertools.count(1)


@dataclass(frozen=True)
class AnswerPair:
    """Two stored answers (``x`` and ``y``) of two models to one new prompt."""

    prompt_id: int
    x: int  # response id
    y: int
    model_x: int  # model id
    model_y: int


def model_id(tag: str, size: float | None = None) -> int:
    """The id of the model ``tag``, registered now (enabled, ``size`` billions) if absent."""
    found = db.session.scalar(select(Model.id).where(Model.tag == tag))
    if found is not None:
        return found
    model = Model(tag=tag, display_name=tag, params_b=size, enabled=True)
    db.session.add(model)
    db.session.flush()
    return model.id


def add_judge(tag: str, *, enabled: bool = True) -> int:
    """Register ``tag`` (a model, created if needed) as a judge; its judge id."""
    judge = Judge(model_id=model_id(tag), enabled=enabled)
    db.session.add(judge)
    db.session.commit()
    return judge.id


def answer_pair(
    tag_x: str,
    tag_y: str,
    *,
    text_x: str = "an answer",
    text_y: str = "another answer",
    category: str = "coding",
) -> AnswerPair:
    """A new prompt of ``category`` with one stored answer of each model."""
    n = next(_counter)
    text = f"judge test prompt {n} {uuid.uuid4().hex}"
    prompt = Prompt(
        text=text,
        text_hash=hashlib.sha256(text.encode()).hexdigest(),
        category=category,
        source="bank",
    )
    db.session.add(prompt)
    db.session.flush()
    mx, my = model_id(tag_x), model_id(tag_y)
    rx = Response(prompt_id=prompt.id, model_id=mx, text=text_x, status="ok")
    ry = Response(prompt_id=prompt.id, model_id=my, text=text_y, status="ok")
    db.session.add_all([rx, ry])
    db.session.commit()
    return AnswerPair(prompt.id, rx.id, ry.id, mx, my)


def add_verdict(
    judge_id: int,
    pair: AnswerPair,
    winner: str | None,
    *,
    status: str = "counted",
    at: datetime | None = None,
) -> Judgement:
    """A judge's verdict on ``pair``: ``winner`` ``"x"``, ``"y"`` or ``"tie"`` for a counted
    verdict; ``status`` ``inconsistent`` (outcome tie) or ``unparsed`` (no outcome) ignore it."""
    x_is_a = pair.model_x < pair.model_y
    side = {"x": "a" if x_is_a else "b", "y": "b" if x_is_a else "a", "tie": "tie"}
    if status == "counted":
        assert winner is not None
        agreed = side[winner]
        outcome: str | None = agreed
        letter = {"a": "A", "b": "B", "tie": "C"}[agreed]
        flipped = {"A": "B", "B": "A", "C": "C"}[letter]
        verdicts = (letter, flipped)  # the B/A order names the same answer by the other letter
    elif status == "inconsistent":
        outcome, verdicts = "tie", ("A", "A")
    else:
        outcome, verdicts = None, ("A", "unparsed")
    row = Judgement(
        judge_id=judge_id,
        prompt_id=pair.prompt_id,
        model_a_id=pair.model_x if x_is_a else pair.model_y,
        model_b_id=pair.model_y if x_is_a else pair.model_x,
        response_a_id=pair.x if x_is_a else pair.y,
        response_b_id=pair.y if x_is_a else pair.x,
        status=status,
        outcome=outcome,
        verdict_ab=verdicts[0],
        verdict_ba=verdicts[1],
        output_ab=f"... [[{verdicts[0]}]]",
        output_ba=f"... [[{verdicts[1]}]]",
        created_at=at or utcnow(),
    )
    db.session.add(row)
    db.session.commit()
    return row


def add_human_vote(
    pair: AnswerPair,
    pick: str,
    *,
    x_left: bool = True,
    excluded: bool = False,
    at: datetime | None = None,
) -> Vote:
    """A battle showing ``pair`` (x on the left unless ``x_left`` is False) and one person's
    vote on it: ``pick`` ``"x"``, ``"y"``, ``"tie"`` or ``"both_bad"``."""
    left, right = (pair.x, pair.y) if x_left else (pair.y, pair.x)
    model_left, model_right = (
        (pair.model_x, pair.model_y) if x_left else (pair.model_y, pair.model_x)
    )
    battle = Battle(
        id=uuid.uuid4().hex,
        prompt_id=pair.prompt_id,
        left_response_id=left,
        right_response_id=right,
        voter=f"voter-{next(_counter)}",
    )
    db.session.add(battle)
    db.session.flush()
    x_outcome, y_outcome = ("a", "b") if x_left else ("b", "a")
    outcome = {"x": x_outcome, "y": y_outcome}.get(pick, pick)
    vote = Vote(
        battle_id=battle.id,
        prompt_id=pair.prompt_id,
        model_a_id=model_left,
        model_b_id=model_right,
        outcome=outcome,
        voter=battle.voter,
        excluded=excluded,
        created_at=at or utcnow(),
    )
    db.session.add(vote)
    db.session.commit()
    return vote
