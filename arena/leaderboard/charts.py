"""Plotly figures from a computed leaderboard (pure: a :class:`~arena.leaderboard.board.Board`
in, figure JSON out; no Flask, no SQL).

With ``style=True`` (the pages' ``?style=control``) the interval chart shows the ratings
controlled for answer length and Markdown, and a chart of the fitted style effects follows it.
Open-ended bounds are drawn as arrows (no bar on that side), provisional models as hollow
points. The charts of rating against speed and memory are in :mod:`arena.leaderboard.cost_charts`.

Figures use transparent backgrounds and no colours for text or grid, so ``static/charts.js``
can give them the page's light or dark colours. :func:`embeddable_json` makes the JSON safe
inside ``<script type="application/json">`` (no executable inline script, CSP-friendly).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go

from arena.leaderboard.board import Board, sorted_rows
from arena.leaderboard.chart_base import base_layout as _layout
from arena.leaderboard.chart_base import labels as labels
from arena.leaderboard.cost_charts import COST_CHARTS, memory_figure, speed_figure

#: Element id -> figure title, in page order.
CHARTS = {
    "chart-bt": "Bradley-Terry rating with 95% interval",
    **COST_CHARTS,
    "chart-outcomes": "Wins, losses and ties, with the arena score",
    "chart-elo-history": "Size-aware Elo over time",
    "chart-h2h": "Head-to-head win rate (row model against column model)",
    "chart-battles": "Battles per pair",
}
#: The charts of the style-controlled view (``?style=control``), in page order.
STYLE_CHARTS = {
    "chart-bt": "Bradley-Terry rating controlled for style (answer length and Markdown), "
    "with 95% interval",
    "chart-style-effects": "Effect of each style feature on a vote, with 95% interval",
    **{chart_id: title for chart_id, title in CHARTS.items() if chart_id != "chart-bt"},
}
_COLOURS = {"wins": "#2e9e5b", "losses": "#d9534f", "ties": "#8c8c99", "both_bad": "#e0a030"}


def _caveats(row: dict[str, Any], field: str, rank: Any, groups: int) -> str:
    """Hover text: rank (within the group when there are several), open sides, provisional."""
    parts = [f"rank {rank}" + (f" in group {row['group']}" if groups > 1 else "")]
    if row[f"{field}_upper_open"]:
        parts.append("no upper bound (the votes leave it open)")
    if row[f"{field}_lower_open"]:
        parts.append("no lower bound (the votes leave it open)")
    parts.append(f"{row['battles']} battles" + (" · provisional" if row["provisional"] else ""))
    return "<br>".join(parts)


def bt_figure(board: Board, style: bool = False) -> go.Figure:
    """Points at each model's rating with asymmetric bars to its bootstrap bounds, best first
    (``style``: the style-controlled rating). An open side has no bar but an arrow; a
    provisional model's point is hollow."""
    field, rank = ("bt_style", "bt_style_rank") if style else ("bt", "rank")
    names = labels(board)
    rows = [row for row in sorted_rows(board, field) if row[field] is not None]
    with_bounds = all(row[f"{field}_lower"] is not None for row in rows)
    error = None
    if with_bounds:
        error = {
            "type": "data",
            "symmetric": False,
            "array": [row[f"{field}_upper"] - row[field] for row in rows],
            "arrayminus": [row[field] - row[f"{field}_lower"] for row in rows],
        }
    x = [names[row["model"]] for row in rows]
    figure = go.Figure(
        go.Scatter(
            x=x,
            y=[row[field] for row in rows],
            mode="markers",
            marker={
                "size": 10,
                "symbol": ["circle-open" if row["provisional"] else "circle" for row in rows],
            },
            error_y=error,
            text=[_caveats(row, field, row[rank], len(board.groups)) for row in rows],
            hovertemplate="%{x}<br>rating %{y:.0f}<br>%{text}<extra></extra>",
            name="Bradley-Terry" + (" (style controlled)" if style else ""),
        )
    )
    for side, symbol, label in (
        ("upper", "triangle-up", "no upper bound"),
        ("lower", "triangle-down", "no lower bound"),
    ):
        open_rows = [row for row in rows if row[f"{field}_{side}_open"]]
        if open_rows and with_bounds:
            figure.add_trace(
                go.Scatter(
                    x=[names[row["model"]] for row in open_rows],
                    y=[row[field] for row in open_rows],
                    mode="markers",
                    marker={"size": 14, "symbol": symbol, "color": "#8c8c99"},
                    name=f"open-ended: {label}",
                    hovertemplate=f"%{{x}}<br>{label}: the votes leave it open<extra></extra>",
                )
            )
    titles = STYLE_CHARTS if style else CHARTS
    figure.update_layout(
        _layout(titles["chart-bt"]),
        xaxis={"title": {"text": "Model"}, "tickangle": -35},
        yaxis={"title": {"text": "Rating (Elo scale)"}},
    )
    return figure


