"""``flask backup`` and ``restore`` on PostgreSQL: pg_dump's custom format, checked by a
restore into a scratch database, the same rotation; clear errors about the client tools."""

from __future__ import annotations

import shutil
import stat
import threading
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import create_engine, func, select, text

from arena.extensions import db
from arena.models import Model, Vote
from arena.ops import backups, pg_backup
from arena.ops.backup import BackupError
from tests.support import databases

postgres_only = pytest.mark.skipif(
    not databases.on_postgres(),
    reason="pg_dump backups need PostgreSQL (ARENA_TEST_DATABASE_URL); SQLite's are in "
    "test_backup.py",
)


def _votes(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count(Vote.id))) or 0
        db.session.rollback()
        return count


def _add_votes(app: Flask, n: int) -> None:
    with app.app_context():
        ids = db.session.scalars(select(Model.id).order_by(Model.id).limit(2)).all()
        if len(ids) < 2:
            db.session.add_all(
                [Model(tag="a:1b", display_name="a"), Model(tag="b:1b", display_name="b")]
            )
            db.session.commit()
            ids = db.session.scalars(select(Model.id).order_by(Model.id).limit(2)).all()
        db.session.add_all(
            [Vote(model_a_id=ids[0], model_b_id=ids[1], outcome="tie") for _ in range(n)]
        )
        db.session.commit()


@postgres_only
def test_backup_is_a_checked_pg_dump_while_another_connection_writes(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    _add_votes(app, 20)
    url = str(app.config["SQLALCHEMY_DATABASE_URI"])
    stop = threading.Event()

    def writer() -> None:  # another process's connection, writing all along
        engine = create_engine(url)
        with engine.connect() as conn:
            ids = conn.execute(text("SELECT id FROM model ORDER BY id LIMIT 2")).scalars().all()
            while not stop.is_set():
                conn.execute(
                    text(
                        "INSERT INTO vote (model_a_id, model_b_id, outcome, source, excluded,"
                        " created_at) VALUES (:a, :b, 'a', 'arena', false, now())"
                    ),
                    {"a": ids[0], "b": ids[1]},
                )
                conn.commit()
        engine.dispose()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = runner.invoke(args=["backup", str(tmp_path / "dumps")])
    finally:
        stop.set()
        thread.join()
    assert result.exit_code == 0, result.output
    (archive,) = (tmp_path / "dumps").glob("arena-*.dump")
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert "checked: restored into a scratch database" in result.output
    votes = int(result.output.split("backed up ")[1].split(" votes")[0])
    assert 20 <= votes <= _votes(app)  # the snapshot's count, which the restore matched
    assert f"{votes} vote" in result.output.split("checked:")[1]
    assert not list((tmp_path / "dumps").glob(".*partial"))
    with app.app_context():  # no scratch database left behind
        left = db.session.scalar(
            text("SELECT count(*) FROM pg_database WHERE datname LIKE 'arena_restore_check_%'")
        )
        assert left == 0


@postgres_only
def test_restore_brings_back_the_dump_and_keeps_a_safety_dump(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    _add_votes(app, 5)
    five = tmp_path / "five.dump"
    assert runner.invoke(args=["backup", str(five)]).exit_code == 0
    _add_votes(app, 7)
    assert _votes(app) == 12
    with app.app_context():
        db.engine.dispose()
    result = runner.invoke(args=["restore", str(five), "--yes"])
    assert result.exit_code == 0, result.output
    assert "restored 5 votes" in result.output
    assert _votes(app) == 5
    safety = list((Path(app.instance_path) / "backups").glob("arena-*.dump"))
    assert len(safety) == 1
    tools = pg_backup.find_tool("pg_restore", 0)
    assert {"vote", "alembic_version"} <= pg_backup.listed_tables(tools, safety[0])


@postgres_only
def test_restore_refuses_what_is_not_an_arena_dump(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    _add_votes(app, 3)
    junk = tmp_path / "junk.dump"
    junk.write_bytes(b"this is not an archive" * 100)
    with app.app_context():
        db.engine.dispose()
    result = runner.invoke(args=["restore", str(junk), "--yes"])
    assert result.exit_code != 0
    assert "pg_restore failed" in result.output
    assert _votes(app) == 3


@postgres_only
def test_nightly_dumps_rotate(app: Flask, tmp_path: Path) -> None:
    _add_votes(app, 1)
    url = str(app.config["SQLALCHEMY_DATABASE_URI"])
    for _ in range(3):
        report = backups.nightly(url, tmp_path, keep=2)
        assert report.votes == 1 and report.path.suffix == ".dump"
    assert len(list(tmp_path.glob("arena-*.dump"))) == 2
    assert report.path.exists()


def test_a_missing_or_too_old_pg_dump_says_what_to_install() -> None:
    with pytest.raises(BackupError, match=r"pg_dump is not installed.*postgresql-client-16"):
        pg_backup.choose_tool("pg_dump", {"/usr/bin/pg_dump": None}, 16)
    with pytest.raises(BackupError, match=r"pg_dump 15 \(/usr/bin/pg_dump\) is older than"):
        pg_backup.choose_tool("pg_dump", {"/usr/bin/pg_dump": 15}, 16)
    newest = pg_backup.choose_tool(
        "pg_dump", {"/usr/bin/pg_dump": 15, "/usr/lib/postgresql/17/bin/pg_dump": 17}, 16
    )
    assert newest == pg_backup.Tool("/usr/lib/postgresql/17/bin/pg_dump", 17)


def test_the_installed_pg_dump_reports_its_version() -> None:
    found = pg_backup.find_tool("pg_dump", 0) if shutil.which("pg_dump") else None
    if found is None:
        pytest.skip("no pg_dump on this machine")
    assert found.major >= 10
