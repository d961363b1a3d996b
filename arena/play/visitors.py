"""Visitors' own prompts, the web's side: queue one, follow it, turn it into a battle.

The web only queues and reports; it never generates. The worker answers the queue
(``arena.pregen.visitor``) with two models chosen by matchmaking, ahead of batch work. The
prompt stays private (``shared=False``) unless ``VISITOR_PROMPTS_SHARED`` is set.

The queue is bounded three ways: one waiting prompt per voter cookie, at most
``VISITOR_QUEUE_PER_ADDRESS`` per client address (cookies are free to make, addresses are
not), and ``VISITOR_QUEUE_MAX`` in all. The address is stored as a keyed hash
(:func:`address_tag`), never as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy import text as sql

from arena.extensions import db
from arena.models import Model, Prompt, Response, is_token_id, prompt_hash, utcnow

# Re-exported: the web names the request it shows without importing the tables.
from arena.models import VisitorRequest as VisitorRequest
from arena.play.prompts import validate_prompt_text
from arena.rendering import RENDER_VERSION, render_markdown

ANSWERS_PER_REQUEST = 2
#: Web processes cache the matchmaking pool for a few seconds: a battle may take that long.
BATTLE_GRACE_SECONDS = 30.0


class VisitorError(ValueError):
    status = 400


class QueueFull(VisitorError):
    status = 503


class AddressQuotaFull(VisitorError):
    """Prompts from this client address already wait, as many as it may queue."""

    status = 429

    def __init__(self, quota: int) -> None:
        prompts = "prompt waits" if quota == 1 else "prompts wait"
        super().__init__(
            f"{quota} {prompts} from your address already, as many as one address may have in "
            "the queue: please ask again once one of them has been answered"
        )


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


def address_tag(address: str, secret: str | bytes) -> str:
    """A keyed hash of a client address: equal for equal addresses, and the address cannot be
    read back from it (nor found by hashing every address without the app's secret key)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, address.encode(), hashlib.sha256).hexdigest()[:32]


def submit(
    voter: str, text: object, config: Mapping[str, Any], address: str | None = None
) -> VisitorRequest:
    """Queue a visitor's prompt (validated; PromptError says what is wrong with it).

    ``address``: the client's (as the rate limits count it), for ``VISITOR_QUEUE_PER_ADDRESS``;
    AddressQuotaFull when that many of its prompts already wait.
    """
    cleaned = validate_prompt_text(text, int(config["PROMPT_MAX_CHARS"]))
    _serialize_submissions()
    waiting_states = VisitorRequest.status.in_(("queued", "running"))
    waiting = db.session.scalar(
        select(VisitorRequest.id).where(VisitorRequest.voter == voter, waiting_states)
    )
    if waiting is not None:
        raise AlreadyWaiting(waiting)
    tag = address_tag(address, config["SECRET_KEY"]) if address else None
    quota = int(config.get("VISITOR_QUEUE_PER_ADDRESS") or 0)
    if tag is not None and quota:
        mine = db.session.scalar(
            select(func.count()).where(VisitorRequest.address == tag, waiting_states)
        )
        if (mine or 0) >= quota:
            raise AddressQuotaFull(quota)
    queued = db.session.scalar(select(func.count()).where(waiting_states))
    if (queued or 0) >= int(config["VISITOR_QUEUE_MAX"]):
        raise QueueFull("the queue of visitors' prompts is full: please try again later")
    prompt = _find_or_add_prompt(cleaned, shared=bool(config.get("VISITOR_PROMPTS_SHARED")))
    request = VisitorRequest(
        id=secrets.token_urlsafe(16), voter=voter, address=tag, prompt_id=prompt.id
    )
    if _answered_by(prompt.id) >= ANSWERS_PER_REQUEST:
        request.status, request.finished_at = "done", utcnow()  # asked before: no wait
        request.answers_done = ANSWERS_PER_REQUEST
    db.session.add(request)
    db.session.commit()
    return request


def _serialize_submissions() -> None:
    """Make the quotas' counts and the new request one step for every web node: on
    PostgreSQL a transaction-scoped advisory lock, held until the caller's commit, so two
    nodes (or two gunicorn workers) counting at once cannot both see room for one more
    prompt. On SQLite (one machine's gunicorn workers) an UPDATE that changes nothing
    takes the database's write lock first, to the same effect."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sql("SELECT pg_advisory_xact_lock(hashtext(:name))"), _QUEUE_LOCK)
    else:
        db.session.execute(sql("UPDATE visitor_request SET status = status WHERE 1 = 0"))


_QUEUE_LOCK = {"name": "gpu-poor-arena:visitor-queue"}


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


def battle_overdue(request: VisitorRequest, now: datetime | None = None) -> bool:
    """Answered a while ago and still no battle: this visitor has judged every pair of
    answers to the prompt, or the models were disabled meanwhile."""
    if request.finished_at is None or request.battle_id is not None:
        return False
    return ((now or utcnow()) - request.finished_at).total_seconds() > BATTLE_GRACE_SECONDS


def attach_battle(request: VisitorRequest, battle_id: str) -> None:
    request.battle_id = battle_id
    db.session.commit()
