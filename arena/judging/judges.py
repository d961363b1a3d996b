"""The judges: registered models that judge (any backend; a judge need not be a contestant).

A model becomes a judge with :func:`add_judge`. It may be a contestant too (an enabled model)
or only a judge: a registered model that is disabled takes part in no battle but can judge
(``flask --app arena judges add TAG --backend NAME`` registers a tag not yet known that way).
Removing a judge with verdicts only disables it: its verdicts are data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from arena.extensions import db
from arena.models import Judge, Judgement, Model
from arena.play.catalogue import CatalogueError


class JudgeError(ValueError):
    """A judge operation that cannot be done; the message says what to do instead."""


def find_model(tag: str) -> Model:
    model = db.session.scalar(select(Model).where(Model.tag == tag))
    if model is None:
        raise JudgeError(
            f"no model {tag!r} is registered: register it with `flask --app arena models add "
            f"{tag}` (a contestant too) or `flask --app arena judges add {tag} --backend NAME` "
            "(a judge only)"
        )
    return model


def find_judge(tag: str) -> Judge:
    """The judge of model ``tag`` (enabled or not); JudgeError when there is none."""
    model = find_model(tag)
    judge = db.session.scalar(select(Judge).where(Judge.model_id == model.id))
    if judge is None:
        raise JudgeError(
            f"{tag!r} is not a judge: add it with `flask --app arena judges add {tag}` "
            "(see `flask --app arena judges list`)"
        )
    return judge


def add_judge(tag: str) -> tuple[Judge, bool]:
    """Make the registered model ``tag`` a judge (again, if it was removed); (judge, new)."""
    model = find_model(tag)
    judge = db.session.scalar(select(Judge).where(Judge.model_id == model.id))
    created = judge is None
    if judge is None:
        judge = Judge(model_id=model.id, enabled=True)
        db.session.add(judge)
    judge.enabled = True
    db.session.commit()
    return judge, created


def remove_judge(tag: str) -> str:
    """``deleted`` (no verdict yet) or ``disabled`` (its verdicts are kept)."""
    judge = find_judge(tag)
    has_verdicts = db.session.scalar(
        select(Judgement.id).where(Judgement.judge_id == judge.id).limit(1)
    )
    if has_verdicts is not None:
        judge.enabled = False
        db.session.commit()
        return "disabled"
    db.session.delete(judge)
    db.session.commit()
    return "deleted"


def enabled_judges(tags: Sequence[str] | None = None) -> list[Judge]:
    """The judges to run: every enabled one, or those named (JudgeError for a tag that is no
    judge or a disabled one)."""
    if tags:
        judges = [find_judge(tag) for tag in tags]
        off = [j.model.tag for j in judges if not j.enabled]
        if off:
            raise JudgeError(
                f"judge {', '.join(map(repr, off))} was removed: add it again with "
                "`flask --app arena judges add TAG`"
            )
        return list({j.id: j for j in judges}.values())
    query = select(Judge).where(Judge.enabled.is_(True)).order_by(Judge.id)
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class JudgeRow:
    tag: str
    backend: str
    enabled: bool
    contestant: bool
    verdicts: int
    counted: int
    inconsistent: int
    unparsed: int
    last: datetime | None


def list_judges() -> list[JudgeRow]:
    counts: dict[tuple[int, str], int] = {}
    last: dict[int, datetime] = {}
    rows = db.session.execute(
        select(
            Judgement.judge_id, Judgement.status, func.count(), func.max(Judgement.created_at)
        ).group_by(Judgement.judge_id, Judgement.status)
    )
    for judge_id, status, count, newest in rows:
        counts[(judge_id, status)] = int(count)
        if newest is not None and (judge_id not in last or newest > last[judge_id]):
            last[judge_id] = newest
    out = []
    for judge in db.session.scalars(select(Judge).order_by(Judge.id)):
        per = {s: counts.get((judge.id, s), 0) for s in ("counted", "inconsistent", "unparsed")}
        out.append(
            JudgeRow(
                judge.model.tag,
                judge.model.backend,
                judge.enabled,
                judge.model.enabled,
                sum(per.values()),
                per["counted"],
                per["inconsistent"],
                per["unparsed"],
                last.get(judge.id),
            )
        )
    return out


__all__ = [
    "CatalogueError",
    "JudgeError",
    "JudgeRow",
    "add_judge",
    "enabled_judges",
    "find_judge",
    "list_judges",
    "remove_judge",
]
