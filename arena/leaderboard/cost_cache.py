"""Every model's measured cost for the web's pages, kept per process until the data change.

:func:`arena.leaderboard.cost.model_costs` reads every usable answer (about 130 ms at 47,000
answers); the picker, ``/models`` and each model page need it on every request. Stored answers
are never rewritten, so the costs change only when an answer is added or stops being usable, or
a model's memory or disk size is recorded: :func:`costs_signature` reads exactly that (two
index-only aggregates and the models' size columns), and :func:`current_costs` computes again
only when it differs from the signature of the costs it keeps. Each process keeps its own
copy (one per database), so gunicorn's workers never share a stale one.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from arena.extensions import db
from arena.leaderboard.cost import ModelCost, model_costs
from arena.models import Model, Response


@dataclass(frozen=True)
class _Kept:
    signature: str
    costs: dict[int, ModelCost]


_KEPT: dict[str, _Kept] = {}  # database URL -> the costs last computed there
_LOCK = threading.Lock()


def costs_signature(conn: Connection) -> str:
    """A signature of everything :func:`model_costs` (all categories) depends on: the usable
    answers' count and highest id, and each model's memory and disk size."""
    answers = conn.execute(
        select(func.count(), func.max(Response.id)).where(Response.status == "ok")
    ).one()
    models = conn.execute(
        select(Model.id, Model.memory_bytes, Model.memory_source, Model.disk_bytes).order_by(
            Model.id
        )
    ).all()
    parts = [list(answers), [list(row) for row in models]]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


def current_costs() -> dict[int, ModelCost]:
    """:func:`model_costs` over every usable answer, computed again only when the answers or
    the models' sizes changed since this process last computed it. Needs an app context."""
    key = db.engine.url.render_as_string(hide_password=True)
    with db.engine.connect() as conn:
        signature = costs_signature(conn)
        with _LOCK:
            kept = _KEPT.get(key)
        if kept is not None and kept.signature == signature:
            return kept.costs
        costs = model_costs(conn)
    # Read after the signature in one connection: a newer answer makes the next call compute
    # again, never hides behind an older signature.
    with _LOCK:
        _KEPT[key] = _Kept(signature, costs)
    return costs


def forget_costs() -> None:
    """Drop every process-kept copy (tests, and a database restored under the same URL)."""
    with _LOCK:
        _KEPT.clear()
