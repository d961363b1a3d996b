"""Visitors' own prompts: a queue the worker answers with two models, ahead of batch work.

The web only queues and reports; it never generates. Each request is answered by two models
chosen by matchmaking (``choose_model_pair``); a model that fails is replaced by another.
The prompt stays private (``shared=False``) unless ``VISITOR_PROMPTS_SHARED`` is set.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from arena.extensions import db
from arena.matchmaking import choose_model_pair
from arena.models import Model, Prompt, Response, VisitorRequest, is_token_id, prompt_hash, utcnow
from arena.pregen.clock import SYSTEM_CLOCK, Clock
from arena.pregen.generate import AnswerMaker, ModelRef
from arena.pregen.records import record_failure
from arena.prompts import validate_prompt_text
from arena.rendering import RENDER_VERSION, render_markdown

ANSWERS_PER_REQUEST = 2
#: Models tried per request beyond the two chosen, when one of them fails.
MAX_REPLACEMENTS = 2
TOKEN_WRITE_INTERVAL = 1.0  # seconds between progress writes while an answer streams
#: Web processes cache the matchmaking pool for a few seconds: a battle may take that long.
BATTLE_GRACE_SECONDS = 30.0


class VisitorError(ValueError):
    status = 400


class QueueFull(VisitorError):
    status = 503


class RequestNotFound(VisitorError):
    status = 404


class NotYourRequest(VisitorError):
    status = 403


class AlreadyWaiting(VisitorError):
    """This voter already has a prompt in the queue; ``request_id`` is that one."""

    status = 409

    def __init__(self, request_id: str) -> None:
        super().__init__("you already have a prompt waiting: it is answered first")
        self.request_id = request_id


@dataclass(frozen=True)
class QueueStatus:
    """What the waiting page shows."""

    id: str
    state: str  # queued, running, done, failed
    ahead: int  # requests answered before this one
    answers_done: int
    answers_total: int
    tokens: int
    error: str | None
    battle_id: str | None
    waited_seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "position": self.ahead + 1 if self.state == "queued" else 0,
            "ahead": self.ahead,
            "answers_done": self.answers_done,
            "answers_total": self.answers_total,
            "tokens": self.tokens,
            "error": self.error,
            "waited_seconds": round(self.waited_seconds, 1),
        }


def submit(voter: str, text: object, config: Mapping[str, Any]) -> VisitorRequest:
    """Queue a visitor's prompt (validated; PromptError says what is wrong with it)."""
    cleaned = validate_prompt_text(text, int(config["PROMPT_MAX_CHARS"]))
    waiting = db.session.scalar(
        select(VisitorRequest.id).where(
            VisitorRequest.voter == voter, VisitorRequest.status.in_(("queued", "running"))
        )
    )
    if waiting is not None:
        raise AlreadyWaiting(waiting)
    queued = db.session.scalar(
        select(func.count()).where(VisitorRequest.status.in_(("queued", "running")))
    )
    if (queued or 0) >= int(config["VISITOR_QUEUE_MAX"]):
        raise QueueFull("the queue of visitors' prompts is full: please try again later")
    prompt = _find_or_add_prompt(cleaned, shared=bool(config.get("VISITOR_PROMPTS_SHARED")))
    request = VisitorRequest(id=secrets.token_urlsafe(16), voter=voter, prompt_id=prompt.id)
    if _answered_by(prompt.id) >= ANSWERS_PER_REQUEST:
        request.status, request.finished_at = "done", utcnow()  # asked before: no wait
        request.answers_done = ANSWERS_PER_REQUEST
    db.session.add(request)
    db.session.commit()
    return request


def _find_or_add_prompt(text: str, shared: bool) -> Prompt:
    digest = prompt_hash(text)
    prompt = db.session.scalar(select(Prompt).where(Prompt.text_hash == digest))
    if prompt is None:
        prompt = Prompt(
            text=text,
            text_hash=digest,
            html=str(render_markdown(text)),
            html_version=RENDER_VERSION,
            source="visitor",
            shared=shared,
        )
        db.session.add(prompt)
        db.session.flush()
    return prompt


def _answered_by(prompt_id: int) -> int:
    """Enabled models with a usable answer to this prompt."""
    return (
        db.session.scalar(
            select(func.count(Response.id))
            .join(Model, Model.id == Response.model_id)
            .where(Response.prompt_id == prompt_id, Response.status == "ok")
            .where(Model.enabled.is_(True))
        )
        or 0
    )


