"""Votes and battle pages per second under gunicorn (4 workers) on this machine.

Starts a fake Ollama server, fills a fresh instance with a pool of stored answers, serves it
with gunicorn on 127.0.0.1, and lets N voter threads fetch battles and vote over HTTP for a
bounded number of votes. Prints throughput and error counts (which must be 0).

    .venv/bin/python scripts/bench/load.py [--voters 20] [--votes 5000] [--workers 4]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from arena import create_app
from arena.extensions import db
from arena.ops.setup import ensure_database
from tests.support.fake_ollama import FakeOllama
from tests.support.live_server import gunicorn
from tests.support.load_client import Tally, vote_loop

MODELS = ("tiny:1b", "small:2b", "mid:3b", "big:4b", "huge:7b", "giant:8b")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", type=int, default=20)
    parser.add_argument("--votes", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--prompts", type=int, default=60)
    parser.add_argument("--time-limit", type=float, default=300.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, FakeOllama(models=[]) as fake:
        for tag in MODELS:
            fake.add_model(tag, parameter_size=tag.split(":")[1].upper(), quantization="Q4_0")
        instance = Path(tmp) / "instance"
        app = create_app({"INSTANCE_PATH": str(instance), "OLLAMA_URL": fake.url})
        ensure_database(app)
        runner = app.test_cli_runner()
        assert runner.invoke(args=["models", "sync"]).exit_code == 0
        result = runner.invoke(args=["pregenerate", "--prompts", str(args.prompts)])
        assert result.exit_code == 0, result.output
        with app.app_context():
            db.engine.dispose()

        tallies = [Tally() for _ in range(args.voters)]
        per_voter = args.votes // args.voters
        limits = {"ARENA_RATELIMIT_VOTES": "1000000 per minute"}  # every voter is 127.0.0.1
        with gunicorn(instance, fake.url, workers=args.workers, env=limits) as base:
            started = time.monotonic()
            deadline = started + args.time_limit
            threads = [
                threading.Thread(
                    target=vote_loop, args=(base, per_voter, deadline, random.Random(i), tally)
                )
                for i, tally in enumerate(tallies)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.monotonic() - started

    votes = sum(len(t.accepted) for t in tallies)
    pages = sum(t.pages for t in tallies)
    errors = [e for t in tallies for e in t.server_errors]
    refused: Counter[int] = Counter()
    for tally in tallies:
        refused.update(tally.refused)
    print(
        f"gunicorn {args.workers} workers, {args.voters} voters, {len(MODELS)} models, "
        f"{args.prompts} prompts, wall {wall:.1f} s"
    )
    print(f"votes stored      {votes:6d}  {votes / wall:7.1f} votes/s")
    print(f"battle pages      {pages:6d}  {pages / wall:7.1f} pages/s")
    print(f"requests/s (all)  {(votes + pages + sum(refused.values())) / wall:7.1f}")
    print(f"refused (4xx)     {dict(refused)}  (409 = deliberate second votes)")
    print(f"errors (5xx/other) {len(errors)}  (must be 0)")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
