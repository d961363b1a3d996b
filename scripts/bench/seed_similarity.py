"""Would another seed of a revealed model still name it? Two seeds of one model vs two models.

The question behind the battle pool's blindness rule: once a voter has seen model X's answer
to prompt P *named* (after their vote), could a second answer of X to P, generated with
another seed, be shown to them blind? Only if two seeds of one model are no more alike than
the answers of two different models. This script generates, with the two packaged models of
the embedded backend (SmolLM2 135M, Gemma 3 270M; ``scripts/install-local.sh``), one answer
per (prompt, model, seed) for a few prompts of the bank (one per category) and two seeds,
with the arena's own generation settings (system prompt, temperature), and measures:

- lexical similarity (Jaccard of word sets, and of word trigrams) of two seeds of one model
  against that of the two models, on the same prompt;
- identification: shown X's answer to P (seed 1) named, and then two blind answers to P (X
  with seed 2, the other model with seed 2), how often is the one more like the named answer
  X's? 50% means another seed tells nothing (a tie counts as half); near 100% means it
  names the model.

About two minutes of CPU on 2 threads with the defaults.

    .venv/bin/python scripts/bench/seed_similarity.py [--prompts 5] [--num-predict 96]
        [--seeds 11,12] [--threads 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from arena.backends.embedded import EmbeddedBackend
from arena.backends.packaged import GEMMA3_TAG, SMOLLM2_TAG, packaged_models
from arena.config import DEFAULT_SYSTEM_PROMPT
from arena.pregen.generate import generation_options, messages_for

BANK = Path(__file__).resolve().parents[2] / "arena" / "data" / "prompts.jsonl"
TAGS = (SMOLLM2_TAG, GEMMA3_TAG)
WORD = re.compile(r"\w+")

Similarity = Callable[[str, str], float]


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def jaccard(a: set[object], b: set[object]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def word_jaccard(x: str, y: str) -> float:
    return jaccard(set(words(x)), set(words(y)))


def trigram_jaccard(x: str, y: str) -> float:
    def grams(text: str) -> set[object]:
        w = words(text)
        return {tuple(w[i : i + 3]) for i in range(len(w) - 2)}

    return jaccard(grams(x), grams(y))


MEASURES: dict[str, Similarity] = {"words": word_jaccard, "word trigrams": trigram_jaccard}


def bank_prompts(n: int) -> list[str]:
    """The first prompt of each category in turn, ``n`` in all."""
    by_category: dict[str, list[str]] = {}
    for line in BANK.read_text().splitlines():
        item = json.loads(line)
        by_category.setdefault(item["category"], []).append(item["text"])
    rounds = itertools.zip_longest(*by_category.values())
    return [text for row in rounds for text in row if text is not None][:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=5)
    parser.add_argument("--num-predict", type=int, default=96)
    parser.add_argument("--seeds", default="11,12", help="two seeds, comma-separated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--temperature", type=float, default=0.7, help="the arena's default")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if len(seeds) != 2:
        sys.exit("--seeds takes exactly two seeds")
    installed = {spec.tag for spec in packaged_models()}
    if not set(TAGS) <= installed:
        sys.exit("the packaged models are not installed: run scripts/install-local.sh")
    prompts = bank_prompts(args.prompts)
    config = {
        "GEN_TEMPERATURE": args.temperature,
        "GEN_NUM_PREDICT": args.num_predict,
        "GEN_NUM_CTX": 2048,
    }
    answers: dict[tuple[int, str, int], str] = {}
    started, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory(prefix="arena-seeds-") as cache:
        backend = EmbeddedBackend(packaged_models(Path(cache)), threads=args.threads, num_ctx=2048)
        try:
            for tag in TAGS:  # one model at a time: one load each
                for p, prompt in enumerate(prompts):
                    for seed in seeds:
                        options = generation_options(config, seed)
                        reply = backend.chat(
                            tag, messages_for(prompt, DEFAULT_SYSTEM_PROMPT), options
                        )
                        answers[(p, tag, seed)] = reply.text
        finally:
            backend.close()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"{len(answers)} answers: {len(prompts)} prompts x {len(TAGS)} models x seeds {seeds}, "
        f"num_predict {args.num_predict}, temperature {args.temperature:g}; "
        f"{seconds:.0f} s wall, {cpu:.0f} CPU-s, {os.cpu_count()} CPUs"
    )
    s1, s2 = seeds
    identical = sum(
        answers[(p, t, s1)] == answers[(p, t, s2)] for p in range(len(prompts)) for t in TAGS
    )
    print(f"identical answers from the two seeds of one model: {identical} of {len(prompts) * 2}")
    for name, similar in MEASURES.items():
        same = [
            similar(answers[(p, t, s1)], answers[(p, t, s2)])
            for p in range(len(prompts))
            for t in TAGS
        ]
        other = [
            similar(answers[(p, TAGS[0], a)], answers[(p, TAGS[1], b)])
            for p in range(len(prompts))
            for a in seeds
            for b in seeds
        ]
        hits, trials = 0.0, 0
        for p, (x, y), (named, blind) in itertools.product(
            range(len(prompts)), itertools.permutations(TAGS), itertools.permutations(seeds)
        ):
            reference = answers[(p, x, named)]
            own, rival = answers[(p, x, blind)], answers[(p, y, blind)]
            mine, theirs = similar(reference, own), similar(reference, rival)
            hits += 1.0 if mine > theirs else 0.5 if mine == theirs else 0.0  # a tie: a coin
            trials += 1
        apart = statistics.mean(other)
        ratio = f"{statistics.mean(same) / apart:.1f}x" if apart >= 0.005 else "n/a (no overlap)"
        print(
            f"{name:14s} same model, two seeds: median {statistics.median(same):.2f} "
            f"(mean {statistics.mean(same):.2f}); two models: median "
            f"{statistics.median(other):.2f} (mean {statistics.mean(other):.2f}); "
            f"ratio {ratio}; "
            f"the named answer picks out its model's other seed in {hits:g} of {trials} "
            f"({100 * hits / trials:.0f}%; 50% = no clue)"
        )


if __name__ == "__main__":
    main()
