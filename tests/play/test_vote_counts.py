"""Vote counts without counting the vote log: ``Model.vote_count`` is kept by every vote
writer (the battle page, the ORM, the legacy import) and backfilled by the migration; the
planner's counted votes subtract the flagged ones."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import downgrade, upgrade
from sqlalchemy import column, insert, select, table, update

from arena.database import MIGRATIONS_DIR
from arena.extensions import db
from arena.models import Model, Vote
from arena.play.matchmaking import vote_counts
from arena.pregen.planner import vote_totals
from tests.support.battles import battle_id_of, neutral_pool
from tests.support.fake_ollama import FakeOllama

BEFORE_COUNTERS = "b80352f3d17d"


def recount(app: Flask, *, counted_only: bool = False) -> dict[int, int]:
    """Votes per model, both sides, counted from the log itself."""
    with app.app_context():
        query = select(Vote.model_a_id, Vote.model_b_id)
        if counted_only:
            query = query.where(Vote.excluded.is_(False))
        counts: Counter[int] = Counter()
        for a, b in db.session.execute(query):
            counts.update((a, b))
        return dict(counts)


def counters(app: Flask) -> dict[int, int]:
    with app.app_context():
        rows = db.session.execute(select(Model.id, Model.vote_count).where(Model.vote_count > 0))
        return {model_id: n for model_id, n in rows}


def test_counters_follow_votes_flags_and_imports(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    fake_ollama: FakeOllama,
    tmp_path: Path,
) -> None:
    neutral_pool(runner, fake_ollama)
    for outcome in ("a", "tie"):
        battle_id = battle_id_of(client.get("/").get_data(as_text=True))
        assert client.post("/vote", data={"battle_id": battle_id, "outcome": outcome}).status_code
    assert counters(app) == recount(app) and sum(counters(app).values()) == 4
    with app.test_request_context():
        assert {m: n for m, n in vote_counts().items() if n} == recount(app)
        assert vote_totals() == recount(app)

    # An operator flags a vote in SQL: it still names its models (matchmaking's count, all
    # votes), but no longer counts (the planner's battle cap).
    with app.app_context():
        db.session.execute(update(Vote).where(Vote.id == 1).values(excluded=True))
        db.session.commit()
    assert counters(app) == recount(app)
    with app.test_request_context():
        assert vote_totals() == recount(app, counted_only=True) != recount(app)

    with app.app_context():
        tags = {tag: model_id for tag, model_id in db.session.execute(select(Model.tag, Model.id))}
    history = {
        "llama3.2:1b": {
            "wins": 3,
            "losses": 1,
            "opponents": {"gemma3:4b": {"wins": 3, "losses": 1}},
        },
        "gemma3:4b": {
            "wins": 1,
            "losses": 5,
            "opponents": {
                "llama3.2:1b": {"wins": 1, "losses": 3},
                "old-model:7b": {"wins": 0, "losses": 2},
            },
        },
        "old-model:7b": {
            "wins": 2,
            "losses": 0,
            "opponents": {"gemma3:4b": {"wins": 2, "losses": 0}},
        },
    }
    path = tmp_path / "leaderboard.json"
    path.write_text(json.dumps(history))
    for _ in range(2):  # the second import adds nothing
        result = runner.invoke(args=["leaderboard", "import", str(path)])
        assert result.exit_code == 0, result.output
        assert counters(app) == recount(app)
        assert counters(app)[tags["llama3.2:1b"]] >= 4

    # Votes written through the ORM, and one deleted through it, move the counters too.
    with app.app_context():
        a, b = tags["llama3.2:1b"], tags["qwen2.5:0.5b-instruct-q8_0"]
        db.session.add_all([Vote(model_a_id=a, model_b_id=b, outcome="b") for _ in range(3)])
        db.session.commit()
        db.session.delete(db.session.scalars(select(Vote).where(Vote.model_b_id == b)).first())
        db.session.commit()
    assert counters(app) == recount(app)
    assert counters(app)[tags["qwen2.5:0.5b-instruct-q8_0"]] >= 2


def test_the_migration_backfills_the_counters(app: Flask) -> None:
    model = table(
        "model",
        *map(column, ("id", "tag", "backend", "display_name", "enabled", "available", "added_at")),
    )
    vote = table(
        "vote",
        column("model_a_id"),
        column("model_b_id"),
        column("outcome"),
        column("source"),
        column("excluded"),
        column("created_at"),
    )
    now = datetime.now(UTC)
    with app.app_context():
        downgrade(directory=str(MIGRATIONS_DIR), revision=BEFORE_COUNTERS)
        db.session.remove()
        with db.engine.begin() as connection:
            for i in range(3):
                connection.execute(
                    insert(model).values(
                        tag=f"m{i}",
                        backend="ollama",
                        display_name=f"m{i}",
                        enabled=True,
                        available=True,
                        added_at=now,
                    )
                )
            ids = list(connection.scalars(select(model.c.id).order_by(model.c.id)))
            rows = [(ids[0], ids[1])] * 5 + [(ids[2], ids[0])] * 2 + [(ids[1], ids[2])]
            connection.execute(
                insert(vote),
                [
                    {
                        "model_a_id": a,
                        "model_b_id": b,
                        "outcome": "a",
                        "source": "arena",
                        "excluded": i % 3 == 0,
                        "created_at": now,
                    }
                    for i, (a, b) in enumerate(rows)
                ],
            )
        upgrade(directory=str(MIGRATIONS_DIR))
        db.session.remove()
    assert counters(app) == recount(app) == {ids[0]: 7, ids[1]: 6, ids[2]: 3}
