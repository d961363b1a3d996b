"""Error answers come from one place: JSON on JSON routes, the HTML page elsewhere, with the
headers the error carries (Allow, Retry-After) and never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.app import make_app, sqlite_only
from tests.support.faults import fill_the_disk


def _json_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "message", "status"}
    assert body["status"] == status
    assert body["message"] and "Traceback" not in body["message"]
    return dict(body)


@pytest.mark.parametrize(
    ("method", "path", "status", "name"),
    [
        ("GET", "/api/nosuch.json", 404, "Not Found"),
        ("GET", "/api/nosuch", 404, "Not Found"),
        ("POST", "/api/leaderboard.json", 405, "Method Not Allowed"),
        ("DELETE", "/api/votes.csv", 405, "Method Not Allowed"),
        ("GET", "/ask/x.json", 404, "Not Found"),
        ("POST", "/status.json", 405, "Method Not Allowed"),
        ("GET", "/api/leaderboard.json?size=huge", 400, "Bad Request"),
        ("GET", "/api/votes.jsonl?colour=blue", 400, "Bad Request"),
    ],
)
def test_json_routes_answer_errors_in_json(
    client: FlaskClient, method: str, path: str, status: int, name: str
) -> None:
    body = _json_error(client.open(path, method=method), status)
    assert body["error"] == name


def test_every_json_route_answers_a_wrong_method_in_json(app: Flask) -> None:
    """Enumerated from the URL map, so a new JSON route is covered without a change here."""
    client = app.test_client()
    checked = []
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api/") or rule.rule.endswith((".json", ".jsonl"))):
            continue
        path = rule.rule.replace("<request_id>", "x").replace("<", "").replace(">", "")
        method = next(m for m in ("DELETE", "PUT", "PATCH") if m not in (rule.methods or ()))
        body = _json_error(client.open(path, method=method), 405)
        assert body["error"] == "Method Not Allowed"
        checked.append(rule.rule)
    assert {"/api/leaderboard.json", "/api/votes.jsonl", "/status.json"} <= set(checked)


def test_a_405_keeps_its_allow_header(client: FlaskClient) -> None:
    response = client.post("/api/leaderboard.json")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "HEAD"}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nosuch", 404), ("POST", "/leaderboard", 405), ("GET", "/leaderboard?size=x", 400)],
)
def test_pages_answer_errors_in_html(
    client: FlaskClient, method: str, path: str, status: int
) -> None:
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert f"{status} ·" in response.get_data(as_text=True)


def test_a_client_that_prefers_json_gets_json_anywhere(client: FlaskClient) -> None:
    response = client.get("/nosuch", headers={"Accept": "application/json"})
    _json_error(response, 404)
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert client.get("/nosuch", headers={"Accept": browser}).mimetype == "text/html"


def test_rate_limited_json_routes_answer_json_with_retry_after(tmp_path: Path) -> None:
    app = make_app(tmp_path / "instance", "http://127.0.0.1:9", RATELIMIT_EXPORTS="1 per minute")
    client = app.test_client()
    assert client.get("/api/leaderboard.json").status_code == 200
    limited = client.get("/api/leaderboard.json")
    _json_error(limited, 429)
    assert int(limited.headers["Retry-After"]) > 0


def test_retry_after_only_on_429_and_503(client: FlaskClient) -> None:
    """Flask-Limiter would send its window's reset on every limited response, a 200 too."""
    for path in ("/api/leaderboard.json", "/leaderboard", "/"):
        response = client.get(path)
        assert response.status_code == 200
        assert "Retry-After" not in response.headers
    assert "X-RateLimit-Remaining" in client.get("/api/leaderboard.json").headers


@sqlite_only
def test_a_database_fault_is_a_503_in_json_for_json_clients(app: Flask) -> None:
    fill_the_disk(app)
    asked = []
    for n in range(40):  # filling the last free pages may take a few writes
        client = app.test_client()  # a new visitor each time: one waiting prompt per visitor
        response = client.post(
            "/ask",
            data={"prompt": f"Question number {n}?"},
            headers={"Accept": "application/json"},
            environ_base={"REMOTE_ADDR": f"192.0.2.{n + 1}"},  # each its own rate limit
        )
        asked.append(response.status_code)
        if response.status_code == 503:
            break
    assert asked[-1] == 503, asked
    body = _json_error(response, 503)
    assert "disk is full" in body["message"]
    assert response.headers["Retry-After"] == "60"
