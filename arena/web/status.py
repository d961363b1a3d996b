"""``/status`` and ``/status.json``: the battle pool per pair, the last run, the worker, Ollama."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template

from arena.backends.configured import probe_backend
from arena.ops.status import status_report
from arena.pregen.runner import summary_lines

bp = Blueprint("status", __name__)


@bp.get("/status")
def page() -> str:
    report = status_report(current_app.config, probe_backend())
    last = report["last_run"]
    lines = summary_lines(last["summary"]) if last and last.get("summary") else []
    return render_template("status.html", report=report, summary=lines)


@bp.get("/status.json")
def as_json() -> Response:
    response = jsonify(status_report(current_app.config, probe_backend()))
    response.headers["Cache-Control"] = "no-store"
    return response
