"""The battle-pool report of ``/status`` is kept and shared (``arena.ops.pool_report_cache``):
computed once per ``STATUS_POOL_CACHE_SECONDS`` by one process of the machine, shown with its
age, never a wait or an error when another process computes it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from arena.extensions import db
from arena.ops import pool_report_cache
from arena.ops.pool_report_cache import REPORT_FILE, REPORT_LOCK
from arena.ops.worker import Worker
from tests.support.app import make_app
from tests.support.battles import battle_id_of
from tests.support.fake_ollama import FakeOllama

TOKEN = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _computations_end() -> Iterator[None]:
    """A computation a test started ends before its database goes. (A view waits for a quick
    one as long as it takes: tests/conftest.py.)"""
    yield
    assert pool_report_cache.wait_for_computations(60)


def _stored(app: Flask) -> dict[str, Any]:
    return dict(json.loads((Path(app.instance_path) / REPORT_FILE).read_text()))


def _age_stored(app: Flask, seconds_ago: float, *, took: float = 0.0) -> float:
    """Make the stored report ``seconds_ago`` old and its computation ``took`` seconds (quick
    by default: the next one runs in a thread the view waits for, whatever the machine's
    load made the real one take)."""
    path = Path(app.instance_path) / REPORT_FILE
    data = json.loads(path.read_text())
    data["computed_at"] -= seconds_ago
    data["seconds"] = took
    path.write_text(json.dumps(data))
    return float(data["computed_at"])


def _pool(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/status.json")
    assert response.status_code == 200
    return dict(response.get_json()["pool"])


@contextmanager
def _locked_elsewhere(app: Flask) -> Iterator[None]:
    """The report's lock held by another process (as a computing one holds it)."""
    path = Path(app.instance_path) / REPORT_LOCK
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys\n"
            f"lock = open({str(path)!r}, 'a+')\n"
            "fcntl.flock(lock, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)


@pytest.fixture
def pooled(app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama) -> Flask:
    """Three models, three prompts answered by each (one battle per prompt for a voter)."""
    app.config["POOL_TARGET"] = 3
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    assert runner.invoke(args=["pregenerate", "--prompts", "3"]).exit_code == 0
    return app


def test_views_within_the_period_share_one_computation(pooled: Flask, client: FlaskClient) -> None:
    first = _pool(client)
    assert first["computed_at"] is not None and first["updating"] is False
    assert first["age_seconds"] is not None and first["compute_seconds"] >= 0
    computed_at = _stored(pooled)["computed_at"]
    for _ in range(10):
        assert _pool(client)["computed_at"] == first["computed_at"]
        client.get("/status")
    assert _stored(pooled)["computed_at"] == computed_at  # not computed again
    html = client.get("/status").get_data(as_text=True)
    assert " s ago" in html and "As of" in html and "being updated" not in html


def test_a_report_older_than_the_setting_is_computed_again(
    pooled: Flask, client: FlaskClient
) -> None:
    _pool(client)
    old = _age_stored(pooled, 120)  # older than STATUS_POOL_CACHE_SECONDS (60)
    _pool(client)  # a quick computation: in a thread, the view waiting for it a while
    assert pool_report_cache.wait_for_computations(60)
    assert _stored(pooled)["computed_at"] > old
    assert _pool(client)["updating"] is False
    pooled.config["STATUS_POOL_CACHE_SECONDS"] = 600
    old = _age_stored(pooled, 120)  # within the longer period: kept
    assert _pool(client)["age_seconds"] >= 120
    assert _stored(pooled)["computed_at"] == old


def test_votes_show_once_the_report_expired(pooled: Flask, client: FlaskClient) -> None:
    assert _pool(client)["active_voters"] == 0
    voter = pooled.test_client()
    battle_id = battle_id_of(voter.get("/").get_data(as_text=True))
    assert voter.post("/vote", data={"battle_id": battle_id, "outcome": "a"}).status_code == 303
    assert _pool(client)["active_voters"] == 0  # the kept report
    # doctor is a command: it computes its own report, now
    doctor = pooled.test_cli_runner().invoke(args=["doctor"]).output
    assert "1 of 1 active voters have fewer than 3 blind battles left" in doctor
    _age_stored(pooled, 61)
    assert _pool(client)["active_voters"] == 1


