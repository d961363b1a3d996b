"""``flask --app arena export votes``: JSON Lines by name, pages, answers, the values in help."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from arena.extensions import db
from arena.models import Vote
from arena.play.prompts import CATEGORIES
from tests.support.leaderboard_data import add_models, add_votes

MODELS = {"alpha:1b": 1.0, "beta:3b": 3.0}


@pytest.fixture
def vote_ids(app: Flask) -> list[int]:
    add_models(app, MODELS)
    return add_votes(app, [("alpha:1b", "beta:3b", "a"), ("beta:3b", "alpha:1b", "tie")] * 5)


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_export_votes_writes_json_lines(
    client: FlaskClient, runner: FlaskCliRunner, vote_ids: list[int], fmt: str
) -> None:
    result = runner.invoke(args=["export", "votes", "--format", fmt])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == client.get("/api/votes.jsonl").get_data()
    assert len(result.stdout.splitlines()) == 10


def test_export_votes_pages_match_http(
    client: FlaskClient, runner: FlaskCliRunner, vote_ids: list[int], tmp_path: Path
) -> None:
    args = ["export", "votes", "--format", "jsonl", "--limit", "3", "--after", str(vote_ids[1])]
    out = tmp_path / "page.jsonl"
    result = runner.invoke(args=[*args, "--answers", "--out", str(out)])
    assert result.exit_code == 0, result.output
    http = client.get(f"/api/votes.jsonl?limit=3&after={vote_ids[1]}&answers=1")
    assert out.read_bytes() == http.get_data()
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["vote_id"] for r in records] == vote_ids[2:5]
    assert all(r["answer_a"] is None and r["answer_b"] is None for r in records)
    assert f"--after {vote_ids[4]}" in result.stderr
    assert http.headers["X-Next-After"] == str(vote_ids[4])

    last = runner.invoke(args=["export", "votes", "--limit", "5", "--after", str(vote_ids[4])])
    assert last.exit_code == 0, last.output
    assert len(last.stdout.splitlines()) == 6  # the header and the last five votes
    assert "next page" not in last.stderr


def test_export_votes_without_answers_has_no_answer_columns(
    runner: FlaskCliRunner, vote_ids: list[int]
) -> None:
    header = runner.invoke(args=["export", "votes"]).stdout.splitlines()[0]
    assert "answer_a" not in header
    with_answers = runner.invoke(args=["export", "votes", "--answers", "--limit", "1"])
    assert with_answers.stdout.splitlines()[0].endswith(",answer_a,answer_b")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--limit", "0"], "--limit"),
        (["--limit", "100001"], "--limit"),
        (["--after", "-1"], "--after"),
        (["--format", "xml"], "--format"),
    ],
)
def test_export_votes_refuses_bad_paging(
    runner: FlaskCliRunner, vote_ids: list[int], args: list[str], message: str
) -> None:
    result = runner.invoke(args=["export", "votes", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_export_help_lists_the_accepted_values(app: Flask, runner: FlaskCliRunner) -> None:
    for command in ("votes", "leaderboard"):
        result = runner.invoke(args=["export", command, "--help"])
        assert result.exit_code == 0, result.output
        text = " ".join(result.output.split())  # help wraps its lines
        for size_class in ("le2", "2-4", "4-9", "gt9"):
            assert size_class in text
        for category in CATEGORIES:
            assert category in text
        assert "any imported one" in text
    votes_help = " ".join(runner.invoke(args=["export", "votes", "--help"]).output.split())
    for option in ("--limit", "--after", "--answers", "[default: csv]", "jsonl"):
        assert option in votes_help
    with app.app_context():
        assert db.session.scalar(select(Vote.id)) is None
