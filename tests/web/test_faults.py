"""Faults around the web: a full disk, Ollama down while serving; nothing stored is lost."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from arena.extensions import db
from arena.models import Vote
from tests.support.app import sqlite_only
from tests.support.battles import battle_id_of, neutral_pool
from tests.support.fake_ollama import FakeOllama
from tests.support.faults import fill_the_disk


@sqlite_only
def test_a_full_disk_gives_a_clear_503_and_keeps_stored_votes(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    neutral_pool(runner, fake_ollama, prompts=3)
    first = battle_id_of(client.get("/").get_data(as_text=True))
    assert client.post("/vote", data={"battle_id": first, "outcome": "a"}).status_code == 303

    fill_the_disk(app)
    # Filling the last free pages may take a few writes; then every write is refused cleanly.
    statuses = []
    for _ in range(200):
        # A new voter each time, so each view stores a battle (one voter's blind battles
        # here would run out after three, and an empty page writes nothing).
        page = app.test_client().get("/")
        statuses.append(page.status_code)
        if page.status_code == 503:
            break
    assert statuses[-1] == 503, statuses
    html = page.get_data(as_text=True)
    assert "disk is full" in html
    assert "Traceback" not in html
    assert page.headers["Retry-After"] == "60"
    assert client.get("/leaderboard").status_code == 200  # reading still works

    with app.app_context():
        votes = db.session.scalars(select(Vote)).all()
        assert [v.battle_id for v in votes] == [first]
        assert db.session.connection().exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert db.session.scalar(select(func.count(Vote.id))) == 1
