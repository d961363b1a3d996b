"""Judging with a real model on this machine: the packaged SmolLM2 135M (or, with
``--judge-model gemma3``, Gemma 3 270M) as judge through ``run_judging`` (the code path of
``flask --app arena judge``, the cron script and the worker).
Needs ``scripts/install-local.sh``.

On a fresh instance with an embedded backend, the two packaged models (SmolLM2 135M and
Gemma 3 270M) answer ``--prompts`` bank prompts (``run_batch``, not timed), then SmolLM2, under
a third tag registered as a judge only, judges every pair in both orders. Printed:

- **verdicts per CPU-hour**: judgements stored (each two judge requests) over the CPU time the
  process used during the run (all threads: llama.cpp runs in-process), and the counted ones;
- **the judge's statuses**: counted, position-inconsistent, unparsed;
- **agreement with a simulated voter**: the voter prefers the answer of the better-rated model
  (Gemma 3 270M, four times SmolLM2's parameters) with probability ``--voter-p`` (0.7), drawn
  per pair from a seeded generator, and never votes a tie. Agreement is the share of the
  judge's decisive counted verdicts that pick the voter's answer, with Cohen's kappa over
  those pairs; the voter's expected agreement with a perfect judge of the same taste is p;
- **the runner's overhead**: wall time of the run outside the judge's model calls (planning,
  reading answers, building prompts, parsing, one INSERT per pair) over the run's wall time.

    .venv/bin/python scripts/bench/judge.py [--prompts 6] [--num-predict 256]
        [--answer-tokens 64] [--threads 2] [--voter-p 0.7]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import select

from arena import create_app
from arena.backends.configured import get_backend
from arena.backends.packaged import GEMMA3_TAG, SMOLLM2_TAG, packaged_models
from arena.extensions import db
from arena.judging import JudgeRequest, add_judge, run_judging
from arena.models import Judgement, Model
from arena.ops.setup import ensure_database
from arena.play import catalogue
from arena.pregen import BatchRequest, run_batch

#: The judge's model (a packaged GGUF) under a tag of its own, registered as a judge only.
JUDGES = {
    "smollm2": (SMOLLM2_TAG, "smollm2-judge:135m"),
    "gemma3": (GEMMA3_TAG, "gemma3-judge:270m"),
}


def kappa(judge: list[str], voter: list[str]) -> float | None:
    """Cohen's kappa of two raters over the same items (labels ``a``/``b``)."""
    n = len(judge)
    if not n:
        return None
    observed = sum(j == v for j, v in zip(judge, voter, strict=True)) / n
    expected = sum((judge.count(x) / n) * (voter.count(x) / n) for x in ("a", "b"))
    return (observed - expected) / (1 - expected) if expected < 1 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=6)
    parser.add_argument("--num-predict", type=int, default=256, help="judge output tokens")
    parser.add_argument("--answer-tokens", type=int, default=64, help="contestants' answers")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--voter-p", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--judge-model",
        choices=sorted(JUDGES),
        default="smollm2",
        help="the packaged model that judges (gemma3: the voter's favourite judging itself)",
    )
    args = parser.parse_args()
    judge_source, judge_tag = JUDGES[args.judge_model]
    specs = {spec.tag: spec for spec in packaged_models()}
    if SMOLLM2_TAG not in specs or GEMMA3_TAG not in specs:
        sys.exit("the packaged models are not installed: run scripts/install-local.sh")
    with tempfile.TemporaryDirectory(prefix="arena-bench-judge-") as tmp:
        judge_file = str(specs[judge_source].locate())
        backend_entry = {
            "name": "embedded",
            "kind": "embedded",
            "threads": args.threads,
            "files": {judge_tag: judge_file},
        }
        app = create_app(
            {
                "INSTANCE_PATH": str(Path(tmp) / "instance"),
                "OLLAMA_URL": "http://127.0.0.1:9",
                "BACKENDS": [backend_entry],
                "GEN_NUM_PREDICT": args.answer_tokens,
                "GEN_NUM_CTX": 2048,
                "JUDGE_NUM_PREDICT": args.num_predict,
                "POOL_TARGET": args.prompts,
            }
        )
        ensure_database(app)
        with app.app_context():
            backend = get_backend("embedded")
            for tag in (SMOLLM2_TAG, GEMMA3_TAG):
                catalogue.add_model(backend, tag)
            made = run_batch(BatchRequest(n_prompts=args.prompts), rng=random.Random(args.seed))
            assert made.summary is not None
            catalogue.add_model(backend, judge_tag)
            catalogue.set_enabled(judge_tag, False)  # a judge only
            add_judge(judge_tag)
            print(
                f"judge {judge_tag} ({judge_source}, embedded, {args.threads} threads) on "
                f"{made.summary.total_stored} answers of {SMOLLM2_TAG} and {GEMMA3_TAG} to "
                f"{args.prompts} prompts ({args.answer_tokens} tokens at most); judge num_predict "
                f"{args.num_predict}, num_ctx 2048; "
                f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
            )
            cpu, started = time.process_time(), time.perf_counter()
            result = run_judging(JudgeRequest())
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            summary = result.summary
            assert summary is not None, "nothing to judge"
            rows = db.session.scalars(select(Judgement).order_by(Judgement.id)).all()
            better = db.session.scalar(select(Model.id).where(Model.tag == GEMMA3_TAG))
            backend.close()  # type: ignore[attr-defined]
        statuses = {s: sum(r.status == s for r in rows) for s in ("counted", "inconsistent")}
        statuses["unparsed"] = sum(r.status == "unparsed" for r in rows)
        voter_rng = random.Random(args.seed)
        judge_picks, voter_picks = [], []
        for row in rows:
            better_side = "a" if row.model_a_id == better else "b"
            other = "b" if better_side == "a" else "a"
            voter = better_side if voter_rng.random() < args.voter_p else other
            if row.status == "counted" and row.outcome in ("a", "b"):
                judge_picks.append(row.outcome)
                voter_picks.append(voter)
        agree = sum(j == v for j, v in zip(judge_picks, voter_picks, strict=True))
        k = kappa(judge_picks, voter_picks)
        per_hour = 3600 / cpu if cpu > 0 else float("nan")
        outside = wall - summary.backend_seconds
        print(
            f"{len(rows)} pairs judged (2 requests each) in {wall:.1f} s wall, {cpu:.1f} s CPU: "
            f"{len(rows) * per_hour:.0f} verdicts per CPU-hour "
            f"({statuses['counted'] * per_hour:.0f} counted per CPU-hour); "
            f"{len(rows) * 3600 / wall:.0f} per wall-clock hour"
        )
        print(
            f"statuses: {statuses['counted']} counted, {statuses['inconsistent']} "
            f"position-inconsistent, {statuses['unparsed']} unparsed"
        )
        share = (
            f"{agree}/{len(judge_picks)} = {agree / len(judge_picks):.2f}" if judge_picks else "n/a"
        )
        print(
            f"agreement with the simulated voter (prefers {GEMMA3_TAG}'s answer with p = "
            f"{args.voter_p}): {share} of decisive counted verdicts; Cohen's kappa "
            f"{'n/a' if k is None else f'{k:.2f}'}"
        )
        for row in rows[:2]:
            print(f"sample output (A/B order, its end): ...{row.output_ab[-160:]!r}")
        print(
            f"runner overhead: {outside:.2f} s of {wall:.1f} s wall outside the model calls = "
            f"{100 * outside / wall:.2f}% (model calls {summary.backend_seconds:.1f} s, "
            f"{summary.model_loads} model load(s))"
        )


if __name__ == "__main__":
    main()