def get_request(request_id: str, voter: str) -> VisitorRequest:
    request = db.session.get(VisitorRequest, request_id) if is_token_id(request_id) else None
    if request is None:
        raise RequestNotFound("there is no such prompt in the queue")
    if request.voter != voter:
        raise NotYourRequest("this prompt was asked by someone else")
    return request


def queue_status(request: VisitorRequest, now: datetime | None = None) -> QueueStatus:
    ahead = 0
    if request.status == "queued":
        ahead = (
            db.session.scalar(
                select(func.count()).where(
                    (VisitorRequest.status == "running")
                    | (
                        (VisitorRequest.status == "queued")
                        & (VisitorRequest.created_at < request.created_at)
                    )
                )
            )
            or 0
        )
    end = request.finished_at or now or utcnow()
    return QueueStatus(
        request.id,
        request.status,
        ahead,
        request.answers_done,
        ANSWERS_PER_REQUEST,
        request.tokens,
        request.error,
        request.battle_id,
        (end - request.created_at).total_seconds(),
    )


def pending_count() -> int:
    return (
        db.session.scalar(
            select(func.count()).where(VisitorRequest.status.in_(("queued", "running")))
        )
        or 0
    )


def requeue_abandoned() -> int:
    """Put requests a dead worker left 'running' back in the queue (at worker start)."""
    result = db.session.execute(
        update(VisitorRequest)
        .where(VisitorRequest.status == "running")
        .values(status="queued", tokens=0, started_at=None)
    )
    db.session.commit()
    return result.rowcount or 0  # type: ignore[attr-defined]


def _take_next() -> VisitorRequest | None:
    """Claim the oldest queued request (atomically, in case two processes ever look)."""
    while True:
        request_id = db.session.scalar(
            select(VisitorRequest.id)
            .where(VisitorRequest.status == "queued")
            .order_by(VisitorRequest.created_at, VisitorRequest.id)
            .limit(1)
        )
        if request_id is None:
            return None
        claimed = db.session.execute(
            update(VisitorRequest)
            .where(VisitorRequest.id == request_id, VisitorRequest.status == "queued")
            .values(status="running", started_at=utcnow(), tokens=0)
        )
        db.session.commit()
        if claimed.rowcount:  # type: ignore[attr-defined]
            return db.session.get(VisitorRequest, request_id)


def process_queue(
    maker: AnswerMaker,
    config: Mapping[str, Any],
    *,
    clock: Clock = SYSTEM_CLOCK,
    rng: random.Random | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Answer every queued request, oldest first; returns how many were handled."""
    rng = rng or random.Random()
    handled = 0
    while not should_stop():
        request = _take_next()
        if request is None:
            break
        answer_request(request, maker, config, clock=clock, rng=rng)
        handled += 1
    return handled


def answer_request(
    request: VisitorRequest,
    maker: AnswerMaker,
    config: Mapping[str, Any],
    *,
    clock: Clock = SYSTEM_CLOCK,
    rng: random.Random | None = None,
) -> None:
    """Generate the two answers of one request, replacing a model that fails."""
    rng = rng or random.Random()
    chosen = choose_model_pair(rng)
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
    request.model_a_id, request.model_b_id = answered
    _finish(request, "done", None)


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
        ModelRef(model.id, model.tag, model.family),
        request.prompt_id,
        keep_alive=config["OLLAMA_KEEP_ALIVE"],
        on_token=on_token,
    )
    if outcome.failure is not None:
        record_failure(None, model.id, outcome.failure)
        reasons.append(f"{model.tag}: {outcome.failure.reason}")
    return outcome.response_id is not None or outcome.duplicate


def _finish(request: VisitorRequest, status: str, error: str | None) -> None:
    request.status = status
    request.error = error
    request.tokens = 0
    request.finished_at = utcnow()
    db.session.commit()


def battle_overdue(request: VisitorRequest, now: datetime | None = None) -> bool:
    """Answered a while ago and still no battle: this visitor has judged every pair of
    answers to the prompt, or the models were disabled meanwhile."""
    if request.finished_at is None or request.battle_id is not None:
        return False
    return ((now or utcnow()) - request.finished_at).total_seconds() > BATTLE_GRACE_SECONDS


def attach_battle(request: VisitorRequest, battle_id: str) -> None:
    request.battle_id = battle_id
    db.session.commit()
