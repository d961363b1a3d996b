"""Operator services behind /admin: who may enter, flagged votes, and asking for a run.

The web never generates: "start a pre-generation run" leaves a request in the instance
folder, which the worker picks up within a minute (the worker owns the backends).
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from arena.extensions import db
from arena.models import Model, Vote, utcnow

RUN_REQUEST_FILE = "run-request.json"


def admin_token(config: Mapping[str, Any]) -> str | None:
    """The operator's token, or None when the admin pages are disabled (the default)."""
    token = config.get("ADMIN_TOKEN")
    return str(token) if token else None


def token_matches(config: Mapping[str, Any], given: str | None) -> bool:
    expected = admin_token(config)
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


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


def request_run(instance_path: str, budget: str | None, models: Sequence[str] = ()) -> Path:
    """Ask the worker for a pre-generation run now (replacing an earlier, unstarted request)."""
    path = Path(instance_path) / RUN_REQUEST_FILE
    request = {"requested_at": utcnow().isoformat(), "budget": budget, "models": list(models)}
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(request))
    os.replace(partial, path)
    return path


def pending_run_request(instance_path: str) -> dict[str, Any] | None:
    path = Path(instance_path) / RUN_REQUEST_FILE
    try:
        return dict(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):
        return None


def take_run_request(instance_path: str) -> dict[str, Any] | None:
    """The worker's side: read and remove the pending request, if any."""
    request = pending_run_request(instance_path)
    (Path(instance_path) / RUN_REQUEST_FILE).unlink(missing_ok=True)
    return request
