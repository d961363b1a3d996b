"""The worker's heartbeat: it records that it is alive, pages ask whether one is running."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from arena.extensions import db
from arena.models import WorkerHeartbeat, utcnow

WORKER_NAME = "worker"
#: The worker counts as running while its last beat is younger than this many intervals.
MISSED_BEATS = 3


def beat(state: str, detail: str | None = None, *, started: bool = False) -> None:
    """Record that the worker is alive (and what it does)."""
    row = db.session.get(WorkerHeartbeat, WORKER_NAME)
    now = utcnow()
    if row is None:
        row = WorkerHeartbeat(name=WORKER_NAME, started_at=now)
        db.session.add(row)
    if started:
        row.started_at = now
    row.pid, row.host = os.getpid(), socket.gethostname()
    row.state, row.detail, row.beat_at = state, detail, now
    db.session.commit()


def worker_status(config: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """Whether a worker is running (a fresh heartbeat), and what it last said."""
    row = db.session.get(WorkerHeartbeat, WORKER_NAME)
    if row is None:
        return {"running": False, "state": None, "beat_at": None, "age_seconds": None}
    now = now or utcnow()
    age = (now - row.beat_at).total_seconds()
    limit = MISSED_BEATS * float(config["WORKER_HEARTBEAT_SECONDS"])
    return {
        "running": row.state != "stopped" and age <= limit,
        "state": row.state,
        "detail": row.detail,
        "pid": row.pid,
        "host": row.host,
        "started_at": row.started_at.isoformat(timespec="seconds"),
        "beat_at": row.beat_at.isoformat(timespec="seconds"),
        "age_seconds": round(age, 1),
    }


def worker_running(config: Mapping[str, Any]) -> bool:
    return bool(worker_status(config)["running"])
