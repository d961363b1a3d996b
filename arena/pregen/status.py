"""What /status shows: the pool per pair, the last run, the worker's heartbeat, the queue."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from arena.extensions import db
from arena.models import GenerationRun, WorkerHeartbeat, utcnow
from arena.pregen.planner import capped_models, enabled_models, load_pool_state, pool_sizes
from arena.pregen.records import last_run
from arena.pregen.visitor import pending_count

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


def pool_report(config: Mapping[str, Any]) -> dict[str, Any]:
    """Battles and fresh battles per pair of enabled models, against the target."""
    models = enabled_models()
    tags = {m.id: m.display_name for m in models}
    capped = capped_models(models, config.get("BATTLE_CAP"))
    state = load_pool_state(list(tags), active_days=float(config.get("POOL_ACTIVE_VOTER_DAYS", 30)))
    target = int(config.get("POOL_TARGET", 20))
    pairs = [
        {
            "a": tags[a],
            "b": tags[b],
            "battles": total,
            "fresh": fresh,
            "short": max(0, target - fresh) if not ({a, b} & capped) else 0,
        }
        for (a, b), (total, fresh) in sorted(pool_sizes(state, tags).items())
    ]
    pairs.sort(key=lambda row: (row["fresh"], row["a"], row["b"]))
    return {
        "target": target,
        "models": len(models),
        "capped": sorted(tags[m] for m in capped),
        "active_voters": state.active_voters,
        "pairs": pairs,
        "pairs_short": sum(1 for row in pairs if row["short"]),
        "min_fresh": min((row["fresh"] for row in pairs), default=None),
    }


def run_report(run: GenerationRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "trigger": run.trigger,
        "status": run.status,
        "stop_reason": run.stop_reason,
        "planned": run.planned,
        "stored": run.stored,
        "started_at": run.started_at.isoformat(timespec="seconds"),
        "updated_at": run.updated_at.isoformat(timespec="seconds"),
        "finished_at": run.finished_at.isoformat(timespec="seconds") if run.finished_at else None,
        "summary": run.summary,
    }


def recent_runs(limit: int = 5) -> list[dict[str, Any]]:
    runs = db.session.scalars(
        select(GenerationRun).order_by(GenerationRun.started_at.desc()).limit(limit)
    )
    return [report for run in runs if (report := run_report(run)) is not None]


def status_report(config: Mapping[str, Any], ollama_problem: str | None) -> dict[str, Any]:
    """Everything /status and /status.json show; ``ollama_problem`` is None when reachable."""
    since = utcnow() - timedelta(days=1)
    runs = recent_runs()
    return {
        "pool": pool_report(config),
        "last_run": run_report(last_run()),
        "recent_runs": [r for r in runs if datetime.fromisoformat(r["started_at"]) >= since],
        "worker": worker_status(config),
        "queue": {"waiting": pending_count()},
        "ollama": {"reachable": ollama_problem is None, "problem": ollama_problem},
    }
