"""The arena's own tables: models, prompts, answers, battles and the vote log.

Data flows one way: prompts and models are registered, responses are generated per
(prompt, model) ahead of time, battles pair two stored responses when served, and votes
are an append-only log from which every rating is recomputed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Connection,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    Update,
    bindparam,
    event,
    false,
    update,
)
from sqlalchemy.orm import Mapped, Session, UOWTransaction, mapped_column, relationship

from arena.extensions import DbModel, db
from arena.models.types import UTCDateTime, utcnow

OUTCOMES = ("a", "b", "tie", "both_bad")
RESPONSE_STATUSES = ("ok", "failed", "excluded")
PROMPT_SOURCES = ("bank", "import", "visitor")


class Model(DbModel):
    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(200), unique=True)
    backend: Mapped[str] = mapped_column(String(40), default="ollama")
    display_name: Mapped[str] = mapped_column(String(200))
    params_b: Mapped[float | None] = mapped_column(Float)
    quantization: Mapped[str | None] = mapped_column(String(40))
    family: Mapped[str | None] = mapped_column(String(80))
    digest: Mapped[str | None] = mapped_column(String(80))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # False when the backend no longer lists the model; it is disabled, never deleted.
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Votes naming this model on either side, flagged ones included: a counter kept in the
    # same transaction as each vote (see count_votes), so nothing has to count the vote log.
    vote_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    # What the backend says about the model (``/api/show``, ``/api/tags``) and what it was
    # measured to cost on this machine; None when unknown.
    param_count: Mapped[int | None] = mapped_column(BigInteger)
    context_length: Mapped[int | None] = mapped_column(BigInteger)
    capabilities: Mapped[list[str] | None] = mapped_column(JSON)
    disk_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # Resident memory while loaded, and how it was known ("ps", "measured", "configured").
    memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    memory_source: Mapped[str | None] = mapped_column(String(20))
    # Thinking: None = as the model would for its users; else "off", "on", "low", "medium"...
    think: Mapped[str | None] = mapped_column(String(10))
    # True once the backend refused ``think`` for this model ("does not support thinking").
    think_refused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A contestant variant: the model's name on the backend when ``tag`` names a variant
    # (None: ``tag`` itself), its option overrides and its own system prompt.
    backend_tag: Mapped[str | None] = mapped_column(String(200))
    variant_options: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    system_prompt: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<Model {self.tag}>"

    @property
    def served_tag(self) -> str:
        """The model's name on its backend (a variant shares its base model's)."""
        return self.backend_tag or self.tag


class Prompt(DbModel):
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64), unique=True)
    html: Mapped[str | None] = mapped_column(Text)
    html_version: Mapped[int] = mapped_column(default=0)
    category: Mapped[str] = mapped_column(String(40), default="general", index=True)
    source: Mapped[str] = mapped_column(String(20), default="bank")
    # Visitors' prompts join the shared pool only when the operator allows it.
    shared: Mapped[bool] = mapped_column(Boolean, default=True)
    # Kept out of battles: its answers may be shown to anyone (model pages' samples).
    showcase: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (CheckConstraint(f"source IN {PROMPT_SOURCES!r}", name="source"),)

    def __repr__(self) -> str:
        return f"<Prompt {self.id} {self.category}>"


class Response(DbModel):
    """One complete answer of one model to one prompt; written only once it is whole."""

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompt.id", ondelete="RESTRICT"))
    model_id: Mapped[int] = mapped_column(ForeignKey("model.id", ondelete="RESTRICT"))
    text: Mapped[str] = mapped_column(Text)
    # The answer rendered to safe HTML once, when stored; re-rendered if the renderer changes.
    html: Mapped[str | None] = mapped_column(Text)
    html_version: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(20), default="ok")
    status_reason: Mapped[str | None] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    done_reason: Mapped[str | None] = mapped_column(String(20))
    eval_count: Mapped[int | None] = mapped_column(BigInteger)
    eval_duration: Mapped[int | None] = mapped_column(BigInteger)
    prompt_eval_count: Mapped[int | None] = mapped_column(BigInteger)
    load_duration: Mapped[int | None] = mapped_column(BigInteger)
    total_duration: Mapped[int | None] = mapped_column(BigInteger)
    prompt_eval_duration: Mapped[int | None] = mapped_column(BigInteger)
    # Nanoseconds from the request to the first generated token (thinking included).
    first_token_ns: Mapped[int | None] = mapped_column(BigInteger)
    # A thinking model's reasoning, kept apart from the answer: never shown in a battle.
    thinking: Mapped[str | None] = mapped_column(Text)
    thinking_tokens: Mapped[int | None] = mapped_column(BigInteger)
    thinking_ns: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    prompt: Mapped[Prompt] = relationship(lazy="joined", innerjoin=True)
    model: Mapped[Model] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (
        CheckConstraint(f"status IN {RESPONSE_STATUSES!r}", name="status"),
        # At most one usable answer per (prompt, model): reruns never duplicate one.
        Index(
            "uq_response_ok_prompt_model",
            "prompt_id",
            "model_id",
            unique=True,
            sqlite_where=db.text("status = 'ok'"),
            postgresql_where=db.text("status = 'ok'"),
        ),
        Index("ix_response_model_status_prompt", "model_id", "status", "prompt_id"),
    )

    @property
    def tokens_per_second(self) -> float | None:
        if not self.eval_count or not self.eval_duration:
            return None
        return self.eval_count / (self.eval_duration / 1e9)

    @property
    def seconds(self) -> float | None:
        """Time taken to answer, loading the model excluded (total less load)."""
        if not self.total_duration:
            return None
        return max(self.total_duration - (self.load_duration or 0), 0) / 1e9 or None


class Battle(DbModel):
    """Two stored answers to one prompt, shown to one voter; created when served."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompt.id", ondelete="RESTRICT"))
    left_response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="RESTRICT"))
    right_response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="RESTRICT"))
    voter: Mapped[str] = mapped_column(String(64))
    served_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Served from the picker's "settle it" stream (mostly chosen pairs, still blind).
    targeted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    prompt: Mapped[Prompt] = relationship()
    left: Mapped[Response] = relationship(foreign_keys=[left_response_id])
    right: Mapped[Response] = relationship(foreign_keys=[right_response_id])
    vote: Mapped[Vote | None] = relationship(back_populates="battle", uselist=False)

    __table_args__ = (
        Index("ix_battle_voter_served", "voter", "served_at"),
        # The answers a voter was shown (the blindness rule), per prompt, both sides each
        # searchable; the first also reads a voter's whole history without the table.
        Index(
            "ix_battle_voter_left", "voter", "prompt_id", "left_response_id", "right_response_id"
        ),
        Index("ix_battle_voter_right", "voter", "prompt_id", "right_response_id"),
    )


