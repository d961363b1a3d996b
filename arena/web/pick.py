"""The picker: ``/pick`` (a GET form and its answer), ``/api/pick.json`` (the same as JSON)
and ``/pick/settle`` (the "settle it" link: the visitor's next battles under focus).

Thin views over :mod:`arena.leaderboard.picker` and :mod:`arena.play.focus`. Bad input is a
clear 400: JSON ``{"error", "message", "status"}`` on the JSON route, the form with the
message on the page.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as WerkzeugResponse

from arena.leaderboard.filters import known_categories
from arena.leaderboard.picker import GIB, Pick, PickError, parse_pick, pick
from arena.play.focus import FOCUS_BATTLES, MAX_FOCUS_MODELS, FocusError, read_token
from arena.web.session import start_focus

bp = Blueprint("pick", __name__)


def _settle_url(result: Pick, *, external: bool = False) -> str | None:
    if result.focus is None:
        return None
    return url_for("pick.settle", focus=result.focus, _external=external)


@bp.get("/pick")
def form() -> tuple[str, int]:
    categories = known_categories()
    try:
        query = parse_pick(request.args, categories)
    except PickError as error:
        page = render_template(
            "pick.html", result=None, error=str(error), args=request.args, categories=categories
        )
        return page, 400
    result = pick(query)
    page = render_template(
        "pick.html",
        result=result,
        error=None,
        args=query.params(),
        categories=categories,
        settle_url=_settle_url(result),
        focus_battles=FOCUS_BATTLES,
        max_focus=MAX_FOCUS_MODELS,
        gib=GIB,
        model_pages="models.show" in current_app.view_functions,
    )
    return page, 200


@bp.get("/api/pick.json")
def as_json() -> Response:
    """The pick as JSON: ``models`` (best first), ``unknown_cost``, ``overlap``, ``verdict``
    and ``settle_url`` (null when the best model stands alone)."""
    try:
        query = parse_pick(request.args)
    except PickError as error:
        abort(400, description=str(error))
    result = pick(query)
    body: dict[str, Any] = {
        "query": {"ram_gb": query.ram_gb, "min_tps": query.min_tps, "category": query.category},
        "votes": result.votes,
        "verdict": result.verdict,
        "models": [c.as_dict() for c in result.models],
        "overlap": [c.model for c in result.overlap],
        "settle_url": _settle_url(result, external=True),
        "unknown_cost": [c.as_dict() for c in result.unknown_cost],
        "unknown_cost_note": (
            "Rated models left out because their memory or speed, which the limits ask about, "
            "is not known on this machine (the field 'unknown' says which)."
        ),
        "notes": result.notes,
    }
    return jsonify(body)


@bp.get("/pick/settle")
def settle() -> WerkzeugResponse:
    """Start the visitor's battles under focus, then go to the battle page (which shows
    nothing of it)."""
    try:
        models = read_token(request.args.get("focus", ""))
    except FocusError as error:
        abort(400, description=str(error))
    start_focus(models)
    return redirect(url_for("battle.index"), code=303)
