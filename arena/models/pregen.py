"""Tables of pre-generation: batch runs, their failures, visitors' prompt queue, the worker."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from arena.extensions import DbModel
from arena.models.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from arena.models.core import Prompt

RUN_TRIGGERS = ("cli", "cron", "worker")
# running: in progress (or killed: see ``updated_at``); finished: the whole plan was tried;
# stopped: the budget, the --until time or a signal ended it between answers;
# interrupted: the process died (found at the next run); failed: an error ended it.
RUN_STATUSES = ("running", "finished", "stopped", "interrupted", "failed")
VISITOR_STATUSES = ("queued", "running", "done", "failed")


class GenerationRun(DbModel):
    """One batch run (CLI, cron or worker), its plan and, once over, its summary."""

    id: Mapped[int] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(String(20), default="cli")
    status: Mapped[str] = mapped_column(String(20), default="running")
    stop_reason: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column()
    host: Mapped[str | None] = mapped_column(String(200))
    # {tag: answers planned}
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    planned: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)  # answers attempted so far (stored or not)
    stored: Mapped[int] = mapped_column(default=0)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(f"status IN {RUN_STATUSES!r}", name="status"),
        CheckConstraint(f"trigger IN {RUN_TRIGGERS!r}", name="trigger"),
        Index("ix_generation_run_started", "started_at"),
    )


class GenerationFailure(DbModel):
    """An answer that could not be generated (after retries), with the reason."""

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("generation_run.id", ondelete="CASCADE"))
    model_id: Mapped[int] = mapped_column(ForeignKey("model.id", ondelete="CASCADE"))
    prompt_id: Mapped[int | None] = mapped_column(ForeignKey("prompt.id", ondelete="CASCADE"))
    # not_found, unreachable, timeout, stream, busy, http, malformed, leak, error
    kind: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_generation_failure_run", "run_id"),
        Index("ix_generation_failure_model_created", "model_id", "created_at"),
    )


class VisitorRequest(DbModel):
    """A visitor's own prompt, waiting for the worker to answer it with two models."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    voter: Mapped[str] = mapped_column(String(64))
    # A keyed hash of the client address that queued it (never the address itself), for the
    # quota per address (VISITOR_QUEUE_PER_ADDRESS); None for requests older than the quota.
    address: Mapped[str | None] = mapped_column(String(64))
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompt.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    model_a_id: Mapped[int | None] = mapped_column(ForeignKey("model.id", ondelete="SET NULL"))
    model_b_id: Mapped[int | None] = mapped_column(ForeignKey("model.id", ondelete="SET NULL"))
    answers_done: Mapped[int] = mapped_column(default=0)
    tokens: Mapped[int] = mapped_column(default=0)  # streamed so far for the answer in progress
    error: Mapped[str | None] = mapped_column(Text)
    battle_id: Mapped[str | None] = mapped_column(ForeignKey("battle.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The worker answering it (its heartbeat's name) while 'running': a request whose worker
    # stopped beating is put back in the queue, and a worker that lost it stops writing to it.
    claimed_by: Mapped[str | None] = mapped_column(String(40))

    prompt: Mapped[Prompt] = relationship("Prompt")

    __table_args__ = (
        CheckConstraint(f"status IN {VISITOR_STATUSES!r}", name="status"),
        Index("ix_visitor_request_status_created", "status", "created_at"),
        Index("ix_visitor_request_voter", "voter"),
        Index("ix_visitor_request_address_status", "address", "status"),
    )


class WorkerHeartbeat(DbModel):
    """A worker's last sign of life (one row per host and instance folder); the web pages call
    it running while this is fresh. ``role`` is 'active' for the one holding the lease (it runs
    the nightly jobs), 'standby' for the others, None once stopped."""

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    pid: Mapped[int | None] = mapped_column()
    host: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(40), default="idle")  # idle, batch, visitor, stopped
    detail: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    instance: Mapped[str | None] = mapped_column(Text)  # the worker's instance folder
    role: Mapped[str | None] = mapped_column(String(20))  # active, standby (None: stopped)
    role_since: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RunRequest(DbModel):
    """A pre-generation run asked for on /admin, in the database so that the active worker
    sees it whichever web node took the request and whichever machine the worker runs on."""

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    budget: Mapped[str | None] = mapped_column(String(40))
    models: Mapped[list[str]] = mapped_column(JSON, default=list)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: not started yet
    taken_by: Mapped[str | None] = mapped_column(String(40))  # the worker's heartbeat name
