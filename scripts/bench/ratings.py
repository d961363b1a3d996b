"""Benchmark arena.ratings on a simulated vote log.

Run from the project root:

    .venv/bin/python scripts/bench/ratings.py [--models 40] [--votes 1000000] [--rounds 200]

Times ``compute_leaderboard`` (all ratings, bootstrap included) and measures its peak memory,
then times the naive bootstrap that resamples vote rows (as common arena notebooks do) for
comparison with our bootstrap that resamples the pair-table counts.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import gc  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

from arena.ratings import (  # noqa: E402
    VoteLog,
    bootstrap_bt_rows,
    bradley_terry,
    compute_leaderboard,
    online_elo,
    size_aware_elo,
)

TARGET_SECONDS = 2.0
TARGET_MB = 300.0


def simulate(models: int, votes: int, seed: int) -> tuple[VoteLog, dict[str, float | None]]:
    """Random pairs, outcomes from known BT strengths, 10% ties, 5% both bad, rising ts."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(0.0, 150.0, models)
    a = rng.integers(0, models, votes)
    b = (a + rng.integers(1, models, votes)) % models
    p_a = 1.0 / (1.0 + 10.0 ** ((strength[b] - strength[a]) / 400.0))
    outcome = np.where(rng.random(votes) < p_a, 0, 1)
    u = rng.random(votes)
    outcome = np.where(u < 0.10, 2, np.where(u < 0.15, 3, outcome))
    ts = 1.7e9 + np.cumsum(rng.exponential(30.0, votes))
    tags = tuple(f"model-{i:03d}" for i in range(models))
    sizes: dict[str, float | None] = {
        tag: None if i % 7 == 3 else float(rng.choice([0.5, 1.0, 1.5, 3.0, 3.8, 7.0, 8.0]))
        for i, tag in enumerate(tags)
    }
    return VoteLog(tags, a, b, outcome, ts), sizes


def max_rss_mb() -> float:
    """Peak resident set size of this process (getrusage; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return max_rss_mb()


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (Linux), so max RSS measures what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return max_rss_mb() <= current_rss_mb() + 1.0


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    gc.collect()
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=200, help="bootstrap rounds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (best is reported)")
    parser.add_argument(
        "--naive-rounds",
        type=int,
        default=None,
        help="rounds for the row bootstrap (default: --rounds); fewer are extrapolated",
    )
    args = parser.parse_args()

    log, sizes = simulate(args.models, args.votes, args.seed)
    print(f"simulated {len(log):,} votes between {args.models} models; numpy {np.__version__}")

    gc.collect()
    was_reset = reset_peak_rss()
    rss_before = current_rss_mb() if was_reset else max_rss_mb()
    runs = []
    for _ in range(max(1, args.repeat)):
        seconds, board = timed(
            compute_leaderboard, log, sizes, bootstrap_rounds=args.rounds, seed=args.seed
        )
        runs.append(seconds)
    rss_growth = max_rss_mb() - rss_before
    del board
    gc.collect()
    tracemalloc.start()
    compute_leaderboard(log, sizes, bootstrap_rounds=args.rounds, seed=args.seed)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_mb = peak / 2**20
    best = min(runs)
    ok = best < TARGET_SECONDS and peak_mb < TARGET_MB and rss_growth < TARGET_MB
    print(
        f"compute_leaderboard: {best:.2f} s, peak {peak_mb:.0f} MB "
        f"(target < {TARGET_SECONDS:g} s, < {TARGET_MB:g} MB) -> {'OK' if ok else 'OVER TARGET'}"
    )
    print(
        f"  time = best of {len(runs)} runs ({', '.join(f'{s:.2f}' for s in runs)} s), "
        f"{args.rounds} bootstrap rounds"
    )
    rss_how = (
        "getrusage max RSS minus the RSS before them, after resetting the high-water mark"
        if was_reset
        else "growth of getrusage max RSS; a lower bound, the simulation set the mark before"
    )
    print(
        f"  peak = tracemalloc peak of Python + numpy allocations during one extra untimed run; "
        f"max RSS delta during the timed runs: {rss_growth:.0f} MB ({rss_how}; "
        f"baseline {rss_before:.0f} MB incl. the simulated log)"
    )

    t_elo, _ = timed(size_aware_elo, log, sizes)
    t_online, _ = timed(online_elo, log)
    t_bt, ours = timed(bradley_terry, log, bootstrap_rounds=args.rounds, seed=args.seed)
    print(
        f"  parts: size-aware Elo replay {t_elo:.2f} s, online Elo replay {t_online:.2f} s, "
        f"Bradley-Terry fit + {args.rounds}-round count bootstrap {t_bt:.2f} s"
    )

    naive_rounds = args.rounds if args.naive_rounds is None else args.naive_rounds
    t_naive, naive = timed(bootstrap_bt_rows, log, rounds=naive_rounds, seed=args.seed)
    projected = t_naive * args.rounds / max(1, naive_rounds)
    how = (
        f"{naive_rounds} rounds"
        if naive_rounds == args.rounds
        else f"{naive_rounds} rounds run in {t_naive:.2f} s, extrapolated to {args.rounds}"
    )
    print(
        f"row bootstrap: {projected:.2f} s for {args.rounds} rounds ({how}; rng.choice of row "
        f"indices, pair table rebuilt and refitted per round) vs {t_bt:.2f} s for our count "
        f"bootstrap: ratio {projected / t_bt:.0f}x "
        f"(vs the whole compute_leaderboard: {projected / best:.0f}x)"
    )
    diff = np.nanmax(np.abs(np.concatenate([ours.lower - naive.lower, ours.upper - naive.upper])))
    width = np.nanmean(ours.upper - ours.lower)
    print(
        f"  sanity: same point ratings; 95% bounds differ by at most {diff:.2f} Elo "
        f"(mean interval width {width:.2f} Elo; differences are bootstrap noise)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
