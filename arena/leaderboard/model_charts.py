"""The model page's chart: the model's rating over time (pure: values in, figure JSON out).

Drawn like ``arena.leaderboard.charts`` draws the leaderboard's (transparent backgrounds, no
text colours: ``static/charts.js`` gives them the page's), and embedded the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime

import plotly.graph_objects as go

from arena.leaderboard.charts import embeddable_json

HISTORY_CHART = "chart-model-history"
HISTORY_TITLE = "Size-aware Elo over time"
_TRANSPARENT = "rgba(0,0,0,0)"


def history_figure(name: str, times: list[float], elo: list[float]) -> go.Figure:
    """One line: the model's size-aware Elo after every vote up to each sampled time."""
    stamps = [datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") for ts in times]
    figure = go.Figure(
        go.Scatter(
            x=stamps,
            y=elo,
            name=name,
            mode="lines+markers" if len(times) < 30 else "lines",
            hovertemplate=f"{name}<br>%{{x}}<br>Elo %{{y:.0f}}<extra></extra>",
        )
    )
    figure.update_layout(
        template="none",
        title={"text": HISTORY_TITLE, "x": 0.01, "xanchor": "left"},
        height=380,
        margin={"l": 70, "r": 20, "t": 60, "b": 60},
        paper_bgcolor=_TRANSPARENT,
        plot_bgcolor=_TRANSPARENT,
        showlegend=False,
        xaxis={"title": {"text": "Time (UTC)"}, "type": "date", "automargin": True},
        yaxis={"title": {"text": "Size-aware Elo"}, "automargin": True},
    )
    return figure


def history_json(name: str, history: dict[str, list[float]]) -> str | None:
    """The embeddable figure JSON, or None when the model has no rating history."""
    times, elo = history.get("times") or [], history.get("elo") or []
    if not times:
        return None
    return embeddable_json(history_figure(name, times, elo))
