"""``/status`` and ``/status.json``: the battle pool per pair (the last report kept for the
machine, with its age: ``arena.ops.pool_report_cache``), the last run, the worker, the
backends (their last check, shared by the machine's processes: ``probe_cached``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template

from arena.backends.configured import probe_cached
from arena.ops.status import status_report
from arena.pregen.runner import summary_lines

bp = Blueprint("status", __name__)


def _report() -> dict[str, Any]:
    """The status report, with when the backends were last checked (``backends_check``);
    before the first check ends their reachability is unknown (None)."""
    probe = probe_cached()
    config = current_app.config
    report = status_report(config, probe.problem, machines=bool(config["STATUS_SHOW_MACHINES"]))
    if probe.checked_at is None:
        report["ollama"] = {"reachable": None, "problem": None}
    report["backends_check"] = probe.to_json()
    return report


@bp.get("/status")
def page() -> str:
    report = _report()
    last = report["last_run"]
    lines = summary_lines(last["summary"]) if last and last.get("summary") else []
    return render_template("status.html", report=report, summary=lines)


@bp.get("/status.json")
def as_json() -> Response:
    response = jsonify(_report())
    response.headers["Cache-Control"] = "no-store"
    return response
