"""A backend that does not work is given up (the breaker), errors that cannot pass are not
retried, and the run's outcome is its exit status: 0 done, 3 some failed, 4 nothing stored.

Real HTTP to the fake servers; GEN_RETRY_BACKOFF is 0.01 s in the tests' configuration.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from requests import ConnectTimeout
from sqlalchemy import select

from arena.backends import (
    BackendBusy,
    BackendHTTPError,
    BackendTimeout,
    BackendUnreachable,
    MalformedReply,
    ModelNotFound,
    StreamError,
)
from arena.cli.pregen import EXIT_NOTHING_STORED, EXIT_SOME_FAILED
from arena.extensions import db
from arena.models import GenerationFailure, GenerationRun, Model
from arena.ops.worker import Worker
from arena.pregen.breaker import BREAKER_THRESHOLD, Breaker
from arena.pregen.generate import blames_server, failure_kind
from arena.pregen.runner import MAX_CONSECUTIVE_FAILURES
from tests.support.app import make_app
from tests.support.fake_ollama import FakeOllama
from tests.support.pregen import answers, spawn, subprocess_env

TAGS = ("llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0", "gemma3:4b")
OTHER_TAGS = ("smollm2:360m", "granite3:2b")
PROMPTS = 4
GEN_ATTEMPTS = 3  # the first attempt and GEN_RETRIES (2) retries
#: Answers a broken backend costs: the first model's own failures (then it is skipped), and
#: the second model's first, which makes the failures in a row span two models.
GIVE_UP_AFTER = MAX_CONSECUTIVE_FAILURES + 1


def _sync(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["models", "sync"])
    assert result.exit_code == 0, result.output


def _chats(fake: FakeOllama) -> list[str]:
    return fake.chat_models_in_order()


@dataclass(frozen=True)
class Failure:
    tag: str
    kind: str
    reason: str
    attempts: int


def _failures(app: Flask) -> list[Failure]:
    """The recorded failures, oldest first, with their model's tag."""
    with app.app_context():
        rows = db.session.execute(
            select(Model.tag, GenerationFailure.kind, GenerationFailure.reason)
            .add_columns(GenerationFailure.attempts)
            .join(Model, Model.id == GenerationFailure.model_id)
            .order_by(GenerationFailure.id)
        )
        return [Failure(*row) for row in rows]


def _run(app: Flask) -> GenerationRun:
    with app.app_context():
        run = db.session.scalar(select(GenerationRun).order_by(GenerationRun.id.desc()))
        assert run is not None
        return run


def _given_up_alone(app: Flask, output: str, fake: FakeOllama, kind: str) -> None:
    """What a run against one broken backend leaves: nothing stored, no retry, and after the
    first model's own 3 failures (then skipped), the second model's first failure gives up
    the backend: every model recorded with the reason."""
    assert len(_chats(fake)) == GIVE_UP_AFTER  # not 3 models x 4 prompts x 3 attempts
    assert answers(app) == []
    failures = _failures(app)
    assert all(f.attempts == 1 for f in failures)  # not retried
    assert Counter(f.kind for f in failures) == {kind: 4, "skipped": 1, "backend": 2}
    given_up = [f for f in failures if f.kind == "backend"]
    assert all(
        "gave up on backend 'ollama' for this run after 4 failed" in f.reason for f in given_up
    )
    assert "not tried: gave up on backend 'ollama'" in given_up[-1].reason
    assert "outcome: nothing could be stored: 12 of 12 planned answers" in output
    summary = _run(app).summary
    assert summary["result"] == "nothing_stored" and summary["unanswered"] == 12
    assert list(summary["given_up"]) == ["ollama"]


