"""Votes and battle pages per second under gunicorn (4 workers) on this machine, with racing
voters and a pre-generation run writing answers to the same database meanwhile.

Starts a fake Ollama server, fills a fresh instance with a pool of stored answers, serves it
with gunicorn on 127.0.0.1, and lets N voter threads fetch battles and vote over HTTP for a
bounded number of votes. Each voter has ``--tabs`` tabs that post the same vote at the same
moment (one is accepted, the others get 409). Meanwhile ``scripts/pregenerate.py`` answers
for two models added after the pool was made (the fake Ollama with a small delay per token).
``--kill N`` also kills N web workers with kill -9 along the way (gunicorn replaces them).
Prints throughput, refused votes by status, errors (which must be 0) and the answers the
pre-generation stored meanwhile.

    .venv/bin/python scripts/bench/load.py [--voters 30] [--tabs 3] [--votes 3000] [--workers 4]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from flask import Flask
from sqlalchemy import func, select

from arena import create_app
from arena.extensions import db
from arena.models import Response
from arena.ops.setup import ensure_database
from tests.support.fake_ollama import FakeOllama
from tests.support.live_server import arena_env, gunicorn
from tests.support.load_client import Tally, WorkerKiller, vote_loop

ROOT = Path(__file__).resolve().parents[2]
MODELS = ("tiny:1b", "small:2b", "mid:3b", "big:4b", "huge:7b", "giant:8b")
LATE_MODELS = ("late:1b", "later:2b")  # added after the pool: the pre-generation's work


def _add(fake: FakeOllama, tag: str) -> None:
    fake.add_model(tag, parameter_size=tag.split(":")[1].upper(), quantization="Q4_0")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--voters", type=int, default=30)
    parser.add_argument("--tabs", type=int, default=3, help="racing tabs per voter (1: none)")
    parser.add_argument("--votes", type=int, default=3000, help="accepted votes in all")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--prompts", type=int, default=60)
    parser.add_argument("--token-delay", type=float, default=0.01, help="the fake's, seconds")
    parser.add_argument("--kill", type=int, default=0, help="web workers to kill -9 meanwhile")
    parser.add_argument("--time-limit", type=float, default=300.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, FakeOllama(models=[]) as fake:
        for tag in MODELS:
            _add(fake, tag)
        instance = Path(tmp) / "instance"
        # The pool target as high as the prompts: a voter is given 3 battles per prompt.
        target = {"POOL_TARGET": args.prompts}
        app = create_app({"INSTANCE_PATH": str(instance), "OLLAMA_URL": fake.url, **target})
        ensure_database(app)
        runner = app.test_cli_runner()
        assert runner.invoke(args=["models", "sync"]).exit_code == 0
        result = runner.invoke(args=["pregenerate", "--prompts", str(args.prompts)])
        assert result.exit_code == 0, result.output
        for tag in LATE_MODELS:
            _add(fake, tag)
        assert runner.invoke(args=["models", "sync"]).exit_code == 0
        fake.token_delay = args.token_delay

        tallies = [Tally() for _ in range(args.voters)]
        per_voter = args.votes // args.voters
        limits = {"ARENA_RATELIMIT_VOTES": "1000000 per minute"}  # every voter is 127.0.0.1
        with gunicorn(instance, fake.url, workers=args.workers, env=limits) as base:
            answers_before = _answers(app)
            pregen_log = Path(tmp) / "pregen.log"
            pregen = subprocess.Popen(
                [sys.executable, "scripts/pregenerate.py", "--prompts", str(args.prompts)],
                cwd=ROOT,
                env=arena_env(instance, fake.url, {"ARENA_POOL_TARGET": str(args.prompts)}),
                stdout=pregen_log.open("w"),
                stderr=subprocess.STDOUT,
            )
            started = time.monotonic()
            deadline = started + args.time_limit
            threads = [
                threading.Thread(
                    target=vote_loop,
                    args=(base, per_voter, deadline, random.Random(i), tally, args.tabs),
                )
                for i, tally in enumerate(tallies)
            ]
            killer = WorkerKiller(base, every=2.0, times=args.kill, rng=random.Random(0))
            for thread in threads:
                thread.start()
            killer.start()
            for thread in threads:
                thread.join()
            wall = time.monotonic() - started
            killer.stop()
            answers_meanwhile = _answers(app) - answers_before
            pregen_running = pregen.poll() is None
            pregen.terminate()  # stops after the answer in progress
            pregen.wait(timeout=120)
            pregen_out = pregen_log.read_text(errors="replace")
        with app.app_context():
            db.engine.dispose()

    votes = sum(len(t.accepted) for t in tallies)
    pages = sum(t.pages for t in tallies)
    errors = [e for t in tallies for e in t.server_errors + t.race_errors]
    dropped = sum(len(t.dropped) for t in tallies)
    refused: Counter[int] = Counter()
    for tally in tallies:
        refused.update(tally.refused)
    outcome = [line for line in pregen_out.splitlines() if line.startswith("outcome:")]
    print(
        f"gunicorn {args.workers} workers, {args.voters} voters x {args.tabs} racing tabs, "
        f"{len(MODELS)} models, {args.prompts} prompts, wall {wall:.1f} s"
    )
    print(f"votes stored      {votes:6d}  {votes / wall:7.1f} votes/s")
    print(f"battle pages      {pages:6d}  {pages / wall:7.1f} pages/s")
    print(f"requests/s (all)  {(votes + pages + sum(refused.values())) / wall:7.1f}")
    print(f"refused votes     {dict(sorted(refused.items()))}  (409 = the racing tabs that lost)")
    if args.kill:
        print(f"web workers killed {len(killer.killed)}; requests cut and sent again {dropped}")
    print(f"errors (5xx/other/races) {len(errors)}  (must be 0) {errors[:3]}")
    print(
        f"pre-generation    {answers_meanwhile:6d}  answers stored meanwhile "
        f"({answers_meanwhile / wall:.1f}/s, token delay {args.token_delay:g} s"
        f"{', still running: stopped' if pregen_running else ', finished'}; "
        f"exit status {pregen.returncode}; {outcome[-1] if outcome else 'no outcome line'})"
    )
    return 1 if errors or pregen.returncode else 0


def _answers(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count(Response.id)).where(Response.status == "ok"))
        db.session.remove()
    return int(count or 0)


if __name__ == "__main__":
    raise SystemExit(main())
