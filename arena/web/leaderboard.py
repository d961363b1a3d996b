"""Leaderboard and charts pages: thin views over ``arena.leaderboard``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template

from arena import leaderboard
from arena.leaderboard import charts
from arena.leaderboard.board import Board
from arena.leaderboard.filters import Filters, known_categories, size_classes
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


@bp.get("/leaderboard")
def index() -> str:
    filters, sort = request_filters(allow_sort=True)
    board = leaderboard.get_board(filters)
    rows = leaderboard.sorted_rows(board, sort)
    return render_template(
        "leaderboard.html",
        board=board,
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
    board = leaderboard.get_board(filters)
    return render_template(
        "charts.html",
        board=board,
        figures=charts.figures(board) if board.votes else {},
        titles=charts.CHARTS,
        **_form_context(filters),
    )
