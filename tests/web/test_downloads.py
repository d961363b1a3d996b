"""HTTP conventions of the downloads: conditional GET and HEAD, CORS, and the vote log's pages."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from arena import leaderboard
from arena.extensions import db
from arena.models import Model, Response, Vote
from tests.support.leaderboard_data import add_models, add_votes, computations

DOWNLOADS = ["/api/leaderboard.json", "/api/leaderboard.csv", "/api/votes.csv", "/api/votes.jsonl"]
MODELS = {"alpha:1b": 1.0, "beta:3b": 3.0, "gamma": None}
PREFLIGHT = {
    "Origin": "https://notebook.example",
    "Access-Control-Request-Method": "GET",
    "Access-Control-Request-Headers": "If-None-Match",
}


@pytest.fixture
def voted(app: Flask) -> Flask:
    add_models(app, MODELS)
    pairs = [("alpha:1b", "beta:3b"), ("beta:3b", "gamma"), ("gamma", "alpha:1b")]
    outcomes = ["a", "b", "tie", "both_bad"]
    add_votes(app, [(*pairs[n % 3], outcomes[n % 4]) for n in range(25)])
    return app


def _tag(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    response.get_data()  # read a streamed body to its end
    assert response.status_code == 200
    return response.headers["ETag"].strip('"')


@pytest.mark.parametrize("path", DOWNLOADS)
@pytest.mark.parametrize(
    "if_none_match",
    ['"{tag}"', 'W/"{tag}"', '"0123", W/"{tag}"', '"0123","{tag}"', "*"],
    ids=["strong", "weak", "listed-weak", "listed-strong", "star"],
)
def test_a_matching_if_none_match_gets_304(
    client: FlaskClient, voted: Flask, path: str, if_none_match: str
) -> None:
    tag = _tag(client, path)
    response = client.get(path, headers={"If-None-Match": if_none_match.format(tag=tag)})
    assert response.status_code == 304
    assert response.get_data() == b""
    assert response.headers["ETag"] == f'"{tag}"'
    assert response.headers["Cache-Control"] == "no-cache"
    other = client.get(path, headers={"If-None-Match": '"0123", W/"4567"'})
    assert other.status_code == 200 and other.get_data()


@pytest.mark.parametrize("path", DOWNLOADS)
def test_head_is_get_without_the_body(client: FlaskClient, voted: Flask, path: str) -> None:
    get = client.get(path)
    assert get.get_data()
    head = client.head(path)
    assert head.status_code == 200 and head.get_data() == b""
    for name in ("ETag", "Content-Type", "Content-Disposition", "Access-Control-Allow-Origin"):
        assert head.headers[name] == get.headers[name]
    tag = get.headers["ETag"]
    assert client.head(path, headers={"If-None-Match": "W/" + tag}).status_code == 304


def test_a_304_on_the_leaderboard_reads_no_board(app: Flask, client: FlaskClient, voted: Flask):
    tag = _tag(client, "/api/leaderboard.json")
    assert sum(computations(app).values()) == 1
    with app.app_context():
        leaderboard.invalidate()
    response = client.get("/api/leaderboard.json", headers={"If-None-Match": f'W/"{tag}"'})
    assert response.status_code == 304
    assert computations(app) == {}  # nothing computed, nothing cached again
    assert client.get("/api/leaderboard.json").headers["ETag"] == f'"{tag}"'


def test_leaderboard_etag_changes_with_the_rating_settings(
    app: Flask, client: FlaskClient, voted: Flask
) -> None:
    tag = _tag(client, "/api/leaderboard.json")
    app.config["LEADERBOARD_BOOTSTRAP_ROUNDS"] = 50
    response = client.get("/api/leaderboard.json", headers={"If-None-Match": f'"{tag}"'})
    assert response.status_code == 200
    assert response.get_json()["bootstrap_rounds"] == 50


@pytest.mark.parametrize("path", DOWNLOADS)
def test_downloads_may_be_read_from_any_origin(
    client: FlaskClient, voted: Flask, path: str
) -> None:
    answers = [
        client.get(path, headers={"Origin": "https://notebook.example"}),
        client.get(path, headers={"If-None-Match": "*"}),  # a 304
        client.get(path + "?size=xl"),  # a 400
    ]
    assert [a.status_code for a in answers] == [200, 304, 400]
    for response in answers:
        response.get_data()
        headers = response.headers
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in headers
        exposed = {name.strip() for name in headers["Access-Control-Expose-Headers"].split(",")}
        assert {"ETag", "Content-Disposition", "Link", "X-Next-After"} <= exposed
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= exposed
        assert headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "X-RateLimit-Remaining" in answers[0].headers


@pytest.mark.parametrize("path", DOWNLOADS)
def test_a_preflight_is_answered(client: FlaskClient, voted: Flask, path: str) -> None:
    response = client.options(path, headers=PREFLIGHT)
    assert 200 <= response.status_code < 300
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "if-none-match" in allowed
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_pages_and_other_routes_get_no_cors_headers(client: FlaskClient, voted: Flask) -> None:
    paths = ["/", "/leaderboard", "/charts", "/static/style.css", "/no-such-page", "/api/nothing"]
    for path in paths:
        for response in (client.get(path), client.options(path, headers=PREFLIGHT)):
            cors = [name for name, _ in response.headers.items() if name.startswith("Access-")]
            assert cors == [], path
            assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin", path


def _next_link(response) -> str | None:
    link = response.headers.get("Link")
    if link is None:
        return None
    match = re.fullmatch(r'<http://localhost(/[^>]+)>; rel="next"', link)
    assert match, link
    return match.group(1)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_pages_concatenate_to_the_whole_log(client: FlaskClient, voted: Flask, fmt: str) -> None:
    whole = client.get(f"/api/votes.{fmt}?exclude_ties=1").get_data(as_text=True).splitlines()
    url: str | None = f"/api/votes.{fmt}?exclude_ties=1&limit=4"
    lines: list[str] = []
    pages = 0
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200
        page = response.get_data(as_text=True).splitlines()
        if fmt == "csv":
            assert page[0] == whole[0]  # each page has the header
            page = page[1:]
        assert 1 <= len(page) <= 4
        last_id = int(page[-1].split(",")[0] if fmt == "csv" else json.loads(page[-1])["vote_id"])
        url = _next_link(response)
        if url is not None:
            assert len(page) == 4
            assert response.headers["X-Next-After"] == str(last_id)
            assert f"after={last_id}" in url and "limit=4" in url and "exclude_ties=1" in url
        else:
            assert "X-Next-After" not in response.headers
        lines += page
        pages += 1
    body = whole[1:] if fmt == "csv" else whole
    assert lines == body  # no gap, no repeat
    assert pages == (len(body) + 3) // 4


def test_a_full_last_page_has_no_next(app: Flask, client: FlaskClient, voted: Flask) -> None:
    with app.app_context():
        ids = list(db.session.scalars(select(Vote.id).order_by(Vote.id)))
    first = client.get(f"/api/votes.jsonl?limit=5&after={ids[-11]}")
    assert first.headers["X-Next-After"] == str(ids[-6])
    last = client.get(f"/api/votes.jsonl?limit=5&after={ids[-6]}")
    assert len(last.get_data(as_text=True).splitlines()) == 5
    assert "Link" not in last.headers and "X-Next-After" not in last.headers
    empty = client.get(f"/api/votes.jsonl?after={ids[-1]}")
    assert empty.status_code == 200 and empty.get_data() == b""


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "'limit'"),
        ("limit=100001", "'limit'"),
        ("limit=ten", "'limit'"),
        ("limit=1.5", "'limit'"),
        ("limit=2&limit=3", "'limit' at most once"),
        ("after=-1", "'after'"),
        ("after=x", "'after'"),
        ("answers=maybe", "'answers'"),
        ("limt=10", "unknown parameter 'limt'"),
    ],
)
def test_bad_paging_parameters_get_a_clear_400(
    client: FlaskClient, voted: Flask, query: str, message: str
) -> None:
    for path in ("/api/votes.csv", "/api/votes.jsonl"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400
        error = response.get_json()
        assert error["status"] == 400 and error["error"] == "Bad Request"
        assert message in error["message"]
    assert client.get("/api/leaderboard.json?limit=10").status_code == 400


def test_votes_etag_covers_the_page_and_columns(client: FlaskClient, voted: Flask) -> None:
    queries = ["", "?limit=5", "?limit=6", "?limit=5&after=3", "?answers=1", "?exclude_ties=1"]
    tags = {_tag(client, "/api/votes.csv" + query) for query in queries}
    assert len(tags) == len(queries)
    assert _tag(client, "/api/votes.csv?answers=0") == _tag(client, "/api/votes.csv")


def test_votes_etag_moves_with_flags_but_not_with_answers(
    app: Flask, client: FlaskClient, voted: Flask
) -> None:
    tags = {path: _tag(client, path) for path in ("/api/votes.csv", "/api/votes.jsonl?answers=1")}
    with app.app_context():
        vote_id = db.session.scalar(select(func.min(Vote.id)))
        prompt_id = db.session.scalar(select(Vote.prompt_id).where(Vote.id == vote_id))
        model_id = db.session.scalar(select(Vote.model_a_id).where(Vote.id == vote_id))
        db.session.add(Response(prompt_id=prompt_id, model_id=model_id, text="A new answer."))
        db.session.commit()
    for path, tag in tags.items():
        assert client.get(path, headers={"If-None-Match": f'"{tag}"'}).status_code == 304
    with app.app_context():
        db.session.execute(update(Vote).where(Vote.id == vote_id).values(excluded=True))
        db.session.commit()
    for path, tag in tags.items():
        response = client.get(path, headers={"If-None-Match": f'"{tag}"'})
        assert response.status_code == 200
        assert len(response.get_data(as_text=True).splitlines()) == 24 + path.endswith(".csv")


def test_votes_etag_moves_with_a_model_size(app: Flask, client: FlaskClient, voted: Flask) -> None:
    """A size corrected by ``models sync`` changes what ``size=`` selects: not a stale 304."""
    path = "/api/votes.csv?size=le2"
    tag = _tag(client, path)
    with app.app_context():
        db.session.execute(update(Model).values(params_b=Model.params_b + 10))
        db.session.commit()
    assert client.get(path, headers={"If-None-Match": f'"{tag}"'}).status_code == 200


def test_votes_csv_rows_parse_back(client: FlaskClient, voted: Flask) -> None:
    text = client.get("/api/votes.csv?limit=3&answers=1").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3
    assert [row["answer_a"] for row in rows] == ["", "", ""]  # imported-style votes: no battle
