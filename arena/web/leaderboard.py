"""Leaderboard and charts pages: thin views over ``arena.leaderboard``.

A board that is not computed yet may be refused for now (``LeaderboardUnavailable``: a 429 past
the client's computation limit, a 503 while it is being computed); the handler here answers
those for every blueprint (the downloads too), as JSON or a page like every other error.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, render_template

from arena import leaderboard
from arena.leaderboard import charts
from arena.leaderboard.board import Board
from arena.leaderboard.bounds import LeaderboardUnavailable
from arena.leaderboard.cache import serve_board
from arena.leaderboard.filters import Filters, known_categories, size_classes
from arena.web.errors import error_response
from arena.web.params import request_filters

bp = Blueprint("leaderboard", __name__)

SORT_LABELS = {
    "bt": "Bradley-Terry",
    "elo": "size-aware Elo",
    "score": "arena score",
}


def _form_context(filters: Filters) -> dict[str, Any]:
    return {
        "filters": filters,
        "categories": known_categories(),
        "size_classes": size_classes(current_app.config["SIZE_CLASS_BOUNDS_B"]),
    }


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
    filters, sort = request_filters(allow_sort=True)
    served = serve_board(filters)
    board = served.board
    rows = leaderboard.sorted_rows(board, sort)
    age = served.age_seconds()
    return render_template(
        "leaderboard.html",
        board=board,
        updating=served.updating,
        age_minutes=None if age is None else int(age // 60),
        rows=rows,
        names=charts.labels(board),
        matrix=_matrix(board, [row["model"] for row in rows]),
        sort=sort,
        sort_labels=SORT_LABELS,
        **_form_context(filters),
    )


@bp.get("/charts")
def charts_page() -> str:
    filters, _ = request_filters(allow_sort=False)
    board = serve_board(filters).board
    return render_template(
        "charts.html",
        board=board,
        figures=charts.figures(board) if board.votes else {},
        titles=charts.CHARTS,
        **_form_context(filters),
    )
