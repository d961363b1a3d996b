"""Quality against cost: each model's rating (with its 95% interval) against its measured speed,
and against its memory, with the Pareto front of each chart drawn as a step line (pure: a
:class:`~arena.leaderboard.board.Board` in, a figure out).

A model is placed when its rating and the cost on the chart's axis are known, as one trace
named in the legend; the others are named under the plot. The step line joins the models no
other model of their group beats on both rating and that cost (ratings of different groups are
not comparable: one line per group); the marker of a model on the front of all three (rating,
speed and memory, the leaderboard's ``on_pareto_front``) is a diamond, hollow when provisional.
"""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go

from arena.leaderboard.board import Board, sorted_rows
from arena.leaderboard.chart_base import base_layout, labels
from arena.leaderboard.cost import pareto_front

#: Element id -> figure title.
COST_CHARTS = {
    "chart-cost-speed": "Rating against speed (tokens/s), with the Pareto front",
    "chart-cost-memory": "Rating against memory, with the Pareto front",
}
_FRONT_COLOUR = "#1f7a3a"
#: Unplaced models named under a chart, at most.
_UNPLACED_NAMED = 6


def speed_figure(board: Board, style: bool = False) -> go.Figure:
    """Rating against median generation tokens/s (faster to the right)."""
    return _cost_figure(
        board,
        style,
        chart_id="chart-cost-speed",
        cost=lambda row: row.get("tokens_per_second"),
        higher_is_better=True,
        axis="Tokens/s (median; faster →)",
        hover="%{x:.1f} tokens/s",
        unknown="speed",
    )


def memory_figure(board: Board, style: bool = False) -> go.Figure:
    """Rating against resident memory in GB (smaller to the left)."""

    def gigabytes(row: dict[str, Any]) -> float | None:
        memory = row.get("memory_bytes")
        return None if memory is None else memory / 1e9

    return _cost_figure(
        board,
        style,
        chart_id="chart-cost-memory",
        cost=gigabytes,
        higher_is_better=False,
        axis="Memory, GB (← smaller)",
        hover="%{x:.2f} GB",
        unknown="memory",
    )


def _cost_figure(
    board: Board,
    style: bool,
    *,
    chart_id: str,
    cost: Any,
    higher_is_better: bool,
    axis: str,
    hover: str,
    unknown: str,
) -> go.Figure:
    field = "bt_style" if style else "bt"
    names = labels(board)
    rated = [row for row in sorted_rows(board, field) if row[field] is not None]
    placed = [row for row in rated if cost(row) is not None]
    figure = go.Figure()
    groups = sorted({row["group"] for row in placed if row["group"] is not None})
    for group in groups:
        members = [row for row in placed if row["group"] == group]
        points = [
            (k, row[field], _better(cost(row), higher_is_better), 0)
            for k, row in enumerate(members)
        ]
        front = sorted((members[k] for k in pareto_front(points)), key=cost)
        figure.add_trace(
            go.Scatter(
                x=[cost(row) for row in front],
                y=[row[field] for row in front],
                mode="lines",
                line={
                    "shape": "vh" if higher_is_better else "hv",
                    "dash": "dot",
                    "width": 2,
                    "color": _FRONT_COLOUR,
                },
                hoverinfo="skip",
                name="Pareto front" + (f" (group {group})" if len(groups) > 1 else ""),
            )
        )
    # One trace per model, named in the legend (labels beside the points would overlap).
    for row in placed:
        bounded = row[f"{field}_lower"] is not None and row[f"{field}_upper"] is not None
        figure.add_trace(
            go.Scatter(
                x=[cost(row)],
                y=[row[field]],
                mode="markers",
                marker={"size": 11, "symbol": _symbol(row, field)},
                error_y=_error_bars([row], field) if bounded else None,
                customdata=[_hover_note(row, field)],
                hovertemplate=f"rating %{{y:.0f}}<br>{hover}%{{customdata}}",
                name=names[row["model"]],
            )
        )
    if not placed:  # the axes and the note under them, no point
        figure.add_trace(go.Scatter(x=[], y=[], mode="markers", showlegend=False))
    missing = [names[row["model"]] for row in rated if cost(row) is None]
    if missing or not placed:
        # Under the axis' title, which pushes the margin (an annotation would not, and a
        # phone's layout leaves no margin to spare).
        axis += "<br>" + _unplaced_note(missing, unknown)
    figure.update_layout(
        base_layout(COST_CHARTS[chart_id], height=520, margin={"l": 70, "r": 20, "t": 60, "b": 60}),
        legend={"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1, "yanchor": "top"},
        xaxis={"title": {"text": axis}, "rangemode": "tozero"},
        yaxis={"title": {"text": "Rating (Elo scale)"}},
    )
    return figure


def _better(value: float, higher_is_better: bool) -> float:
    """The cost as "higher is better", for :func:`pareto_front`'s speed slot."""
    return value if higher_is_better else -value


def _on_front(row: dict[str, Any], field: str) -> bool:
    return bool(row.get("on_pareto_front")) and field == "bt"


def _symbol(row: dict[str, Any], field: str) -> str:
    shape = "diamond" if _on_front(row, field) else "circle"
    return f"{shape}-open" if row["provisional"] else shape


def _error_bars(rows: list[dict[str, Any]], field: str) -> dict[str, Any]:
    """Asymmetric bars to the bootstrap bounds (an open side holds the rating: no bar)."""
    return {
        "type": "data",
        "symmetric": False,
        "array": [row[f"{field}_upper"] - row[field] for row in rows],
        "arrayminus": [row[field] - row[f"{field}_lower"] for row in rows],
    }


def _hover_note(row: dict[str, Any], field: str) -> str:
    parts = []
    if row[f"{field}_upper_open"] or row[f"{field}_lower_open"]:
        parts.append("interval open-ended (the votes leave one side open)")
    if row["provisional"]:
        parts.append("provisional")
    if _on_front(row, field):
        parts.append("on the front of rating, speed and memory")
    if row.get("cost_note"):
        parts.append("speed measured with other requests under way")
    return "".join(f"<br>{part}" for part in parts)


def _unplaced_note(missing: list[str], unknown: str) -> str:
    """Which rated models the chart leaves out, in short lines (a phone's width)."""
    if not missing:
        return f"<i>No model's {unknown} is known yet.</i>"
    more = len(missing) - _UNPLACED_NAMED
    words = f"Not shown, {unknown} unknown: " + ", ".join(missing[:_UNPLACED_NAMED])
    words += f" and {more} more" if more > 0 else ""
    lines: list[str] = []
    for word in words.split(" "):
        if lines and len(lines[-1]) + len(word) < 40:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<i>" + "<br>".join(html.escape(line) for line in lines) + "</i>"
