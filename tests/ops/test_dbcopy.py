"""``flask --app arena db copy --to URL``: every row moves, ids and all, and the copy checks out.

SQLite to SQLite always; SQLite to PostgreSQL when the suite has a PostgreSQL server
(``ARENA_TEST_DATABASE_URL``, see ``tests/support/databases.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

from arena.extensions import db
from arena.models import Model, Response, Vote
from arena.ops import dbcopy
from arena.play.battles import record_vote, serve_battle
from tests.support import databases
from tests.support.app import make_app
from tests.support.fake_ollama import FakeOllama


def _targets(tmp_path: Path) -> list[str]:
    targets = [f"sqlite:///{tmp_path / 'copy.db'}"]
    if databases.on_postgres():
        url = databases.database_url(tmp_path / "pg-target", empty=True)
        assert url
        targets.append(url)
    return targets


def _sqlite_source(tmp_path: Path, fake_ollama: FakeOllama) -> Flask:
    """An app on SQLite (whatever the suite runs on) with models, answers, battles and votes."""
    app = make_app(
        tmp_path / "source",
        fake_ollama.url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'source.db'}",
    )
    runner = app.test_cli_runner()
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    assert runner.invoke(args=["pregenerate", "--prompts", "3"]).exit_code == 0
    with app.app_context():
        for n in range(4):
            battle = serve_battle(f"voter-{n}")
            assert battle is not None
            record_vote(battle.id, f"voter-{n}", ("a", "b", "tie", "both_bad")[n])
        db.session.remove()
    return app


def _snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table.name: [
                    tuple(row)
                    for row in conn.execute(select(table).order_by(*table.primary_key.columns))
                ]
                for table in dbcopy.tables()
            }
    finally:
        engine.dispose()


def test_copy_moves_every_row_and_the_target_keeps_working(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    source = _sqlite_source(tmp_path, fake_ollama)
    runner = source.test_cli_runner()
    expected = _snapshot(source.config["SQLALCHEMY_DATABASE_URI"])
    assert len(expected["vote"]) == 4 and len(expected["prompt"]) > 100
    for target in _targets(tmp_path):
        result = runner.invoke(args=["db", "copy", "--to", target, "--batch-size", "50"])
        assert result.exit_code == 0, result.output
        assert "row counts match" in result.output
        assert _snapshot(target) == expected  # every value, ids, times, JSON and flags alike

        # The copy is a working arena: new rows get fresh ids (sequences moved past the copy).
        copy = make_app(tmp_path / f"on-{len(target)}", fake_ollama.url, DATABASE_URL=target)
        with copy.app_context():
            battle = serve_battle("newcomer")
            assert battle is not None
            vote = record_vote(battle.id, "newcomer", "a")
            assert vote.id == max(row[0] for row in expected["vote"]) + 1
            assert db.session.scalar(select(func.count(Vote.id))) == 5
            assert db.session.scalar(select(func.count(Model.id))) == len(expected["model"])
            db.session.remove()
            db.engine.dispose()


def test_copy_refuses_a_target_with_rows_unless_forced(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    source = _sqlite_source(tmp_path, fake_ollama)
    runner = source.test_cli_runner()
    for target in _targets(tmp_path):
        assert runner.invoke(args=["db", "copy", "--to", target]).exit_code == 0
        again = runner.invoke(args=["db", "copy", "--to", target])
        assert again.exit_code == 1
        assert "already holds rows" in again.output and "--force" in again.output
        forced = runner.invoke(args=["db", "copy", "--to", target, "--force"])
        assert forced.exit_code == 0, forced.output
        assert (
            _snapshot(target)["vote"] == _snapshot(source.config["SQLALCHEMY_DATABASE_URI"])["vote"]
        )


def test_copy_refuses_the_same_database_and_a_bad_url(app: Flask, runner: FlaskCliRunner) -> None:
    same = runner.invoke(args=["db", "copy", "--to", app.config["SQLALCHEMY_DATABASE_URI"]])
    assert same.exit_code == 1 and "same database" in same.output
    bad = runner.invoke(args=["db", "copy", "--to", "nosuchdb://x"])
    assert bad.exit_code == 1 and "cannot use" in bad.output


def test_a_failed_copy_keeps_no_row(tmp_path: Path, fake_ollama: FakeOllama) -> None:
    source = _sqlite_source(tmp_path, fake_ollama)
    # An answer of a model that does not exist (SQLite's foreign keys off for this one
    # connection): the target's foreign key refuses it in the middle of the copy.
    with source.app_context():
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.execute(Response.__table__.update().where(Response.id == 2).values(model_id=999))
            conn.commit()
        db.engine.dispose()
    for target in _targets(tmp_path):
        result = source.test_cli_runner().invoke(args=["db", "copy", "--to", target])
        assert result.exit_code == 1
        assert "the copy failed, no row was kept" in result.output
        engine = create_engine(target)
        with engine.connect() as conn:
            assert set(dbcopy.row_counts(conn, only_existing=True).values()) == {0}
        engine.dispose()


def test_copy_from_postgresql_back_to_sqlite(pool: Flask, tmp_path: Path) -> None:
    """The way back, read in one REPEATABLE READ snapshot of the PostgreSQL source."""
    if not databases.on_postgres():
        pytest.skip("the suite runs on SQLite: SQLite to SQLite is tested above")
    source = pool.config["SQLALCHEMY_DATABASE_URI"]
    target = f"sqlite:///{tmp_path / 'back.db'}"
    result = pool.test_cli_runner().invoke(args=["db", "copy", "--to", target])
    assert result.exit_code == 0, result.output
    assert _snapshot(target) == _snapshot(source)


#: A password no message may show (with characters a URL escapes).
SECRET = "s3cret p@ss/wörd"


def _password_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "target.password"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def _without_password(url: str) -> tuple[str, str]:
    """``url`` with its password left out, and that password."""
    parsed = make_url(url)
    assert parsed.password
    return parsed._replace(password=None).render_as_string(hide_password=False), parsed.password


def test_the_password_file_is_read_and_never_shown(
    tmp_path: Path, app: Flask, runner: FlaskCliRunner
) -> None:
    sqlite = f"sqlite:///{tmp_path / 'copy.db'}"
    good = _password_file(tmp_path, f"{SECRET}\r\nthe second line is not read\n")
    assert dbcopy.read_password_file(good) == SECRET  # first line, line ending dropped
    result = runner.invoke(args=["db", "copy", "--to", sqlite, "--password-file", str(good)])
    assert result.exit_code == 2 and "SQLite, which takes no password" in result.output
    assert "warning" not in result.output  # mode 600: nobody else reads it
    from_stdin = runner.invoke(
        args=["db", "copy", "--to", sqlite, "--password-file", "-"], input=f"{SECRET}\n"
    )
    assert from_stdin.exit_code == 2 and "SQLite, which takes no password" in from_stdin.output

    twice = "postgresql+psycopg://arena:other-secret@127.0.0.1/arena"
    both = runner.invoke(args=["db", "copy", "--to", twice, "--password-file", str(good)])
    assert both.exit_code == 2 and "already holds a password: give it once" in both.output
    assert "other-secret" not in both.output

    empty = runner.invoke(
        args=["db", "copy", "--to", sqlite, "--password-file", str(_password_file(tmp_path, "\n"))]
    )
    assert empty.exit_code == 2 and "the first line of the password file" in empty.output
    missing = runner.invoke(
        args=["db", "copy", "--to", sqlite, "--password-file", str(tmp_path / "nope")]
    )
    assert missing.exit_code == 2 and "cannot read the password file" in missing.output
    loose = _password_file(tmp_path, SECRET, mode=0o644)
    shared = runner.invoke(args=["db", "copy", "--to", sqlite, "--password-file", str(loose)])
    assert f"warning: others may read {loose}" in shared.output
    for output in (result, from_stdin, both, empty, missing, shared):
        assert SECRET not in output.output and "s3cret" not in output.output


def test_no_path_prints_the_password(
    app: Flask, runner: FlaskCliRunner, nothing_listens: str, tmp_path: Path
) -> None:
    # A server that refuses the connection: the driver had the password, the message hides it.
    port = nothing_listens.rsplit(":", 1)[1]
    refused = f"postgresql+psycopg://arena@127.0.0.1:{port}/arena"
    password = str(_password_file(tmp_path, SECRET))
    failed = runner.invoke(args=["db", "copy", "--to", refused, "--password-file", password])
    assert failed.exit_code == 1 and "the copy failed, no row was kept" in failed.output
    # In the URL: a warning, and the URL shown without it.
    with_password = refused.replace("arena@", "arena:hunter22@")
    in_url = runner.invoke(args=["db", "copy", "--to", with_password])
    assert in_url.exit_code == 1 and "warning: the password in --to shows in `ps`" in in_url.output
    assert "arena:***@127.0.0.1" in in_url.output
    # A URL SQLAlchemy cannot read at all, shown without its password.
    unreadable = runner.invoke(args=["db", "copy", "--to", "post gres://arena:hunter22@db/x"])
    assert unreadable.exit_code == 2 and "cannot read the URL" in unreadable.output
    for result in (failed, in_url, unreadable):
        assert "s3cret" not in result.output and "hunter22" not in result.output
    # Errors that repeat the password, as written or as a URL writes it, are redacted.
    quoted = "postgresql://arena:s3cret%20p%40ss%2Fw%C3%B6rd@db/x"
    assert dbcopy.redact(f"{SECRET} and {quoted}", [SECRET, None]) == (
        "*** and postgresql://arena:***@db/x"
    )


def _pg_target_without_password(tmp_path: Path) -> tuple[str, str]:
    if not databases.on_postgres():
        pytest.skip("needs a PostgreSQL server (ARENA_TEST_DATABASE_URL)")
    url = databases.database_url(tmp_path / "pg-target", empty=True)
    assert url
    return _without_password(url)


def test_copy_to_postgresql_with_the_password_from_a_file(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    target, password = _pg_target_without_password(tmp_path)
    source = _sqlite_source(tmp_path, fake_ollama)
    password_file = str(_password_file(tmp_path, password))
    result = source.test_cli_runner().invoke(
        args=["db", "copy", "--to", target, "--password-file", password_file]
    )
    assert result.exit_code == 0, result.output
    assert "row counts match" in result.output and f":{password}@" not in result.output
    with_password = make_url(target).set(password=password).render_as_string(hide_password=False)
    assert _snapshot(with_password) == _snapshot(source.config["SQLALCHEMY_DATABASE_URI"])


def test_copy_to_postgresql_with_the_password_libpq_finds(
    tmp_path: Path, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A URL without a password: libpq reads PGPASSWORD (or ~/.pgpass) itself."""
    target, password = _pg_target_without_password(tmp_path)
    source = _sqlite_source(tmp_path, fake_ollama)
    runner = source.test_cli_runner()
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))  # not this user's ~/.pgpass
    monkeypatch.delenv("PGPASSWORD", raising=False)
    refused = runner.invoke(args=["db", "copy", "--to", target])
    assert refused.exit_code == 1 and "no password supplied" in refused.output
    monkeypatch.setenv("PGPASSWORD", password)
    result = runner.invoke(args=["db", "copy", "--to", target])
    assert result.exit_code == 0, result.output
    assert "row counts match" in result.output and f":{password}@" not in result.output
    assert "PGPASSWORD or ~/.pgpass" in result.output  # how to point the arena at it
