"""Load: gunicorn with 4 workers plus pre-generation on one database.

5,000 votes from 20 voters while the worker writes answers: every accepted vote must be
stored exactly once and every refused one must get a clear 4xx; never a 5xx, never "database
is locked". Then racing voters (one voter's tabs posting the same vote at once) while web
workers are killed with kill -9 and the cron script pre-generates: one vote per battle.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from arena.extensions import db
from arena.models import Vote
from tests.support.fake_ollama import FakeOllama
from tests.support.live_server import arena_env, flask_process, gunicorn
from tests.support.load_client import Tally, WorkerKiller, gunicorn_workers, vote_loop
from tests.support.pregen import answers, spawn

VOTERS = 20
VOTES = 5_000
TIME_LIMIT = 240.0
# The voters all come from 127.0.0.1: per-client limits stay on, set high enough for them.
LIMITS = {"ARENA_RATELIMIT_VOTES": "100000 per minute"}


def _pool(app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama, prompts: int) -> None:
    """6 models (15 pairs) answer ``prompts`` prompts: a voter may be given 3 battles per
    prompt (never an answer twice, nor a model already revealed to them on that prompt)."""
    for tag in ("tiny:1b", "small:2b", "mid:3b"):
        fake_ollama.add_model(tag, parameter_size=tag.split(":")[1].upper(), quantization="Q4_0")
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    app.config["POOL_TARGET"] = prompts  # else the plan stops at the default target's prompts
    result = runner.invoke(args=["pregenerate", "--prompts", str(prompts)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        db.engine.dispose()


def _stored_votes(app: Flask) -> dict[str, int]:
    """Votes per battle id."""
    with app.app_context():
        rows = db.session.execute(select(Vote.battle_id, func.count()).group_by(Vote.battle_id))
        return {str(battle): int(count) for battle, count in rows.all()}


@pytest.mark.slow
def test_five_thousand_votes_from_twenty_voters_under_gunicorn(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    _pool(app, runner, fake_ollama, 90)  # 270 battles per voter, more than the 250 each casts

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
    stored = _stored_votes(app)
    assert len(stored) == len(accepted) == len(set(accepted))
    assert set(stored) == set(accepted)
    assert set(stored.values()) == {1}


PLAIN_VOTERS, PLAIN_VOTES = 8, 60
RACING_VOTERS, TABS, RACES = 4, 3, 40
KILLS = 3


@pytest.mark.slow
def test_racing_voters_and_killed_web_workers_while_pre_generating(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    """Voters whose tabs post the same vote at once get one 303 and 409s; web workers killed
    with kill -9 mid-run are replaced, their cut requests are sent again; meanwhile the cron
    script stores answers. Every vote answered 303 is stored exactly once, every battle has
    at most one vote, and no request gets a 5xx."""
    _pool(app, runner, fake_ollama, 40)  # 120 battles per voter
    instance = Path(app.instance_path)
    fake_ollama.add_model("late:1b", parameter_size="1B", quantization="Q4_0")
    assert runner.invoke(args=["models", "sync"]).exit_code == 0  # work for the cron script
    fake_ollama.token_delay = 0.01
    before = len(answers(app))
    log = tmp_path / "gunicorn.log"
    plain = [Tally() for _ in range(PLAIN_VOTERS)]
    racing = [Tally() for _ in range(RACING_VOTERS)]
    rng = random.Random()
    pregen = spawn(
        ["scripts/pregenerate.py", "--prompts", "40"], arena_env(instance, fake_ollama.url)
    )
    try:
        with gunicorn(instance, fake_ollama.url, workers=4, env=LIMITS, log=log) as base:
            deadline = time.monotonic() + TIME_LIMIT
            threads = [
                threading.Thread(
                    target=vote_loop, args=(base, PLAIN_VOTES, deadline, random.Random(i), t)
                )
                for i, t in enumerate(plain)
            ] + [
                threading.Thread(
                    target=vote_loop,
                    args=(base, RACES, deadline, random.Random(100 + i), t, TABS),
                )
                for i, t in enumerate(racing)
            ]
            killer = WorkerKiller(base, every=1.0, times=KILLS, rng=rng)
            for thread in threads:
                thread.start()
            killer.start()
            for thread in threads:
                thread.join(TIME_LIMIT + 60)
            killer.stop()
            workers = gunicorn_workers(base)
    finally:
        pregen.terminate()  # stops after the answer in progress, as cron's SIGTERM would
        out, err = pregen.communicate(timeout=60)
    tallies = plain + racing
    accepted = [battle for tally in tallies for battle in tally.accepted]
    unsure = set().union(*(tally.unsure for tally in tallies))
    refused: Counter[int] = Counter()
    for tally in tallies:
        refused.update(tally.refused)
    errors = [error for tally in tallies for error in tally.server_errors]
    server_log = log.read_text(errors="replace")
    assert not errors, f"server errors: {errors[:10]}"
    assert not [e for tally in racing for e in tally.race_errors]
    assert "database is locked" not in server_log and "Traceback" not in server_log
    assert len(killer.killed) == KILLS, "the workers were not killed"
    assert len(workers) == 4 and not set(workers) & set(killer.killed)  # replaced
    assert len(accepted) == PLAIN_VOTERS * PLAIN_VOTES + RACING_VOTERS * RACES
    raced = [battle for tally in racing for battle in tally.raced]
    assert refused[409] >= len(raced) * (TABS - 1) - len(unsure)  # the losing tabs
    assert set(refused) <= {409}, refused
    stored = _stored_votes(app)
    assert set(stored.values()) == {1}  # one vote per battle, racing or not
    assert len(accepted) == len(set(accepted)) and set(accepted) <= set(stored)
    assert set(stored) - set(accepted) <= unsure  # stored by a request cut before its 303
    assert set(raced) <= set(stored)
    assert pregen.returncode == 0, (out, err)
    assert len(answers(app)) > before, "the cron script stored nothing during the load"
