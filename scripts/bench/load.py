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

``--nodes N`` (2 or more) measures several web nodes instead: votes per second through one
node, then through N nodes (gunicorn each, own instance folder, ``--workers`` each, one
database), voters racing through all of them as behind nginx, rate limits in one Redis; then
two workers (``flask --app arena worker``, own instance folders) and how long the standby
takes to become active after the active one is killed with -9. Give it PostgreSQL and Redis
as the tests take them (``ARENA_TEST_DATABASE_URL="$(scripts/ci/postgres.sh)"``,
``ARENA_TEST_REDIS_URL="$(scripts/ci/redis.sh)"``); on SQLite the nodes share the file (one
machine only).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from flask import Flask
from sqlalchemy import func, select

from arena import create_app
from arena.extensions import db
from arena.models import Response
from arena.ops.heartbeat import worker_status
from arena.ops.setup import ensure_database
from tests.support import databases
from tests.support.app import make_app
from tests.support.cluster import Balancer, cross_vote_loop, web_node
from tests.support.fake_ollama import FakeOllama
from tests.support.live_server import arena_env, gunicorn, stop
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
    parser.add_argument("--nodes", type=int, default=1, help="web nodes (2+: see above)")
    args = parser.parse_args()
    if args.nodes > 1:
        return nodes_main(args)

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


def nodes_main(args: argparse.Namespace) -> int:
    """``--nodes N``: votes/s through one node and through N, then the standby's takeover."""
    redis_url = os.environ.get("ARENA_TEST_REDIS_URL", "")
    if not redis_url:
        print(
            "--nodes needs Redis for the shared limits: ARENA_TEST_REDIS_URL (scripts/ci/redis.sh)"
        )
        return 2
    try:
        with tempfile.TemporaryDirectory() as tmp, FakeOllama(models=[]) as fake:
            for tag in MODELS:
                _add(fake, tag)
            app = make_app(Path(tmp) / "instance", fake.url, POOL_TARGET=args.prompts)
            runner = app.test_cli_runner()
            assert runner.invoke(args=["models", "sync"]).exit_code == 0
            result = runner.invoke(args=["pregenerate", "--prompts", str(args.prompts)])
            assert result.exit_code == 0, result.output
            with app.app_context():
                db.engine.dispose()
            env = {
                "ARENA_DATABASE_URL": str(app.config["SQLALCHEMY_DATABASE_URI"]),
                "ARENA_SECRET_KEY": secrets.token_hex(32),
                "ARENA_RATELIMIT_STORAGE_URI": redis_url,
                "ARENA_RATELIMIT_KEY_PREFIX": f"bench-{secrets.token_hex(4)}",
                "ARENA_RATELIMIT_VOTES": "1000000 per minute",
                "ARENA_PROXY_HOPS": "1",
            }
            backend = app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
            print(
                f"{backend}, limits in Redis, {args.voters} voters x {args.tabs} racing tabs, "
                f"{args.votes} votes a run, gunicorn {args.workers} workers per node, "
                f"{len(MODELS)} models, {args.prompts} prompts"
            )
            failed = 0
            for count in (1, args.nodes):
                failed += _nodes_run(args, Path(tmp), fake.url, env, count)
            takeover = _takeover(app, Path(tmp), fake.url, env)
            print(f"standby worker active {takeover:.1f} s after the active one's kill -9")
    finally:
        databases.drop_template()
    return 1 if failed else 0


def _nodes_run(
    args: argparse.Namespace, tmp: Path, ollama_url: str, env: dict[str, str], count: int
) -> int:
    """One run through ``count`` nodes; prints its line, returns its error count."""
    tallies = [Tally() for _ in range(args.voters)]
    with ExitStack() as stack:
        nodes = [
            stack.enter_context(
                web_node(tmp / f"node-{count}-{n}", ollama_url, env, workers=args.workers)
            )
            for n in range(count)
        ]
        balancer = Balancer([node.url for node in nodes])
        cpu_before = sum(node.cpu_seconds() for node in nodes)
        started = time.monotonic()
        deadline = started + args.time_limit
        threads = [
            threading.Thread(
                target=cross_vote_loop,
                args=(balancer, args.votes // args.voters, deadline, random.Random(i), tally),
                kwargs={
                    "tabs": args.tabs,
                    "address": f"10.{count}.{i // 250}.{i % 250 + 1}",
                    "first_turn": i,
                },
            )
            for i, tally in enumerate(tallies)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - started
        cpu = sum(node.cpu_seconds() for node in nodes) - cpu_before
    votes = sum(len(t.accepted) for t in tallies)
    errors = [e for t in tallies for e in t.server_errors + t.race_errors]
    refused: Counter[int] = Counter()
    for tally in tallies:
        refused.update(tally.refused)
    print(
        f"{count} node{'s' if count > 1 else ' '}  {votes:6d} votes in {wall:6.1f} s  "
        f"{votes / wall:7.1f} votes/s  web CPU {1000 * cpu / max(votes, 1):5.1f} ms a vote  "
        f"refused {dict(sorted(refused.items()))}  "
        f"errors {len(errors)} (must be 0) {errors[:3]}"
    )
    return len(errors)


def _takeover(app: Flask, tmp: Path, ollama_url: str, env: dict[str, str]) -> float:
    """Seconds from the active worker's kill -9 until the standby says it is active."""
    away = (time.localtime().tm_hour + 12) % 24  # no nightly window during the benchmark
    settings = {
        "ARENA_WORKER_WINDOW": f"0 {away} * * *",
        "ARENA_WORKER_WINDOW_UNTIL": f"{(away + 1) % 24:02d}:00",
        "ARENA_WORKER_HEARTBEAT_SECONDS": "2",
    }
    workers = []
    try:
        for name in ("a", "b"):
            worker_env = arena_env(tmp / f"worker-{name}", ollama_url, {**env, **settings})
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "flask", "--app", "arena", "worker"],
                    cwd=ROOT,
                    env=worker_env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            _wait_role(app, workers[-1].pid, "active" if name == "a" else "standby")
        killed = time.monotonic()
        workers[0].send_signal(signal.SIGKILL)
        _wait_role(app, workers[1].pid, "active", every=0.05)
        return time.monotonic() - killed
    finally:
        for worker in workers:
            stop(worker)


def _roles(app: Flask) -> dict[int, str | None]:
    with app.app_context():
        rows = worker_status(app.config)["workers"]
        db.session.remove()
    return {w["pid"]: w["role"] for w in rows if w["running"]}


def _wait_role(app: Flask, pid: int, role: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + 120
    while _roles(app).get(pid) != role:
        if time.monotonic() > deadline:
            raise TimeoutError(f"worker {pid} not {role} within 120 s")
        time.sleep(every)


if __name__ == "__main__":
    raise SystemExit(main())
