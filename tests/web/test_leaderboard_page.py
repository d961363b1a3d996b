"""The /leaderboard page: three ratings, sortable without JavaScript, and the extra views."""

from __future__ import annotations

import re
import statistics

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from arena.extensions import db
from arena.models import Model, Response
from tests.support.battles import battle_id_of, neutral_pool
from tests.support.fake_ollama import FakeOllama
from tests.support.html_checks import executable_parts, start_tags, unlinked
from tests.support.leaderboard_data import add_models, add_votes

PROVISIONAL = r'(?: <span class="badge (?:provisional|front)"[^>]*>(?:provisional|front)</span>)*'


def cells(html: str, model: str) -> list[list[str]]:
    """The cells of the first table row headed by ``model`` (marked provisional or not)."""
    html = unlinked(html)
    row = re.search(rf'<th scope="row">{re.escape(model)}{PROVISIONAL}</th>(.*?)</tr>', html, re.S)
    assert row, f"no row for {model}"
    return [
        re.sub(r"<[^>]+>", " ", c).split() for c in re.findall(r"<td[^>]*>(.*?)</td>", row[1], re.S)
    ]


def test_three_ratings_bradley_terry_first(app: Flask, client: FlaskClient) -> None:
    add_models(app, {"alpha:1b": 1.0, "beta:3b": 3.0})
    add_votes(app, [("alpha:1b", "beta:3b", "a")] * 3 + [("beta:3b", "alpha:1b", "a")])
    html = client.get("/leaderboard").get_data(as_text=True)
    header = html[html.index("<thead>") : html.index("</thead>")]
    positions = [
        header.index(name) for name in ("Bradley-Terry", "95% interval", "Rank", "Elo", "Score")
    ]
    assert positions == sorted(positions)
    alpha = cells(html, "alpha:1b")
    # size, BT, interval, rank, Elo, score, battles, wins, losses, ties, both bad, win rate,
    assert alpha[0] == ["1B"]
    # 3 wins in 4 votes do not bound alpha's rating above: an open-ended interval.
    document = client.get("/api/leaderboard.json").get_json()
    row = next(r for r in document["models"] if r["model"] == "alpha:1b")
    assert row["bt_upper_open"] and not row["bt_lower_open"]
    assert alpha[2] == ["≥", f"{row['bt_lower']:.0f}"]
    assert alpha[3] == ["1"]
    assert alpha[5] == ["0.600"]  # 0.75 x (1 - 1/5)
    # ... then tokens/s and memory: no answer stored, memory unknown.
    assert [c[0] for c in alpha[6:]] == ["4", "3", "1", "0", "0", "75.0%", "–", "–"]
    assert 'aria-sort="descending"' in header and "Sort by size-aware Elo" in header


def test_each_row_links_its_model_page(app: Flask, client: FlaskClient) -> None:
    add_models(app, {"alpha:1b": 1.0, "beta:1.5b": 1.5})
    add_votes(app, [("alpha:1b", "beta:1.5b", "a"), ("beta:1.5b", "alpha:1b", "b")])
    html = client.get("/leaderboard").get_data(as_text=True)
    for tag, slug in (("alpha:1b", "alpha-1b"), ("beta:1.5b", "beta-1-5b")):
        assert re.search(rf'<th scope="row"><a href="/models/{slug}">{re.escape(tag)}</a>', html)
        assert client.get(f"/models/{slug}").status_code == 200


def test_sort_links_keep_the_filters(app: Flask, client: FlaskClient) -> None:
    add_models(app, {"alpha:1b": 1.0, "beta:1.5b": 1.5})
    add_votes(app, [("alpha:1b", "beta:1.5b", "a")])
    html = client.get("/leaderboard?size=le2&exclude_ties=1&category=coding").get_data(as_text=True)
    links = [dict(attrs).get("href", "") for tag, attrs in start_tags(html) if tag == "a"]
    elo = next(link for link in links if "sort=elo" in link)
    assert all(part in elo for part in ("size=le2", "exclude_ties=1", "category=coding"))
    assert '<option value="le2" selected>' in html
    assert 'name="exclude_ties" value="1" checked' in html
    assert any("/api/leaderboard.csv?" in link and "size=le2" in link for link in links)
    assert executable_parts(html, allowed_tags={"form", "input"}) == []


def test_more_views_online_elo_both_bad_speed_and_length(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    neutral_pool(runner, fake_ollama)
    for outcome in ("both_bad", "a"):
        battle_id = battle_id_of(client.get("/").get_data(as_text=True))
        client.post("/vote", data={"battle_id": battle_id, "outcome": outcome})
    html = client.get("/leaderboard").get_data(as_text=True)
    more = html[html.index('id="more"') : html.index('id="head-to-head"')]
    cost = html[html.index('id="cost"') : html.index('id="more"')]
    assert "Online Elo (K=4)" in more and "Tokens/s" in cost
    document = client.get("/api/leaderboard.json").get_json()
    with app.app_context():
        for row in document["models"]:
            model_id = db.session.scalar(select(Model.id).where(Model.tag == row["model"]))
            answers = db.session.scalars(
                select(Response).where(Response.model_id == model_id, Response.status == "ok")
            ).all()
            rates = [a.tokens_per_second for a in answers if a.tokens_per_second]
            assert row["answers"] == len(answers)
            # The median speed (every answer of the batch ran alone on the fake server).
            assert abs(row["tokens_per_second"] - statistics.median(rates)) < 1e-6
            assert row["concurrency"] == 1
            length = db.session.scalar(
                select(func.avg(func.length(Response.text))).where(
                    Response.model_id == model_id, Response.status == "ok"
                )
            )
            assert row["answer_chars"] == length
            assert row["both_bad_rate"] == row["both_bad"] / row["battles"]
            line = cells(more, row["display_name"])
            assert line[0] == [f"{row['online_elo']:.0f}"]
            assert line[1] == [f"{row['both_bad_rate'] * 100:.0f}%"]
            assert line[3] == [f"{row['answer_chars']:.0f}"]
            assert cells(cost, row["display_name"])[0] == [f"{row['tokens_per_second']:.1f}"]


def test_head_to_head_matrix(app: Flask, client: FlaskClient) -> None:
    add_models(app, {"alpha:1b": 1.0, "beta:3b": 3.0, "gamma:7b": 7.0})
    add_votes(app, [("alpha:1b", "beta:3b", "a")] * 3 + [("beta:3b", "alpha:1b", "tie")])
    html = client.get("/leaderboard").get_data(as_text=True)
    matrix = html[html.index('id="head-to-head"') :]
    assert "gamma" not in matrix  # no votes: not on the board
    alpha = cells(matrix, "alpha:1b")
    assert alpha == [["–"], ["88%", "4"]]  # (3 + 0.5) / 4 against beta
    assert cells(matrix, "beta:3b") == [["12%", "4"], ["–"]]
