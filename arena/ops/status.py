"""What /status and /status.json show: the pool, the runs, the worker, the queue, the backends."""

from __future__ import annotations

import hashlib
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

#: Where a worker or web node runs: for operators, not for every visitor of /status.
WHERE = ("host", "pid", "instance", "limits")


def status_report(
    config: Mapping[str, Any], ollama_problem: str | None, *, machines: bool = True
) -> dict[str, Any]:
    """Everything /status and /status.json show; ``ollama_problem`` is None when reachable.

    ``machines`` false (the public page unless ``STATUS_SHOW_MACHINES``) leaves out where
    each worker and web node runs (:data:`WHERE`) and names each by a hash that tells them
    apart; /admin shows everything.

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
        "worker": worker_status(config) if machines else _public(worker_status(config)),
        "queue": {"waiting": pending_count()},
        "web_nodes": nodes_report(public=not machines),
        "ollama": {"reachable": ollama_problem is None, "problem": ollama_problem},
    }
    return {"pool": pool, **redact_data(report)}  # the pool was redacted when computed


def _public(worker: dict[str, Any]) -> dict[str, Any]:
    """``worker_status`` without :data:`WHERE`, each worker named ``worker-`` and a hash."""

    def strip(entry: Mapping[str, Any]) -> dict[str, Any]:
        out = {key: value for key, value in entry.items() if key not in WHERE}
        if "name" in out:
            out["name"] = "worker-" + hashlib.sha256(str(entry["name"]).encode()).hexdigest()[:6]
        return out

    out = strip(worker)
    out["active"] = strip(worker["active"]) if worker.get("active") else None
    out["workers"] = [strip(w) for w in worker.get("workers", [])]
    return out
