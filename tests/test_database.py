"""What differs between SQLite and PostgreSQL must not show: NUL bytes, ids, times, locks.

These run on whichever database the suite runs on (see ``tests/support/databases.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, select, text

from arena.database import advisory_key, database_lock
from arena.extensions import db
from arena.models import Model, Response, Vote, is_token_id
from tests.support import databases
from tests.support.fake_ollama import FakeOllama


def test_ids_with_a_nul_byte_are_not_found_not_a_database_error(client: FlaskClient) -> None:
    # PostgreSQL refuses a NUL byte in a string parameter; the lookup must not reach it.
    assert client.get("/battle/ab%00cd").status_code == 404
    assert client.get("/ask/ab%00cd").status_code == 404
    assert client.post("/vote", data={"battle_id": "a\x00b", "outcome": "a"}).status_code == 404
    assert is_token_id("Zr3_-x9") and not is_token_id("a\x00b") and not is_token_id("x" * 33)


def test_an_answer_with_nul_bytes_is_stored_without_them(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_answer(None, "Rivers:\x00 the Amazon\x00.")
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    assert runner.invoke(args=["pregenerate", "--prompts", "1"]).exit_code == 0
    with app.app_context():
        texts = set(db.session.scalars(select(Response.text).where(Response.status == "ok")))
    assert texts == {"Rivers: the Amazon."}


def test_times_come_back_aware_and_utc_and_flags_as_booleans(app: Flask) -> None:
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=UTC) + timedelta(microseconds=123456)
    with app.app_context():
        a = Model(tag="a:1b", display_name="a")
        b = Model(tag="b:1b", display_name="b", enabled=False)
        db.session.add_all([a, b])
        db.session.flush()
        local = moment.astimezone(datetime.now().astimezone().tzinfo)
        db.session.add(Vote(model_a_id=a.id, model_b_id=b.id, outcome="tie", created_at=local))
        db.session.commit()
        db.session.expire_all()
        vote = db.session.scalars(select(Vote)).one()
        assert vote.created_at == moment and vote.created_at.tzinfo == UTC
        assert vote.excluded is False
        enabled = dict(db.session.execute(select(Model.tag, Model.enabled)).all())
        assert enabled == {"a:1b": True, "b:1b": False}


def test_the_database_lock_can_be_taken_again_once_released(app: Flask) -> None:
    with app.app_context():
        for _ in range(2):
            with database_lock(app, "portability-test"):
                assert db.session.scalar(select(Model.id).limit(1)) is None


def test_on_postgresql_the_database_lock_is_seen_by_other_connections(app: Flask) -> None:
    """Other machines share no instance folder: on PostgreSQL the lock is an advisory lock."""
    if not databases.on_postgres():
        pytest.skip("an advisory lock is PostgreSQL's; SQLite's lock file is the whole lock")
    other = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try_lock = text("SELECT pg_try_advisory_lock(:key)")
    key = {"key": advisory_key("portability-test")}
    try:
        with (
            app.app_context(),
            database_lock(app, "portability-test"),
            other.connect() as conn,
        ):
            assert conn.scalar(try_lock, key) is False
        with other.connect() as conn:
            assert conn.scalar(try_lock, key) is True
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), key)
    finally:
        other.dispose()
