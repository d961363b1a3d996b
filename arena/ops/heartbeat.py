"""Workers' heartbeats: each records that it is alive and its role, pages ask who runs.

Each worker has its own row, named after its host and instance folder (a restarted worker
takes its row again). ``role`` is 'active' for the worker holding the lease
(``arena.ops.lease``), which runs the nightly jobs, 'standby' for the others.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from arena.extensions import db
from arena.models import WorkerHeartbeat, utcnow

#: A worker counts as running while its last beat is younger than this many intervals.
MISSED_BEATS = 3
ROLES = ("active", "standby")


def worker_name(instance_path: str | None = None, host: str | None = None) -> str:
    """This worker's row: its host (shortened) and a digest of its instance folder."""
    host = host or socket.gethostname()
    folder = os.path.realpath(instance_path or current_app.instance_path)
    digest = hashlib.sha256(f"{host}\0{folder}".encode()).hexdigest()[:10]
    return f"{host[:28]}-{digest}"


def beat(
    state: str,
    detail: str | None = None,
    *,
    started: bool = False,
    role: str | None = None,
    role_since: datetime | None = None,
) -> None:
    """Record that this worker is alive, what it does, and its role (needs an app context)."""
    name = worker_name()
    row = db.session.get(WorkerHeartbeat, name)
    now = utcnow()
    if row is None:
        row = WorkerHeartbeat(name=name, started_at=now)
        db.session.add(row)
    if started:
        row.started_at = now
    row.pid, row.host = os.getpid(), socket.gethostname()
    row.instance = os.path.realpath(current_app.instance_path)
    row.state, row.detail, row.beat_at = state, detail, now
    row.role, row.role_since = role, role_since
    db.session.commit()


def mark_others_standby() -> None:
    """The lease was just taken: a row still saying 'active' is a worker that lost it."""
    db.session.execute(
        update(WorkerHeartbeat)
        .where(WorkerHeartbeat.role == "active", WorkerHeartbeat.name != worker_name())
        .values(role="standby")
    )
    db.session.commit()


def _limit(config: Mapping[str, Any]) -> float:
    return MISSED_BEATS * float(config["WORKER_HEARTBEAT_SECONDS"])


def live_workers(config: Mapping[str, Any], now: datetime | None = None) -> set[str]:
    """Names of the workers whose heartbeat is fresh (not stopped)."""
    now = now or utcnow()
    rows = db.session.scalars(select(WorkerHeartbeat).where(WorkerHeartbeat.state != "stopped"))
    return {row.name for row in rows if (now - row.beat_at).total_seconds() <= _limit(config)}


def _entry(row: WorkerHeartbeat, now: datetime, limit: float) -> dict[str, Any]:
    age = (now - row.beat_at).total_seconds()
    return {
        "name": row.name,
        "running": row.state != "stopped" and age <= limit,
        "role": row.role,
        "role_since": row.role_since.isoformat(timespec="seconds") if row.role_since else None,
        "state": row.state,
        "detail": row.detail,
        "pid": row.pid,
        "host": row.host,
        "instance": row.instance,
        "started_at": row.started_at.isoformat(timespec="seconds"),
        "beat_at": row.beat_at.isoformat(timespec="seconds"),
        "age_seconds": round(age, 1),
    }


def _order(entry: Mapping[str, Any]) -> tuple[int, int, float]:
    """Running first, the active one first among them, then the freshest."""
    return (not entry["running"], entry["role"] != "active", entry["age_seconds"])


def worker_status(config: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """Whether a worker is running (a fresh heartbeat), which one is active, and every worker.

    The top-level fields describe the active worker (else the freshest one), as before there
    were several; ``active`` is the running worker holding the lease (None while there is
    none, e.g. between an active worker's death and its standby's takeover); ``workers``
    lists every worker that ever beat, running ones first.
    """
    now = now or utcnow()
    limit = _limit(config)
    rows = db.session.scalars(select(WorkerHeartbeat)).all()
    workers = sorted((_entry(row, now, limit) for row in rows), key=_order)
    running_active = [w for w in workers if w["running"] and w["role"] == "active"]
    # Two rows saying active for a moment (the dead one not yet stale): the newest holder.
    active = max(running_active, key=lambda w: w["role_since"] or "", default=None)
    if not workers:
        return {
            "running": False,
            "state": None,
            "beat_at": None,
            "age_seconds": None,
            "active": None,
            "workers": [],
        }
    main = active or workers[0]
    return {
        **{key: main[key] for key in main if key not in ("name", "instance")},
        "running": any(w["running"] for w in workers),
        "active": active,
        "workers": workers,
    }


def worker_running(config: Mapping[str, Any]) -> bool:
    return bool(worker_status(config)["running"])
