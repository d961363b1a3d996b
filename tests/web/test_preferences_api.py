"""``/api/preferences.jsonl`` over HTTP: the shape of every line, what is left out, pages, the
ETag and 304, HEAD, CORS, the cap on one download, and clear 400s."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select, update

from arena.extensions import db
from arena.leaderboard import preferences
from arena.leaderboard.preferences import PREFERENCE_FIELDS
from arena.models import Prompt, Vote
from tests.support.fake_ollama import FakeOllama
from tests.support.leaderboard_data import add_models, add_votes
from tests.support.preference_data import answer_pool, cast_votes, stored_votes

URL = "/api/preferences.jsonl"
OUTCOMES = ["a", "b", "tie", "both_bad", "b", "a", "a", "tie", "b", "both_bad"]


@pytest.fixture
def voted(app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama) -> list[int]:
    """10 votes with battles by two voters (5 each), 6 of them decisive."""
    answer_pool(runner, fake_ollama, prompts=5)
    return cast_votes(app, OUTCOMES, per_voter=5)


def lines(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


def test_one_line_per_decisive_vote_with_exactly_the_trainer_fields(
    app: Flask, client: FlaskClient, voted: list[int]
) -> None:
    response = client.get(URL)
    assert response.content_type == "application/x-ndjson"
    assert response.headers["Content-Disposition"] == "attachment; filename=preferences.jsonl"
    assert response.is_streamed
    got = lines(response)
    votes = stored_votes(app)
    assert got == [votes[i].record() for i in voted if votes[i].outcome in ("a", "b")]
    assert len(got) == 6
    for record in got:
        assert list(record) == list(PREFERENCE_FIELDS)  # exactly these keys, no outcome
        assert all(isinstance(value, str) and value for value in record.values())
    text = response.get_data(as_text=True)
    assert "voter" not in text and "vote_id" not in text


def test_ties_and_both_bad_come_on_request_with_their_outcome(
    app: Flask, client: FlaskClient, voted: list[int]
) -> None:
    votes = stored_votes(app)
    for include, wanted in [
        ("ties", {"a", "b", "tie"}),
        ("both_bad", {"a", "b", "both_bad"}),
        ("ties,both_bad", {"a", "b", "tie", "both_bad"}),
    ]:
        got = lines(client.get(f"{URL}?include={include}"))
        assert got == [votes[i].record(True) for i in voted if votes[i].outcome in wanted]
        assert all(list(r) == [*PREFERENCE_FIELDS, "outcome"] for r in got)
    assert {r["outcome"] for r in lines(client.get(f"{URL}?include=ties,both_bad"))} == {
        "a",
        "b",
        "tie",
        "both_bad",
    }
    assert all("outcome" not in r for r in lines(client.get(f"{URL}?include=")))


def test_private_prompts_flagged_and_imported_votes_never(
    app: Flask, client: FlaskClient, voted: list[int]
) -> None:
    with app.app_context():
        private = db.session.scalar(select(Vote.prompt_id).where(Vote.id == voted[0]))
        db.session.execute(
            update(Prompt).where(Prompt.id == private).values(source="visitor", shared=False)
        )
        db.session.execute(update(Vote).where(Vote.id == voted[1]).values(excluded=True))
        db.session.commit()
        hidden = set(db.session.scalars(select(Vote.id).where(Vote.prompt_id == private)))
        private_text = db.session.scalar(select(Prompt.text).where(Prompt.id == private))
    add_models(app, {"alpha:1b": 1.0, "beta:3b": 3.0})
    add_votes(app, [("alpha:1b", "beta:3b", "a")] * 2, source="imported")
    votes = stored_votes(app)
    kept = [i for i in voted if i not in hidden | {voted[1]}]
    response = client.get(f"{URL}?include=ties,both_bad")
    assert lines(response) == [votes[i].record(True) for i in kept]
    assert private_text not in response.get_data(as_text=True)
    assert "alpha:1b" not in response.get_data(as_text=True)


def _next_link(response) -> str | None:
    link = response.headers.get("Link")
    if link is None:
        return None
    match = re.fullmatch(r'<http://localhost(/[^>]+)>; rel="next"', link)
    assert match, link
    return match.group(1)


def test_pages_follow_link_to_the_whole_data(client: FlaskClient, voted: list[int]) -> None:
    whole = lines(client.get(f"{URL}?include=ties"))
    url: str | None = f"{URL}?include=ties&limit=3"
    got: list[dict] = []
    while url is not None:
        response = client.get(url)
        page = lines(response)
        url = _next_link(response)
        if url is not None:
            assert len(page) == 3
            after = response.headers["X-Next-After"]
            assert f"after={after}" in url and "limit=3" in url and "include=ties" in url
        else:
            assert "X-Next-After" not in response.headers
        got += page
    assert got == whole and len(whole) == 8


def test_a_download_over_the_cap_asks_for_pages(
    client: FlaskClient, voted: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preferences, "MAX_ROWS", 5)
    response = client.get(URL)  # 6 decisive votes, more than 5
    assert response.status_code == 400
    error = response.get_json()
    assert error["status"] == 400 and "more than 5 preference pairs" in error["message"]
    assert "limit=5" in error["message"] and "Link" in error["message"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    first = client.get(f"{URL}?limit=5")
    assert len(lines(first)) == 5 and _next_link(first) is not None
    assert client.get(f"{URL}?limit=6").status_code == 400  # a page is at most the cap
    assert len(lines(client.get(f"{URL}?category=coding"))) <= 5  # narrower: whole
    monkeypatch.setattr(preferences, "MAX_ROWS", 6)
    assert len(lines(client.get(URL))) == 6  # exactly the cap: whole


def test_etag_304_and_head(app: Flask, client: FlaskClient, voted: list[int]) -> None:
    response = client.get(URL)
    response.get_data()
    tag = response.headers["ETag"].strip('"')
    assert response.headers["Cache-Control"] == "no-cache"
    for header in (f'"{tag}"', f'W/"{tag}"', f'"0123", W/"{tag}"', "*"):
        cached = client.get(URL, headers={"If-None-Match": header})
        assert cached.status_code == 304 and cached.get_data() == b""
        assert cached.headers["ETag"] == f'"{tag}"'
    assert client.get(URL, headers={"If-None-Match": '"0123"'}).status_code == 200
    head = client.head(URL)
    assert head.status_code == 200 and head.get_data() == b""
    assert head.headers["ETag"] == f'"{tag}"'
    assert head.headers["Content-Disposition"] == "attachment; filename=preferences.jsonl"
    for other in (f"{URL}?include=ties", f"{URL}?limit=2", f"{URL}?category=coding"):
        assert client.get(other, headers={"If-None-Match": f'"{tag}"'}).status_code == 200
    with app.app_context():
        db.session.execute(update(Vote).where(Vote.id == voted[0]).values(excluded=True))
        db.session.commit()
    moved = client.get(URL, headers={"If-None-Match": f'"{tag}"'})
    assert moved.status_code == 200 and len(lines(moved)) == 5
    assert moved.headers["ETag"] != f'"{tag}"'


def test_readable_from_any_origin(client: FlaskClient, voted: list[int]) -> None:
    response = client.get(URL, headers={"Origin": "https://notebook.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"ETag", "Link", "X-Next-After", "Content-Disposition"} <= exposed
    preflight = client.options(
        URL,
        headers={
            "Origin": "https://notebook.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "If-None-Match",
        },
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    assert "if-none-match" in preflight.headers["Access-Control-Allow-Headers"].lower()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("include=tie", "bad value 'tie' for 'include'"),
        ("include=ties&include=both_bad", "'include' at most once"),
        ("limit=0", "'limit'"),
        (f"limit={preferences.MAX_ROWS + 1}", "'limit'"),
        ("after=x", "'after'"),
        ("exclude_ties=1", "'exclude_ties' does not apply"),
        ("answers=1", "unknown parameter 'answers'"),
        ("category=nonsense", "unknown category 'nonsense'"),
        ("from=March", "bad date 'March' for 'from'"),
        ("size=xl", "unknown size class 'xl'"),
    ],
)
def test_bad_parameters_get_a_clear_json_400(
    client: FlaskClient, voted: list[int], query: str, message: str
) -> None:
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert response.content_type == "application/json"
    error = response.get_json()
    assert error["status"] == 400 and error["error"] == "Bad Request"
    assert message in error["message"]


def test_an_empty_arena_gives_an_empty_file(client: FlaskClient) -> None:
    response = client.get(URL)
    assert response.status_code == 200 and response.get_data() == b""
    assert "Link" not in response.headers
