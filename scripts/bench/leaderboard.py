"""Benchmark the leaderboard service on a real SQLite database: load + rate, cache, export.

Run from the project root (builds a throw-away instance in a temporary folder):

    .venv/bin/python scripts/bench/leaderboard.py [--models 40] [--votes 1000000] [--answers]
        [--extra-prompts 0]

Prints the time of the data signature every request reads, of the first (computing) and of a
cached ``get_board``, of a cached ``/leaderboard`` page, and the time and memory of streaming
the whole vote log as CSV. ``--answers`` stores one answer per (prompt, model) first, Markdown
of varied length with its speed figures, so the votes carry style features and the board fits
the style control too (the first board also counts every answer's features, which later boards
reuse); ``--extra-prompts N`` adds N prompts (answered too) for a larger answer table.

It also times the board computed without and with the measured cost columns
(``arena.leaderboard.cost``: per-model medians of the answers' speeds, memory, the Pareto
front), alternately, twice each, and prints the best of each and their ratio, and the cost
columns' own query and arithmetic alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timedelta  # noqa: E402

from sqlalchemy import Connection  # noqa: E402

from arena import create_app, leaderboard  # noqa: E402
from arena.extensions import db  # noqa: E402
from arena.leaderboard.board import compute_board  # noqa: E402
from arena.leaderboard.cost import model_costs  # noqa: E402
from arena.leaderboard.cost_cache import costs_signature  # noqa: E402
from arena.leaderboard.filters import Filters, parse_filters  # noqa: E402
from arena.models import Model  # noqa: E402
from arena.ops.setup import ensure_database  # noqa: E402


def answer_text(rng: random.Random) -> str:
    """Markdown of varied length and structure, like a small model's answer."""
    lines = [f"## Step {i}" for i in range(rng.randrange(0, 4))]
    lines += [
        f"- **point {i}**: " + "detail " * rng.randrange(3, 12) for i in range(rng.randrange(8))
    ]
    lines += ["Some plain prose to explain the answer. " * rng.randrange(1, 12)]
    return "\n".join(lines)


def add_prompts(instance: Path, count: int) -> None:
    """``count`` more prompts, beside the built-in bank."""
    connection = sqlite3.connect(instance / "arena.db")
    rows = []
    for k in range(count):
        text = f"Benchmark prompt number {k}: explain something."
        digest = hashlib.sha256(text.encode()).hexdigest()
        rows.append((text, digest, ("coding", "writing", "reasoning", "general")[k % 4]))
    connection.executemany(
        "INSERT INTO prompt (text, text_hash, html_version, category, source, shared, showcase,"
        " created_at) VALUES (?, ?, 0, ?, 'import', 1, 0, '2026-01-01 00:00:00.000000')",
        rows,
    )
    connection.commit()
    connection.close()


def fill_answers(instance: Path, models: int) -> int:
    """One usable answer per (prompt, model), with the speed figures a backend reports and
    the concurrency it ran under (mostly alone); how many."""
    rng = random.Random(2)
    connection = sqlite3.connect(instance / "arena.db")
    prompts = [row[0] for row in connection.execute("SELECT id FROM prompt")]
    rows = []
    for prompt_id in prompts:
        for model_id in range(1, models + 1):
            text = answer_text(rng)
            tokens = len(text) // 4 + 1
            speed = 80.0 / (1 + model_id % 8) * rng.uniform(0.8, 1.2)
            options = json.dumps({"temperature": 0.7, "concurrency": rng.choice((1, 1, 1, 2))})
            load = rng.choice((5_000_000, 5_000_000, 5_000_000, 2_000_000_000))
            generation = int(tokens / speed * 1e9)
            reading = int(rng.uniform(0.1, 0.5) * 1e9)
            first = load + reading + int(0.05e9)
            rows.append(
                (prompt_id, model_id, text, options, tokens, generation, 40, reading, load, first)
            )
    connection.executemany(
        "INSERT INTO response (prompt_id, model_id, text, html_version, status, options,"
        " eval_count, eval_duration, prompt_eval_count, prompt_eval_duration, load_duration,"
        " first_token_ns, created_at)"
        " VALUES (?, ?, ?, 0, 'ok', ?, ?, ?, ?, ?, ?, ?, '2026-01-01 00:00:00.000000')",
        rows,
    )
    connection.commit()
    connection.close()
    return len(rows)


def fill(instance: Path, models: int, votes: int) -> None:
    """Models of 0.5-9B and ``votes`` random votes, 10 s apart, inserted in bulk."""
    app = create_app({"INSTANCE_PATH": str(instance), "OLLAMA_URL": "http://127.0.0.1:9"})
    ensure_database(app)
    with app.app_context():
        for i in range(models):
            size = (0.5, 1.0, 1.5, 3.0, 4.0, 7.0, 8.0, 9.0)[i % 8]
            db.session.add(
                Model(
                    tag=f"model-{i:03d}:{size:g}b",
                    display_name=f"m{i}",
                    params_b=size,
                    memory_bytes=int(size * 0.7e9) + 300_000_000,
                    memory_source="ps",
                    disk_bytes=int(size * 0.6e9),
                )
            )
        db.session.commit()
        db.engine.dispose()
    rng = random.Random(1)
    start = datetime(2026, 1, 1)
    outcomes = ("a", "a", "b", "b", "tie", "both_bad")
    connection = sqlite3.connect(instance / "arena.db")

    def rows():  # a generator: the insert holds no list of a million tuples
        for k in range(votes):
            a = rng.randrange(1, models + 1)
            b = rng.randrange(1, models)
            b += b >= a
            when = (start + timedelta(seconds=10 * k)).strftime("%Y-%m-%d %H:%M:%S.%f")
            yield rng.randrange(1, 170), a, b, rng.choice(outcomes), when

    connection.executemany(
        "INSERT INTO vote (prompt_id, model_a_id, model_b_id, outcome, source, excluded,"
        " created_at) VALUES (?, ?, ?, ?, 'arena', 0, ?)",
        rows(),
    )
    connection.commit()
    connection.close()


