"""How many votes each matchmaking rule needs before the leaderboard is right.

Run from the project root:

    .venv/bin/python scripts/bench/matchmaking.py [--runs 20] [--models 8 16] [--seed 13] [--jobs 2]

Simulated voters (:mod:`arena.ratings.simulation`): each run draws true strengths from
N(0, 150 Elo) (as ``scripts/bench/ratings.py`` does), every vote follows Bradley-Terry with
those strengths, and the three rules (``active``, ``classic``, ``uniform``) see the same
truths run by run, and so does ``paper``, the rule Chatbot Arena's paper proposes (Chiang et
al. 2024, §5: pairs in proportion to the expected reduction of the win-rate interval's
width; :func:`arena.ratings.matchmaking.paper_weights`) as a baseline, and ``oracle``, a
design handed the true order (pairs at most two places apart; no arena can use it): the
row ``o/c`` says how far below ``classic`` a rule that knew the order gets on the same
truths. ``optimal`` is handed the true strengths: each vote goes to the pair that lowers the
total variance of the ratings most under the true win probabilities (the sequential
A-optimal design an active rule tries to approach); the row ``opt/c`` says how far below
``classic`` that gets. For each rule and model count it prints the median over the runs of
the votes needed until

- (a) the Spearman correlation of the arena's Bradley-Terry ratings with the truth is at
  least 0.9, and
- (b) the true best model's 95% bootstrap interval clears every other model's,

with the ratios active / classic (the target: at most 0.70 on both) and active / paper. A
run that has not got there by ``--max-votes`` counts as ``--max-votes`` (a lower bound; the
number of such runs is printed after the median as ``+n``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

from arena.ratings.matchmaking import RULES_ORDER  # noqa: E402
from arena.ratings.simulation import RunResult, simulate  # noqa: E402

TARGET_RATIO = 0.70
BENCH_RULES = (*RULES_ORDER, "paper", "oracle", "optimal")


def median_votes(results: list[RunResult], attr: str, cap: int) -> tuple[float, int]:
    """Median votes to reach ``attr`` (unreached runs count as ``cap``), runs unreached."""
    values = [getattr(r, attr) for r in results]
    missing = sum(v is None for v in values)
    return float(np.median([cap if v is None else v for v in values])), missing


def run_one(
    m: int, rule: str, args: argparse.Namespace
) -> tuple[int, str, float, int, float, int, float]:
    """One rule on one model count: medians and misses of (a) and (b), seconds taken."""
    t0 = time.perf_counter()
    truths = np.random.default_rng([args.seed, m]).normal(0.0, args.sd, (args.runs, m))
    results = simulate(rule, truths, max_votes=args.max_votes, seed=args.seed, rounds=args.rounds)
    a, miss_a = median_votes(results, "votes_to_spearman", args.max_votes)
    b, miss_b = median_votes(results, "votes_to_top", args.max_votes)
    return m, rule, a, miss_a, b, miss_b, time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--models", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--sd", type=float, default=150.0, help="spread of true Elo")
    parser.add_argument("--max-votes", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=100, help="bootstrap rounds for (b)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--jobs", type=int, default=2, help="processes (one per rule and size)")
    args = parser.parse_args()

    started = time.perf_counter()
    print(
        f"runs={args.runs} truths~N(0, {args.sd:g} Elo) max_votes={args.max_votes} "
        f"bootstrap_rounds={args.rounds} seed={args.seed} jobs={args.jobs}"
    )
    tasks = [(m, rule) for m in sorted(args.models, reverse=True) for rule in BENCH_RULES]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_one, m, rule, args) for m, rule in tasks]
        done = {(r[0], r[1]): r for r in (f.result() for f in futures)}
    header = f"{'models':>6} {'rule':>8} {'(a) spearman>=0.9':>18} {'(b) best clears':>16}"
    print(header)
    print("-" * len(header))
    ok = True
    for m in args.models:
        for rule in BENCH_RULES:
            _, _, a, miss_a, b, miss_b, took = done[(m, rule)]
            cell_a = f"{a:.0f}" + (f" +{miss_a}" if miss_a else "")
            cell_b = f"{b:.0f}" + (f" +{miss_b}" if miss_b else "")
            print(f"{m:>6} {rule:>8} {cell_a:>18} {cell_b:>16}   ({took:.0f} s)")
        ra = done[(m, "active")][2] / done[(m, "classic")][2]
        rb = done[(m, "active")][4] / done[(m, "classic")][4]
        verdict = "met" if ra <= TARGET_RATIO and rb <= TARGET_RATIO else "NOT met"
        ok &= verdict == "met"
        print(f"{m:>6} {'a/c':>8} {ra:>18.2f} {rb:>16.2f}   target <= {TARGET_RATIO}: {verdict}")
        pa = done[(m, "active")][2] / done[(m, "paper")][2]
        pb = done[(m, "active")][4] / done[(m, "paper")][4]
        print(f"{m:>6} {'a/p':>8} {pa:>18.2f} {pb:>16.2f}")
        oa = done[(m, "oracle")][2] / done[(m, "classic")][2]
        ob = done[(m, "oracle")][4] / done[(m, "classic")][4]
        print(f"{m:>6} {'o/c':>8} {oa:>18.2f} {ob:>16.2f}   (knows the true order)")
        ta = done[(m, "optimal")][2] / done[(m, "classic")][2]
        tb = done[(m, "optimal")][4] / done[(m, "classic")][4]
        print(f"{m:>6} {'opt/c':>8} {ta:>18.2f} {tb:>16.2f}   (knows the true strengths)")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
