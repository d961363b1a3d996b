"""Tables of batch evaluation: the models registered as judges and their verdicts.

Judge verdicts are a vote source of their own. They live in :class:`Judgement`, never in
:class:`~arena.models.core.Vote`, so no human rating, count, matchmaking or export can take
them in by mistake; the leaderboard reads them only when asked for ``source=judge``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from arena.extensions import DbModel
from arena.models.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from arena.models.core import Model

#: One order's verdict as parsed from the judge's output: ``[[A]]``, ``[[B]]``, ``[[C]]`` (a
#: tie), ``unparsed`` (no verdict found: never guessed) or ``failed`` (the backend failed).
ORDER_VERDICTS = ("A", "B", "C", "unparsed", "failed")
#: The pair's judgement once both orders are in: ``counted`` (both orders agree), ``inconsistent``
#: (they disagree: position bias; it counts as a tie), ``unparsed`` (an order has no verdict:
#: it does not count).
JUDGEMENT_STATUSES = ("counted", "inconsistent", "unparsed")


class Judge(DbModel):
    """A registered model that judges battles (it need not be a contestant). A judge with
    verdicts is never deleted (they are data): removing it disables it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("model.id", ondelete="RESTRICT"), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    model: Mapped[Model] = relationship()


class Judgement(DbModel):
    """One judge's verdict on one pair of stored answers to one prompt, judged in both orders.

    ``model_a``/``response_a`` is the side shown first in the A/B order (the lower model id),
    ``outcome`` uses the votes' vocabulary (``a``, ``b``, ``tie``) and is set when the
    judgement counts in a rating: ``counted`` gives the agreed side or ``tie``, ``inconsistent``
    gives ``tie``, ``unparsed`` gives none. A row is written once, whole, after both orders
    (so a run killed between them leaves nothing half); the unique pair makes a rerun skip it.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    judge_id: Mapped[int] = mapped_column(ForeignKey("judge.id", ondelete="RESTRICT"))
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompt.id", ondelete="RESTRICT"))
    model_a_id: Mapped[int] = mapped_column(ForeignKey("model.id", ondelete="RESTRICT"))
    model_b_id: Mapped[int] = mapped_column(ForeignKey("model.id", ondelete="RESTRICT"))
    response_a_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="RESTRICT"))
    response_b_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(10))
    # Each order: the parsed verdict, the judge's raw output, and its timings (milliseconds).
    verdict_ab: Mapped[str] = mapped_column(String(10))
    verdict_ba: Mapped[str] = mapped_column(String(10))
    output_ab: Mapped[str] = mapped_column(Text, default="")
    output_ba: Mapped[str] = mapped_column(Text, default="")
    duration_ab_ms: Mapped[int | None] = mapped_column()
    duration_ba_ms: Mapped[int | None] = mapped_column()
    # The answers were cut to fit the judge's context.
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    # The judge's own answer is one side (only when the operator allows self-judging).
    self_judged: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    judge: Mapped[Judge] = relationship()

    __table_args__ = (
        UniqueConstraint("judge_id", "response_a_id", "response_b_id", name="judged_pair"),
        CheckConstraint(f"status IN {JUDGEMENT_STATUSES!r}", name="status"),
        CheckConstraint(f"verdict_ab IN {ORDER_VERDICTS!r}", name="verdict_ab"),
        CheckConstraint(f"verdict_ba IN {ORDER_VERDICTS!r}", name="verdict_ba"),
        CheckConstraint("outcome IS NULL OR outcome IN ('a', 'b', 'tie')", name="outcome"),
        CheckConstraint("model_a_id <> model_b_id", name="distinct_models"),
        Index("ix_judgement_pair", "model_a_id", "model_b_id"),
        Index("ix_judgement_responses", "response_a_id", "response_b_id"),
    )
