"""A real gunicorn (4 workers) while a leaderboard is being computed elsewhere: requests for
boards not computed yet are answered at once (a 503 with Retry-After; at most one waits), so
the workers stay free and the battle page is served meanwhile."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskCliRunner

from arena.database import database_lock
from arena.extensions import db
from tests.support.battles import neutral_pool
from tests.support.fake_ollama import FakeOllama
from tests.support.live_server import gunicorn

BOARDS = 12
GUARD_SECONDS = 60.0


def _wait_for(futures: list[Future[int]], count: int) -> list[int]:
    """The statuses of the requests answered once ``count`` are (or the guard is over)."""
    deadline = time.monotonic() + GUARD_SECONDS
    while sum(f.done() for f in futures) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return [f.result() for f in futures if f.done()]


@pytest.mark.slow
def test_the_battle_page_is_served_while_a_leaderboard_is_computed_elsewhere(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    neutral_pool(runner, fake_ollama)
    with app.app_context():
        db.engine.dispose()
    instance = Path(app.instance_path)
    log = tmp_path / "gunicorn.log"
    with gunicorn(instance, fake_ollama.url, workers=4, log=log) as base:

        def board(day: int) -> int:
            url = f"{base}/leaderboard?from=2026-01-{day:02}"
            return requests.get(url, timeout=GUARD_SECONDS).status_code

        with ThreadPoolExecutor(BOARDS) as pool:
            with app.app_context(), database_lock(app, "leaderboard"):
                futures = [pool.submit(board, day) for day in range(1, BOARDS + 1)]
                # All but the one in the waiting place are answered while the lock is held.
                answered = _wait_for(futures, BOARDS - 1)
                battle = requests.get(base + "/", timeout=GUARD_SECONDS)
            waited = [f.result() for f in futures]
        after = requests.get(f"{base}/leaderboard?from=2026-01-01", timeout=GUARD_SECONDS)
    assert len(answered) >= BOARDS - 1, "leaderboard requests queued behind the computation"
    assert set(answered) == {503}
    assert battle.status_code == 200 and 'name="battle_id"' in battle.text
    assert set(waited) <= {200, 503}
    assert after.status_code == 200
    assert "Traceback" not in log.read_text(errors="replace")