def test_a_server_answering_501_is_given_up_after_the_breakers_threshold(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _sync(runner)
    fake_ollama.fail_next(501, "not implemented", times=1000, path="/api/chat")
    result = runner.invoke(args=["pregenerate", "--prompts", str(PROMPTS)])
    assert result.exit_code == EXIT_NOTHING_STORED, result.output
    _given_up_alone(app, result.output, fake_ollama, "http")
    assert "HTTP 501" in result.output


def test_a_server_answering_garbage_is_given_up_likewise(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _sync(runner)
    fake_ollama.garbage_next(times=1000)  # an HTML page where Ollama's API should be
    result = runner.invoke(args=["pregenerate", "--prompts", str(PROMPTS)])
    assert result.exit_code == EXIT_NOTHING_STORED, result.output
    _given_up_alone(app, result.output, fake_ollama, "malformed")


def test_a_server_that_went_down_is_given_up_across_its_models(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model("phi3:3.8b")
    _sync(runner)
    fake_ollama.set_down()  # every connection closed unanswered: unreachable after retries
    result = runner.invoke(args=["pregenerate", "--prompts", "2"])
    assert result.exit_code == EXIT_NOTHING_STORED, result.output
    # One answer per model (the client's own 2 attempts each), three models, then given up.
    assert len(fake_ollama.requests_to("/api/chat")) == BREAKER_THRESHOLD * 2
    kinds = Counter(f.kind for f in _failures(app))
    assert kinds == {"unreachable": BREAKER_THRESHOLD, "backend": 1}  # the 4th: not tried
    assert "not tried: gave up on backend 'ollama'" in result.output


def test_one_model_failing_alone_is_skipped_but_a_second_trips_the_breaker(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _sync(runner)
    fake_ollama.fail_next(500, "out of memory", times=1000)  # 5xx: retried, then counted
    result = runner.invoke(args=["pregenerate", "--prompts", str(PROMPTS)])
    assert result.exit_code == EXIT_NOTHING_STORED, result.output
    chats = _chats(fake_ollama)
    # The first model: its own 3 failed answers (each tried 3 times), then skipped; the
    # second model's first failed answer spans two models: the backend is given up.
    assert len(chats) == (MAX_CONSECUTIVE_FAILURES + 1) * GEN_ATTEMPTS
    assert len(set(chats)) == 2
    kinds = Counter(f.kind for f in _failures(app))
    assert kinds == {"http": 4, "skipped": 1, "backend": 2}


def test_a_transient_503_burst_is_still_retried_and_succeeds(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _sync(runner)
    # The client retries a 503 once (OLLAMA_RETRIES=1), then the answer is retried: the
    # third request of the first answer gets through.
    fake_ollama.fail_next(503, times=2, headers={"Retry-After": "0"})
    fake_ollama.fail_next(500, "a hiccup", times=1)
    result = runner.invoke(args=["pregenerate", "--prompts", str(PROMPTS)])
    assert result.exit_code == 0, result.output
    assert len(answers(app)) == 3 * PROMPTS
    assert len(_chats(fake_ollama)) == 3 * PROMPTS + 3
    assert _failures(app) == []
    assert "outcome: every planned answer stored" in result.output
    assert _run(app).summary["result"] == "ok"


@pytest.fixture
def other_host() -> Iterator[FakeOllama]:
    with FakeOllama(OTHER_TAGS) as fake:
        yield fake


@pytest.fixture
def two_hosts(tmp_path: Path, fake_ollama: FakeOllama, other_host: FakeOllama) -> Iterator[Flask]:
    hosts = [
        {"name": "ollama", "kind": "ollama", "url": fake_ollama.url},
        {"name": "gpu-box", "kind": "ollama", "url": other_host.url, "retries": 1},
    ]
    app = make_app(tmp_path / "instance", fake_ollama.url, BACKENDS=hosts)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("fault", ["501", "garbage"])
def test_a_broken_backend_beside_a_good_one_fails_alone(
    fault: str, two_hosts: Flask, fake_ollama: FakeOllama, other_host: FakeOllama
) -> None:
    runner = two_hosts.test_cli_runner()
    _sync(runner)
    if fault == "501":
        other_host.fail_next(501, "not implemented", times=1000, path="/api/chat")
    else:
        other_host.garbage_next(times=1000)
    result = runner.invoke(args=["pregenerate", "--prompts", str(PROMPTS)])
    assert result.exit_code == EXIT_SOME_FAILED, result.output
    assert Counter(r.model.tag for r in answers(two_hosts)) == dict.fromkeys(TAGS, PROMPTS)
    assert len(other_host.chat_models_in_order()) == GIVE_UP_AFTER
    failures = _failures(two_hosts)
    assert {f.tag for f in failures} == set(OTHER_TAGS)
    (given_up,) = [f for f in failures if f.kind == "backend"]
    assert "skipped the remaining 3 prompts: gave up on backend 'gpu-box'" in given_up.reason
    assert (
        "backend gpu-box: 0 answers" in result.output and "given up for this run" in result.output
    )
    assert "outcome: some answers failed: 8 of 20 planned answers" in result.output
    assert "12 stored" in result.output
    summary = _run(two_hosts).summary
    assert (summary["result"], list(summary["given_up"])) == ("some_failed", ["gpu-box"])


def test_the_cron_script_exits_with_the_runs_outcome(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _sync(runner)
    env = subprocess_env(Path(app.instance_path), fake_ollama.url, POOL_TARGET=2)
    fake_ollama.fail_next(501, "not implemented", times=1000, path="/api/chat")
    statuses = []
    for _ in range(3):  # broken, then fixed, then with nothing left to do
        process = spawn(["scripts/pregenerate.py"], env)
        out, err = process.communicate(timeout=60)
        statuses.append(process.returncode)
        if len(statuses) == 1:
            assert "outcome: nothing could be stored" in out
            assert f"exit status {EXIT_NOTHING_STORED}" in err
            fake_ollama.clear_faults()
    assert statuses == [EXIT_NOTHING_STORED, 0, 0], (out, err)
    assert "Nothing to do" in out


def test_the_worker_logs_the_runs_outcome(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _sync(runner)
    fake_ollama.garbage_next(times=1000)
    said: list[str] = []
    worker = Worker(app, say=said.append)
    worker._lease_job()  # a lone worker is active (only the active one runs batches)
    worker._batch_job(None, None)
    assert "batch: outcome: nothing could be stored: 60 of 60 planned answers failed or " in (
        "\n".join(said)
    )
    assert len(_chats(fake_ollama)) == GIVE_UP_AFTER


def test_which_errors_are_retried_and_which_blame_the_server() -> None:
    def read_timeout() -> BackendTimeout:
        return BackendTimeout("sent nothing for 600s")

    def connect_timeout() -> BackendTimeout:
        try:
            try:
                raise ConnectTimeout("no SYN-ACK")
            except ConnectTimeout as cause:
                raise BackendTimeout("connecting timed out") from cause
        except BackendTimeout as error:
            return error

    cases = [  # error, (kind, retried, model skipped), blames the server
        (BackendHTTPError(501, "not implemented"), ("http", False, False), True),
        (BackendHTTPError(405, "method not allowed"), ("http", False, False), True),
        (BackendHTTPError(404, "page not found"), ("http", False, False), True),
        (BackendHTTPError(401, "unauthorized"), ("http", False, False), True),
        (BackendHTTPError(400, "prompt too long"), ("http", False, False), False),
        (BackendHTTPError(500, "out of memory"), ("http", True, False), True),
        (BackendHTTPError(502, "bad gateway"), ("http", True, False), True),
        (BackendBusy("HTTP 503 after 4 attempts"), ("busy", True, False), True),
        (MalformedReply("not JSON: '<html>'"), ("malformed", False, False), True),
        (BackendUnreachable("connection refused"), ("unreachable", False, True), True),
        (connect_timeout(), ("unreachable", False, True), True),
        (read_timeout(), ("timeout", True, False), False),
        (StreamError("runner died"), ("stream", True, False), False),
        (ModelNotFound("x:1b"), ("not_found", False, True), False),
    ]
    for error, kind, blames in cases:
        assert (failure_kind(error), blames_server(error)) == (kind, blames), error


def test_the_breakers_rule() -> None:
    one_model = Breaker("b")
    for _ in range(5):  # one model failing alone (out of memory): that model's problem
        assert not one_model.failed("big:70b", True, "HTTP 500: out of memory")
    assert one_model.failed("small:1b", True, "HTTP 500: out of memory")  # a second model
    assert one_model.open and "after 6 failed answers in a row (big:70b, small:1b)" in (
        one_model.reason or ""
    )

    breaker = Breaker("b")
    assert not breaker.failed("a:1b", True, "HTTP 501")
    assert not breaker.failed("b:1b", False, "not found")  # blames the model: not counted
    breaker.succeeded()  # an answer stored: the count starts again
    assert not breaker.failed("b:1b", True, "HTTP 501")
    assert not breaker.failed("b:1b", False, "read timeout")
    assert not breaker.failed("c:1b", True, "HTTP 501")
    assert breaker.failed("c:1b", True, "HTTP 501")
    assert "after 3 failed answers in a row (b:1b, c:1b); the last: HTTP 501" in (
        breaker.reason or ""
    )
    breaker.succeeded()  # once open, it stays open for the run
    assert breaker.open
