"""Sample answers for a model's page, chosen so that none can spoil a blind battle.

Two kinds of answer may be shown, and no other:

- answers from battles *this visitor* has already voted on (they saw the reveal: the page
  tells them nothing new). The visitor is the voter id of their session cookie; a visitor
  without one sees none of these.
- answers to *showcase* prompts (``Prompt.showcase``): kept out of battles (matchmaking and
  the pre-generation planner skip them), so their answers may be shown to anyone. An answer
  that an open battle shows (one served before its prompt was marked, with no vote yet and
  not expired: it may still be voted on) is held back until that battle has its vote or
  expires.

Never a pool answer, another visitor's battle, or a battle served and not voted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Exists, SQLColumnExpression, and_, exists, or_, select, true, union
from sqlalchemy.sql.selectable import CompoundSelect

from arena.extensions import db
from arena.models import Battle, Prompt, Response, Vote, utcnow
from arena.rendering import RENDER_VERSION, render_markdown

#: Answers of each kind a page shows at most.
SAMPLES_PER_KIND = 5


@dataclass(frozen=True)
class Sample:
    """One answer as a model page shows it: ``kind`` is "voted" (from a battle the visitor
    voted on) or "showcase"."""

    response_id: int
    kind: str
    category: str
    prompt_html: str
    answer_html: str
    tokens_per_second: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "response_id": self.response_id,
            "kind": self.kind,
            "category": self.category,
            "prompt_html": self.prompt_html,
            "answer_html": self.answer_html,
            "tokens_per_second": self.tokens_per_second,
        }


def voted_answer_ids(voter: str) -> CompoundSelect[tuple[int]]:
    """The answers of every battle ``voter`` was served and has voted on (both sides)."""
    voted = exists().where(Vote.battle_id == Battle.id)
    return union(
        select(Battle.left_response_id).where(Battle.voter == voter, voted),
        select(Battle.right_response_id).where(Battle.voter == voter, voted),
    )


def _open_battle_shows(response_id: SQLColumnExpression[int], expiry_seconds: float) -> Exists:
    """SQL: some battle showing this answer may still be voted on (no vote yet, and served
    less than ``expiry_seconds`` ago; 0: battles never expire)."""
    conditions = [
        or_(Battle.left_response_id == response_id, Battle.right_response_id == response_id),
        ~exists().where(Vote.battle_id == Battle.id),
    ]
    if expiry_seconds > 0:
        conditions.append(Battle.served_at > utcnow() - timedelta(seconds=expiry_seconds))
    return exists().where(*conditions)


def sample_answers(
    model_id: int,
    voter: str | None,
    *,
    expiry_seconds: float = 0,
    limit: int = SAMPLES_PER_KIND,
) -> list[Sample]:
    """Up to ``limit`` answers of the model from battles ``voter`` voted on (newest first),
    then up to ``limit`` answers to showcase prompts; nothing else (see the module).
    ``expiry_seconds``: how long a battle may be voted on (``BATTLE_EXPIRY_SECONDS``)."""
    samples: list[Sample] = []
    if voter:
        voted = db.session.scalars(
            select(Response)
            .where(
                Response.model_id == model_id,
                Response.id.in_(voted_answer_ids(voter)),
            )
            .order_by(Response.id.desc())
            .limit(limit)
        ).all()
        samples += [_sample(response, "voted") for response in voted]
    shown = {sample.response_id for sample in samples}
    showcase = db.session.scalars(
        select(Response)
        .join(Prompt, Prompt.id == Response.prompt_id)
        .where(
            and_(
                Response.model_id == model_id,
                Response.status == "ok",
                Prompt.showcase == true(),
                ~_open_battle_shows(Response.id, expiry_seconds),
            )
        )
        .order_by(Response.prompt_id)
        .limit(limit + len(shown))
    ).all()
    samples += [_sample(r, "showcase") for r in showcase if r.id not in shown][:limit]
    return samples


def _sample(response: Response, kind: str) -> Sample:
    prompt = response.prompt
    current = response.html is not None and response.html_version == RENDER_VERSION
    prompt_current = prompt.html is not None and prompt.html_version == RENDER_VERSION
    return Sample(
        response.id,
        kind,
        prompt.category,
        prompt.html if prompt_current and prompt.html else str(render_markdown(prompt.text)),
        response.html if current and response.html else str(render_markdown(response.text)),
        response.tokens_per_second,
    )