def timed(label: str, fn, repeat: int = 1) -> object:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    print(f"{label:<44} {best * 1000:9.1f} ms")
    return result


def cost_overhead(conn: Connection, filters: Filters, rounds: int = 3) -> None:
    """The board without and with the cost columns, alternately, ``rounds`` times each: the
    best and median wall-clock time of each, the best CPU time of the process (less disturbed
    by other work on a shared machine), the ratios; then the cost columns' own work alone."""
    wall: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for costs in (False, True):
            started, started_cpu = time.perf_counter(), time.process_time()
            compute_board(conn, filters, "bench", costs=costs)
            wall[costs].append(time.perf_counter() - started)
            cpu[costs].append(time.process_time() - started_cpu)
    for costs, label in ((False, "no cost columns"), (True, "with cost columns")):
        print(
            f"{'compute_board, ' + label:<44} {min(wall[costs]) * 1000:9.1f} ms"
            f"  (median {statistics.median(wall[costs]) * 1000:.0f} ms,"
            f" CPU {min(cpu[costs]) * 1000:.0f} ms; {rounds} runs)"
        )
    without = min(wall[False])
    print(f"{'  ratio with / without, wall (best)':<44} {min(wall[True]) / without:9.3f}")
    print(f"{'  ratio with / without, CPU (best)':<44} {min(cpu[True]) / min(cpu[False]):9.3f}")
    cost = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        model_costs(conn)
        cost = min(cost, time.perf_counter() - started)
    print(f"{'model_costs alone (best of 5)':<44} {cost * 1000:9.1f} ms")
    print(f"{'  model_costs / board without (best)':<44} {cost / without:9.3f}")
    check = float("inf")
    for _ in range(5):  # what a page pays when the costs it keeps are still current
        started = time.perf_counter()
        costs_signature(conn)
        check = min(check, time.perf_counter() - started)
    print(f"{'costs kept: the signature check (best of 5)':<44} {check * 1000:9.1f} ms")
    print(f"{'  signature check / model_costs':<44} {check / cost:9.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--answers", action="store_true", help="store answers (style control)")
    parser.add_argument("--extra-prompts", type=int, default=0, help="more prompts to answer")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        instance = Path(folder)
        started = time.perf_counter()
        fill(instance, args.models, args.votes)
        print(
            f"{args.votes:,} votes between {args.models} models inserted in "
            f"{time.perf_counter() - started:.0f} s"
        )
        if args.answers:
            add_prompts(instance, args.extra_prompts)
            print(f"{fill_answers(instance, args.models):,} answers stored")
        # The vote log is streamed by the request here, whatever its size, to time the
        # stream itself (scripts/bench/exports.py times the large exports built as files).
        settings = {"INSTANCE_PATH": str(instance), "OLLAMA_URL": "http://127.0.0.1:9"}
        app = create_app({**settings, "EXPORTS_STREAM_MAX_ROWS": args.votes + 1})
        ensure_database(app)
        client = app.test_client()
        with app.app_context():
            with db.engine.connect() as conn:
                timed("data signature (every request)", lambda: leaderboard.data_version(conn), 5)
            board = timed("get_board, first (load + rate + store)", leaderboard.get_board)
            timed("get_board, cached", leaderboard.get_board, 5)

            def recompute() -> object:
                leaderboard.invalidate()
                return leaderboard.get_board()

            timed("get_board, recomputed (answers counted)", recompute, 2)
            mid = parse_filters({"size": "4-9"}, app.config["SIZE_CLASS_BOUNDS_B"])
            timed("get_board, size class 4-9B, first", lambda: leaderboard.get_board(mid))
            ties = parse_filters({"exclude_ties": "1"}, app.config["SIZE_CLASS_BOUNDS_B"])
            timed("get_board, ties excluded, first", lambda: leaderboard.get_board(ties))
            with db.engine.connect() as conn:
                cost_overhead(conn, parse_filters({}, app.config["SIZE_CLASS_BOUNDS_B"]))
            if getattr(board, "style", None):
                print(
                    f"style control: {board.style['votes_with_answers']:,} votes with answers,"
                    f" intervals by {board.style['method']}"
                )
        assert board.votes == args.votes
        timed("GET /leaderboard, cached", lambda: client.get("/leaderboard").get_data(), 3)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        size = sum(len(chunk) for chunk in client.get("/api/votes.csv").response)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            f"{'GET /api/votes.csv, streamed':<44} {time.perf_counter() - started:9.1f} s  "
            f"({size / 1e6:.0f} MB; process max RSS {before / 1024:.0f} -> {after / 1024:.0f} MB)"
        )
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main()
