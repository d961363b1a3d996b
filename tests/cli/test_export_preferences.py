"""``flask --app arena export preferences``: the same lines as the HTTP download, its pages and
options, and clear usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from arena.leaderboard import preferences
from arena.leaderboard.preferences import PREFERENCE_FIELDS
from tests.support.fake_ollama import FakeOllama
from tests.support.preference_data import answer_pool, cast_votes, stored_votes

OUTCOMES = ["a", "tie", "b", "both_bad", "a", "b"]


@pytest.fixture
def voted(app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama) -> list[int]:
    answer_pool(runner, fake_ollama, prompts=6)
    return cast_votes(app, OUTCOMES, per_voter=6)


@pytest.mark.parametrize(
    ("args", "query"),
    [
        ([], ""),
        (["--include", "ties,both_bad"], "?include=ties,both_bad"),
        (["--include", "ties", "--include", "both_bad"], "?include=ties,both_bad"),
        (["--size", "le2", "--include", "ties"], "?size=le2&include=ties"),
        (["--from", "2020-01-01", "--to", "2099-12-31"], "?from=2020-01-01&to=2099-12-31"),
    ],
)
def test_the_command_writes_what_the_download_serves(
    client: FlaskClient,
    runner: FlaskCliRunner,
    voted: list[int],
    tmp_path: Path,
    args: list[str],
    query: str,
) -> None:
    served = client.get(f"/api/preferences.jsonl{query}")
    assert served.status_code == 200
    result = runner.invoke(args=["export", "preferences", *args])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == served.get_data()
    out = tmp_path / "preferences.jsonl"
    result = runner.invoke(args=["export", "preferences", *args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == served.get_data()


def test_decisive_lines_by_default_and_pages(
    app: Flask, runner: FlaskCliRunner, voted: list[int]
) -> None:
    votes = stored_votes(app)
    result = runner.invoke(args=["export", "preferences"])
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records == [votes[i].record() for i in voted if votes[i].outcome in ("a", "b")]
    assert all(tuple(r) == PREFERENCE_FIELDS for r in records)

    first = runner.invoke(args=["export", "preferences", "--limit", "3"])
    assert first.exit_code == 0
    assert [json.loads(line) for line in first.stdout.splitlines()] == records[:3]
    decisive = [i for i in voted if votes[i].outcome in ("a", "b")]
    assert f"the next page is --after {decisive[2]}" in first.stderr
    after = ["--limit", "3", "--after", str(decisive[2])]
    rest = runner.invoke(args=["export", "preferences", *after])
    assert [json.loads(line) for line in rest.stdout.splitlines()] == records[3:]
    assert "next page" not in rest.stderr


def test_the_command_has_no_cap(
    runner: FlaskCliRunner, voted: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preferences, "MAX_ROWS", 2)
    result = runner.invoke(args=["export", "preferences"])
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--include", "tie"], "bad value 'tie' for 'include'"),
        (["--limit", "0"], "--limit"),
        (["--limit", str(preferences.MAX_ROWS + 1)], "--limit"),
        (["--after", "-1"], "--after"),
        (["--after", "x"], "--after"),
        (["--from", "March"], "bad date 'March' for 'from'"),
        (["--size", "xl"], "unknown size class 'xl'"),
        (["--category", "nonsense"], "unknown category 'nonsense'"),
        (["--exclude-ties"], "No such option"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(
    runner: FlaskCliRunner, voted: list[int], args: list[str], message: str
) -> None:
    result = runner.invoke(args=["export", "preferences", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_help_names_the_fields_and_options(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["export", "preferences", "--help"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for word in ("prompt, chosen, rejected", "--include", "--limit", "--after", "le2", "coding"):
        assert word in text