def test_a_second_app_on_the_same_instance_shares_the_report(
    pooled: Flask, client: FlaskClient, fake_ollama: FakeOllama
) -> None:
    first = _pool(client)
    stored = _stored(pooled)
    other = make_app(Path(pooled.instance_path), fake_ollama.url, POOL_TARGET=3)
    try:
        assert _pool(other.test_client())["computed_at"] == first["computed_at"]
        assert _stored(pooled) == stored
        # With other settings the report is another one: computed for them.
        changed = make_app(Path(pooled.instance_path), fake_ollama.url, POOL_TARGET=4)
        try:
            assert _pool(changed.test_client())["target"] == 4
        finally:
            with changed.app_context():
                db.engine.dispose()
    finally:
        with other.app_context():
            db.engine.dispose()


def test_while_another_process_computes_the_last_report_is_shown_updating(
    pooled: Flask, client: FlaskClient
) -> None:
    first = _pool(client)
    old = _age_stored(pooled, 120)
    with _locked_elsewhere(pooled):
        pool = _pool(client)
        assert pool["updating"] is True and pool["computed_at"] != first["computed_at"]
        assert pool["age_seconds"] >= 120 and pool["pairs"] == first["pairs"]
        assert "being updated" in client.get("/status").get_data(as_text=True)
        assert _stored(pooled)["computed_at"] == old  # this process did not compute it
    _pool(client)  # the lock is free: computed again
    assert pool_report_cache.wait_for_computations(60)
    assert _stored(pooled)["computed_at"] > old
    assert _pool(client)["updating"] is False


def test_before_the_first_report_a_view_says_it_is_being_computed(
    pooled: Flask, client: FlaskClient
) -> None:
    with _locked_elsewhere(pooled):
        response = client.get("/status.json")
        assert response.status_code == 200
        data = response.get_json()
        pool = data["pool"]
        assert (pool["computed_at"], pool["age_seconds"], pool["updating"]) == (None, None, True)
        assert "being computed" in pool["message"] and pool["target"] == 3
        assert data["last_run"]["status"] == "finished"  # the rest of the page as usual
        page = client.get("/status")
        assert page.status_code == 200
        assert "Being computed" in page.get_data(as_text=True)
        pooled.config["ADMIN_TOKEN"] = TOKEN  # /admin shows the pool's summary: no error
        operator = pooled.test_client()
        assert operator.post("/admin/login", data={"token": TOKEN}).status_code == 303
        assert operator.get("/admin").status_code == 200
    assert _pool(client)["computed_at"] is not None


def test_a_slow_report_is_computed_in_a_process_of_its_own(
    pooled: Flask, client: FlaskClient
) -> None:
    _pool(client)
    old = _age_stored(pooled, 120, took=600.0)  # the last computation was slow
    pool = _pool(client)
    assert pool["updating"] is True and pool["age_seconds"] >= 120  # shown at once
    assert pool_report_cache.wait_for_computations(60)
    stored = _stored(pooled)
    assert stored["computed_at"] > old  # by the process (this one shows the last report)
    pool = _pool(client)
    assert pool["updating"] is False and pool["pairs"]


def test_the_worker_stores_a_report_after_a_batch(pooled: Flask) -> None:
    worker = Worker(pooled, say=lambda line: None)
    worker._lease_job()  # a lone worker is active (only the active one runs batches)
    worker._batch_job(None, None)
    assert _stored(pooled)["report"]["target"] == 3


def test_a_failed_computation_is_not_started_again_on_every_view(
    pooled: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _pool(client)
    old = _age_stored(pooled, 120)
    calls: list[int] = []

    def broken(config: object) -> dict[str, Any]:
        calls.append(1)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(pool_report_cache, "pool_report", broken)
    pool = _pool(client)  # the computation fails: the last report, marked so
    assert pool_report_cache.wait_for_computations(60)
    for _ in range(5):
        pool = _pool(client)
        assert pool["failed"] is True and pool["updating"] is False
        assert pool["pairs"] == first["pairs"]
    assert len(calls) == 1 and _stored(pooled)["computed_at"] == old
    assert "its update failed" in client.get("/status").get_data(as_text=True)
    monkeypatch.undo()
    failure = Path(pooled.instance_path) / pool_report_cache.FAILURE_FILE
    failure.write_text(str(float(failure.read_text()) - 61))  # the pause is over
    pool = _pool(client)
    assert (pool["failed"], pool["updating"]) == (False, False)
    assert _stored(pooled)["computed_at"] > old and not failure.exists()
