"""Leaderboard computations cannot be turned into an amplifier: one client starts a bounded
number, a request never queues for another's computation (it gets the previous board, marked
"being updated", or a 503 with Retry-After), and a slow board is recomputed in the background."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import update

from arena.database import database_lock
from arena.extensions import db
from arena.leaderboard import bounds
from arena.models import LeaderboardCache
from tests.support.app import make_app
from tests.support.leaderboard_data import add_models, add_votes, computations

MODELS = {"alpha:1b": 1.0, "beta:3b": 3.0, "gamma:7b": 7.0}
VOTES = [("alpha:1b", "beta:3b", "a"), ("beta:3b", "gamma:7b", "tie")]
#: Long enough for any request of these tests; only a request that waits for the held lock
#: (which is released after) would take it.
GUARD_SECONDS = 60


@contextmanager
def computing_elsewhere(app: Flask) -> Iterator[None]:
    """Hold the computation lock, as another process computing a board would."""
    with app.app_context(), database_lock(app, "leaderboard"):
        yield


def answered_while_held(app: Flask, requests: Callable[[], Any]) -> Any:
    """Run ``requests`` while the lock is held elsewhere; fail (instead of hanging) if they
    wait for it: the lock is released only after they were answered, or after the guard."""
    result: list[Any] = []
    with computing_elsewhere(app):
        thread = threading.Thread(target=lambda: result.append(requests()), daemon=True)
        thread.start()
        thread.join(GUARD_SECONDS)
        answered = not thread.is_alive()
    thread.join()
    assert answered, "a request waited for a computation running elsewhere"
    return result[0]


def test_one_client_starts_a_bounded_number_of_computations(
    tmp_path: Path, nothing_listens: str
) -> None:
    app = make_app(
        tmp_path / "instance", nothing_listens, RATELIMIT_LEADERBOARD_COMPUTE="3 per hour"
    )
    add_models(app, MODELS)
    add_votes(app, VOTES)
    client = app.test_client()
    codes = [client.get(f"/leaderboard?from=2026-02-{day:02}").status_code for day in range(1, 11)]
    assert codes == [200] * 3 + [429] * 7
    assert sum(computations(app).values()) == 3
    refused = client.get("/api/leaderboard.json?size=le2")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.get_json()["status"] == 429
    assert "too many new leaderboard computations" in refused.get_json()["message"]
    page = client.get("/leaderboard?size=le2")
    assert page.status_code == 429 and "too many new leaderboard" in page.get_data(as_text=True)
    # Boards already computed cost nothing, and another address starts its own.
    assert client.get("/leaderboard?from=2026-02-01").status_code == 200
    other = client.get("/leaderboard?size=le2", environ_base={"REMOTE_ADDR": "192.0.2.8"})
    assert other.status_code == 200
    assert sum(computations(app).values()) == 4


def test_a_request_never_queues_behind_another_computation(
    tmp_path: Path, nothing_listens: str
) -> None:
    app = make_app(tmp_path / "instance", nothing_listens, LEADERBOARD_WAIT_SECONDS=3600)
    add_models(app, MODELS)
    add_votes(app, VOTES[:1])
    client = app.test_client()
    assert client.get("/leaderboard").status_code == 200
    add_votes(app, VOTES[1:])  # the cached board is now out of date

    def requests() -> dict[str, Any]:
        answers: dict[str, Any] = {"/": client.get("/")}
        answers["stale"] = client.get("/leaderboard")
        # Nothing to show: one request may wait (in the one waiting place), the next may not.
        with app.app_context():
            place = bounds.waiting_place(app, "leaderboard", 1)
        answers["new"] = client.get("/leaderboard?size=le2")
        answers["new.json"] = client.get("/api/leaderboard.json?size=2-4")
        assert place is not None
        place.release()
        app.config["LEADERBOARD_WAIT_SECONDS"] = 0
        answers["waited"] = client.get("/leaderboard?size=4-9")
        return answers

    answers = answered_while_held(app, requests)
    assert answers["/"].status_code == 200
    stale = answers["stale"].get_data(as_text=True)
    assert answers["stale"].status_code == 200
    assert "Being updated" in stale and "1 vote counted" in stale
    for name in ("new", "new.json", "waited"):
        assert answers[name].status_code == 503, name
        assert int(answers[name].headers["Retry-After"]) > 0
    assert answers["new.json"].get_json()["status"] == 503
    assert "being computed" in answers["new"].get_data(as_text=True)
    assert computations(app) == {"{}": 1}
    # Once the other computation is over, the board is brought up to date.
    app.config["LEADERBOARD_WAIT_SECONDS"] = 10
    fresh = client.get("/leaderboard").get_data(as_text=True)
    assert "2 votes counted" in fresh and "Being updated" not in fresh
    assert computations(app) == {"{}": 2}


def test_a_slow_board_is_shown_at_once_and_recomputed_in_the_background(
    app: Flask, nothing_listens: str
) -> None:
    add_models(app, MODELS)
    add_votes(app, VOTES[:1])
    client = app.test_client()
    assert client.get("/leaderboard").status_code == 200
    with app.app_context():  # as if it had taken seconds (a million votes)
        db.session.execute(update(LeaderboardCache).values(compute_seconds=3.0))
        db.session.commit()
    add_votes(app, VOTES[1:])
    page = client.get("/leaderboard").get_data(as_text=True)
    assert "Being updated" in page and "1 vote counted" in page
    assert bounds.wait_for_computations(GUARD_SECONDS)
    assert computations(app) == {"{}": 2}
    page = client.get("/leaderboard").get_data(as_text=True)
    assert "2 votes counted" in page and "Being updated" not in page
    assert computations(app) == {"{}": 2}
