"""Filters and sorts on every leaderboard and export, and their validation (HTTP 400)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from arena.extensions import db
from arena.leaderboard.filters import Filters, SizeClass, parse_filters, size_classes
from arena.models import Vote
from tests.support.html_checks import unlinked
from tests.support.leaderboard_data import T0, add_models, add_votes, rows_by_model

SIZES = {"tiny:1b": 1.0, "small:1.5b": 1.5, "mid:3b": 3.0, "big:9b": 9.0, "mystery": None}


@pytest.fixture
def models(app: Flask) -> Flask:
    add_models(app, SIZES)
    return app


def board(client: FlaskClient, query: str = "") -> dict:
    response = client.get(f"/api/leaderboard.json{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def votes_csv(client: FlaskClient, query: str = "") -> list[dict[str, str]]:
    response = client.get(f"/api/votes.csv{query}")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_size_classes_follow_the_configured_bounds() -> None:
    classes = size_classes([2, 4, 9])
    assert [c.id for c in classes] == ["le2", "2-4", "4-9", "gt9"]
    assert [c.label for c in classes] == ["≤ 2B", "2–4B", "4–9B", "> 9B"]
    le2, two_four, _, gt9 = classes
    assert le2.contains(2.0) and not le2.contains(2.01) and not le2.contains(None)
    assert two_four.contains(4.0) and not two_four.contains(2.0)
    assert gt9.contains(14) and not gt9.contains(9)
    assert [c.id for c in size_classes([1.5, 8])] == ["le1.5", "1.5-8", "gt8"]
    with pytest.raises(ValueError, match="ascending"):
        size_classes([4, 2])


def test_category_filter(client: FlaskClient, models: Flask) -> None:
    add_votes(models, [("tiny:1b", "mid:3b", "a")], category="coding")
    add_votes(models, [("tiny:1b", "mid:3b", "b"), ("mid:3b", "big:9b", "a")], category="writing")
    coding = rows_by_model(board(client, "?category=coding"))
    assert set(coding) == {"tiny:1b", "mid:3b"}
    assert (coding["tiny:1b"]["wins"], coding["mid:3b"]["losses"]) == (1, 1)
    writing = board(client, "?category=writing")
    assert writing["votes"] == 2
    assert rows_by_model(writing)["mid:3b"]["wins"] == 2
    assert writing["filters"]["category"] == "writing"
    assert {row["category"] for row in votes_csv(client, "?category=writing")} == {"writing"}


def test_size_class_counts_a_vote_only_when_both_models_are_in_the_class(
    client: FlaskClient, models: Flask
) -> None:
    add_votes(
        models,
        [
            ("tiny:1b", "small:1.5b", "a"),  # both <= 2B
            ("tiny:1b", "mid:3b", "a"),  # across classes
            ("mid:3b", "mystery", "b"),  # unknown size: in no class
            ("big:9b", "mid:3b", "tie"),  # 9B is in 4-9B, 3B in 2-4B
        ],
    )
    small = board(client, "?size=le2")
    assert small["votes"] == 1
    assert set(rows_by_model(small)) == {"tiny:1b", "small:1.5b"}
    assert board(client, "?size=2-4")["models"] == []
    assert board(client, "?size=4-9")["votes"] == 0
    assert len(votes_csv(client, "?size=le2")) == 1
    assert board(client)["votes"] == 4


def test_date_range_is_inclusive_and_in_utc(client: FlaskClient, models: Flask) -> None:
    day = timedelta(days=1)
    start = datetime(2026, 1, 1, 23, 59, 59, tzinfo=T0.tzinfo)
    add_votes(models, [("tiny:1b", "mid:3b", "a")] * 4, start=start, step=day)
    # Votes on Jan 1, 2, 3 and 4 at 23:59:59 UTC.
    assert board(client, "?from=2026-01-02&to=2026-01-03")["votes"] == 2
    assert board(client, "?from=2026-01-04")["votes"] == 1
    assert board(client, "?to=2026-01-01")["votes"] == 1
    assert board(client, "?from=2026-01-05")["votes"] == 0
    times = [row["time"] for row in votes_csv(client, "?from=2026-01-02&to=2026-01-02")]
    assert times == ["2026-01-02T23:59:59.000Z"]


def test_ties_excluded(client: FlaskClient, models: Flask) -> None:
    add_votes(
        models,
        [
            ("tiny:1b", "mid:3b", "a"),
            ("tiny:1b", "mid:3b", "tie"),
            ("mid:3b", "tiny:1b", "both_bad"),
        ],
    )
    everything = rows_by_model(board(client))
    assert (everything["tiny:1b"]["ties"], everything["tiny:1b"]["both_bad"]) == (1, 1)
    decisive = board(client, "?exclude_ties=1")
    assert decisive["votes"] == 1
    tiny = rows_by_model(decisive)["tiny:1b"]
    assert (tiny["battles"], tiny["wins"], tiny["ties"], tiny["both_bad"]) == (1, 1, 0, 0)
    assert [row["outcome"] for row in votes_csv(client, "?exclude_ties=true")] == ["a"]


def test_flagged_votes_never_count(client: FlaskClient, models: Flask) -> None:
    add_votes(models, [("tiny:1b", "mid:3b", "a")] * 2)
    add_votes(models, [("mid:3b", "tiny:1b", "a")] * 5, excluded=True, category="writing")
    for query in ("", "?category=writing", "?size=le2", "?exclude_ties=1", "?from=2026-03-01"):
        document = board(client, query)
        assert document["votes"] in (0, 2)
        for row in document["models"]:
            assert row["model"] != "mid:3b" or row["wins"] == 0
    assert len(votes_csv(client)) == 2
    html = unlinked(client.get("/leaderboard?category=writing").get_data(as_text=True))
    assert "No votes match these filters" in html


def test_sort_orders(client: FlaskClient, models: Flask) -> None:
    # The 1B model beats the 9B one 3 times in 4: a better score and Bradley-Terry rating,
    # but the size-aware Elo starts the 9B model 800 points higher.
    add_votes(
        models,
        [("tiny:1b", "big:9b", "a")] * 3 + [("big:9b", "tiny:1b", "a")],
    )
    order = {
        sort: [row["model"] for row in board(client, f"?sort={sort}")["models"]]
        for sort in ("bt", "elo", "score")
    }
    assert order == {
        "bt": ["tiny:1b", "big:9b"],
        "elo": ["big:9b", "tiny:1b"],
        "score": ["tiny:1b", "big:9b"],
    }
    assert board(client)["sort"] == "bt"
    for sort, models_in_order in order.items():
        html = unlinked(client.get(f"/leaderboard?sort={sort}").get_data(as_text=True))
        first, second = (html.index(f'<th scope="row">{m}</th>') for m in models_in_order)
        assert first < second
        lines = client.get(f"/api/leaderboard.csv?sort={sort}").get_data(as_text=True).splitlines()
        assert [line.split(",")[1] for line in lines[1:]] == models_in_order


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?from=2026-02-30", "bad date '2026-02-30' for 'from': expected YYYY-MM-DD"),
        ("?to=yesterday", "bad date 'yesterday' for 'to'"),
        ("?from=2026-03-02&to=2026-03-01", "'from' (2026-03-02) is after 'to' (2026-03-01)"),
        ("?size=huge", "unknown size class 'huge'; expected one of: le2, 2-4, 4-9, gt9"),
        ("?category=poetry", "unknown category 'poetry'; known categories: advice, coding"),
        ("?sort=name", "unknown sort 'name'; expected one of: bt, elo, score"),
        ("?exclude_ties=maybe", "bad value 'maybe' for 'exclude_ties'"),
        ("?categroy=coding", "unknown parameter 'categroy'"),
        ("?size=le2&size=gt9", "give 'size' at most once"),
    ],
)
def test_bad_parameters_are_a_clear_400(client: FlaskClient, query: str, message: str) -> None:
    for path in ("/api/leaderboard.json", "/api/leaderboard.csv"):
        response = client.get(path + query)
        assert response.status_code == 400
        assert response.is_json
        assert message in response.get_json()["message"]
    page = client.get("/leaderboard" + query)
    assert page.status_code == 400
    assert message.split(";")[0].replace("'", "&#39;") in page.get_data(as_text=True)
    if "sort" not in query:
        for path in ("/api/votes.csv", "/api/votes.jsonl", "/charts"):
            assert client.get(path + query).status_code == 400


def test_sort_is_refused_where_it_means_nothing(client: FlaskClient) -> None:
    response = client.get("/api/votes.csv?sort=bt")
    assert response.status_code == 400
    assert "unknown parameter 'sort'" in response.get_json()["message"]


def test_empty_form_fields_mean_no_filter(client: FlaskClient, models: Flask) -> None:
    add_votes(models, [("tiny:1b", "mid:3b", "a")])
    query = "?category=&size=&from=&to=&sort=bt"
    assert board(client, query)["votes"] == 1
    assert client.get("/leaderboard" + query).status_code == 200


def test_parse_filters_round_trips_through_params(app: Flask) -> None:
    with app.app_context():
        filters = parse_filters(
            {"category": "coding", "size": "2-4", "from": "2026-01-01", "exclude_ties": "on"},
            [2, 4, 9],
        )
        assert filters.size == SizeClass("2-4", "2–4B", 2.0, 4.0)
        assert parse_filters(filters.params(), [2, 4, 9]) == filters
        assert Filters().params() == {} and Filters().is_default


def test_a_vote_flagged_later_leaves_the_board(
    app: Flask, client: FlaskClient, models: Flask
) -> None:
    (first, _) = add_votes(models, [("tiny:1b", "mid:3b", "a"), ("mid:3b", "tiny:1b", "a")])
    assert board(client)["votes"] == 2
    with app.app_context():
        db.session.execute(update(Vote).where(Vote.id == first).values(excluded=True))
        db.session.commit()
    assert board(client)["votes"] == 1
