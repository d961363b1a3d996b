"""Leaderboard and charts pages: thin views over ``arena.leaderboard``.

``?style=control`` shows the ratings controlled for answer length and Markdown (the same
board: every board carries both), with the fitted effect of each style feature; any other
value than ``control`` or ``none`` is a 400. ``?source=judge`` (or ``judge:TAG``) shows the
judges' verdicts instead of people's votes (``arena.leaderboard.filters``); a human board shows
the judges' rating beside a provisional model's (``arena.leaderboard.cold_start``).

A board that is not computed yet may be refused for now (``LeaderboardUnavailable``: a 429 past
the client's computation limit, a 503 while it is being computed); the handler here answers
those for every blueprint (the downloads too), as JSON or a page like every other error.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, g, render_template, request

from arena import leaderboard
from arena.leaderboard import charts
from arena.leaderboard.board import Board
from arena.leaderboard.bounds import LeaderboardUnavailable
from arena.leaderboard.cache import serve_board
from arena.leaderboard.cold_start import cold_start_for
from arena.leaderboard.filters import (
    FilterError,
    Filters,
    known_categories,
    known_judges,
    parse_style,
    size_classes,
)
from arena.play.slugs import slugs_by_tag
from arena.web.errors import error_response
from arena.web.params import request_filters

bp = Blueprint("leaderboard", __name__)

SORT_LABELS = {
    "bt": "Bradley-Terry",
    "elo": "size-aware Elo",
    "score": "arena score",
    "model": "backend model (a model and its variants together)",
}


#: Style feature -> what the effects table calls it.
FEATURE_LABELS = {
    "length": "Length (tokens, or characters when a token count is unknown)",
    "headers": "Markdown headers",
    "lists": "List items",
    "bold": "Bold spans",
}


def _view(*, allow_sort: bool) -> tuple[Filters, str, bool]:
    """The request's filters, sort and whether ``style=control`` was asked for; a 400 else."""
    filters, sort = request_filters(allow_sort=allow_sort, extra=("style",), sources=True)
    try:
        style = parse_style(request.args)
    except FilterError as error:
        abort(400, description=str(error))
    return filters, sort, style


def _form_context(filters: Filters, style: bool) -> dict[str, Any]:
    return {
        "filters": filters,
        "categories": known_categories(),
        "judges": known_judges(),
        # The same view of people's votes (a judge board links to it).
        "human_params": {k: v for k, v in filters.params().items() if k != "source"},
        "size_classes": size_classes(current_app.config["SIZE_CLASS_BOUNDS_B"]),
        "style": style,
        # Query parameters of a link that keeps the view: the filters and the style.
        "view_params": {**filters.params(), **({"style": "control"} if style else {})},
    }


def group_notes(board: Board, names: dict[str, str]) -> list[str]:
    """One sentence per group when the models fall into several that never met."""
    if len(board.groups) < 2:
        return []
    notes = []
    for number, members in enumerate(board.groups, start=1):
        others = [str(g) for g in range(1, len(board.groups) + 1) if g != number]
        notes.append(
            f"Group {number} ({', '.join(names.get(m, m) for m in members)}): these models "
            f"never met the models of group {' or '.join(others)}, directly or through other "
            "models: ranked within their group only, on a scale of their own."
        )
    return notes


def _matrix(board: Board, order: list[str]) -> list[dict[str, Any]]:
    """Head-to-head rows in ``order``: each cell's win rate and battle count."""
    index = [board.models.index(model) for model in order]
    return [
        {
            "model": board.models[i],
            "cells": [
                {"rate": board.win_rate[i][j], "battles": board.battles[i][j]} for j in index
            ],
        }
        for i in index
    ]


@bp.app_errorhandler(LeaderboardUnavailable)
def _unavailable(error: LeaderboardUnavailable) -> Response:
    name = "Too Many Requests" if error.status == 429 else "Service Unavailable"
    g.arena_retry_after = str(error.retry_after)  # kept by arena.web.errors on a 429 or 503
    return error_response(error.status, name, str(error), {})


@bp.get("/leaderboard")
def index() -> str:
    filters, sort, style = _view(allow_sort=True)
    served = serve_board(filters)
    board = served.board
    rows = leaderboard.sorted_rows(board, "bt_style" if style and sort == "bt" else sort)
    age = served.age_seconds()
    names = charts.labels(board)
    return render_template(
        "leaderboard.html",
        board=board,
        updating=served.updating,
        age_minutes=None if age is None else int(age // 60),
        rows=rows,
        names=names,
        group_notes=group_notes(board, names),
        feature_labels=FEATURE_LABELS,
        matrix=_matrix(board, [row["model"] for row in rows]),
        sort=sort,
        sort_labels=SORT_LABELS,
        cold=cold_start_for(board) if board.filters.is_human else None,
        # Each row links its model's page (when the model pages are served).
        slugs=slugs_by_tag() if "models.show" in current_app.view_functions else {},
        **_form_context(filters, style),
    )


@bp.get("/charts")
def charts_page() -> str:
    filters, _, style = _view(allow_sort=False)
    board = serve_board(filters).board
    names = charts.labels(board)
    return render_template(
        "charts.html",
        board=board,
        figures=charts.figures(board, style) if board.votes else {},
        titles=charts.chart_titles(style),
        group_notes=group_notes(board, names),
        **_form_context(filters, style),
    )
