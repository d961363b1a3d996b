"""``flask --app arena worker``: one instance per instance folder, jobs run once, the nightly
window, a clean shutdown on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from arena.extensions import db
from arena.models import GenerationRun, VisitorRequest
from arena.ops.heartbeat import worker_status
from arena.ops.window import open_window, window_trigger
from arena.play import visitors
from arena.pregen.clock import SYSTEM_CLOCK, SystemClock, clock_zone, instant, local_zone
from tests.support.fake_ollama import FakeOllama
from tests.support.pregen import answers, local, spawn, subprocess_env, wait_for

WORKER = ["-m", "flask", "--app", "arena", "worker"]
_AWAY = (datetime.now().hour + 12) % 24  # a nightly window that is not open during the test
FAST = {
    "VISITOR_POLL_SECONDS": 0.1,
    "WORKER_HEARTBEAT_SECONDS": 0.3,
    "WORKER_WINDOW": f"0 {_AWAY} * * *",
    "WORKER_WINDOW_UNTIL": f"{(_AWAY + 1) % 24:02d}:00",
}


def _stop_all(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def _status(app: Flask, request_id: str) -> str:
    with app.app_context():
        db.session.expire_all()
        return db.session.get(VisitorRequest, request_id).status  # type: ignore[union-attr]


@pytest.mark.slow
def test_two_workers_started_at_once_run_each_job_once(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    with app.app_context():
        request_id = visitors.submit("voter-1", "Name three rivers in Africa.", app.config).id
    env = subprocess_env(Path(app.instance_path), fake_ollama.url, **FAST)
    workers = [spawn(WORKER, env), spawn(WORKER, env)]
    try:
        assert wait_for(lambda: any(w.poll() is not None for w in workers), timeout=20)
        loser = next(w for w in workers if w.poll() is not None)
        winner = next(w for w in workers if w is not loser)
        _, err = loser.communicate(timeout=5)
        assert loser.returncode == 1
        assert "another worker is already running" in err
        assert wait_for(lambda: _status(app, request_id) == "done", timeout=20)
        assert wait_for(lambda: worker_status_running(app), timeout=5)
        winner.send_signal(signal.SIGTERM)
        out, err = winner.communicate(timeout=20)
        assert winner.returncode == 0, err
        assert "worker stopped cleanly" in out
    finally:
        _stop_all(workers)
    chats = fake_ollama.chat_models_in_order()
    assert len(chats) == len(set(chats)) == 2  # the visitor's prompt, answered once
    assert not worker_status_running(app)  # a stopped worker says so at once


def worker_status_running(app: Flask) -> bool:
    with app.app_context():
        db.session.expire_all()
        return bool(worker_status(app.config)["running"])


@pytest.mark.slow
def test_sigterm_during_a_batch_stops_cleanly_between_answers(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_answer(None, " ".join(f"w{i}" for i in range(30)))
    fake_ollama.token_delay = 0.01  # 0.3 s per answer: 60 answers would take 18 s
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    env = subprocess_env(Path(app.instance_path), fake_ollama.url, **FAST)
    worker = spawn([*WORKER, "--run-now"], env)
    try:
        assert wait_for(lambda: len(answers(app)) >= 2, timeout=20)
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=20)
    finally:
        _stop_all([worker])
    assert worker.returncode == 0, err
    assert "worker stopped cleanly" in out
    stored = answers(app)
    assert 2 <= len(stored) < 60
    assert all(r.text == " ".join(f"w{i}" for i in range(30)) for r in stored)
    with app.app_context():
        run = db.session.scalars(select(GenerationRun)).one()
        assert (run.trigger, run.status, run.stop_reason) == ("worker", "stopped", "asked to stop")
        assert run.summary["stored"] == len(stored)


def test_the_nightly_window() -> None:
    trigger = window_trigger("0 1 * * *")
    assert open_window(trigger, "06:00", local(12, 0)) is None
    inside = open_window(trigger, "06:00", local(3, 30))
    assert inside is not None and inside.at == local(6, 0)
    assert open_window(trigger, "06:00", local(0, 30)) is None
    late = window_trigger("0 22 * * *")  # 22:00 to 06:00 crosses midnight
    across = open_window(late, "06:00", local(23, 0))
    assert across is not None and across.at == local(6, 0) + timedelta(days=1)
    with pytest.raises(ValueError, match="not a cron expression"):
        window_trigger("every night")


def test_the_nightly_window_across_a_daylight_saving_change() -> None:
    """A window from 23:00 until 06:00 in Berlin ends at 06:00 of the next morning's offset:
    after 6 real hours the night clocks go forward, after 8 the night they go back."""
    try:
        berlin = ZoneInfo("Europe/Berlin")
    except ZoneInfoNotFoundError:
        pytest.skip("no time zone database")
    trigger = window_trigger("0 23 * * *", berlin)
    # The short night (2026-03-29): asked from a fixed offset, as the system clock gives.
    at_night = datetime(2026, 3, 29, 3, 30, tzinfo=berlin)
    short = open_window(trigger, "06:00", instant(at_night))
    assert short is not None and short.at.isoformat() == "2026-03-29T06:00:00+02:00"
    assert short.at - datetime(2026, 3, 28, 23, 0, tzinfo=berlin) == timedelta(hours=6)
    assert open_window(trigger, "06:00", datetime(2026, 3, 29, 5, 59, tzinfo=berlin)) is not None
    assert open_window(trigger, "06:00", datetime(2026, 3, 29, 6, 1, tzinfo=berlin)) is None
    # The long night (2026-10-25).
    long = open_window(trigger, "06:00", datetime(2026, 10, 25, 5, 30, tzinfo=berlin))
    assert long is not None and long.at.isoformat() == "2026-10-25T06:00:00+01:00"
    assert long.at - datetime(2026, 10, 24, 23, 0, tzinfo=berlin) == timedelta(hours=8)
    # A window that starts in the skipped hour starts at 03:30 CEST and ends at 06:00 CEST.
    skipped = window_trigger("30 2 * * *", berlin)
    assert open_window(skipped, "06:00", datetime(2026, 3, 29, 3, 20, tzinfo=berlin)) is None
    late = open_window(skipped, "06:00", datetime(2026, 3, 29, 3, 40, tzinfo=berlin))
    assert late is not None and late.at.isoformat() == "2026-03-29T06:00:00+02:00"


def test_the_worker_reads_its_window_in_its_clocks_zone() -> None:
    """The window's trigger and ``now()`` use one zone: the clock's, else the machine's."""
    try:
        new_york = ZoneInfo("America/New_York")
    except ZoneInfoNotFoundError:
        pytest.skip("no time zone database")
    clock = SystemClock(zone=new_york)
    trigger = window_trigger("0 1 * * *", clock_zone(clock))
    assert trigger.timezone is new_york
    assert clock.now().utcoffset() == datetime.now(new_york).utcoffset()
    # (Compared by name: a zone read from a file that is no link is a new object each time.)
    names = {
        str(window_trigger("0 1 * * *").timezone),
        str(local_zone()),
        str(clock_zone(SYSTEM_CLOCK)),
    }
    assert len(names) == 1
