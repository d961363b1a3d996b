"""The worker judges after generation in its nightly window when ``JUDGE_IN_WINDOW`` is set,
within the window, and never on a run asked for outside it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskCliRunner

from arena.ops.worker import Worker
from arena.pregen.clock import SYSTEM_CLOCK, Deadline
from tests.support.fake_ollama import FakeOllama
from tests.support.judging import JUDGE, judgements, judging_pool


def _worker(app: Flask) -> tuple[Worker, list[str]]:
    """A worker that took the lease (as a lone worker does when it starts)."""
    said: list[str] = []
    worker = Worker(app, say=said.append)
    worker._lease_job()
    assert worker.role == "active"
    said.clear()
    return worker, said


def _window(minutes: float) -> Deadline:
    return Deadline(SYSTEM_CLOCK.now() + timedelta(minutes=minutes), "until", "window end 06:00")


def test_the_worker_judges_after_generation_in_its_window(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    app.config["POOL_TARGET"] = 2  # the pool is full after judging_pool: generation is quick
    judge = judging_pool(runner, fake_ollama, prompts=2)
    worker, said = _worker(app)

    worker._batch_job(_window(60), None)  # JUDGE_IN_WINDOW is off by default
    assert judgements(app) == [] and not any(line.startswith("judging") for line in said)

    app.config["JUDGE_IN_WINDOW"] = True
    worker._batch_job(None, "1h")  # a run asked for on /admin or --run-now: no window
    assert judgements(app) == []

    worker._batch_job(_window(60), None)
    batch = [i for i, line in enumerate(said) if line.startswith("batch:")]
    judged = [i for i, line in enumerate(said) if line.startswith("judging:")]
    assert batch and judged and max(batch) < min(judged), said  # after generation
    assert any("judging: judged    6/6" in line and JUDGE in line for line in said), said
    assert len(judgements(app)) == 6 and len(judge.calls) == 12

    said.clear()
    worker._batch_job(_window(60), None)
    assert "judging: nothing to do: every pair is judged" in said


def test_the_window_end_stops_judging_between_pairs(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    app.config["POOL_TARGET"] = 2
    app.config["JUDGE_IN_WINDOW"] = True
    judge = judging_pool(runner, fake_ollama, prompts=2)
    worker, said = _worker(app)
    worker._batch_job(_window(-0.01), None)  # the window ended while generating
    assert any(
        "judging: stopped between pairs: window end 06:00 reached" in line for line in said
    ), said
    assert judgements(app) == [] and judge.calls == []


def test_a_bad_judge_prompt_does_not_stop_the_worker(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    app.config["POOL_TARGET"] = 2
    app.config["JUDGE_IN_WINDOW"] = True
    judging_pool(runner, fake_ollama, prompts=1)
    (Path(app.instance_path) / "judge_prompt.txt").write_text("{question}")
    worker, said = _worker(app)
    worker._batch_job(_window(60), None)
    assert any(line.startswith("judging: not run:") and "lacks" in line for line in said), said
    assert judgements(app) == []
