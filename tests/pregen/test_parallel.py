"""A model's slate with several requests at once (BACKENDS' ``parallel``): the requests
overlap, up to ``parallel`` and never more; still one load per model and never two models at
once; each answer stored once and whole; a failing request loses none of the others; the
breaker, failures in a row, a stop and visitors' prompts behave as in the serial runner.
Real HTTP to a fake Ollama with ``num_parallel`` slots."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from arena.backends.configured import get_backend
from arena.extensions import db
from arena.models import GenerationFailure, Response
from arena.pregen import BatchRequest, RunControl, run_batch
from arena.pregen.generate import MeteredBackend
from tests.pregen.test_kill import full_answer
from tests.support.app import make_app
from tests.support.fake_ollama import FakeOllama
from tests.support.pregen import answers, kill_when, spawn, subprocess_env, wait_for

TAGS = ("llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0", "gemma3:4b")
WORDS = " ".join(f"word{i}" for i in range(20))
PARALLEL = 3
PROMPTS = 6


def parallel_app(tmp_path: Path, fake: FakeOllama, parallel: int = PARALLEL) -> Flask:
    backends = [{"name": "ollama", "kind": "ollama", "url": fake.url, "parallel": parallel}]
    return make_app(tmp_path / "instance", fake.url, BACKENDS=backends, POOL_TARGET=PROMPTS)


@pytest.fixture
def app3(tmp_path: Path, fake_ollama: FakeOllama) -> Iterator[Flask]:
    fake_ollama.num_parallel = PARALLEL
    fake_ollama.set_answer(None, WORDS)
    app = parallel_app(tmp_path, fake_ollama)
    assert app.test_cli_runner().invoke(args=["models", "sync"]).exit_code == 0
    yield app
    with app.app_context():
        db.engine.dispose()


class Gate:
    """An answer that holds the first ``count`` requests until ``count`` are under way at
    once: a runner that sent them one by one would never open it (the request fails)."""

    def __init__(self, count: int) -> None:
        self.barrier = threading.Barrier(count, timeout=30)
        self.lock = threading.Lock()
        self.left = count

    def __call__(self, request: dict[str, Any]) -> str:
        with self.lock:
            held, self.left = self.left > 0, self.left - 1
        if held:
            self.barrier.wait()  # raises BrokenBarrierError after 30 s alone
        return WORDS


def _batch(app: Flask, control: RunControl | None = None) -> Any:
    with app.app_context():
        result = run_batch(BatchRequest(n_prompts=PROMPTS, trigger="cli"), control=control)
        assert result.summary is not None
        return result.summary


def test_requests_overlap_up_to_parallel_with_one_load_per_model(
    app3: Flask, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_answer(TAGS[0], Gate(PARALLEL))
    fake_ollama.token_delay = 0.002
    summary = _batch(app3)
    assert summary.result == "ok", summary.to_json()
    assert fake_ollama.max_in_flight == PARALLEL  # they overlapped, and never more
    assert fake_ollama.max_models_at_once == 1  # never two models at once
    assert fake_ollama.loads == len(TAGS) == summary.model_loads
    assert sorted(fake_ollama.load_history) == sorted(TAGS)
    order = fake_ollama.chat_models_in_order()
    runs = [tag for i, tag in enumerate(order) if i == 0 or order[i - 1] != tag]
    assert runs == fake_ollama.load_history  # each model's requests contiguous
    stored = answers(app3)
    pairs = [(r.prompt_id, r.model_id) for r in stored]
    assert len(pairs) == len(set(pairs)) == len(TAGS) * PROMPTS  # each once
    assert all(r.text == WORDS for r in stored)  # whole
    concurrency = [int((r.options or {}).get("concurrency", 1)) for r in stored]
    assert max(concurrency) == PARALLEL and min(concurrency) >= 1
    assert fake_ollama.loaded_model is None  # unloaded once its slate was over
    assert summary.backend_share <= 1.0  # time with requests under way, not their sum


def test_a_failing_request_loses_none_of_the_others(app3: Flask, fake_ollama: FakeOllama) -> None:
    fake_ollama.fail_next(400, "invalid options", model=TAGS[1])  # not retried
    summary = _batch(app3)
    assert summary.result == "some_failed"
    assert summary.stored[TAGS[1]] == PROMPTS - 1
    assert summary.total_stored == len(TAGS) * PROMPTS - 1
    assert [note.kind for note in summary.failures] == ["http"]
    assert fake_ollama.loads == len(TAGS)
    with app3.app_context():
        assert len(db.session.scalars(select(GenerationFailure)).all()) == 1


def test_failures_in_a_row_skip_the_model_after_the_requests_under_way(
    app3: Flask, fake_ollama: FakeOllama
) -> None:
    fake_ollama.fail_next(400, "invalid options", times=PROMPTS, model=TAGS[0])
    summary = _batch(app3)
    assert summary.stored[TAGS[0]] == 0
    assert summary.stored[TAGS[1]] == summary.stored[TAGS[2]] == PROMPTS
    reasons = [note.reason for note in summary.failures if note.prompt_id is None]
    assert len(reasons) == 1 and "failed answers in a row" in reasons[0], reasons
    # Three in a row stop new requests; those under way end: at most PARALLEL - 1 more.
    tried = sum(1 for note in summary.failures if note.prompt_id is not None)
    assert 3 <= tried <= 3 + PARALLEL - 1
    assert summary.attempted + summary.unanswered - tried == len(TAGS) * PROMPTS
    assert fake_ollama.max_models_at_once == 1


def test_a_server_that_is_down_is_given_up_without_hanging(
    app3: Flask, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_down()
    summary = _batch(app3)
    assert summary.total_stored == 0
    assert summary.given_up  # the breaker opened: the other models were not tried
    assert summary.result == "nothing_stored"
    assert summary.unanswered == len(TAGS) * PROMPTS


def test_a_stop_ends_the_run_after_the_requests_under_way(
    app3: Flask, fake_ollama: FakeOllama
) -> None:
    fake_ollama.token_delay = 0.002
    stored: list[int] = []
    lock = threading.Lock()

    def count(*_: object) -> None:
        with lock:
            stored.append(1)

    with app3.app_context():
        control = RunControl(stop_requested=lambda: len(stored) >= 2)
        # progress events come from the runner's thread, one per completed answer
        result = run_batch(
            BatchRequest(n_prompts=PROMPTS, trigger="cli"),
            control=control,
            progress=count,
        )
    summary = result.summary
    assert summary is not None and summary.stop_kind == "signal"
    kept = answers(app3)
    assert 2 <= len(kept) <= 2 + PARALLEL  # no new request after the stop
    assert all(r.text == WORDS for r in kept)
    assert fake_ollama.loaded_model is None  # released
    # The next run finishes the rest, with no answer twice.
    summary = _batch(app3)
    pairs = [(r.prompt_id, r.model_id) for r in answers(app3)]
    assert len(pairs) == len(set(pairs)) == len(TAGS) * PROMPTS


@pytest.mark.parametrize("known", [True, False])
def test_visitors_are_served_only_with_no_request_under_way(
    app3: Flask, fake_ollama: FakeOllama, known: bool
) -> None:
    fake_ollama.token_delay = 0.002
    with app3.app_context():
        meter = MeteredBackend(get_backend("ollama"))
        seen: list[int] = []
        checks = itertools.count(1)  # visitors "wait" at every third check
        control = RunControl(
            between_answers=lambda: seen.append(meter.under_way),
            visitors_waiting=(lambda: next(checks) % 3 == 0) if known else None,
        )
        result = run_batch(
            BatchRequest(n_prompts=PROMPTS, trigger="cli"), backend=meter, control=control
        )
    assert result.summary is not None and result.summary.result == "ok"
    assert set(seen) == {0}  # never with a request under way
    assert len(seen) > len(TAGS)  # not only at each slate's start
    # Not knowing whether visitors wait, the slate runs in waves: once before each wave.
    if not known:
        assert len(seen) == len(TAGS) * -(-PROMPTS // PARALLEL)
    assert fake_ollama.max_in_flight == PARALLEL
    with app3.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Response)) == 18


@pytest.mark.slow
def test_kill_9_mid_slate_never_stores_an_answer_twice(
    app3: Flask, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    """kill -9 of ``scripts/pregenerate.py`` while requests of a slate are under way, then a
    rerun: no (prompt, model) has two usable answers, none is partial, the work completes."""
    fake_ollama.set_answer(None, full_answer)
    fake_ollama.token_delay = 0.004
    backends = [{"name": "ollama", "kind": "ollama", "url": fake_ollama.url, "parallel": 3}]
    env = subprocess_env(
        Path(app3.instance_path),
        fake_ollama.url,
        POOL_TARGET=PROMPTS,
        BACKENDS=json.dumps(backends),
    )
    kills = 0
    for _ in range(3):
        process = spawn(["scripts/pregenerate.py"], env)
        # killed once requests are under way (or when the run is over: then no kill)
        kills += kill_when(
            process,
            lambda p=process: wait_for(
                lambda: fake_ollama.max_in_flight >= 2 or p.poll() is not None
            ),
        )
        fake_ollama.reset()  # max_in_flight counts the next run's
    assert kills >= 1, "every run finished before its kill"
    final = spawn(["scripts/pregenerate.py"], env)
    try:
        out, err = final.communicate(timeout=60)
    finally:
        if final.poll() is None:
            final.kill()
            final.wait()
    assert final.returncode == 0, (out, err)
    stored = answers(app3)
    pairs = [(r.prompt_id, r.model_id) for r in stored]
    assert len(pairs) == len(set(pairs)) == len(TAGS) * PROMPTS
    for response in stored:
        expected = full_answer(
            {"model": response.model.tag, "messages": [{"content": response.prompt.text}]}
        )
        assert response.text == expected, "partial answer stored"
    assert fake_ollama.max_in_flight == 3  # the last run ran its slates in parallel too
