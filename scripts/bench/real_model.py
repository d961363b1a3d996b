"""Real models on this machine: pre-generation through the arena vs the same model called
directly, and pool battles per CPU-hour. Needs `scripts/install-local.sh`.

Each round runs two passes over the same work, in alternating order (ABBA):

- **arena**: ``run_batch`` (the code path of ``flask --app arena pregenerate``, the cron
  script and the worker) on a fresh instance with the packaged models registered on an
  embedded backend: planning, the run record, the leak filter, Markdown rendering and one
  INSERT per answer included. The plan and seeds are the same every round (a fresh database
  and a seeded rng), so every round does exactly the same generations.
- **direct**: a fresh ``EmbeddedBackend`` and ``chat`` called in a loop with the very calls
  the arena made: same messages (system prompt included), options, seeds, order and
  keep_alive (the long one, then 0 on each model's last answer).

Both start with no model loaded and a fresh llama.cpp server, so loads and prompt caches
match. Throughput is generated tokens over the pass's wall time; the arena/direct ratio
is computed per round and over all rounds. Pool battles per CPU-hour: battles the arena
pass makes available (pairs of models that answered the same prompt) over the CPU time the
process used during the pass (all threads).

    .venv/bin/python scripts/bench/real_model.py [--prompts 4] [--num-predict 128] [--rounds 4]
        [--models smollm2,gemma3] [--threads 2]

With ``--parallel 1,2,4,8`` it measures instead the backend's ``parallel`` setting: for each
level, one pre-generation run (``run_batch``, fresh instance) of the embedded SmolLM2 135M
registered twice (the same GGUF under a second tag, so every prompt makes a battle), with
that many sequences of the loaded model at once. It prints the aggregate generated tokens/s
(all answers' tokens over the run's wall time, loads included), the CPU time, pool battles
per CPU-hour, and the ratio to level 1 (today's serial runner, run first and again last to
show the machine's drift); and beside it the backend alone: ``EmbeddedBackend.chat`` from as
many threads as sequences, one request per prompt the run answered (its texts and system
prompt, so prompt reading costs the same), the model loaded beforehand::

    .venv/bin/python scripts/bench/real_model.py --parallel 1,2,4,8 [--prompts 8]
        [--num-predict 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import select

from arena import create_app
from arena.backends.configured import get_backend
from arena.backends.embedded import EmbeddedBackend
from arena.backends.packaged import GEMMA3_TAG, SMOLLM2_TAG, packaged_models
from arena.extensions import db
from arena.models import Prompt, Response
from arena.ops.setup import ensure_database
from arena.play import catalogue
from arena.pregen import BatchRequest, run_batch
from arena.pregen.generate import generation_options, messages_for

SHORT = {"smollm2": SMOLLM2_TAG, "gemma3": GEMMA3_TAG}


@dataclass(frozen=True)
class Call:
    tag: str
    prompt: str
    seed: int
    keep_alive: int | str


@dataclass
class Pass:
    tokens: int
    seconds: float
    cpu_seconds: float = 0.0
    battles: int = 0

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds


def settings(instance: Path, args: argparse.Namespace, cache: Path) -> dict[str, object]:
    return {
        "INSTANCE_PATH": str(instance),
        "OLLAMA_URL": "http://127.0.0.1:9",
        "BACKENDS": [
            {
                "name": "embedded",
                "kind": "embedded",
                "threads": args.threads,
                "cache_dir": str(cache),
            }
        ],
        "GEN_NUM_PREDICT": args.num_predict,
        "GEN_NUM_CTX": 2048,
        "POOL_TARGET": args.prompts,
    }


def arena_pass(
    args: argparse.Namespace, cache: Path, tags: list[str]
) -> tuple[Pass, list[Call], dict[str, Any]]:
    """One pre-generation run on a fresh instance: the pass, the calls it made, its config."""
    with tempfile.TemporaryDirectory(prefix="arena-bench-") as tmp:
        app = create_app(settings(Path(tmp) / "instance", args, cache))
        ensure_database(app)
        with app.app_context():
            backend = get_backend("embedded")
            for tag in tags:
                catalogue.add_model(backend, tag)
            request = BatchRequest(n_prompts=args.prompts, tags=tags, trigger="cli")
            cpu, started = time.process_time(), time.perf_counter()
            result = run_batch(request, rng=random.Random(7))
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            rows = db.session.scalars(select(Response).order_by(Response.id)).all()
            last = {row.model.tag: row.id for row in rows}
            keep = app.config["BACKEND_KEEP_ALIVE"]
            calls = [
                Call(
                    r.model.served_tag,  # the name the backend was sent
                    r.prompt.text,
                    int(r.seed or 0),
                    keep if last[r.model.tag] != r.id else 0,
                )
                for r in rows
            ]
            tokens = sum(row.eval_count or 0 for row in rows)
            answered: dict[int, set[str]] = {}
            for row in rows:
                if row.status == "ok":
                    answered.setdefault(row.prompt_id, set()).add(row.model.tag)
            battles = sum(len(list(combinations(models, 2))) for models in answered.values())
            assert result.summary is not None and not result.summary.failures, result.summary
            backend.close()  # type: ignore[attr-defined]
            config = dict(app.config)
            db.engine.dispose()
    return Pass(tokens, seconds, cpu, battles), calls, config


def direct_pass(
    args: argparse.Namespace, cache: Path, calls: list[Call], config: dict[str, Any]
) -> Pass:
    """The same calls straight to a fresh EmbeddedBackend, no arena in between."""
    backend = EmbeddedBackend(packaged_models(cache), threads=args.threads, num_ctx=2048)
    system = config.get("GEN_SYSTEM_PROMPT") or None
    prepared = [
        (c.tag, messages_for(c.prompt, system), generation_options(config, c.seed), c.keep_alive)
        for c in calls
    ]
    tokens = 0
    started = time.perf_counter()
    for tag, messages, options, keep_alive in prepared:
        result = backend.chat(tag, messages, options, keep_alive=keep_alive)
        tokens += result.eval_count or 0
    seconds = time.perf_counter() - started
    backend.close()
    return Pass(tokens, seconds)


TWIN = "smollm2-twin:135m"  # SmolLM2's GGUF under a second tag: a second contestant


@dataclass
class Level:
    parallel: int
    tokens: int
    seconds: float
    cpu_seconds: float
    battles: int
    concurrency: float  # the answers' mean recorded concurrency
    prompts: tuple[str, ...] = ()  # the texts the run answered
    system: str | None = None  # and its system prompt

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds

    @property
    def battles_per_cpu_hour(self) -> float:
        return self.battles / (self.cpu_seconds / 3600)


def parallel_level(args: argparse.Namespace, cache: Path, parallel: int) -> Level:
    """One pre-generation run of SmolLM2 and its twin with ``parallel`` sequences at once."""
    gguf = next(spec for spec in packaged_models(cache) if spec.tag == SMOLLM2_TAG).locate()
    with tempfile.TemporaryDirectory(prefix="arena-bench-") as tmp:
        config = settings(Path(tmp) / "instance", args, cache)
        entry = config["BACKENDS"][0]  # type: ignore[index]
        entry.update(parallel=parallel, files={TWIN: str(gguf)}, packaged=True)
        app = create_app(config)
        ensure_database(app)
        with app.app_context():
            backend = get_backend("embedded")
            for tag in (SMOLLM2_TAG, TWIN):
                catalogue.add_model(backend, tag)
            request = BatchRequest(n_prompts=args.prompts, tags=[SMOLLM2_TAG, TWIN])
            cpu, started = time.process_time(), time.perf_counter()
            result = run_batch(request, rng=random.Random(7))
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            assert result.summary is not None and not result.summary.failures, result.summary
            rows = db.session.scalars(select(Response).where(Response.status == "ok")).all()
            tokens = sum(row.eval_count or 0 for row in rows)
            answered: dict[int, int] = {}
            for row in rows:
                answered[row.prompt_id] = answered.get(row.prompt_id, 0) + 1
            battles = sum(count * (count - 1) // 2 for count in answered.values())
            levels = [int((row.options or {}).get("concurrency", 1)) for row in rows]
            texts = db.session.scalars(
                select(Prompt.text).where(Prompt.id.in_(sorted(answered))).order_by(Prompt.id)
            ).all()
            system = app.config.get("GEN_SYSTEM_PROMPT") or None
            backend.close()  # type: ignore[attr-defined]
            db.engine.dispose()
    return Level(
        parallel, tokens, seconds, cpu, battles, statistics.mean(levels), tuple(texts), system
    )


def direct_rate(args: argparse.Namespace, cache: Path, level: Level) -> float:
    """The backend alone: aggregate generated tok/s of one request per prompt the arena run
    answered (its texts and system prompt), ``level.parallel`` at once."""
    parallel = level.parallel
    backend = EmbeddedBackend(
        packaged_models(cache), threads=args.threads, num_ctx=2048, parallel=parallel
    )
    options = [
        generation_options({"GEN_NUM_PREDICT": args.num_predict, "GEN_TEMPERATURE": 0.7}, seed)
        for seed in range(1, len(level.prompts) + 1)
    ]
    backend.chat(SMOLLM2_TAG, messages_for("Hello", None), options[0])  # the load, untimed
    work = list(enumerate(options))
    lock, tokens = threading.Lock(), [0]

    def worker() -> None:
        while True:
            with lock:
                if not work:
                    return
                index, option = work.pop()
            messages = messages_for(level.prompts[index], level.system)
            result = backend.chat(SMOLLM2_TAG, messages, option)
            with lock:
                tokens[0] += result.eval_count or 0

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    backend.close()
    return tokens[0] / seconds


def parallel_curve(args: argparse.Namespace, cache: Path) -> None:
    """The ``--parallel`` levels, serial first and again last; one line each, then ratios."""
    levels = [int(level) for level in args.parallel.split(",")]
    order = [1, *(level for level in levels if level != 1), 1]
    print(
        f"embedded SmolLM2 135M and its twin, {args.prompts} prompts each, num_predict "
        f"{args.num_predict}, {args.threads} threads, levels {order}; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    results: list[Level] = []
    for parallel in order:
        level = parallel_level(args, cache, parallel)
        direct = direct_rate(args, cache, level)
        results.append(level)
        print(
            f"parallel {parallel}: {level.tokens} tokens in {level.seconds:.1f} s = "
            f"{level.rate:.1f} tok/s aggregate (backend alone {direct:.1f}); "
            f"{level.cpu_seconds:.1f} CPU-s; "
            f"{level.battles} battles = {level.battles_per_cpu_hour:.0f} per CPU-hour "
            f"(mean recorded concurrency {level.concurrency:.2f}; load average "
            f"{os.getloadavg()[0]:.2f})"
        )
    serial = [level for level in results if level.parallel == 1]
    base_rate = statistics.mean(level.rate for level in serial)
    base_battles = statistics.mean(level.battles_per_cpu_hour for level in serial)
    print(
        f"serial (parallel 1, today's runner), first and last run: "
        f"{serial[0].rate:.1f} and {serial[-1].rate:.1f} tok/s, "
        f"{serial[0].battles_per_cpu_hour:.0f} and {serial[-1].battles_per_cpu_hour:.0f} "
        "battles per CPU-hour (their mean is the base of the ratios)"
    )
    for level in results[1:-1]:
        ratio = level.battles_per_cpu_hour / base_battles
        print(
            f"parallel {level.parallel}: {level.rate / base_rate:.2f}x tok/s, "
            f"{ratio:.2f}x battles per CPU-hour over serial "
            f"(target >= 1.5x: {'met' if ratio >= 1.5 else 'NOT met'})"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--num-predict", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--models", default="smollm2,gemma3")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", help="levels of the parallel curve, e.g. 1,2,4,8")
    args = parser.parse_args()
    if args.parallel:
        if SMOLLM2_TAG not in {spec.tag for spec in packaged_models()}:
            sys.exit(f"not installed: {SMOLLM2_TAG}: run scripts/install-local.sh")
        with tempfile.TemporaryDirectory(prefix="arena-bench-gguf-") as cache_dir:
            parallel_curve(args, Path(cache_dir))
        return
    tags = [SHORT.get(name.strip(), name.strip()) for name in args.models.split(",")]
    installed = {spec.tag for spec in packaged_models()}
    missing = [tag for tag in tags if tag not in installed]
    if missing:
        sys.exit(f"not installed: {', '.join(missing)}: run scripts/install-local.sh")

    with tempfile.TemporaryDirectory(prefix="arena-bench-gguf-") as cache_dir:
        cache = Path(cache_dir)
        for spec in packaged_models(cache):
            if spec.tag in tags:
                spec.locate()  # assemble Gemma once, outside every timing
        print(
            f"models: {', '.join(tags)}; {args.prompts} prompts, num_predict {args.num_predict}, "
            f"{args.threads} threads, {args.rounds} rounds (ABBA); {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        arena_runs: list[Pass] = []
        direct_runs: list[Pass] = []
        calls: list[Call] | None = None
        config: dict[str, Any] = {}
        for round_no in range(args.rounds):
            arena_first = calls is None or round_no % 2 == 0
            if arena_first:
                arena, calls, config = arena_pass(args, cache, tags)
                direct = direct_pass(args, cache, calls, config)
            else:
                assert calls is not None
                direct = direct_pass(args, cache, calls, config)
                arena, again, _ = arena_pass(args, cache, tags)
                assert again == calls, "the arena's plan or seeds changed between rounds"
            arena_runs.append(arena)
            direct_runs.append(direct)
            order = "arena, direct" if arena_first else "direct, arena"
            print(
                f"round {round_no + 1} ({order}): arena {arena.tokens} tokens in "
                f"{arena.seconds:.1f} s = {arena.rate:.1f} tok/s; direct {direct.tokens} tokens "
                f"in {direct.seconds:.1f} s = {direct.rate:.1f} tok/s; "
                f"ratio {arena.rate / direct.rate:.3f}"
            )
        arena_total = Pass(
            sum(p.tokens for p in arena_runs),
            sum(p.seconds for p in arena_runs),
            sum(p.cpu_seconds for p in arena_runs),
            sum(p.battles for p in arena_runs),
        )
        direct_total = Pass(sum(p.tokens for p in direct_runs), sum(p.seconds for p in direct_runs))
        ratio = arena_total.rate / direct_total.rate
        ratios = [a.rate / d.rate for a, d in zip(arena_runs, direct_runs, strict=True)]
        per_round_battles = arena_runs[0].battles
        print(
            f"same generations on both sides: "
            f"{'yes' if arena_total.tokens == direct_total.tokens else 'NO'} "
            f"({arena_total.tokens} tokens each over {args.rounds} rounds, "
            f"{len(calls or [])} answers per round)"
        )
        print(f"arena  (pre-generation, run_batch): {arena_total.rate:.1f} tok/s")
        print(f"direct (EmbeddedBackend.chat):      {direct_total.rate:.1f} tok/s")
        met = "met" if ratio >= 0.95 else "NOT met"
        print(
            f"arena / direct: {ratio:.3f} overall, median per round "
            f"{statistics.median(ratios):.3f} (target >= 0.95: {met})"
        )
        cpu_hours = arena_total.cpu_seconds / 3600
        wall_hours = arena_total.seconds / 3600
        print(
            f"pool battles per CPU-hour: {arena_total.battles / cpu_hours:.0f} "
            f"({per_round_battles} battles per round from {len(calls or [])} answers; "
            f"{arena_total.cpu_seconds:.1f} CPU-s over {arena_total.seconds:.1f} s wall, "
            f"{arena_total.battles / wall_hours:.0f} per wall-clock hour on {args.threads} threads)"
        )
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
