"""Pre-generation against a fake Ollama that behaves like one on a CPU: a delay per token,
and a load delay whenever the model changes.

For 12 models and 40 prompts it compares our batch run (grouped by model) with the original
arena's way (each battle generates its two answers on demand, battles in random pair order)
for the same number of generations, and prints model loads, battles available per
generation, and the runner's overhead: wall time minus time inside backend calls, over wall.

    .venv/bin/python scripts/bench/pregen.py [--models 12] [--prompts 40] [--words 60]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from arena import create_app
from arena.backends import GenerationOptions, OllamaClient
from arena.extensions import db
from arena.models import Prompt
from arena.ops.setup import ensure_database
from arena.pregen import BatchRequest, MeteredBackend, run_batch
from arena.pregen.generate import messages_for

ROOT = Path(__file__).resolve().parents[2]

#: The fake server runs in its own process, as Ollama does, so that its work never competes
#: with the runner's for the interpreter lock. It obeys one-word commands on stdin.
SERVER = """
import sys
from tests.support.fake_ollama import FakeOllama
tags, words = sys.argv[1].split(","), int(sys.argv[2])
fake = FakeOllama(models=[], token_delay=float(sys.argv[3]), load_delay=float(sys.argv[4]))
for tag in tags:
    fake.add_model(tag, parameter_size=tag.split(":")[1].upper(), quantization="Q4_K_M")
fake.set_answer(None, " ".join(f"token{i}" for i in range(words)))
fake.start()
print(fake.url, flush=True)
for line in sys.stdin:
    if line.strip() == "reset":
        fake.reset()
    print(fake.loads, flush=True)
"""


class FakeServer:
    def __init__(self, tags: list[str], args: argparse.Namespace) -> None:
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-c", SERVER, ",".join(tags), str(args.words)),
                *(str(args.token_delay), str(args.load_delay)),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self._ask(None)

    def _ask(self, command: str | None) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        if command is not None:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def reset(self) -> None:
        self._ask("reset")

    @property
    def loads(self) -> int:
        return int(self._ask("loads"))

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=12)
    parser.add_argument("--prompts", type=int, default=40)
    parser.add_argument("--words", type=int, default=60, help="tokens per answer")
    parser.add_argument("--token-delay", type=float, default=0.001, help="seconds per token")
    parser.add_argument("--load-delay", type=float, default=0.02, help="seconds per model load")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    tags = [f"bench{i:02d}:{1 + i % 8}b" for i in range(args.models)]

    fake = FakeServer(tags, args)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            app = create_app(
                {
                    "INSTANCE_PATH": str(Path(tmp) / "instance"),
                    "OLLAMA_URL": fake.url,
                    "POOL_TARGET": args.prompts,
                }
            )
            ensure_database(app)
            assert app.test_cli_runner().invoke(args=["models", "sync"]).exit_code == 0

            # Ours: one batch run, grouped by model.
            fake.reset()
            with app.app_context():
                meter = MeteredBackend(OllamaClient(fake.url))
                started = time.monotonic()
                result = run_batch(BatchRequest(n_prompts=args.prompts), backend=meter)
                batch_wall = time.monotonic() - started
                prompts = [db.session.get(Prompt, p).text for p in result.plan.prompts]
                db.engine.dispose()
        summary = result.summary
        assert summary is not None and summary.total_stored == args.models * args.prompts
        ours_loads, generations = fake.loads, summary.total_stored
        battles = args.prompts * args.models * (args.models - 1) // 2

        # The original arena's way: per battle, two answers on demand, random pairs.
        fake.reset()
        rng = random.Random(args.seed)
        client = OllamaClient(fake.url)
        options = GenerationOptions(temperature=0.7, num_predict=1024, num_ctx=4096)
        started = time.monotonic()
        for _ in range(generations // 2):
            prompt = rng.choice(prompts)
            for tag in rng.sample(tags, 2):
                client.chat(tag, messages_for(prompt, None), options, keep_alive="30m")
        theirs_wall = time.monotonic() - started
        theirs_loads = fake.loads
    finally:
        fake.close()

    runner_overhead = (summary.wall_seconds - summary.backend_seconds) / summary.wall_seconds
    batch_overhead = (batch_wall - summary.backend_seconds) / batch_wall
    print(
        f"{args.models} models x {args.prompts} prompts, {args.words} tokens per answer, "
        f"{args.token_delay * 1000:g} ms per token, {args.load_delay * 1000:g} ms per model load"
    )
    print(f"{'':40} {'ours (grouped)':>16} {'per battle':>12}")
    print(f"{'generations':40} {generations:>16} {generations:>12}")
    print(f"{'model loads':40} {ours_loads:>16} {theirs_loads:>12}")
    print(f"{'battles available':40} {battles:>16} {generations // 2:>12}")
    print(f"{'battles available per generation':40} {battles / generations:>16.2f} {0.5:>12.2f}")
    print(f"{'wall time (s)':40} {summary.wall_seconds:>16.1f} {theirs_wall:>12.1f}")
    outside = summary.wall_seconds - summary.backend_seconds
    per_answer_ms = 1000 * outside / generations
    print(
        f"runner overhead: {100 * runner_overhead:.2f}% of the run's wall time "
        f"({outside:.2f} s of {summary.wall_seconds:.1f} s outside backend calls; target < 2%: "
        f"{'met' if runner_overhead < 0.02 else 'NOT met'})"
    )
    print(
        f"with planning and run records: {100 * batch_overhead:.2f}% "
        f"({batch_wall - summary.backend_seconds:.2f} s of {batch_wall:.1f} s)"
    )
    print(
        f"per answer: {per_answer_ms:.2f} ms outside backend calls; against a 30 s answer on a "
        f"real CPU that is {100 * per_answer_ms / 30_000:.4f}%"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
