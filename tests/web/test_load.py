"""Load: gunicorn with 4 workers plus the background worker on one database, 20 voters.

5,000 votes while the worker writes answers: every accepted vote must be stored exactly once
and every refused one must get a clear 4xx; never a 5xx, never "database is locked".
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from arena.extensions import db
from arena.models import Vote
from tests.support.fake_ollama import FakeOllama
from tests.support.live_server import flask_process, gunicorn
from tests.support.load_client import Tally, vote_loop

VOTERS = 20
VOTES = 5_000
TIME_LIMIT = 240.0
# The voters all come from 127.0.0.1: per-client limits stay on, set high enough for them.
LIMITS = {"ARENA_RATELIMIT_VOTES": "100000 per minute"}


@pytest.mark.slow
def test_five_thousand_votes_from_twenty_voters_under_gunicorn(
    app, runner: FlaskCliRunner, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    for tag in ("tiny:1b", "small:2b", "mid:3b"):
        fake_ollama.add_model(tag, parameter_size=tag.split(":")[1].upper(), quantization="Q4_0")
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    # 6 models -> 15 pairs; 40 prompts -> 600 battles per voter, more than the 250 each casts.
    assert runner.invoke(args=["pregenerate", "--prompts", "40"]).exit_code == 0
    with app.app_context():
        db.engine.dispose()

    tallies = [Tally() for _ in range(VOTERS)]
    log, worker_log = tmp_path / "gunicorn.log", tmp_path / "worker.log"
    instance = Path(app.instance_path)
    fake_ollama.add_model("late:1b", parameter_size="1B", quantization="Q4_0")
    fake_ollama.token_delay = 0.002
    runner.invoke(args=["models", "sync"])  # a new model: the worker has answers to write
    fake_ollama.reset()  # forget the set-up's requests; keep models and answers
    with (
        flask_process(["worker", "--run-now"], instance, fake_ollama.url, log=worker_log),
        gunicorn(instance, fake_ollama.url, workers=4, env=LIMITS, log=log) as base,
    ):
        deadline = time.monotonic() + TIME_LIMIT
        threads = [
            threading.Thread(
                target=vote_loop, args=(base, VOTES // VOTERS, deadline, random.Random(i), tally)
            )
            for i, tally in enumerate(tallies)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIME_LIMIT + 60)

    accepted = [battle for tally in tallies for battle in tally.accepted]
    errors = [error for tally in tallies for error in tally.server_errors]
    refused = Counter()
    for tally in tallies:
        refused.update(tally.refused)
    server_log = log.read_text(errors="replace") + worker_log.read_text(errors="replace")
    assert not errors, f"server errors: {errors[:10]}"
    assert "database is locked" not in server_log
    assert "Traceback" not in server_log
    assert fake_ollama.chat_models_in_order(), "the worker generated nothing during the load"
    assert len(accepted) == VOTES, f"only {len(accepted)} votes in {TIME_LIMIT} s"
    assert set(refused) <= {409}, refused
    with app.app_context():
        stored = dict(
            db.session.execute(select(Vote.battle_id, func.count()).group_by(Vote.battle_id)).all()
        )
    assert len(stored) == len(accepted) == len(set(accepted))
    assert set(stored) == set(accepted)
    assert set(stored.values()) == {1}