#: Style feature -> axis label.
FEATURE_LABELS = {
    "length": "Length",
    "headers": "Headers",
    "lists": "List items",
    "bold": "Bold",
}


def style_effects_figure(board: Board) -> go.Figure:
    """Each style feature's fitted effect (Elo per typical difference) with its interval."""
    effects = board.style["effects"] if board.style else []
    shown = [e for e in effects if e["effect"] is not None]
    bounded = all(e["lower"] is not None and e["upper"] is not None for e in shown)
    error = None
    if shown and bounded:
        error = {
            "type": "data",
            "symmetric": False,
            "array": [e["upper"] - e["effect"] for e in shown],
            "arrayminus": [e["effect"] - e["lower"] for e in shown],
        }
    figure = go.Figure(
        go.Scatter(
            x=[FEATURE_LABELS.get(e["feature"], e["feature"]) for e in shown],
            y=[e["effect"] for e in shown],
            mode="markers",
            marker={"size": 10},
            error_y=error,
            hovertemplate="%{x}<br>effect %{y:+.0f} Elo<extra></extra>",
            name="Style effect",
        )
    )
    figure.update_layout(
        _layout(STYLE_CHARTS["chart-style-effects"], height=380),
        xaxis={"title": {"text": "Feature (more of it in one answer than the other)"}},
        yaxis={"title": {"text": "Effect (Elo)"}, "zeroline": True},
        margin={"l": 70, "r": 70, "t": 60, "b": 80},
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


def chart_titles(style: bool = False) -> dict[str, str]:
    """Element id -> title of the page's charts, in page order (``style``: the
    style-controlled view, :data:`STYLE_CHARTS`)."""
    return STYLE_CHARTS if style else CHARTS


def figures(board: Board, style: bool = False) -> dict[str, str]:
    """Element id -> embeddable figure JSON, for every chart of the page (in page order);
    ``style`` draws the style-controlled view (:data:`STYLE_CHARTS`)."""
    builders: dict[str, Any] = {
        "chart-bt": lambda b: bt_figure(b, style),
        "chart-style-effects": style_effects_figure,
        "chart-cost-speed": lambda b: speed_figure(b, style),
        "chart-cost-memory": lambda b: memory_figure(b, style),
        "chart-outcomes": outcomes_figure,
        "chart-elo-history": elo_history_figure,
        "chart-h2h": h2h_figure,
        "chart-battles": battles_figure,
    }
    return {
        chart_id: embeddable_json(_fit_labels(builders[chart_id](board)))
        for chart_id in chart_titles(style)
    }


def _fit_labels(figure: go.Figure) -> go.Figure:
    """Margins that grow to fit every axis' tick labels and title (long model names); a set
    standoff makes plotly.js push the margin for the title too, which otherwise stays where the
    margin was and lands among long labels. ``static/charts.js`` lays a figure out again for a
    phone's width."""
    figure.update_xaxes(automargin=True, title_standoff=10)
    figure.update_yaxes(automargin=True, title_standoff=10)
    return figure
