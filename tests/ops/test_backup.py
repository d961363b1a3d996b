"""Online backup while writing, restore with a safety copy, rotation, clear errors."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from arena.extensions import db
from arena.models import Model, Vote
from arena.ops import backup as backups
from arena.ops import backups as any_database
from tests.support.app import sqlite_only


def _vote_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Vote.id))) or 0


def _add_votes(app: Flask, n: int) -> None:
    with app.app_context():
        models = db.session.scalars(select(Model.id).limit(2)).all()
        if len(models) < 2:
            db.session.add_all(
                [Model(tag="a:1b", display_name="a"), Model(tag="b:1b", display_name="b")]
            )
            db.session.commit()
            models = db.session.scalars(select(Model.id).limit(2)).all()
        for _ in range(n):
            db.session.add(Vote(model_a_id=models[0], model_b_id=models[1], outcome="tie"))
            db.session.commit()


@sqlite_only
def test_backup_while_another_process_writes(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    _add_votes(app, 50)
    database = Path(app.instance_path) / "arena.db"
    stop = threading.Event()

    def writer() -> None:  # a separate connection, as another worker process would have
        connection = sqlite3.connect(database, timeout=30)
        while not stop.is_set():
            connection.execute(
                "INSERT INTO vote (model_a_id, model_b_id, outcome, source, excluded, created_at)"
                " VALUES (1, 2, 'a', 'arena', 0, '2026-01-01 00:00:00')"
            )
            connection.commit()
            time.sleep(0.001)
        connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = runner.invoke(args=["backup", str(tmp_path / "copy.db")])
    finally:
        stop.set()
        thread.join()
    assert result.exit_code == 0, result.output
    copied = backups.check_database(tmp_path / "copy.db")
    assert 50 <= copied <= _vote_count(app)
    assert f"backed up {copied} votes" in result.output
    assert not list(tmp_path.glob(".*partial"))


@sqlite_only
def test_restore_brings_back_the_backup_and_keeps_a_safety_copy(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    _add_votes(app, 5)
    assert runner.invoke(args=["backup", str(tmp_path / "five.db")]).exit_code == 0
    _add_votes(app, 7)
    assert _vote_count(app) == 12
    result = runner.invoke(args=["restore", str(tmp_path / "five.db"), "--yes"])
    assert result.exit_code == 0, result.output
    assert _vote_count(app) == 5
    safety = list((Path(app.instance_path) / "backups").glob("arena-*.db"))
    assert len(safety) == 1
    assert backups.check_database(safety[0]) == 12
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Vote)).scalar() == 5


@sqlite_only  # PostgreSQL's: test_backup_postgres.py
def test_restore_refuses_what_is_not_an_arena_backup(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    _add_votes(app, 3)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    result = runner.invoke(args=["restore", str(junk), "--yes"])
    assert result.exit_code != 0
    assert "not an SQLite database" in result.output
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    result = runner.invoke(args=["restore", str(other), "--yes"])
    assert "is not an arena database" in result.output
    assert _vote_count(app) == 3


def test_backup_of_a_server_database_points_to_its_own_tool() -> None:
    with pytest.raises(backups.BackupError, match="pg_dump"):
        backups.sqlite_path("postgresql+psycopg://arena@localhost/arena")


def test_rotation_keeps_the_newest(tmp_path: Path) -> None:
    for i in range(5):
        path = tmp_path / f"arena-2026010{i}T000000Z.db"
        path.write_bytes(b"x")
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
    (tmp_path / "keep-me.txt").write_text("not a backup")
    removed = backups.rotate(tmp_path, keep=2)
    assert len(removed) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "arena-20260103T000000Z.db",
        "arena-20260104T000000Z.db",
        "keep-me.txt",
    ]


@sqlite_only
def test_nightly_backup_rotates(app: Flask, tmp_path: Path) -> None:
    _add_votes(app, 1)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    for i in range(3):
        target = tmp_path / f"arena-2026010{i}T000000Z.db"
        backups.backup(url, target)
        os.utime(target, (1_000_000 + i, 1_000_000 + i))
    report = any_database.nightly(url, tmp_path, keep=2)
    assert report.path.parent == tmp_path
    assert len(list(tmp_path.glob("arena-*.db"))) == 2
    assert report.path.exists()
