"""The leaderboard and charts pages with style control (``?style=control``) and honest
intervals: groups, open-ended bounds, provisional models, the board's notes."""

from __future__ import annotations

import html as html_lib
import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from arena.leaderboard.charts import CHARTS, STYLE_CHARTS
from tests.support.html_checks import start_tags, unlinked
from tests.support.leaderboard_data import add_models, add_votes, rows_by_model
from tests.support.style_data import add_length_biased_votes, add_styled_answers
from tests.web.test_leaderboard_page import cells


def data_blocks(page: str) -> dict[str, dict]:
    blocks = re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', page, re.S)
    return {chart_id: json.loads(text) for chart_id, text in blocks}


def links(page: str) -> list[str]:
    return [html_lib.unescape(dict(a).get("href") or "") for t, a in start_tags(page) if t == "a"]


@pytest.fixture
def styled(app: Flask) -> Flask:
    """Equally good models whose longer answer wins 80% of 300 votes."""
    add_length_biased_votes(app, add_styled_answers(app, 20), 300)
    return app


def test_style_control_shows_the_controlled_ratings_and_the_effects(
    client: FlaskClient, styled: Flask
) -> None:
    document = client.get("/api/leaderboard.json").get_json()
    rows = rows_by_model(document)
    plain = unlinked(client.get("/leaderboard").get_data(as_text=True))
    page = unlinked(client.get("/leaderboard?style=control").get_data(as_text=True))
    for model, row in rows.items():
        assert cells(plain, model)[1] == [f"{row['bt']:.0f}"]
        assert cells(page, model)[1] == [f"{row['bt_style']:.0f}"]
        assert cells(page, model)[3] == [str(row["bt_style_rank"])]
    # Ordered by the style-controlled rank, then rating.
    order = sorted(rows.values(), key=lambda r: (r["bt_style_rank"], -r["bt_style"]))
    positions = [page.index(f'<th scope="row">{r["model"]}') for r in order]
    assert positions == sorted(positions)
    effects = page[page.index('id="style-effects"') : page.index('id="more"')]
    assert 'id="style-effects"' not in plain
    for effect in document["style"]["effects"]:
        label = {"length": "Length", "headers": "Markdown headers"}.get(effect["feature"])
        if label:
            assert label in effects
        # Signed, with a true minus sign.
        assert f"{effect['effect']:+.0f}".replace("-", "−") in effects
        span = f"{effect['lower']:+.0f} to {effect['upper']:+.0f}"
        assert span.replace("-", "−") in effects
    assert "300 votes in the fit" in effects and "300 with both answers stored" in effects
    # The toggle, and links that keep the view: sort, charts, the filter form.
    assert any(link.endswith("/leaderboard?sort=bt&style=control") for link in links(plain))
    assert any(link == "/leaderboard?sort=bt" for link in links(page))
    assert any("sort=elo" in link and "style=control" in link for link in links(page))
    assert any(link.startswith("/charts?") and "style=control" in link for link in links(page))
    assert '<input type="hidden" name="style" value="control">' in page


def test_the_style_parameter_is_validated(client: FlaskClient, styled: Flask) -> None:
    for path in ("/leaderboard", "/charts"):
        assert client.get(f"{path}?style=none").status_code == 200
        assert client.get(f"{path}?style=").status_code == 200
        page = client.get(f"{path}?style=bold")
        assert page.status_code == 400
        assert "bad value &#39;bold&#39; for &#39;style&#39;: expected control" in page.get_data(
            as_text=True
        )
        answer = client.get(f"{path}?style=off", headers={"Accept": "application/json"})
        assert answer.status_code == 400
        assert answer.get_json()["message"].startswith("bad value 'off' for 'style'")
        assert client.get(f"{path}?style=control&style=none").status_code == 400
    # Downloads carry both ratings; the parameter means nothing there.
    assert client.get("/api/leaderboard.json?style=control").status_code == 400


def test_without_stored_answers_style_control_says_so(app: Flask, client: FlaskClient) -> None:
    add_models(app, {"alpha:1b": 1.0, "beta:1b": 1.0})
    add_votes(app, [("alpha:1b", "beta:1b", "a"), ("beta:1b", "alpha:1b", "a")] * 3)
    page = client.get("/leaderboard?style=control").get_data(as_text=True)
    assert "no style-controlled rating for these votes" in page
    assert cells(page, "alpha:1b")[1:4] == [["–"], ["–"], ["–"]]
    charts = client.get("/charts?style=control").get_data(as_text=True)
    assert "no style-controlled rating for these votes" in charts


def test_disconnected_groups_are_ranked_apart_and_said_so(app: Flask, client: FlaskClient) -> None:
    add_models(app, {"a:1b": 1.0, "b:1b": 1.0, "c:1b": 1.0, "d:1b": 1.0, "e:1b": 1.0})
    add_votes(
        app,
        [("a:1b", "b:1b", "a"), ("b:1b", "c:1b", "a"), ("c:1b", "a:1b", "a")] * 4
        + [("d:1b", "e:1b", "a"), ("e:1b", "d:1b", "tie")] * 3,
    )
    document = client.get("/api/leaderboard.json").get_json()
    assert document["groups"] == [["a:1b", "b:1b", "c:1b"], ["d:1b", "e:1b"]]
    rows = rows_by_model(document)
    assert [rows[m]["group"] for m in "abcde" for m in [f"{m}:1b"]] == [1, 1, 1, 2, 2]
    assert rows["d:1b"]["rank"] == 1  # ranked within its own group
    page = unlinked(client.get("/leaderboard").get_data(as_text=True))
    assert (
        "Group 2 (d:1b, e:1b): these models never met the models of group 1, directly or "
        "through other models: ranked within their group only" in page
    )
    assert "The models fall into 2 groups that never met" in page
    assert '<th scope="col">Group</th>' in page
    assert cells(page, "d:1b")[4] == ["2"] and cells(page, "a:1b")[4] == ["1"]
    # Groups come one after the other, group 1 first.
    assert page.index('<th scope="row">c:1b') < page.index('<th scope="row">d:1b')
    csv_lines = client.get("/api/leaderboard.csv").get_data(as_text=True).splitlines()
    header = csv_lines[0].split(",")
    groups = {line.split(",")[1]: line.split(",")[header.index("group")] for line in csv_lines[1:]}
    assert groups == {"a:1b": "1", "b:1b": "1", "c:1b": "1", "d:1b": "2", "e:1b": "2"}
    charts = client.get("/charts").get_data(as_text=True)
    assert "Group 2 (d:1b, e:1b)" in charts
    bt = data_blocks(charts)["chart-bt"]["data"][0]
    assert any("in group 2" in text for text in bt["text"])


