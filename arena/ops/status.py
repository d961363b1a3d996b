"""What /status and /status.json show: the pool, the runs, the worker, the queue, the backends."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from arena.backends.redact import redact_data
from arena.models import utcnow
from arena.ops.heartbeat import worker_status
from arena.play.visitors import pending_count
from arena.pregen.records import last_run
from arena.pregen.status import pool_report, recent_runs, run_report


def status_report(config: Mapping[str, Any], ollama_problem: str | None) -> dict[str, Any]:
    """Everything /status and /status.json show; ``ollama_problem`` is None when reachable.

    Never a credential: backend URLs lose their passwords and keys, in the live check and in
    stored text too (failure reasons and summaries of runs stored before they were redacted).
    """
    since = utcnow() - timedelta(days=1)
    runs = recent_runs()
    report = {
        "pool": pool_report(config),
        "last_run": run_report(last_run()),
        "recent_runs": [r for r in runs if datetime.fromisoformat(r["started_at"]) >= since],
        "worker": worker_status(config),
        "queue": {"waiting": pending_count()},
        "ollama": {"reachable": ollama_problem is None, "problem": ollama_problem},
    }
    return dict(redact_data(report))
