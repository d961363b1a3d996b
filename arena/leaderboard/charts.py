"""Plotly figures from a computed leaderboard (pure: a :class:`~arena.leaderboard.board.Board`
in, figure JSON out; no Flask, no SQL).

Figures use transparent backgrounds and no colours for text or grid, so ``static/charts.js``
can give them the page's light or dark colours. :func:`embeddable_json` makes the JSON safe
inside ``<script type="application/json">`` (no executable inline script, CSP-friendly).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go

from arena.leaderboard.board import Board, sorted_rows

#: Element id -> figure title, in page order.
CHARTS = {
    "chart-bt": "Bradley-Terry rating with 95% interval",
    "chart-outcomes": "Wins, losses and ties, with the arena score",
    "chart-elo-history": "Size-aware Elo over time",
    "chart-h2h": "Head-to-head win rate (row model against column model)",
    "chart-battles": "Battles per pair",
}
_TRANSPARENT = "rgba(0,0,0,0)"
_COLOURS = {"wins": "#2e9e5b", "losses": "#d9534f", "ties": "#8c8c99", "both_bad": "#e0a030"}


def labels(board: Board) -> dict[str, str]:
    """Model tag -> axis label: the display name, or the tag when display names collide."""
    names = [row["display_name"] for row in board.rows]
    return {
        row["model"]: row["display_name"] if names.count(row["display_name"]) == 1 else row["model"]
        for row in board.rows
    }


def _layout(title: str, *, height: int = 460, **extra: Any) -> dict[str, Any]:
    return {
        "template": "none",
        "title": {"text": title, "x": 0.01, "xanchor": "left"},
        "height": height,
        "margin": {"l": 70, "r": 70, "t": 60, "b": 120},
        "paper_bgcolor": _TRANSPARENT,
        "plot_bgcolor": _TRANSPARENT,
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


def bt_figure(board: Board) -> go.Figure:
    """Points at each model's rating with asymmetric bars to its bootstrap bounds, best first."""
    names = labels(board)
    rows = [row for row in sorted_rows(board, "bt") if row["bt"] is not None]
    with_bounds = all(row["bt_lower"] is not None for row in rows)
    error = None
    if with_bounds:
        error = {
            "type": "data",
            "symmetric": False,
            "array": [row["bt_upper"] - row["bt"] for row in rows],
            "arrayminus": [row["bt"] - row["bt_lower"] for row in rows],
        }
    figure = go.Figure(
        go.Scatter(
            x=[names[row["model"]] for row in rows],
            y=[row["bt"] for row in rows],
            mode="markers",
            marker={"size": 10},
            error_y=error,
            customdata=[[row["rank"], row["battles"]] for row in rows],
            hovertemplate="%{x}<br>rating %{y:.0f}<br>rank %{customdata[0]}"
            "<br>%{customdata[1]} battles<extra></extra>",
            name="Bradley-Terry",
        )
    )
    figure.update_layout(
        _layout(CHARTS["chart-bt"]),
        xaxis={"title": {"text": "Model"}, "tickangle": -35},
        yaxis={"title": {"text": "Rating (Elo scale)"}},
    )
    return figure


