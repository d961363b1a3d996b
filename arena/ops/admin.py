"""Operator services behind /admin: who may enter, flagged votes, and asking for a run.

Who may enter: the operator's token (``ADMIN_TOKEN``), given as a Bearer header by scripts,
or once on the sign-in form, which opens a server-side session (:func:`start_session`). That
session ends at sign-out, after ``ADMIN_SESSION_HOURS``, and as soon as the token changes:
the cookie holds only a random key whose row must exist, be unexpired and carry the
fingerprint of the current token, so a copy of the cookie taken before any of those is
worthless. The rows live in the database, so every web process and machine sees them.

The web never generates: "start a pre-generation run" leaves a request in the database,
which the active worker picks up within a minute (the worker owns the backends).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import aliased

from arena.extensions import db
from arena.models import AdminSession, Model, RunRequest, Vote, utcnow


def admin_token(config: Mapping[str, Any]) -> str | None:
    """The operator's token, or None when the admin pages are disabled (the default)."""
    token = config.get("ADMIN_TOKEN")
    return str(token) if token else None


def token_matches(config: Mapping[str, Any], given: str | None) -> bool:
    expected = admin_token(config)
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def token_fingerprint(config: Mapping[str, Any]) -> str:
    """A keyed hash of the current token (HMAC with SECRET_KEY): stored with a session to tell
    when the token changed, without storing anything a token could be guessed from."""
    key = str(config.get("SECRET_KEY") or "").encode()
    return hmac.new(key, (admin_token(config) or "").encode(), hashlib.sha256).hexdigest()


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def start_session(config: Mapping[str, Any]) -> str:
    """Open an operator session of ``ADMIN_SESSION_HOURS``; returns the key for the cookie.
    Sessions already over are deleted on the way."""
    now = utcnow()
    db.session.execute(delete(AdminSession).where(AdminSession.expires_at <= now))
    key = secrets.token_urlsafe(32)
    hours = float(config.get("ADMIN_SESSION_HOURS", 8.0))
    db.session.add(
        AdminSession(
            key_hash=_key_hash(key),
            token_fingerprint=token_fingerprint(config),
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    db.session.commit()
    return key


def session_open(config: Mapping[str, Any], key: object) -> bool:
    """Whether ``key`` (from the cookie) is an operator session still open: not signed out,
    not expired, opened with the current token. One that is over is deleted."""
    if not isinstance(key, str) or not key or admin_token(config) is None:
        return False
    row = db.session.scalar(select(AdminSession).where(AdminSession.key_hash == _key_hash(key)))
    if row is None:
        return False
    current = hmac.compare_digest(row.token_fingerprint, token_fingerprint(config))
    if current and row.expires_at > utcnow():
        return True
    db.session.delete(row)
    db.session.commit()
    return False


def end_session(key: object) -> None:
    """Sign out: the session of ``key`` ends (a copy of its cookie opens nothing)."""
    if isinstance(key, str) and key:
        db.session.execute(delete(AdminSession).where(AdminSession.key_hash == _key_hash(key)))
        db.session.commit()


@dataclass(frozen=True)
class FlaggedVote:
    id: int
    created_at: datetime
    model_a: str
    model_b: str
    outcome: str
    reason: str
    source: str


def flagged_votes(limit: int = 100) -> list[FlaggedVote]:
    """The newest votes kept out of the ratings, with why."""
    a, b = aliased(Model), aliased(Model)
    rows = db.session.execute(
        select(Vote.id, Vote.created_at, a.tag, b.tag, Vote.outcome, Vote.flag_reason, Vote.source)
        .join(a, a.id == Vote.model_a_id)
        .join(b, b.id == Vote.model_b_id)
        .where(Vote.excluded.is_(True))
        .order_by(Vote.id.desc())
        .limit(limit)
    )
    return [FlaggedVote(*row[:5], row[5] or "flagged", row[6]) for row in rows]


def vote_totals() -> dict[str, int]:
    total, flagged = db.session.execute(
        select(func.count(Vote.id), func.count(Vote.id).filter(Vote.excluded.is_(True)))
    ).one()
    return {"total": total, "flagged": flagged, "counted": total - flagged}


def request_run(budget: str | None, models: Sequence[str] = ()) -> None:
    """Ask the worker for a pre-generation run now (replacing an earlier, unstarted request).

    Stored in the database: the active worker sees it whichever web node took it."""
    db.session.execute(delete(RunRequest).where(RunRequest.taken_at.is_(None)))
    db.session.add(RunRequest(budget=budget, models=list(models)))
    db.session.commit()


def _as_json(row: RunRequest) -> dict[str, Any]:
    return {
        "requested_at": row.requested_at.isoformat(),
        "budget": row.budget,
        "models": list(row.models or []),
    }


def pending_run_request() -> dict[str, Any] | None:
    row = db.session.scalar(
        select(RunRequest)
        .where(RunRequest.taken_at.is_(None))
        .order_by(RunRequest.id.desc())
        .limit(1)
    )
    return _as_json(row) if row is not None else None


def take_run_request(worker: str = "worker") -> dict[str, Any] | None:
    """The worker's side: claim the pending request, if any (one worker gets it, however
    many look at once); earlier, started requests are forgotten."""
    while True:
        row = db.session.scalar(
            select(RunRequest)
            .where(RunRequest.taken_at.is_(None))
            .order_by(RunRequest.id.desc())
            .limit(1)
        )
        if row is None:
            db.session.commit()
            return None
        taken = db.session.execute(
            update(RunRequest)
            .where(RunRequest.id == row.id, RunRequest.taken_at.is_(None))
            .values(taken_at=utcnow(), taken_by=worker)
        )
        if taken.rowcount:  # type: ignore[attr-defined]  # an UPDATE's Result: a CursorResult
            request = _as_json(row)
            db.session.execute(
                delete(RunRequest).where(RunRequest.taken_at.is_not(None), RunRequest.id != row.id)
            )
            db.session.commit()
            return request
        db.session.commit()
