"""What /status and /status.json show: the pool, the runs, the worker, the queue, the backends."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from arena.backends.redact import redact_data
from arena.models import utcnow
from arena.ops import pool_report_cache
from arena.ops.heartbeat import worker_status
from arena.ops.nodes import nodes_report
from arena.play.visitors import pending_count
from arena.pregen.records import last_run
from arena.pregen.status import recent_runs, run_report


def status_report(config: Mapping[str, Any], ollama_problem: str | None) -> dict[str, Any]:
    """Everything /status and /status.json show; ``ollama_problem`` is None when reachable.

    Never a credential: backend URLs lose their passwords and keys, in the live check and in
    stored text too (failure reasons and summaries of runs stored before they were redacted).
    The pool is the last report kept for the machine (``arena.ops.pool_report_cache``), with
    its ``computed_at``, ``age_seconds`` and ``updating``: never computed per view.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    pool = pool_report_cache.served(app).to_json(int(config.get("POOL_TARGET", 20)))
    since = utcnow() - timedelta(days=1)
    runs = recent_runs()
    report = {
        "last_run": run_report(last_run()),
        "recent_runs": [r for r in runs if datetime.fromisoformat(r["started_at"]) >= since],
        "worker": worker_status(config),
        "queue": {"waiting": pending_count()},
        "web_nodes": nodes_report(),
        "ollama": {"reachable": ollama_problem is None, "problem": ollama_problem},
    }
    return {"pool": pool, **redact_data(report)}  # the pool was redacted when computed
