"""Downloads over HTTP and from ``flask --app arena export``: schemas, headers, ETags."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select, update

from arena.extensions import db
from arena.leaderboard.exports import LEADERBOARD_FIELDS, VOTE_FIELDS
from arena.models import Battle, Prompt, Vote
from tests.support.battles import battle_id_of, neutral_pool
from tests.support.fake_ollama import FakeOllama
from tests.support.leaderboard_data import add_models, add_votes

MODELS = {"alpha:1b": 1.0, "beta:3b": 3.0, "gamma": None}
INT_FIELDS = {"rank", "battles", "wins", "losses", "ties", "both_bad", "answers"}
FLOAT_FIELDS = {"win_rate", "score", "elo", "online_elo", "both_bad_rate"}
OPTIONAL_FLOATS = {"params_b", "bt", "bt_lower", "bt_upper", "tokens_per_second"}
OPTIONAL_FLOATS |= {"answer_chars", "answer_tokens"}


@pytest.fixture
def voted(app: Flask) -> Flask:
    add_models(app, MODELS)
    add_votes(
        app,
        [
            ("alpha:1b", "beta:3b", "a"),
            ("beta:3b", "gamma", "b"),
            ("gamma", "alpha:1b", "tie"),
            ("alpha:1b", "gamma", "both_bad"),
            ("beta:3b", "alpha:1b", "a"),
        ],
    )
    return app


def test_leaderboard_json_schema(client: FlaskClient, voted: Flask) -> None:
    response = client.get("/api/leaderboard.json?sort=score")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.headers["Content-Disposition"] == "attachment; filename=leaderboard.json"
    document = response.get_json()
    assert document["votes"] == 5 and document["sort"] == "score"
    assert document["bootstrap_rounds"] == 200
    assert document["filters"] == {
        "category": None,
        "size": None,
        "from": None,
        "to": None,
        "exclude_ties": False,
    }
    assert len(document["models"]) == 3
    for row in document["models"]:
        assert tuple(row) == LEADERBOARD_FIELDS
        assert isinstance(row["model"], str) and isinstance(row["display_name"], str)
        for name in INT_FIELDS:
            assert type(row[name]) is int, name
        for name in FLOAT_FIELDS:
            assert isinstance(row[name], float), name
        for name in OPTIONAL_FLOATS:
            assert row[name] is None or isinstance(row[name], float), name
        assert row["bt_lower"] <= row["bt"] <= row["bt_upper"]
        assert row["battles"] == row["wins"] + row["losses"] + row["ties"] + row["both_bad"]
    gamma = next(row for row in document["models"] if row["model"] == "gamma")
    assert gamma["params_b"] is None
    scores = [row["score"] for row in document["models"]]
    assert scores == sorted(scores, reverse=True)


def test_leaderboard_csv_schema(client: FlaskClient, voted: Flask) -> None:
    response = client.get("/api/leaderboard.csv?size=le2")
    assert response.content_type == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == "attachment; filename=leaderboard.csv"
    assert client.get("/api/leaderboard.csv").get_data(as_text=True).count("\n") == 4
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows == []  # alpha is the only model of 2B or less: no vote within the class
    text = client.get("/api/leaderboard.csv").get_data(as_text=True)
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == LEADERBOARD_FIELDS
    rows = list(reader)
    assert len(rows) == 3
    assert {row["model"] for row in rows} == set(MODELS)
    gamma = next(row for row in rows if row["model"] == "gamma")
    assert gamma["params_b"] == "" and int(gamma["battles"]) == 3


def test_vote_log_exports_have_no_voter(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    neutral_pool(runner, fake_ollama)
    for outcome in ("a", "both_bad"):
        battle_id = battle_id_of(client.get("/").get_data(as_text=True))
        client.post("/vote", data={"battle_id": battle_id, "outcome": outcome})
    with app.app_context():
        voter = db.session.scalar(select(Battle.voter))
        votes = db.session.scalars(select(Vote).order_by(Vote.id)).all()
        expected = [
            (v.battle_id, v.model_a.tag, v.model_b.tag, v.outcome, v.prompt_id) for v in votes
        ]
    response = client.get("/api/votes.csv")
    assert response.content_type == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == "attachment; filename=votes.csv"
    assert response.is_streamed
    text = response.get_data(as_text=True)
    assert voter not in text
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == VOTE_FIELDS
    assert not any("voter" in name for name in VOTE_FIELDS)
    rows = list(reader)
    assert [
        (r["battle_id"], r["model_a"], r["model_b"], r["outcome"], int(r["prompt_id"]))
        for r in rows
    ] == expected
    assert all(r["time"].endswith("Z") and "T" in r["time"] for r in rows)
    assert all(r["prompt"] and r["category"] and r["source"] == "arena" for r in rows)

    lines = client.get("/api/votes.jsonl")
    assert lines.content_type == "application/x-ndjson"
    assert lines.headers["Content-Disposition"] == "attachment; filename=votes.jsonl"
    records = [json.loads(line) for line in lines.get_data(as_text=True).splitlines()]
    assert [tuple(record) for record in records] == [VOTE_FIELDS] * 2
    assert [{k: str(v) for k, v in record.items()} for record in records] == rows
    assert voter not in lines.get_data(as_text=True)


def test_unshared_visitor_prompts_keep_their_text_private(
    app: Flask, client: FlaskClient, voted: Flask
) -> None:
    with app.app_context():
        db.session.execute(
            update(Prompt)
            .where(Prompt.id == select(Vote.prompt_id).limit(1).scalar_subquery())
            .values(source="visitor", shared=False)
        )
        db.session.commit()
    rows = list(csv.DictReader(io.StringIO(client.get("/api/votes.csv").get_data(as_text=True))))
    assert len(rows) == 5
    assert {row["prompt"] for row in rows} == {""}
    assert {row["category"] for row in rows} == {"coding"}


@pytest.mark.parametrize(
    "path", ["/api/leaderboard.json", "/api/leaderboard.csv", "/api/votes.csv", "/api/votes.jsonl"]
)
def test_etag_and_304(app: Flask, client: FlaskClient, voted: Flask, path: str) -> None:
    first = client.get(path)
    first.get_data()  # read every streamed response to its end
    tag = first.headers["ETag"]
    assert tag and first.headers["Cache-Control"] == "no-cache"
    again = client.get(path, headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.get_data() == b"" and again.headers["ETag"] == tag
    other = client.get(path + "?exclude_ties=1")
    other.get_data()
    assert other.headers["ETag"] != tag
    if "leaderboard" in path:
        assert client.get(path + "?sort=elo").headers["ETag"] != tag
    add_votes(app, [("alpha:1b", "gamma", "a")])
    changed = client.get(path, headers={"If-None-Match": tag})
    changed.get_data()
    assert changed.status_code == 200
    assert changed.headers["ETag"] != tag


def test_votes_export_honours_filters_and_streams_many_rows(
    app: Flask, client: FlaskClient
) -> None:
    add_models(app, MODELS)
    add_votes(app, [("alpha:1b", "beta:3b", "a"), ("beta:3b", "alpha:1b", "tie")] * 2500)
    response = client.get("/api/votes.csv?exclude_ties=1")
    chunks = list(response.response)
    assert len(chunks) > 2  # the header, then batches of rows
    assert "".join(c.decode() if isinstance(c, bytes) else c for c in chunks).count("\n") == 2501
    lines = client.get("/api/votes.jsonl?from=2026-03-01&to=2026-03-01").get_data(as_text=True)
    assert len(lines.splitlines()) == 720  # one vote a minute from 12:00 on March 1st


@pytest.mark.parametrize(
    ("args", "path"),
    [
        (["leaderboard", "--format", "csv"], "/api/leaderboard.csv"),
        (
            ["leaderboard", "--format", "json", "--sort", "score"],
            "/api/leaderboard.json?sort=score",
        ),
        (
            ["leaderboard", "--format", "json", "--exclude-ties", "--from", "2026-03-01"],
            "/api/leaderboard.json?exclude_ties=1&from=2026-03-01",
        ),
        (["votes", "--format", "csv", "--size", "2-4"], "/api/votes.csv?size=2-4"),
        (["votes", "--format", "json", "--category", "coding"], "/api/votes.jsonl?category=coding"),
    ],
)
def test_cli_export_matches_http(
    client: FlaskClient, runner: FlaskCliRunner, voted: Flask, tmp_path: Path, args, path
) -> None:
    out = tmp_path / "export.out"
    result = runner.invoke(args=["export", *args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == client.get(path).get_data()
    stdout = runner.invoke(args=["export", *args])
    assert stdout.exit_code == 0
    assert stdout.stdout_bytes == client.get(path).get_data()


def test_cli_export_refuses_bad_filters(runner: FlaskCliRunner, voted: Flask) -> None:
    result = runner.invoke(args=["export", "votes", "--from", "March"])
    assert result.exit_code == 2
    assert "bad date 'March' for 'from'" in result.output
    result = runner.invoke(args=["export", "leaderboard", "--size", "xl"])
    assert result.exit_code == 2
    assert "unknown size class 'xl'" in result.output
