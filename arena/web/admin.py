"""Operator pages: models, prompts, flagged votes, the pool, and starting a run.

Disabled (404) unless ADMIN_TOKEN is set; there is no default credential. The token is given
once on a login form, which opens a server-side session (``arena.ops.admin``: it ends at
sign-out, after ADMIN_SESSION_HOURS and when the token changes; the cookie only names it), or
on each request as a Bearer header (``arena.web.security.operator_bearer``: no CSRF token
needed, every attempt rate-limited, a wrong token a 401).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response as WerkzeugResponse

from arena.backends.configured import probe_backend
from arena.ops import admin
from arena.ops.status import status_report
from arena.play import catalogue, prompts
from arena.pregen import LimitError
from arena.pregen.clock import parse_duration
from arena.web.errors import wants_json
from arena.web.security import operator_bearer

bp = Blueprint("admin", __name__, url_prefix="/admin")

#: The session cookie's key that names the operator's server-side session.
SESSION_KEY = "admin_session"


@bp.before_request
def _enabled() -> None:
    if admin.admin_token(current_app.config) is None:
        abort(404, description="The admin pages are disabled: set ARENA_ADMIN_TOKEN to use them.")


def _signed_in() -> bool:
    """The operator's Bearer token (a wrong one is a 401), or a session still open."""
    if operator_bearer():
        return True
    session.pop("admin", None)  # the old, unrevocable sign-in of earlier versions
    if admin.session_open(current_app.config, session.get(SESSION_KEY)):
        return True
    session.pop(SESSION_KEY, None)
    return False


def operator_only(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not _signed_in():
            if wants_json():  # a script: a plain refusal, not a form to fill in
                abort(401, description="Sign in first: send the token as a Bearer header.")
            return redirect(url_for("admin.login", next=request.path))
        return view(*args, **kwargs)

    return wrapped


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | tuple[str, int] | WerkzeugResponse:
    if request.method == "POST":
        if admin.token_matches(current_app.config, request.form.get("token")):
            admin.end_session(session.get(SESSION_KEY))
            session[SESSION_KEY] = admin.start_session(current_app.config)
            return redirect(url_for("admin.index"), code=303)
        return render_template("admin_login.html", error="That token is not right."), 403
    return render_template("admin_login.html", error=None)


@bp.post("/logout")
def logout() -> WerkzeugResponse:
    admin.end_session(session.pop(SESSION_KEY, None))
    session.pop("admin", None)
    return redirect(url_for("battle.index"), code=303)


@bp.get("")
@operator_only
def index() -> str:
    return render_template(
        "admin.html",
        models=catalogue.list_models(),
        categories=sorted(prompts.counts_by_category().items()),
        flagged=admin.flagged_votes(),
        votes=admin.vote_totals(),
        report=status_report(current_app.config, probe_backend()),
        pending=admin.pending_run_request(),
    )


@bp.post("/models/<int:model_id>")
@operator_only
def set_model(model_id: int) -> WerkzeugResponse:
    enabled = request.form.get("enabled") == "1"
    tags = {m.id: m.tag for m in catalogue.list_models()}
    if model_id not in tags:
        abort(404, description="No such model.")
    try:
        catalogue.set_enabled(tags[model_id], enabled)
    except catalogue.CatalogueError as error:
        flash(str(error), "error")
    else:
        flash(f"{'Enabled' if enabled else 'Disabled'} {tags[model_id]}.", "ok")
    return redirect(url_for("admin.index"), code=303)


@bp.post("/prompts")
@operator_only
def add_prompt() -> WerkzeugResponse:
    text, category = request.form.get("text", ""), request.form.get("category") or None
    report = prompts.add_prompts(
        [(1, text, category)],
        source="import",
        max_chars=int(current_app.config["PROMPT_MAX_CHARS"]),
    )
    if report.invalid:
        flash(f"Not added: {report.invalid[0][1]}.", "error")
    elif report.duplicates:
        flash("Not added: that prompt is already in the bank.", "error")
    else:
        flash("Prompt added to the bank.", "ok")
    return redirect(url_for("admin.index"), code=303)


@bp.post("/run")
@operator_only
def start_run() -> WerkzeugResponse:
    budget = request.form.get("budget", "").strip() or None
    if budget:
        try:
            parse_duration(budget)
        except LimitError as error:
            flash(f"Not started: {error}", "error")
            return redirect(url_for("admin.index"), code=303)
    admin.request_run(budget)
    flash("Run requested: the worker starts it within a minute.", "ok")
    return redirect(url_for("admin.index"), code=303)
