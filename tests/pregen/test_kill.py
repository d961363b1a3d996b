"""kill -9 of a running ``scripts/pregenerate.py`` at random points, then a rerun: nothing
partial is ever stored, no (prompt, model) has two usable answers, and the work completes."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from arena.extensions import db
from arena.models import GenerationRun
from tests.support.fake_ollama import FakeOllama
from tests.support.pregen import answers, kill_when, spawn, subprocess_env

TARGET = 5  # prompts: 3 models x 5 = 15 answers of about 0.1 s each


def full_answer(request: dict[str, object]) -> str:
    """A long answer that depends on model and prompt, so a partial one would show."""
    messages = request["messages"]
    prompt = messages[-1]["content"]  # type: ignore[index]
    return " ".join([str(request["model"]), *(f"w{i}" for i in range(24)), str(len(prompt))])


@pytest.mark.slow
def test_kill_9_at_random_points_loses_only_the_answer_in_progress(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    fake_ollama.set_answer(None, full_answer)
    fake_ollama.token_delay = 0.004
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    env = subprocess_env(Path(app.instance_path), fake_ollama.url, POOL_TARGET=TARGET)
    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    kills = 0
    for _ in range(3):
        process = spawn(["scripts/pregenerate.py"], env)
        # start-up takes ~0.5 s, the work ~1.5 s more
        kills += kill_when(process, lambda: time.sleep(rng.uniform(0.6, 1.6)))
    assert kills >= 1, f"every run finished before its kill (seed {seed})"

    final = spawn(["scripts/pregenerate.py"], env)
    try:
        out, err = final.communicate(timeout=40)
    finally:
        if final.poll() is None:
            final.kill()
            final.wait()
    assert final.returncode == 0, (out, err, seed)

    stored = answers(app)
    pairs = [(r.prompt_id, r.model_id) for r in stored]
    assert len(pairs) == len(set(pairs)), f"duplicate answers (seed {seed})"
    assert len(stored) == 3 * TARGET, (out, seed)
    assert len({r.prompt_id for r in stored}) == TARGET  # complete slates
    for response in stored:
        expected = full_answer(
            {"model": response.model.tag, "messages": [{"content": response.prompt.text}]}
        )
        assert response.text == expected, f"partial answer stored (seed {seed})"
    with app.app_context():
        statuses = db.session.scalars(select(GenerationRun.status)).all()
    # Runs killed after they started were found and marked by the next run.
    assert "running" not in statuses, statuses
