"""Rate-limit counters in the instance's SQLite file: shared by every process of the machine
(each app below stands for a gunicorn worker), kept across restarts, exact under concurrency."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from limits import parse
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)

from arena import PROJECT_ROOT
from arena.web.limit_storage import SQLiteStorage, sqlite_uri
from tests.support.app import make_app

PROCESSES = 4
HITS = 50


#: One process's share of the hits: a process of its own, with its own connection.
COUNT = (
    "import sys; from arena.web.limit_storage import SQLiteStorage; "
    "storage = SQLiteStorage(sys.argv[1]); "
    f"[storage.incr('shared', 3600) for _ in range({HITS})]"
)


def test_counts_from_several_processes_add_up_exactly(tmp_path: Path) -> None:
    uri = sqlite_uri(str(tmp_path / "ratelimits.db"))
    SQLiteStorage(uri)  # the file and its tables, before the processes start
    processes = [
        subprocess.Popen([sys.executable, "-c", COUNT, uri], cwd=PROJECT_ROOT)
        for _ in range(PROCESSES)
    ]
    assert [process.wait(120) for process in processes] == [0] * PROCESSES
    assert SQLiteStorage(uri).get("shared") == PROCESSES * HITS


def test_every_strategy_shares_its_counts_and_keeps_them_across_a_restart(
    tmp_path: Path,
) -> None:
    uri = sqlite_uri(str(tmp_path / "ratelimits.db"))
    item = parse("3 per hour")
    for strategy in (FixedWindowRateLimiter, MovingWindowRateLimiter):
        one, other = strategy(SQLiteStorage(uri)), strategy(SQLiteStorage(uri))
        hits = [one.hit(item, strategy.__name__), other.hit(item, strategy.__name__)]
        hits.append(one.hit(item, strategy.__name__))
        assert hits == [True, True, True]
        assert other.hit(item, strategy.__name__) is False
        restarted = strategy(SQLiteStorage(uri))
        assert restarted.hit(item, strategy.__name__) is False
        assert restarted.get_window_stats(item, strategy.__name__).remaining == 0
        restarted.clear(item, strategy.__name__)
        assert restarted.hit(item, strategy.__name__) is True
    sliding = SlidingWindowCounterRateLimiter(SQLiteStorage(uri))
    assert [sliding.hit(item, "s") for _ in range(4)] == [True, True, True, False]
    again = SlidingWindowCounterRateLimiter(SQLiteStorage(uri))
    assert again.hit(item, "s") is False
    assert again.get_window_stats(item, "s").remaining == 0


def test_expired_counters_start_over_and_are_deleted(tmp_path: Path) -> None:
    path = tmp_path / "ratelimits.db"
    storage = SQLiteStorage(sqlite_uri(str(path)))
    assert storage.incr("gone", 0) == 1  # expires at once
    assert storage.incr("gone", 0) == 1  # so it starts over
    assert storage.get("gone") == 0
    assert storage.incr("kept", 3600, amount=2) == 2
    SQLiteStorage(sqlite_uri(str(path))).incr("other", 3600)  # a new process cleans up
    with sqlite3.connect(path) as conn:
        keys = {key for (key,) in conn.execute("SELECT key FROM counter")}
    assert keys == {"kept", "other"}
    assert storage.reset() == 2 and storage.get("kept") == 0


def test_the_default_storage_is_the_instance_file_shared_by_apps_and_restarts(
    tmp_path: Path, nothing_listens: str
) -> None:
    instance = tmp_path / "instance"
    first = make_app(instance, nothing_listens, RATELIMIT_EXPORTS="2 per hour")
    assert first.config["RATELIMIT_STORAGE_URI"] == sqlite_uri(str(instance / "ratelimits.db"))
    second = make_app(instance, nothing_listens, RATELIMIT_EXPORTS="2 per hour")
    codes = [first.test_client().get("/api/votes.csv").status_code]
    codes.append(second.test_client().get("/api/votes.csv").status_code)
    codes.append(first.test_client().get("/api/votes.csv").status_code)
    restarted = make_app(instance, nothing_listens, RATELIMIT_EXPORTS="2 per hour")
    codes.append(restarted.test_client().get("/api/votes.csv").status_code)
    assert codes == [200, 200, 429, 429]
    other = restarted.test_client().get("/api/votes.csv", environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert other.status_code == 200


def test_a_configured_storage_is_kept_and_a_wrong_one_stops_the_start(
    tmp_path: Path, nothing_listens: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app(tmp_path / "instance", nothing_listens, RATELIMIT_STORAGE_URI="memory://")
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert not (tmp_path / "instance" / "ratelimits.db").exists()
    with pytest.raises(SystemExit) as stopped:
        make_app(tmp_path / "other", nothing_listens, RATELIMIT_STORAGE_URI="nosuch://x")
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("arena: RATELIMIT_STORAGE_URI") and len(err.splitlines()) == 1


def test_the_counters_file_is_made_on_first_use_and_a_file_that_is_not_sqlite_stops_the_start(
    tmp_path: Path, nothing_listens: str, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = tmp_path / "instance"
    app = make_app(instance, nothing_listens)
    assert not (instance / "ratelimits.db").exists()  # a command that counts nothing leaves none
    assert app.test_client().get("/api/votes.csv").status_code == 200
    assert (instance / "ratelimits.db").exists()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database, " * 100)
    with pytest.raises(SystemExit) as stopped:
        make_app(
            tmp_path / "other", nothing_listens, RATELIMIT_STORAGE_URI=sqlite_uri(str(garbage))
        )
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("arena: RATELIMIT_STORAGE_URI") and len(err.splitlines()) == 1
