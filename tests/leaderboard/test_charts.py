"""The charts page: five Plotly figures as JSON data, plotly.js (its cartesian bundle) served
locally, no inline code."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from plotly.offline import get_plotlyjs_version

from arena import PROJECT_ROOT, leaderboard
from arena.leaderboard.charts import CHARTS, bt_figure, figures
from tests.support.html_checks import executable_parts, start_tags
from tests.support.leaderboard_data import add_models, add_votes

MODELS = {"alpha:1b": 1.0, "beta:3b": 3.0, "gamma:7b": 7.0}
VOTES = [
    ("alpha:1b", "beta:3b", "a"),
    ("beta:3b", "gamma:7b", "b"),
    ("gamma:7b", "alpha:1b", "tie"),
    ("alpha:1b", "gamma:7b", "both_bad"),
    ("beta:3b", "alpha:1b", "a"),
    ("gamma:7b", "beta:3b", "a"),
]


def data_blocks(html: str) -> dict[str, dict]:
    blocks = re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', html, re.S)
    return {chart_id: json.loads(text) for chart_id, text in blocks}


def test_charts_page_embeds_five_figures_as_data(app: Flask, client: FlaskClient) -> None:
    add_models(app, MODELS)
    add_votes(app, VOTES)
    response = client.get("/charts")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    blocks = data_blocks(html)
    assert list(blocks) == list(CHARTS)
    for chart_id, figure in blocks.items():
        assert figure["data"], chart_id
        assert figure["layout"]["title"]["text"] == CHARTS[chart_id]
        assert f'data-figure="{chart_id}"' in html
    bt = blocks["chart-bt"]["data"][0]
    assert len(bt["x"]) == 3 and bt["error_y"]["arrayminus"]
    assert {trace["name"] for trace in blocks["chart-outcomes"]["data"]} == {
        "Wins",
        "Losses",
        "Ties",
        "Both bad",
        "Arena score",
    }
    assert blocks["chart-outcomes"]["data"][-1]["yaxis"] == "y2"
    assert len(blocks["chart-elo-history"]["data"]) == 3
    assert blocks["chart-h2h"]["data"][0]["type"] == "heatmap"
    battles = blocks["chart-battles"]["data"][0]["z"]
    assert sum(map(sum, battles)) == 2 * len(VOTES)


def test_charts_page_loads_nothing_from_elsewhere_and_runs_no_inline_code(
    app: Flask, client: FlaskClient
) -> None:
    add_models(app, MODELS)
    add_votes(app, VOTES)
    html = client.get("/charts").get_data(as_text=True)
    sources = []
    for tag, attrs in start_tags(html):
        values = dict(attrs)
        for name in ("src", "href", "action"):
            url = values.get(name)
            if url is not None:
                sources.append(url.split("?", 1)[0])  # static URLs carry ?v=<hash>
                external = url.startswith(("http:", "https:", "//"))
                assert not external or url.startswith("http://127.0.0.1"), url
        if tag == "script":
            assert values.get("src") or values.get("type") == "application/json", values
        assert not any(name.startswith("on") for name in values)
    assert "/static/vendor/plotly-cartesian.min.js" in sources
    assert "/static/charts.js" in sources
    problems = executable_parts(html, allowed_tags={"script", "form", "input"})
    assert problems == []
    for script in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.S):
        json.loads(script)  # every script without src is pure data


def test_vendored_plotly_is_the_version_the_python_package_targets(client: FlaskClient) -> None:
    vendor = PROJECT_ROOT / "static" / "vendor"
    with (vendor / "plotly-cartesian.min.js").open(encoding="utf-8") as bundle:
        header = bundle.read(200)
    assert f"plotly.js (cartesian - minified) v{get_plotlyjs_version()}\n" in header, (
        "static/vendor/plotly-cartesian.min.js is not the plotly.js the installed plotly "
        "package targets: fetch it again (see static/vendor/README.md)"
    )
    assert not (vendor / "plotly.min.js").exists()  # the full bundle (4.8 MB) is gone
    served = client.get("/static/vendor/plotly-cartesian.min.js")
    assert served.status_code == 200
    assert "javascript" in served.content_type
    served.close()
    assert client.get("/static/charts.js").status_code == 200


def test_hostile_model_names_stay_inside_the_data_blocks(app: Flask, client: FlaskClient) -> None:
    hostile = "</script><script>alert(1)</script>"
    add_models(app, {hostile: 1.0, "plain:1b": 1.0})
    add_votes(app, [(hostile, "plain:1b", "a")])
    html = client.get("/charts").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    data = [attrs for tag, attrs in start_tags(html) if ("type", "application/json") in attrs]
    assert len(data) == len(CHARTS)
    blocks = data_blocks(html)
    assert hostile in blocks["chart-bt"]["data"][0]["x"]


def test_no_votes_no_charts(client: FlaskClient) -> None:
    html = client.get("/charts").get_data(as_text=True)
    assert "No votes yet" in html
    assert "vendor/plotly" not in html


def test_figures_are_built_from_the_board_alone(app: Flask) -> None:
    add_models(app, MODELS)
    add_votes(app, VOTES)
    with app.test_request_context():
        board = leaderboard.get_board()
    built = figures(board)
    assert list(built) == list(CHARTS)
    figure = bt_figure(board)
    rows = {row["display_name"]: row for row in board.rows}
    trace = figure.data[0]
    for name, y, up, down in zip(
        trace.x, trace.y, trace.error_y.array, trace.error_y.arrayminus, strict=True
    ):
        assert y == rows[name]["bt"]
        assert y + up == pytest.approx(rows[name]["bt_upper"])
        assert y - down == pytest.approx(rows[name]["bt_lower"])
    assert list(trace.y) == sorted(trace.y, reverse=True)
