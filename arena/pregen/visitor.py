"""Visitors' own prompts, the worker's side: answer the queue with two models, oldest first.

Each request is answered by two models chosen by matchmaking (``choose_model_pair``); a model
that fails is replaced by another. The web side (queueing, the waiting page) is
``arena.play.visitors``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, true, update

from arena.extensions import db
from arena.models import Model, Response, VisitorRequest, utcnow
from arena.play.matchmaking import choose_model_pair
from arena.play.visitors import ANSWERS_PER_REQUEST
from arena.pregen.clock import SYSTEM_CLOCK, Clock
from arena.pregen.generate import AnswerMaker, ModelRef
from arena.pregen.records import record_failure

#: Models tried per request beyond the two chosen, when one of them fails.
MAX_REPLACEMENTS = 2
TOKEN_WRITE_INTERVAL = 1.0  # seconds between progress writes while an answer streams


def release_abandoned(live: Collection[str]) -> int:
    """Put back in the queue the requests left 'running' by a worker that is not in ``live``
    (the workers whose heartbeat is fresh): a worker killed mid-answer, or stopped since.
    The caller leaves its own name out of ``live`` at start-up (its last life's requests)."""
    claimants: ColumnElement[bool] = true()  # no live worker: every running request
    if live:
        claimants = or_(
            VisitorRequest.claimed_by.is_(None), VisitorRequest.claimed_by.not_in(sorted(live))
        )
    result = db.session.execute(
        update(VisitorRequest)
        .where(VisitorRequest.status == "running", claimants)
        .values(status="queued", tokens=0, started_at=None, claimed_by=None)
    )
    db.session.commit()
    # Typed Result, though an UPDATE's is a CursorResult, which has rowcount.
    return result.rowcount or 0  # type: ignore[attr-defined]


def claim_next(worker: str) -> VisitorRequest | None:
    """Claim the oldest queued request for ``worker``; no two claimers ever get the same one.

    On PostgreSQL the candidate is read ``FOR UPDATE SKIP LOCKED`` (racing workers take the
    next ones instead of waiting); on both databases the claim is an UPDATE that only
    succeeds while the request is still queued, so of two claimers exactly one wins.
    """
    on_postgres = db.session.get_bind().dialect.name == "postgresql"
    while True:
        candidate = (
            select(VisitorRequest.id)
            .where(VisitorRequest.status == "queued")
            .order_by(VisitorRequest.created_at, VisitorRequest.id)
            .limit(1)
        )
        if on_postgres:
            candidate = candidate.with_for_update(skip_locked=True)
        request_id = db.session.scalar(candidate)
        if request_id is None:
            db.session.commit()
            return None
        claimed = db.session.execute(
            update(VisitorRequest)
            .where(VisitorRequest.id == request_id, VisitorRequest.status == "queued")
            .values(status="running", started_at=utcnow(), tokens=0, claimed_by=worker)
        )
        db.session.commit()
        if claimed.rowcount:  # type: ignore[attr-defined]  # an UPDATE's Result: a CursorResult
            return db.session.get(VisitorRequest, request_id)


def still_claimed(request: VisitorRequest, worker: str) -> bool:
    """Whether ``worker`` still holds ``request`` (it was not released and taken by another
    while this worker was thought dead); reads it again from the database."""
    db.session.refresh(request)
    return request.status == "running" and request.claimed_by == worker


def process_queue(
    maker: AnswerMaker,
    config: Mapping[str, Any],
    *,
    clock: Clock = SYSTEM_CLOCK,
    rng: random.Random | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    worker: str = "worker",
) -> int:
    """Answer every queued request, oldest first, claimed as ``worker`` (its heartbeat's
    name); returns how many were handled."""
    rng = rng or random.Random()
    handled = 0
    while not should_stop():
        request = claim_next(worker)
        if request is None:
            break
        answer_request(request, maker, config, clock=clock, rng=rng, worker=worker)
        handled += 1
    return handled


def answer_request(
    request: VisitorRequest,
    maker: AnswerMaker,
    config: Mapping[str, Any],
    *,
    clock: Clock = SYSTEM_CLOCK,
    rng: random.Random | None = None,
    worker: str | None = None,
) -> None:
    """Generate the two answers of one request, replacing a model that fails. With
    ``worker``, it stops as soon as the request is no longer claimed by that worker."""
    rng = rng or random.Random()
    chosen = _pair_begun(request) or choose_model_pair(rng)
    if chosen is None:
        _finish(request, "failed", "fewer than two models are enabled, so there is no battle")
        return
    request.model_a_id, request.model_b_id = chosen
    db.session.commit()
    models = {
        m.id: m
        for m in db.session.scalars(
            select(Model).where(Model.enabled.is_(True), Model.available.is_(True))
        )
    }
    queue = list(chosen)
    spares = [m for m in models if m not in chosen]
    rng.shuffle(spares)
    spares = spares[:MAX_REPLACEMENTS]
    answered: list[int] = []
    reasons: list[str] = []
    while queue and len(answered) < ANSWERS_PER_REQUEST:
        if worker is not None and not still_claimed(request, worker):
            return  # released as abandoned and perhaps answered by another: leave it
        model = models[queue.pop(0)]
        if _answer_one(request, model, maker, config, clock, reasons):
            answered.append(model.id)
            request.answers_done, request.tokens = len(answered), 0
            db.session.commit()
        elif spares:
            queue.append(spares.pop(0))
    if len(answered) < ANSWERS_PER_REQUEST:
        _finish(request, "failed", "; ".join(reasons) or "the models could not answer")
        return
    if worker is not None and not still_claimed(request, worker):
        return
    request.model_a_id, request.model_b_id = answered
    _finish(request, "done", None)


def _pair_begun(request: VisitorRequest) -> tuple[int, int] | None:
    """The pair a worker chose before it died (the request went back in the queue): resumed,
    so an answer it already stored counts and no third model answers the prompt. None when
    no pair was chosen yet or one of its models is no longer enabled and available."""
    if request.model_a_id is None or request.model_b_id is None:
        return None
    usable = db.session.scalar(
        select(func.count(Model.id)).where(
            Model.id.in_((request.model_a_id, request.model_b_id)),
            Model.enabled.is_(True),
            Model.available.is_(True),
        )
    )
    return (request.model_a_id, request.model_b_id) if usable == 2 else None


def _answer_one(
    request: VisitorRequest,
    model: Model,
    maker: AnswerMaker,
    config: Mapping[str, Any],
    clock: Clock,
    reasons: list[str],
) -> bool:
    """One model's answer to the request's prompt; True when a usable one is stored."""
    exists = db.session.scalar(
        select(Response.id).where(
            Response.prompt_id == request.prompt_id,
            Response.model_id == model.id,
            Response.status == "ok",
        )
    )
    if exists is not None:
        return True
    last_write = [clock.monotonic()]

    def on_token(_piece: str) -> None:
        request.tokens += 1
        if clock.monotonic() - last_write[0] >= TOKEN_WRITE_INTERVAL:
            db.session.commit()
            last_write[0] = clock.monotonic()

    outcome = maker.answer(
        ModelRef.of(model),
        request.prompt_id,
        keep_alive=config["BACKEND_KEEP_ALIVE"],
        on_token=on_token,
    )
    if outcome.failure is not None:
        record_failure(None, model.id, outcome.failure)
        reasons.append(f"{model.tag}: {outcome.failure.reason}")
    return outcome.response_id is not None or outcome.duplicate


def _finish(request: VisitorRequest, status: str, error: str | None) -> None:
    request.status = status
    request.claimed_by = None
    request.error = error
    request.tokens = 0
    request.finished_at = utcnow()
    db.session.commit()
