"""What every leaderboard chart shares: model labels and the base layout (transparent
backgrounds and no text colours, so ``static/charts.js`` gives a figure the page's light or dark
colours)."""

from __future__ import annotations

from typing import Any

from arena.leaderboard.board import Board

TRANSPARENT = "rgba(0,0,0,0)"


def labels(board: Board) -> dict[str, str]:
    """Model tag -> axis label: the display name, or the tag when display names collide."""
    names = [row["display_name"] for row in board.rows]
    return {
        row["model"]: row["display_name"] if names.count(row["display_name"]) == 1 else row["model"]
        for row in board.rows
    }


def base_layout(title: str, *, height: int = 460, **extra: Any) -> dict[str, Any]:
    """A figure's layout: ``title`` at the top left, a horizontal legend above the plot,
    transparent backgrounds; ``extra`` keys replace the defaults."""
    return {
        "template": "none",
        "title": {"text": title, "x": 0.01, "xanchor": "left"},
        "height": height,
        "margin": {"l": 70, "r": 70, "t": 60, "b": 120},
        "paper_bgcolor": TRANSPARENT,
        "plot_bgcolor": TRANSPARENT,
        "legend": {
            "orientation": "h",
            "y": 1.02,
            "yanchor": "bottom",
            "x": 0,
            "xanchor": "left",
            "traceorder": "normal",
        },
        "hoverlabel": {"namelength": -1},
        **extra,
    }
