"""The worker's housekeeping jobs: runs asked for on /admin, leaderboard refresh, backups."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from arena.extensions import db
from arena.models import LeaderboardCache, Model, Response, Vote
from arena.ops.admin import pending_run_request, request_run
from arena.ops.worker import Worker
from tests.support.app import sqlite_only
from tests.support.fake_ollama import FakeOllama


def _worker(app: Flask) -> tuple[Worker, list[str]]:
    """A worker that took the lease (as a lone worker does when it starts)."""
    said: list[str] = []
    worker = Worker(app, say=said.append)
    worker._lease_job()
    assert worker.role == "active" and "active: this worker runs the nightly jobs" in said[0]
    said.clear()
    return worker, said


def test_a_run_requested_on_admin_is_started_by_the_worker(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    with app.app_context():
        request_run(budget="1h")
    worker, said = _worker(app)
    worker._requests_job()
    with app.app_context():
        assert pending_run_request() is None
    assert any("run requested from /admin" in line for line in said)
    with app.app_context():
        assert db.session.scalar(select(func.count(Response.id))) > 0
    worker._requests_job()  # nothing pending: nothing happens
    assert sum("run requested" in line for line in said) == 1


def test_the_worker_refreshes_changed_leaderboards(app: Flask) -> None:
    with app.app_context():
        db.session.add_all(
            [Model(tag="a:1b", display_name="a"), Model(tag="b:1b", display_name="b")]
        )
        db.session.commit()
        a, b = db.session.scalars(select(Model.id)).all()
        db.session.add(Vote(model_a_id=a, model_b_id=b, outcome="a"))
        db.session.commit()
    worker, said = _worker(app)
    worker._refresh_job()
    assert any("refreshed" in line for line in said)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LeaderboardCache)) >= 1
    said.clear()
    worker._refresh_job()  # nothing changed: nothing recomputed
    assert not said


@sqlite_only
def test_the_nightly_backup_keeps_the_newest(app: Flask, tmp_path: Path) -> None:
    app.config.update(BACKUP_DIR=str(tmp_path / "backups"), BACKUP_KEEP=2)
    worker, said = _worker(app)
    for _ in range(3):
        worker._backup_job()
    assert len(list((tmp_path / "backups").glob("arena-*.db"))) == 2
    assert all("nightly backup: 0 votes" in line for line in said)
