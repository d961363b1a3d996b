"""Model pages: ``/models``, ``/models/<slug>`` and their JSON (``/api/models.json``,
``/api/models/<slug>.json``); thin views over ``arena.leaderboard.model_page`` and
``arena.play.samples``. An unknown slug is a 404 (JSON on the JSON route); no query parameter
is accepted (any is a 400).

Sample answers depend on who asks (the session's voter id): the visitor's own voted battles
and showcase prompts only, so the pages are never cached by anyone but the visitor.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request

from arena.leaderboard.model_charts import HISTORY_CHART, HISTORY_TITLE, history_json
from arena.leaderboard.model_page import ModelNotFound, ModelPage, model_list, model_page
from arena.play.samples import Sample, sample_answers
from arena.web.session import known_voter

bp = Blueprint("models", __name__)


def _no_parameters() -> None:
    if request.args:
        name = sorted(request.args)[0]
        abort(400, description=f"unknown parameter {name!r}: this page takes none")


def _page(slug: str) -> tuple[ModelPage, list[Sample]]:
    _no_parameters()
    try:
        page = model_page(slug)
    except ModelNotFound as error:
        abort(404, description=str(error))
    expiry = float(current_app.config.get("BATTLE_EXPIRY_SECONDS") or 0)
    return page, sample_answers(page.model.id, known_voter(), expiry_seconds=expiry)


def _private(response: Response) -> Response:
    """Samples are the visitor's own: no shared cache keeps the page."""
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["Vary"] = "Cookie"
    return response


@bp.get("/models")
def index() -> str:
    _no_parameters()
    return render_template("models.html", models=model_list())


@bp.get("/api/models.json")
def index_json() -> Response:
    _no_parameters()
    response = jsonify({"models": model_list()})
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/models/<slug>")
def show(slug: str) -> Response:
    page, samples = _page(slug)
    context: dict[str, Any] = {
        "page": page,
        "samples": samples,
        "history_chart": HISTORY_CHART,
        "history_title": HISTORY_TITLE,
        "history": history_json(page.model.display_name, page.history),
    }
    return _private(Response(render_template("model.html", **context), mimetype="text/html"))


@bp.get("/api/models/<slug>.json")
def show_json(slug: str) -> Response:
    page, samples = _page(slug)
    document = {**page.as_dict(), "samples": [sample.as_dict() for sample in samples]}
    return _private(jsonify(document))