def test_open_ended_bounds_are_shown_open(app: Flask, client: FlaskClient) -> None:
    add_models(app, {"champ:1b": 1.0, "mid:1b": 1.0, "low:1b": 1.0})
    add_votes(
        app,
        [("champ:1b", "mid:1b", "a"), ("champ:1b", "low:1b", "a")] * 20
        + [("mid:1b", "low:1b", "a"), ("low:1b", "mid:1b", "a")] * 10,
    )
    rows = rows_by_model(client.get("/api/leaderboard.json").get_json())
    champ = rows["champ:1b"]
    assert champ["bt_upper_open"] and not champ["bt_lower_open"]
    assert champ["bt_upper"] == champ["bt"]  # the bound holds the rating: never shown
    page = unlinked(client.get("/leaderboard").get_data(as_text=True))
    assert cells(page, "champ:1b")[2] == ["≥", f"{champ['bt_lower']:.0f}"]
    assert "no upper bound" in page
    # A model with both bounds shows them as + / −.
    mid = rows["mid:1b"]
    assert not mid["bt_upper_open"] and not mid["bt_lower_open"]
    assert cells(page, "mid:1b")[2][1] == "/"
    assert "Open-ended bounds" in page and "champ:1b" in page
    bt = data_blocks(client.get("/charts").get_data(as_text=True))["chart-bt"]["data"]
    arrows = [trace for trace in bt if trace["name"] == "open-ended: no upper bound"]
    assert len(arrows) == 1 and arrows[0]["marker"]["symbol"] == "triangle-up"
    champ_at = bt[0]["x"].index("champ:1b")
    assert bt[0]["error_y"]["array"][champ_at] == 0  # no bar drawn to a number that is not one


def test_provisional_models_are_marked_everywhere_they_are_ranked(
    app: Flask, client: FlaskClient
) -> None:
    add_models(app, {"old:1b": 1.0, "mid:1b": 1.0, "new:1b": 1.0})
    add_votes(
        app,
        [("old:1b", "mid:1b", "a"), ("mid:1b", "old:1b", "a"), ("old:1b", "mid:1b", "tie")] * 8
        + [("new:1b", "old:1b", "a"), ("mid:1b", "new:1b", "a")] * 2,
    )
    document = client.get("/api/leaderboard.json").get_json()
    rows = rows_by_model(document)
    assert [rows[m]["provisional"] for m in ("old:1b", "mid:1b", "new:1b")] == [False, False, True]
    page = unlinked(client.get("/leaderboard").get_data(as_text=True))
    badge = '<span class="badge provisional"'
    assert re.search(rf'<th scope="row">new:1b {badge}[^>]*>provisional</span></th>', page)
    assert '<th scope="row">old:1b</th>' in page and '<th scope="row">mid:1b</th>' in page
    assert "Provisional (fewer than 20 battles): new:1b." in page
    lines = client.get("/api/leaderboard.csv").get_data(as_text=True).splitlines()
    header = lines[0].split(",")
    marked = {
        line.split(",")[1]: line.split(",")[header.index("provisional")] for line in lines[1:]
    }
    assert marked == {"old:1b": "False", "mid:1b": "False", "new:1b": "True"}
    bt = data_blocks(client.get("/charts").get_data(as_text=True))["chart-bt"]["data"][0]
    symbols = dict(zip(bt["x"], bt["marker"]["symbol"], strict=True))
    assert symbols == {"old:1b": "circle", "mid:1b": "circle", "new:1b": "circle-open"}
    assert any("provisional" in text for text in bt["text"])


def test_charts_gain_the_style_controlled_view(client: FlaskClient, styled: Flask) -> None:
    rows = rows_by_model(client.get("/api/leaderboard.json").get_json())
    plain = data_blocks(client.get("/charts").get_data(as_text=True))
    assert list(plain) == list(CHARTS)
    page = client.get("/charts?style=control").get_data(as_text=True)
    blocks = data_blocks(page)
    assert list(blocks) == list(STYLE_CHARTS)
    for chart_id, figure in blocks.items():
        assert figure["layout"]["title"]["text"] == STYLE_CHARTS[chart_id]
    bt = blocks["chart-bt"]["data"][0]
    for name, rating in zip(bt["x"], bt["y"], strict=True):
        assert rating == pytest.approx(rows[name]["bt_style"])
    effects = blocks["chart-style-effects"]["data"][0]
    assert effects["x"] == ["Length", "Headers", "List items", "Bold"]
    assert len(effects["error_y"]["array"]) == 4
    assert any(link.startswith("/leaderboard?") and "style=control" in link for link in links(page))
    assert any(link == "/charts" for link in links(page))