def outcomes_figure(board: Board) -> go.Figure:
    """The original arena's chart: stacked outcome counts, arena score on a second axis."""
    names = labels(board)
    rows = sorted_rows(board, "score")
    x = [names[row["model"]] for row in rows]
    figure = go.Figure()
    for field, title in (
        ("wins", "Wins"),
        ("losses", "Losses"),
        ("ties", "Ties"),
        ("both_bad", "Both bad"),
    ):
        figure.add_trace(
            go.Bar(
                x=x,
                y=[row[field] for row in rows],
                name=title,
                marker={"color": _COLOURS[field]},
                hovertemplate=f"%{{x}}<br>{title}: %{{y}}<extra></extra>",
            )
        )
    figure.add_trace(
        go.Scatter(
            x=x,
            y=[row["score"] for row in rows],
            name="Arena score",
            mode="lines+markers",
            yaxis="y2",
            line={"color": "#2456c7", "width": 3},
            hovertemplate="%{x}<br>score %{y:.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        _layout(CHARTS["chart-outcomes"], margin={"l": 70, "r": 70, "t": 90, "b": 120}),
        barmode="stack",
        xaxis={"title": {"text": "Model (by arena score)"}, "tickangle": -35},
        yaxis={"title": {"text": "Votes"}},
        yaxis2={
            "title": {"text": "Arena score"},
            "overlaying": "y",
            "side": "right",
            "range": [0, 1],
            "tickmode": "linear",
            "tick0": 0,
            "dtick": 0.2,
            "showgrid": False,
        },
    )
    return figure


def elo_history_figure(board: Board) -> go.Figure:
    """One line per model: its size-aware Elo after every vote up to each sampled time."""
    names = labels(board)
    times = [
        datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") for ts in board.history_times
    ]
    order = {row["model"]: i for i, row in enumerate(sorted_rows(board, "elo"))}
    figure = go.Figure()
    for model in sorted(board.models, key=lambda m: order[m]):
        column = board.models.index(model)
        figure.add_trace(
            go.Scatter(
                x=times,
                y=[point[column] for point in board.history],
                name=names[model],
                mode="lines",
                hovertemplate=f"{names[model]}<br>%{{x}}<br>Elo %{{y:.0f}}<extra></extra>",
            )
        )
    figure.update_layout(
        _layout(CHARTS["chart-elo-history"], height=520),
        xaxis={"title": {"text": "Time (UTC)"}, "type": "date"},
        yaxis={"title": {"text": "Size-aware Elo"}},
        legend={"orientation": "v", "x": 1.02, "xanchor": "left", "y": 0.9, "yanchor": "top"},
        margin={"l": 70, "r": 20, "t": 60, "b": 60},
    )
    return figure


def _matrix_order(board: Board) -> tuple[list[int], list[str]]:
    names = labels(board)
    ordered = [row["model"] for row in sorted_rows(board, "bt")]
    return [board.models.index(m) for m in ordered], [names[m] for m in ordered]


def _heatmap_layout(board: Board, title: str) -> dict[str, Any]:
    side = max(420, 34 * len(board.models) + 200)
    return _layout(
        title,
        height=side,
        xaxis={"title": {"text": "Opponent"}, "tickangle": -35, "side": "bottom"},
        yaxis={"title": {"text": "Model"}, "autorange": "reversed"},
        margin={"l": 140, "r": 20, "t": 60, "b": 140},
    )


def h2h_figure(board: Board) -> go.Figure:
    """Win rate of each row model against each column model (ties count half); blank if unmet."""
    index, names = _matrix_order(board)
    z = [[board.win_rate[i][j] for j in index] for i in index]
    n = [[board.battles[i][j] for j in index] for i in index]
    text = [["" if v is None else f"{v:.0%}" for v in row] for row in z]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=names,
            y=names,
            text=text,
            texttemplate="%{text}",
            customdata=n,
            colorscale="RdBu",
            zmin=0,
            zmax=1,
            zmid=0.5,
            colorbar={"title": {"text": "Win rate"}, "tickformat": ".0%"},
            hovertemplate="%{y} vs %{x}<br>win rate %{z:.1%}<br>%{customdata} battles"
            "<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    figure.update_layout(_heatmap_layout(board, CHARTS["chart-h2h"]))
    return figure


def battles_figure(board: Board) -> go.Figure:
    """How many votes each pair of models has (symmetric)."""
    index, names = _matrix_order(board)
    z = [[board.battles[i][j] for j in index] for i in index]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=names,
            y=names,
            text=[[str(v) if v else "" for v in row] for row in z],
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            colorbar={"title": {"text": "Battles"}},
            hovertemplate="%{y} vs %{x}<br>%{z} battles<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    figure.update_layout(_heatmap_layout(board, CHARTS["chart-battles"]))
    return figure


def embeddable_json(figure: go.Figure) -> str:
    """The figure's JSON, with ``<``, ``>``, ``&`` and line separators escaped, so that no
    model name can end the ``<script type="application/json">`` block it is embedded in."""
    text: str = figure.to_json()
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


def figures(board: Board) -> dict[str, str]:
    """Element id -> embeddable figure JSON, for every chart of the page (in page order)."""
    builders = {
        "chart-bt": bt_figure,
        "chart-outcomes": outcomes_figure,
        "chart-elo-history": elo_history_figure,
        "chart-h2h": h2h_figure,
        "chart-battles": battles_figure,
    }
    return {chart_id: embeddable_json(builders[chart_id](board)) for chart_id in CHARTS}
