"""Large vote exports: built once into a file by a process, 202 meanwhile, then served whole.

The stream threshold is lowered so a few dozen votes count as large; a build runs in a
process started by the test's app, and :meth:`Builder.wait_idle` waits for it to end.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from arena.extensions import db
from arena.leaderboard.exports import VotePage
from arena.leaderboard.filters import Filters
from arena.ops.export_builds import builder_of
from arena.ops.exports import ExportStore, VoteExport
from tests.support.leaderboard_data import add_models, add_votes

MODELS = {"alpha:1b": 1.0, "beta:3b": 3.0, "gamma": None}
VOTES = 30
BUILT = "built:"


@pytest.fixture
def large(app: Flask) -> Flask:
    """30 votes, and exports of more than 10 of them go through files."""
    add_models(app, MODELS)
    pairs = [("alpha:1b", "beta:3b"), ("beta:3b", "gamma"), ("gamma", "alpha:1b")]
    add_votes(app, [(*pairs[n % 3], ("a", "b", "tie")[n % 3]) for n in range(VOTES)])
    app.config["EXPORTS_STREAM_MAX_ROWS"] = 10
    return app


def _streamed(app: Flask, client: FlaskClient, path: str) -> tuple[bytes, str]:
    """The export as the request streams it (threshold raised), and its ETag."""
    app.config["EXPORTS_STREAM_MAX_ROWS"] = 10**9
    response = client.get(path)
    assert response.status_code == 200 and response.is_streamed
    body = response.get_data()
    app.config["EXPORTS_STREAM_MAX_ROWS"] = 10
    return body, response.headers["ETag"]


def _ready(app: Flask, client: FlaskClient, path: str, **headers: str):
    """Ask, wait for this process's builds, ask again: the file's answer."""
    first = client.get(path, headers=headers)
    assert first.status_code == 202, first.status_code
    assert builder_of(app).wait_idle(60)
    return client.get(path, headers=headers)


def _files(app: Flask) -> list[Path]:
    return sorted((Path(app.instance_path) / "exports").glob("votes-*[!n]"))


def _builds(app: Flask) -> int:
    """Build processes started by this process."""
    return builder_of(app).started


@pytest.mark.parametrize("path", ["/api/votes.csv", "/api/votes.jsonl?answers=1&exclude_ties=1"])
def test_a_large_export_answers_202_then_the_whole_file(
    app: Flask, client: FlaskClient, large: Flask, path: str
) -> None:
    expected, tag = _streamed(app, client, path)
    first = client.get(path, headers={"Origin": "https://notebook.example"})
    assert first.status_code == 202
    assert int(first.headers["Retry-After"]) > 0
    assert first.headers["Cache-Control"] == "no-store"
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    note = first.get_json()
    assert note["status"] == 202 and note["state"] in ("queued", "building")
    assert (
        note["retry_after"] == int(first.headers["Retry-After"]) and "prepared" in note["message"]
    )
    assert builder_of(app).wait_idle(60)

    response = client.get(path)
    body = response.get_data()
    assert response.status_code == 200
    assert body == expected  # byte for byte what the stream would have sent
    assert response.headers["Content-Length"] == str(len(body))
    assert response.headers["ETag"] == tag  # the same data, the same tag
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=votes.")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert client.get(path, headers={"If-None-Match": f"W/{tag}"}).status_code == 304
    head = client.head(path)
    assert head.status_code == 200 and head.get_data() == b""
    assert head.headers["Content-Length"] == str(len(body))


def test_a_second_download_is_served_from_the_file_without_rebuilding(
    app: Flask, client: FlaskClient, large: Flask
) -> None:
    first = _ready(app, client, "/api/votes.csv").get_data()
    (path,) = _files(app)
    before = path.stat()
    for _ in range(3):
        assert client.get("/api/votes.csv").get_data() == first
    assert builder_of(app).wait_idle(5)
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert _builds(app) == 1


def test_a_build_in_progress_answers_202_and_starts_no_other(
    app: Flask, client: FlaskClient, large: Flask
) -> None:
    export = VoteExport("csv", Filters(), VotePage())
    store = ExportStore.of(app)
    with store.lock(export) as held:  # as another process building it would
        assert held
        for _ in range(3):
            response = client.get("/api/votes.csv")
            assert response.status_code == 202
            assert response.get_json()["state"] == "building"
            assert "Retry-After" in response.headers
    assert builder_of(app).wait_idle(5)
    assert _builds(app) == 0 and _files(app) == []
    assert _ready(app, client, "/api/votes.csv").status_code == 200
    assert _builds(app) == 1


def test_concurrent_requests_start_one_build(app: Flask, large: Flask) -> None:
    statuses: list[int] = []
    start = threading.Barrier(6)

    def ask() -> None:
        client = app.test_client()
        start.wait()
        statuses.append(client.get("/api/votes.jsonl").status_code)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builder_of(app).wait_idle(60)
    assert set(statuses) <= {200, 202} and 202 in statuses
    assert _builds(app) == 1 and len(_files(app)) == 1
    assert app.test_client().get("/api/votes.jsonl").status_code == 200


def test_a_file_is_served_while_fresh_then_rebuilt(
    app: Flask, client: FlaskClient, large: Flask
) -> None:
    old = _ready(app, client, "/api/votes.csv")
    add_votes(app, [("alpha:1b", "gamma", "a")])
    # A vote since: within EXPORTS_MAX_STALE_SECONDS the file is still served, with its tag.
    again = client.get("/api/votes.csv")
    assert again.status_code == 200 and again.get_data() == old.get_data()
    assert again.headers["ETag"] == old.headers["ETag"]
    assert (
        client.get("/api/votes.csv", headers={"If-None-Match": old.headers["ETag"]}).status_code
        == 304
    )
    app.config["EXPORTS_MAX_STALE_SECONDS"] = 0
    new = _ready(app, client, "/api/votes.csv")
    assert new.status_code == 200 and new.headers["ETag"] != old.headers["ETag"]
    assert new.get_data().count(b"\n") == old.get_data().count(b"\n") + 1
    assert len(_files(app)) == 1  # the new file replaced the old one


def test_a_failed_build_answers_a_json_503_then_tries_again(
    app: Flask, client: FlaskClient, large: Flask
) -> None:
    with app.app_context():  # the answer columns' table is gone: the build fails
        db.session.execute(text("ALTER TABLE response RENAME TO response_gone"))
        db.session.commit()
    assert client.get("/api/votes.csv?answers=1").status_code == 202
    assert builder_of(app).wait_idle(60)
    failed = client.get("/api/votes.csv?answers=1")
    assert failed.status_code == 503
    error = failed.get_json()
    assert error["status"] == 503 and error["error"] == "Service Unavailable"
    assert "could not be prepared: the database could not be read" in error["message"]
    assert int(failed.headers["Retry-After"]) > 0
    assert failed.headers["Access-Control-Allow-Origin"] == "*"
    assert not list((Path(app.instance_path) / "exports").glob(".tmp-*"))  # nothing half kept
    with app.app_context():
        db.session.execute(text("ALTER TABLE response_gone RENAME TO response"))
        db.session.commit()
    assert client.get("/api/votes.csv").status_code == 202  # other exports are unaffected


def test_ranges_and_a_big_page_from_a_file(app: Flask, client: FlaskClient, large: Flask) -> None:
    response = _ready(app, client, "/api/votes.jsonl?limit=20")
    lines = response.get_data(as_text=True).splitlines()
    assert len(lines) == 20
    last = json.loads(lines[-1])["vote_id"]
    assert response.headers["X-Next-After"] == str(last)
    assert f"after={last}" in response.headers["Link"]
    whole = response.get_data()
    part = client.get(
        "/api/votes.jsonl?limit=20",
        headers={"Range": "bytes=10-99", "If-Range": response.headers["ETag"]},
    )
    assert part.status_code == 206 and part.get_data() == whole[10:100]
    assert part.headers["Content-Range"] == f"bytes 10-99/{len(whole)}"


def test_behind_nginx_the_file_is_sent_by_x_accel_redirect(
    app: Flask, client: FlaskClient, large: Flask
) -> None:
    app.config["EXPORTS_ACCEL_REDIRECT"] = "/_exports/"
    response = _ready(app, client, "/api/votes.csv")
    (path,) = _files(app)
    assert response.status_code == 200 and response.get_data() == b""
    assert response.headers["X-Accel-Redirect"] == f"/_exports/{path.name}"
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["ETag"] and response.headers["Access-Control-Allow-Origin"] == "*"


def test_clean_up_keeps_the_disk_budget_and_drops_orphans(
    app: Flask, client: FlaskClient, large: Flask
) -> None:
    folder = Path(app.instance_path) / "exports"
    _ready(app, client, "/api/votes.csv")
    orphan = folder / f".tmp-votes-{VoteExport('csv', Filters(), VotePage()).shape}-1-dead"
    orphan.write_text("half a file")
    app.config["EXPORTS_KEEP_MB"] = 0  # keep only the file just built
    assert _ready(app, client, "/api/votes.jsonl").status_code == 200
    assert [p.suffix for p in _files(app)] == [".jsonl"]
    assert not orphan.exists()


def test_with_every_build_slot_taken_the_request_waits_its_turn(
    app: Flask, client: FlaskClient, large: Flask
) -> None:
    store = ExportStore.of(app)
    slots = [store.try_slot(2), store.try_slot(2)]  # as two other builds would
    assert all(slots) and store.try_slot(2) is None
    response = client.get("/api/votes.csv")
    assert response.status_code == 202 and response.get_json()["state"] == "waiting"
    assert int(response.headers["Retry-After"]) > 0
    assert _builds(app) == 0
    for slot in slots:
        assert slot is not None
        slot.close()
    assert _ready(app, client, "/api/votes.csv").status_code == 200
    assert _builds(app) == 1
