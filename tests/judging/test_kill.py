"""kill -9 of a running ``scripts/judge.py`` at random points, then a rerun: no judgement is
ever stored half (each row has both orders' whole outputs), none twice, and the work completes."""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from arena.judging.verdicts import combine, parse_verdict
from tests.support.fake_ollama import FakeOllama
from tests.support.fakes.judge import FakeJudge
from tests.support.judging import PREFERRED, judgements, judging_pool
from tests.support.pregen import kill_when, spawn, subprocess_env, wait_for

PROMPTS = 4  # 4 prompts x 3 pairs = 12 pairs, about 0.3 s each (two orders)


def _stored(app: Flask, goal: int, process: subprocess.Popen[str]) -> Callable[[], bool]:
    """Whether ``goal`` judgements are stored (or the process ended)."""
    return lambda: len(judgements(app)) >= goal or process.poll() is not None


@pytest.mark.slow
def test_kill_9_at_random_points_leaves_no_half_judgement(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    judge = FakeJudge(PREFERRED, p=0.8, position_bias=0.2, seed=11)
    judging_pool(runner, fake_ollama, prompts=PROMPTS, judge=judge)
    fake_ollama.token_delay = 0.006  # each verdict streams in about 25 chunks
    env = subprocess_env(Path(app.instance_path), fake_ollama.url)
    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    kills = 0
    for _ in range(3):
        process = spawn(["scripts/judge.py"], env)

        def ready(process: subprocess.Popen[str] = process) -> None:
            # Once the run has stored a few more judgements, at a random point of a pair.
            goal = len(judgements(app)) + rng.randint(1, 3)
            wait_for(_stored(app, goal, process))
            time.sleep(rng.uniform(0.0, 0.3))

        kills += kill_when(process, ready)
    assert kills >= 1, f"every run finished before its kill (seed {seed})"
    killed_with = len(judgements(app))
    assert 0 < killed_with < 3 * PROMPTS, f"no run was killed mid-way (seed {seed})"

    final = spawn(["scripts/judge.py"], env)
    try:
        out, err = final.communicate(timeout=60)
    finally:
        if final.poll() is None:
            final.kill()
            final.wait()
    assert final.returncode == 0, (out, err, seed)

    rows = judgements(app)
    assert len(rows) == 3 * PROMPTS, (out, seed)
    assert len({(r.response_a_id, r.response_b_id) for r in rows}) == len(rows)
    assert f"judged {3 * PROMPTS - killed_with:>4}/" in out  # the rerun judged only the rest
    for row in rows:
        for output, verdict in ((row.output_ab, row.verdict_ab), (row.output_ba, row.verdict_ba)):
            assert output.startswith("Assistant A's answer"), (output, seed)
            assert output.endswith(f"[[{verdict}]]"), (output, seed)  # whole, not cut
            assert parse_verdict(output) == verdict
        expected = combine(row.verdict_ab, row.verdict_ba)
        assert (row.status, row.outcome) == (expected.status, expected.outcome)
