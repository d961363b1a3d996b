"""Downloads over HTTP and from ``flask --app arena export``: schemas, headers, ETags."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select, update

from arena.extensions import db
from arena.leaderboard import bounds
from arena.leaderboard.exports import ANSWER_FIELDS, LEADERBOARD_FIELDS, VOTE_FIELDS
from arena.models import Battle, LeaderboardCache, Prompt, Response, Vote
from tests.support.battles import NEUTRAL_ANSWER, battle_id_of, neutral_pool
from tests.support.fake_ollama import FakeOllama
from tests.support.leaderboard_data import add_models, add_votes

MODELS = {"alpha:1b": 1.0, "beta:3b": 3.0, "gamma": None}
INT_FIELDS = {"rank", "battles", "wins", "losses", "ties", "both_bad", "answers"}
FLOAT_FIELDS = {"win_rate", "score", "elo", "online_elo", "both_bad_rate"}
OPTIONAL_FLOATS = {"params_b", "bt", "bt_lower", "bt_upper", "tokens_per_second"}
OPTIONAL_FLOATS |= {
    "answer_chars",
    "answer_tokens",
    "tokens_per_second_p10",
    "time_to_first_token_s",
}
OPTIONAL_INTS = {"memory_bytes", "disk_bytes", "concurrency"}


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
        "exclude_targeted": False,
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
        for name in OPTIONAL_INTS:
            assert row[name] is None or type(row[name]) is int, name
        assert type(row["on_pareto_front"]) is bool
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
    # A board computed quickly is recomputed while the request waits (a loaded machine can
    # make the tiny board's computation slow: see the next test for that case).
    _say_boards_took(app, 0.0)
    add_votes(app, [("alpha:1b", "gamma", "a")])
    changed = client.get(path, headers={"If-None-Match": tag})
    changed.get_data()
    assert changed.status_code == 200
    assert changed.headers["ETag"] != tag


def _say_boards_took(app: Flask, seconds: float) -> None:
    with app.app_context():
        db.session.execute(update(LeaderboardCache).values(compute_seconds=seconds))
        db.session.commit()


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_client_holding_the_board_gets_304_while_a_slow_board_is_recomputed(
    app: Flask, client: FlaskClient, voted: Flask, fmt: str
) -> None:
    path = f"/api/leaderboard.{fmt}"
    first = client.get(path)
    first.get_data()
    tag = first.headers["ETag"]
    _say_boards_took(app, 10 * bounds.QUICK_SECONDS)
    add_votes(app, [("alpha:1b", "gamma", "a")])
    # The new board is computed in the background; until then the board the client holds is
    # the newest there is, and the client is told so without a body.
    stale = client.get(path, headers={"If-None-Match": tag})
    assert stale.status_code == 304 and stale.headers["ETag"] == tag
    assert bounds.wait_for_computations(120)
    fresh = client.get(path, headers={"If-None-Match": tag})
    fresh.get_data()
    assert fresh.status_code == 200 and fresh.headers["ETag"] != tag


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


SIDE_ANSWERS = {
    "llama3.2:1b": "A first careful answer.",
    "qwen2.5:0.5b-instruct-q8_0": "A second careful answer.",
    "gemma3:4b": "A third careful answer.",
}


def _arena_votes(client: FlaskClient, outcomes: list[str]) -> None:
    for outcome in outcomes:
        battle_id = battle_id_of(client.get("/").get_data(as_text=True))
        response = client.post("/vote", data={"battle_id": battle_id, "outcome": outcome})
        assert response.status_code in (200, 302, 303), response.status_code


def _sides(app: Flask) -> dict[int, tuple[str, str, str, str]]:
    """vote id -> (model_a, model_b, left answer, right answer) from the battles."""
    with app.app_context():
        votes = db.session.scalars(select(Vote).where(Vote.battle_id.is_not(None))).all()
        return {
            v.id: (v.model_a.tag, v.model_b.tag, v.battle.left.text, v.battle.right.text)
            for v in votes
            if v.battle is not None
        }


def test_answer_columns_are_the_battle_sides(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    for tag, text in SIDE_ANSWERS.items():
        fake_ollama.set_answer(tag, text)  # a text per model: the sides tell apart
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    # 3 models: one blind battle per prompt for a voter, so 6 prompts for 6 votes.
    assert runner.invoke(args=["pregenerate", "--prompts", "6"]).exit_code == 0
    _arena_votes(client, ["a", "b", "tie", "a", "both_bad", "b"])
    add_models(app, MODELS)
    add_votes(app, [("alpha:1b", "beta:3b", "a")], source="import")
    sides = _sides(app)
    assert len(sides) == 6
    assert all(
        SIDE_ANSWERS[a] == left and SIDE_ANSWERS[b] == right for a, b, left, right in sides.values()
    )

    text = client.get("/api/votes.csv?answers=1").get_data(as_text=True)
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == (*VOTE_FIELDS, *ANSWER_FIELDS)
    rows = {int(row["vote_id"]): row for row in reader}
    assert len(rows) == 7
    for vote_id, (model_a, model_b, left, right) in sides.items():
        row = rows.pop(vote_id)
        assert (row["model_a"], row["model_b"]) == (model_a, model_b)
        assert (row["answer_a"], row["answer_b"]) == (left, right)
    (imported,) = rows.values()
    assert imported["source"] == "import" and imported["battle_id"] == ""
    assert imported["answer_a"] == imported["answer_b"] == ""

    records = [
        json.loads(line)
        for line in client.get("/api/votes.jsonl?answers=1").get_data(as_text=True).splitlines()
    ]
    assert [tuple(record) for record in records] == [(*VOTE_FIELDS, *ANSWER_FIELDS)] * 7
    for record in records:
        if record["vote_id"] in sides:
            assert (record["answer_a"], record["answer_b"]) == sides[record["vote_id"]][2:]
        else:
            assert record["answer_a"] is None and record["answer_b"] is None
    without = client.get("/api/votes.jsonl").get_data(as_text=True).splitlines()
    assert all("answer_a" not in json.loads(line) for line in without)


def test_private_visitor_prompts_hide_their_answers(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    neutral_pool(runner, fake_ollama)
    _arena_votes(client, ["a", "b", "tie"])
    with app.app_context():
        first = db.session.scalar(select(Vote).order_by(Vote.id).limit(1))
        assert first is not None
        private_id, private_prompt = first.id, first.prompt_id
        db.session.execute(
            update(Prompt).where(Prompt.id == private_prompt).values(source="visitor", shared=False)
        )
        db.session.commit()
    text = client.get("/api/votes.csv?answers=1").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3
    for row in rows:
        hidden = int(row["prompt_id"]) == private_prompt
        assert (row["prompt"] == "") is hidden
        assert (row["answer_a"] == "" and row["answer_b"] == "") is hidden
    assert any(int(row["vote_id"]) == private_id for row in rows)
    assert NEUTRAL_ANSWER not in text.split("\n", 1)[0]  # the header names no answer text
    shown = [row for row in rows if int(row["prompt_id"]) != private_prompt]
    assert all(row["answer_a"] == row["answer_b"] == NEUTRAL_ANSWER for row in shown)


def test_votes_etag_holds_through_pregeneration_and_moves_with_a_vote(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    neutral_pool(runner, fake_ollama, prompts=2)
    _arena_votes(client, ["a"])
    paths = ["/api/votes.csv", "/api/votes.jsonl?answers=1", "/api/votes.csv?limit=1"]
    tags = {}
    for path in paths:
        response = client.get(path)
        response.get_data()
        tags[path] = response.headers["ETag"]
    with app.app_context():
        answers = db.session.scalar(select(func.count()).select_from(Response))
    result = runner.invoke(args=["pregenerate", "--prompts", "5"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Response)) > answers
    for path in paths:
        assert client.get(path, headers={"If-None-Match": tags[path]}).status_code == 304
    _arena_votes(client, ["b"])
    for path in paths:
        response = client.get(path, headers={"If-None-Match": tags[path]})
        response.get_data()
        assert response.status_code == 200
        assert response.headers["ETag"] != tags[path]
