"""A million-vote export through a real gunicorn (4 sync workers, its 30 s timeout in force).

Streamed by one request, this export takes longer than gunicorn's timeout (about 35 s on 2
cores), which used to cut it silently. Now three concurrent requests start one build, are
told to come back (202, Retry-After), then get the whole file, byte for byte, twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
import time
from pathlib import Path

import pytest
import requests
from flask import Flask

from tests.support.export_data import fill_votes
from tests.support.live_server import gunicorn

VOTES = 1_000_000
#: A bound on waiting for the build, so a broken build fails the test instead of hanging it.
PATIENCE = 600.0


def _download(url: str) -> tuple[requests.Response, bytes]:
    """GET until the file comes (following Retry-After), read whole."""
    deadline = time.monotonic() + PATIENCE
    while True:
        response = requests.get(url, timeout=120)
        if response.status_code != 202:
            return response, response.content
        assert time.monotonic() < deadline, "the export was never ready"
        time.sleep(float(response.headers["Retry-After"]))


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_million_vote_export_completes_through_gunicorn(app: Flask, tmp_path: Path) -> None:
    last_id = fill_votes(app, VOTES)
    log = tmp_path / "gunicorn.log"
    instance = Path(app.instance_path)
    with gunicorn(instance, "http://127.0.0.1:9", workers=4, log=log) as base:
        url = base + "/api/votes.csv"
        first: list[requests.Response] = []
        barrier = threading.Barrier(3)

        def ask() -> None:
            barrier.wait()
            first.append(requests.get(url, timeout=60))

        askers = [threading.Thread(target=ask) for _ in range(3)]
        for thread in askers:
            thread.start()
        for thread in askers:
            thread.join()
        assert [r.status_code for r in first] == [202] * 3
        assert all(int(r.headers["Retry-After"]) > 0 for r in first)

        response, body = _download(url)
        assert response.status_code == 200
        assert int(response.headers["Content-Length"]) == len(body)
        files = list((instance / "exports").glob("votes-*.csv"))
        assert len(files) == 1, files  # three requests on four workers: one build
        stat = files[0].stat()
        assert stat.st_size == len(body)

        again, second = _download(url)
        assert again.status_code == 200 and again.headers["ETag"] == response.headers["ETag"]
        assert hashlib.sha256(second).digest() == hashlib.sha256(body).digest()
        after = files[0].stat()
        assert (after.st_ino, after.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)  # not rebuilt

    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    assert rows[0][:2] == ["vote_id", "time"]
    assert len(rows) == VOTES + 1
    assert int(rows[-1][0]) == last_id
    assert [int(row[0]) for row in rows[1:3]] == [last_id - VOTES + 1, last_id - VOTES + 2]
    server_log = log.read_text(errors="replace")
    assert "WORKER TIMEOUT" not in server_log and "Traceback" not in server_log
