"""Vote integrity: expiry, minimum reading time, the daily cap; flagged votes never count."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select, update

from arena.extensions import db
from arena.models import Battle, Vote
from tests.support.battles import battle_id_of, neutral_pool
from tests.support.fake_ollama import FakeOllama


def _shift_served_at(app: Flask, battle_id: str, seconds: float) -> None:
    """Pretend the battle was shown ``seconds`` earlier than it was."""
    with app.app_context():
        battle = db.session.get(Battle, battle_id)
        db.session.execute(
            update(Battle)
            .where(Battle.id == battle_id)
            .values(served_at=battle.served_at - timedelta(seconds=seconds))
        )
        db.session.commit()


def _vote(app: Flask, battle_id: str) -> Vote:
    with app.app_context():
        return db.session.scalar(select(Vote).where(Vote.battle_id == battle_id))


def test_a_battle_expires(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    neutral_pool(runner, fake_ollama)
    battle_id = battle_id_of(client.get("/").get_data(as_text=True))
    _shift_served_at(app, battle_id, 3601)
    expired = client.post("/vote", data={"battle_id": battle_id, "outcome": "a"})
    assert expired.status_code == 410
    assert "expired" in expired.get_data(as_text=True)
    assert _vote(app, battle_id) is None


def test_a_hasty_vote_is_stored_but_flagged(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    app.config["MIN_READ_SECONDS"] = 2.0
    neutral_pool(runner, fake_ollama)
    hasty = battle_id_of(client.get("/").get_data(as_text=True))
    assert client.post("/vote", data={"battle_id": hasty, "outcome": "a"}).status_code == 303
    flagged = _vote(app, hasty)
    assert flagged.excluded
    assert "minimum 2 s" in flagged.flag_reason

    careful = battle_id_of(client.get("/").get_data(as_text=True))
    _shift_served_at(app, careful, 30)
    assert client.post("/vote", data={"battle_id": careful, "outcome": "b"}).status_code == 303
    counted = _vote(app, careful)
    assert (counted.excluded, counted.flag_reason) == (False, None)

    # Only the careful vote counts: its winner has score 0.5, nobody has a 2-battle record.
    html = client.get("/leaderboard").get_data(as_text=True)
    assert "0.500" in html


def test_votes_beyond_the_daily_cap_are_flagged(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    app.config["VOTER_DAILY_CAP"] = 2
    neutral_pool(runner, fake_ollama)
    ids = []
    for _ in range(3):
        battle_id = battle_id_of(client.get("/").get_data(as_text=True))
        assert (
            client.post("/vote", data={"battle_id": battle_id, "outcome": "tie"}).status_code == 303
        )
        ids.append(battle_id)
    flags = [_vote(app, battle_id).flag_reason for battle_id in ids]
    assert flags[:2] == [None, None]
    assert flags[2] == "over the daily cap of 2 votes per voter"
    other = app.test_client()  # another voter is not affected
    battle_id = battle_id_of(other.get("/").get_data(as_text=True))
    other.post("/vote", data={"battle_id": battle_id, "outcome": "a"})
    assert _vote(app, battle_id).excluded is False
