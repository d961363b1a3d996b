"""Limits that hold under the documented deployment: gunicorn with 4 workers, recycled often,
then restarted. One address gets each limit once, not once per worker or per restart."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from flask import Flask

from arena.extensions import db
from tests.support.live_server import gunicorn

LIMIT = 10
ENV = {
    "ARENA_RATELIMIT_EXPORTS": f"{LIMIT} per hour",
    # Each worker is replaced after 3 requests, as max_requests does over a day.
    "GUNICORN_CMD_ARGS": "--max-requests 3 --max-requests-jitter 0",
}


def _statuses(base: str, count: int) -> list[int]:
    def one(_: int) -> int:
        # A connection per request (no session), so gunicorn spreads them over its workers.
        return requests.get(base + "/api/votes.csv", timeout=60).status_code

    with ThreadPoolExecutor(6) as pool:
        return list(pool.map(one, range(count)))


@pytest.mark.slow
def test_one_address_gets_the_limit_once_across_workers_recycles_and_restarts(
    app: Flask, nothing_listens: str, tmp_path: Path
) -> None:
    with app.app_context():
        db.engine.dispose()
    instance = Path(app.instance_path)
    log = tmp_path / "gunicorn.log"
    with gunicorn(instance, nothing_listens, workers=4, env=ENV, log=log) as base:
        first = _statuses(base, 3 * LIMIT)
    assert sorted(first) == [200] * LIMIT + [429] * (2 * LIMIT)
    with gunicorn(instance, nothing_listens, workers=4, env=ENV, log=log) as base:
        after_restart = _statuses(base, 5)
    assert after_restart == [429] * 5
    text = log.read_text(errors="replace")
    assert f"rate-limit counters in the SQLite file {instance / 'ratelimits.db'}" in text
    assert "Traceback" not in text
