"""``flask --app arena leaderboard import``: the original arena's leaderboard.json as votes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from arena.extensions import db
from arena.leaderboard.legacy_import import parse_leaderboard
from arena.models import Model, Vote
from tests.support.leaderboard_data import add_models, rows_by_model

# Each battle appears twice, once under each model, as the original arena wrote it.
ORIGINAL = {
    "qwen2.5:0.5b-instruct-q8_0": {
        "wins": 7,
        "losses": 9,
        "opponents": {
            "llama3.2:1b": {"wins": 3, "losses": 6},
            "gemma2:2b": {"wins": 4, "losses": 3},
        },
    },
    "llama3.2:1b": {
        "wins": 11,
        "losses": 5,
        "opponents": {
            "qwen2.5:0.5b-instruct-q8_0": {"wins": 6, "losses": 3},
            "gemma2:2b": {"wins": 5, "losses": 2},
        },
    },
    "gemma2:2b": {
        "wins": 5,
        "losses": 9,
        "opponents": {
            "qwen2.5:0.5b-instruct-q8_0": {"wins": 3, "losses": 4},
            "llama3.2:1b": {"wins": 2, "losses": 5},
        },
    },
    "mystery-model": {"wins": 0, "losses": 0, "opponents": {}},
}


def write(tmp_path: Path, data: object, name: str = "leaderboard.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def vote_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Vote.id)))


def original_score(record: dict) -> float:
    battles = record["wins"] + record["losses"]
    return record["wins"] / battles * (1 - 1 / (battles + 1))


def test_round_trip_gives_the_original_arena_scores(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    add_models(app, {"llama3.2:1b": 1.2})  # already known: kept as it is
    result = runner.invoke(args=["leaderboard", "import", write(tmp_path, ORIGINAL)])
    assert result.exit_code == 0, result.output
    assert "4 models in the file, 3 new (created disabled)" in result.output
    assert "23 battles between 3 pairs in the file" in result.output
    assert "0 already imported; added 23 votes (source 'imported')" in result.output
    assert "inconsistencies" not in result.output

    board = rows_by_model(client.get("/api/leaderboard.json").get_json())
    assert set(board) == {"qwen2.5:0.5b-instruct-q8_0", "llama3.2:1b", "gemma2:2b"}
    for tag, row in board.items():
        assert (row["wins"], row["losses"]) == (ORIGINAL[tag]["wins"], ORIGINAL[tag]["losses"])
        assert row["score"] == pytest.approx(original_score(ORIGINAL[tag]), abs=1e-12)
    with app.app_context():
        models = {m.tag: m for m in db.session.scalars(select(Model))}
        assert models["qwen2.5:0.5b-instruct-q8_0"].params_b == 0.5
        assert models["gemma2:2b"].params_b == 2.0
        assert models["mystery-model"].params_b is None
        assert not models["gemma2:2b"].enabled and models["llama3.2:1b"].enabled
        assert models["llama3.2:1b"].params_b == 1.2
        sources = set(db.session.scalars(select(Vote.source)))
        assert sources == {"imported"}
        seats = db.session.execute(select(Vote.outcome, func.count()).group_by(Vote.outcome))
        assert set(dict(seats.all())) == {"a", "b"}  # winners sit on both sides


def test_importing_twice_adds_nothing(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, ORIGINAL)
    assert runner.invoke(args=["leaderboard", "import", path]).exit_code == 0
    again = runner.invoke(args=["leaderboard", "import", path])
    assert again.exit_code == 0
    assert "23 already imported; added 0 votes" in again.output
    assert "already imported" in again.output.splitlines()[-1]
    assert vote_count(app) == 23


def test_a_newer_file_adds_only_the_new_battles(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    assert runner.invoke(args=["leaderboard", "import", write(tmp_path, ORIGINAL)]).exit_code == 0
    newer = json.loads(json.dumps(ORIGINAL))
    newer["gemma2:2b"]["wins"] += 2
    newer["gemma2:2b"]["opponents"]["llama3.2:1b"]["wins"] += 2
    newer["llama3.2:1b"]["losses"] += 2
    newer["llama3.2:1b"]["opponents"]["gemma2:2b"]["losses"] += 2
    result = runner.invoke(args=["leaderboard", "import", write(tmp_path, newer, "newer.json")])
    assert result.exit_code == 0, result.output
    assert "23 already imported; added 2 votes" in result.output
    assert vote_count(app) == 25


def test_inconsistencies_are_reported_and_one_side_is_counted(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    data = {
        "a:1b": {"wins": 5, "losses": 1, "opponents": {"b:1b": {"wins": 4, "losses": 1}}},
        "b:1b": {"wins": 2, "losses": 4, "opponents": {"a:1b": {"wins": 2, "losses": 4}}},
        "c:1b": {"wins": 1, "losses": 0, "opponents": {"d:1b": {"wins": 1, "losses": 0}}},
    }
    result = runner.invoke(args=["leaderboard", "import", write(tmp_path, data)])
    assert result.exit_code == 0, result.output
    assert "a:1b: totals 5 wins / 1 losses, but its opponents add up to 4 / 1" in result.output
    assert "a:1b vs b:1b: a:1b says 4-1, b:1b says 4-2 (counted from a:1b: 4-1)" in result.output
    assert "c:1b vs d:1b: listed only under c:1b" in result.output
    assert "3 inconsistencies in the file" in result.output
    assert vote_count(app) == 6  # 4 + 1 between a and b, 1 between c and d


def test_dry_run_changes_nothing(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = runner.invoke(args=["leaderboard", "import", "--dry-run", write(tmp_path, ORIGINAL)])
    assert result.exit_code == 0, result.output
    assert "would add 23 votes" in result.output
    assert vote_count(app) == 0
    with app.app_context():
        assert db.session.scalar(select(func.count(Model.id))) == 0


def test_import_date_is_used(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = write(tmp_path, ORIGINAL)
    result = runner.invoke(args=["leaderboard", "import", "--at", "2025-06-01", path])
    assert result.exit_code == 0, result.output
    assert "dated 2025-06-01 00:00:00 UTC" in result.output
    assert client.get("/api/leaderboard.json?to=2025-06-01").get_json()["votes"] == 23
    assert client.get("/api/leaderboard.json?from=2025-06-02").get_json()["votes"] == 0
    bad = runner.invoke(args=["leaderboard", "import", "--at", "soon", path])
    assert bad.exit_code == 2 and "'soon' is not an ISO date" in bad.output


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "expected a JSON object mapping each model"),
        ({"m": {"wins": -1}}, "m.wins: expected a whole number >= 0, got -1"),
        ({"m": {"wins": 1.5}}, "m.wins: expected a whole number >= 0, got 1.5"),
        ({"m": {"opponents": []}}, "m.opponents: expected an object"),
        ({"m": {"opponents": {"n": {"losses": "2"}}}}, "m.opponents.n.losses"),
        ({"": {}}, "a model tag must be 1 to 200 characters"),
    ],
)
def test_bad_files_are_refused_clearly(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, data: object, message: str
) -> None:
    result = runner.invoke(args=["leaderboard", "import", write(tmp_path, data)])
    assert result.exit_code == 1
    assert message in result.output
    assert vote_count(app) == 0


def test_not_json_is_refused(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{ nope")
    result = runner.invoke(args=["leaderboard", "import", str(path)])
    assert result.exit_code == 1
    assert "not valid JSON" in result.output


def test_parse_counts_each_battle_once() -> None:
    counts, models, mismatches = parse_leaderboard(ORIGINAL)
    assert mismatches == []
    assert sum(counts.values()) == 23
    assert counts[("llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0")] == 6
    assert counts[("qwen2.5:0.5b-instruct-q8_0", "llama3.2:1b")] == 3
    assert "mystery-model" in models