class Vote(DbModel):
    """One voter's verdict on one battle. The append-only log behind every rating.

    The two models and the prompt are copied from the battle so that ratings read one
    table, and so that imported history (which has no battle) fits the same log.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    battle_id: Mapped[str | None] = mapped_column(
        ForeignKey("battle.id", ondelete="RESTRICT"), unique=True
    )
    prompt_id: Mapped[int | None] = mapped_column(ForeignKey("prompt.id", ondelete="RESTRICT"))
    model_a_id: Mapped[int] = mapped_column(ForeignKey("model.id", ondelete="RESTRICT"))
    model_b_id: Mapped[int] = mapped_column(ForeignKey("model.id", ondelete="RESTRICT"))
    outcome: Mapped[str] = mapped_column(String(10))
    voter: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20), default="arena")
    # Flagged votes are kept for the record but never count in a rating.
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reason: Mapped[str | None] = mapped_column(String(200))
    # Copied from the battle: a leaderboard filter can leave targeted votes out.
    targeted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    battle: Mapped[Battle | None] = relationship(back_populates="vote")
    model_a: Mapped[Model] = relationship(foreign_keys=[model_a_id])
    model_b: Mapped[Model] = relationship(foreign_keys=[model_b_id])

    __table_args__ = (
        CheckConstraint(f"outcome IN {OUTCOMES!r}", name="outcome"),
        CheckConstraint("model_a_id <> model_b_id", name="distinct_models"),
        # The models revealed to a voter on each prompt (the blindness rule), read whole.
        Index("ix_vote_voter_prompt_models", "voter", "prompt_id", "model_a_id", "model_b_id"),
        # Dates, and who voted lately (the active voters) without the table.
        Index("ix_vote_created", "created_at", "voter"),
        Index("ix_vote_pair", "model_a_id", "model_b_id"),
        # A model's latest opponents, newest first, on either side.
        Index("ix_vote_model_a_recent", "model_a_id", "id"),
        Index("ix_vote_model_b_recent", "model_b_id", "id"),
        # Tiny (only flagged votes): lets the leaderboard cache see a flag change cheaply.
        Index(
            "ix_vote_excluded",
            "id",
            sqlite_where=db.text("excluded = 1"),
            postgresql_where=db.text("excluded"),
        ),
    )


@cache
def _bump_statement() -> Update:
    return (
        update(Model)
        .where(Model.id == bindparam("model"))
        .values(vote_count=Model.vote_count + bindparam("n"))
    )


def count_votes(connection: Connection, counts: Mapping[int, int]) -> None:
    """Add ``counts`` (model id -> votes naming it, on either side) to ``Model.vote_count``.

    Every writer of votes calls this in the transaction that stores them: the ORM does it on
    its own (:func:`_count_flushed_votes`), a bulk ``insert(Vote)`` (the legacy import) calls
    it with its rows' models (:func:`sides`).
    """
    rows = [{"model": model, "n": n} for model, n in sorted(counts.items()) if n]
    if rows:
        connection.execute(_bump_statement(), rows)


def sides(pairs: Iterable[tuple[int, int]]) -> Counter[int]:
    """Votes per model of these (model a, model b) pairs, both sides counted."""
    counts: Counter[int] = Counter()
    for a, b in pairs:
        counts[a] += 1
        counts[b] += 1
    return counts


@event.listens_for(Session, "after_flush")
def _count_flushed_votes(session: Session, _flush: UOWTransaction) -> None:
    """Votes added or deleted through the ORM move their models' counters in the same flush."""
    counts = sides((v.model_a_id, v.model_b_id) for v in session.new if isinstance(v, Vote))
    gone = sides((v.model_a_id, v.model_b_id) for v in session.deleted if isinstance(v, Vote))
    counts.subtract(gone)
    count_votes(session.connection(), counts)
