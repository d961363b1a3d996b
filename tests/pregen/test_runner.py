"""The runner: one load per model, deadlines (--budget, --until), failures isolated and
recorded, the dry run's plan is the real run's, progress and summary."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from arena.extensions import db
from arena.models import GenerationFailure, GenerationRun
from arena.pregen import BatchRequest, RunControl, run_batch
from arena.pregen.clock import LimitError, deadline_from, parse_duration, resolve_until
from tests.support.fake_ollama import FakeOllama
from tests.support.pregen import FakeClock, answers, local

TAGS = ("llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0", "gemma3:4b")
WORDS = " ".join(f"word{i}" for i in range(20))


def _sync(runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["models", "sync"]).exit_code == 0


def _runs(app: Flask) -> list[GenerationRun]:
    with app.app_context():
        db.session.expire_all()
        return list(db.session.scalars(select(GenerationRun).order_by(GenerationRun.id)))


def _no_partial_answers(app: Flask, fake: FakeOllama) -> None:
    for response in answers(app):
        assert response.text == WORDS, f"partial answer stored: {response.text!r}"


def test_each_model_is_loaded_once_and_its_requests_are_contiguous(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    fake_ollama.load_delay = 0.05  # switching models costs, as on a CPU
    _sync(runner)
    result = runner.invoke(args=["pregenerate", "--prompts", "4"])
    assert result.exit_code == 0, result.output
    assert fake_ollama.loads == 3
    assert sorted(fake_ollama.load_history) == sorted(TAGS)
    order = fake_ollama.chat_models_in_order()
    assert [tag for i, tag in enumerate(order) if i == 0 or order[i - 1] != tag] == (
        fake_ollama.load_history
    )
    assert "model loads: 3" in result.output
    assert _runs(app)[-1].summary["model_loads"] == 3


def test_a_budget_stops_the_run_between_answers(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_answer(None, WORDS)
    fake_ollama.token_delay = 0.005  # about 0.1 s per answer; 15 answers take 1.5 s
    _sync(runner)
    result = runner.invoke(args=["pregenerate", "--prompts", "5", "--budget", "0.3s"])
    assert result.exit_code == 0, result.output
    stored = answers(app)
    assert 1 <= len(stored) < 15
    assert "stopped between answers: --budget 0.3s reached" in result.output
    _no_partial_answers(app, fake_ollama)
    run = _runs(app)[-1]
    assert (run.status, run.stored, run.planned) == ("stopped", len(stored), 15)
    # The model left loaded with a long keep_alive was unloaded.
    assert fake_ollama.loaded_model is None
    # The next run resumes: it finishes the same slate, with no duplicate.
    fake_ollama.token_delay = 0
    result = runner.invoke(args=["pregenerate", "--prompts", "5"])
    pairs = [(r.prompt_id, r.model_id) for r in answers(app)]
    assert len(pairs) == len(set(pairs)) == 15


def test_until_a_minute_ahead_stops_between_answers(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_answer(None, WORDS)
    fake_ollama.token_delay = 0.005
    _sync(runner)
    clock = FakeClock(local(5, 59), rate=60)  # one real second is one minute
    with app.app_context():
        result = run_batch(
            BatchRequest(n_prompts=20, until="06:00"), control=RunControl(clock=clock)
        )
    assert result.summary is not None
    assert result.summary.stop_kind == "until"
    assert "--until 06:00 reached" in (result.summary.stop_message or "")
    assert 1 <= result.summary.total_stored < result.plan.total == 60
    _no_partial_answers(app, fake_ollama)


def test_until_a_minute_ago_starts_nothing(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _sync(runner)
    clock = FakeClock(local(6, 1))
    with app.app_context():
        result = run_batch(
            BatchRequest(n_prompts=2, until="06:00"), control=RunControl(clock=clock)
        )
    assert result.summary is not None and result.summary.total_stored == 0
    assert result.summary.stop_kind == "until"
    assert fake_ollama.chat_models_in_order() == []
    assert _runs(app)[-1].status == "stopped"


def test_budget_and_until_parsing() -> None:
    assert parse_duration("4h") == timedelta(hours=4)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("90") == timedelta(seconds=90)
    assert parse_duration("0.5s") == timedelta(seconds=0.5)
    for bad in ("", "4 days", "h", "-1h", "0"):
        with pytest.raises(LimitError):
            parse_duration(bad)
    evening = local(23, 0)
    assert resolve_until("06:00", evening) == local(6, 0) + timedelta(days=1)
    assert resolve_until("06:00", local(5, 0)) == local(6, 0)
    assert resolve_until("06:00", local(6, 30)) == local(6, 0)  # just passed: stop now
    with pytest.raises(LimitError):
        resolve_until("25:00", evening)
    both = deadline_from(local(5, 0), "4h", "06:00")
    assert both is not None and (both.reason, both.at) == ("until", local(6, 0))
    assert deadline_from(local(5, 0)) is None


def test_failures_are_recorded_retried_and_never_stop_other_models(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _sync(runner)
    fake_ollama.remove_model("gemma3:4b")  # pulled away after the sync
    # qwen: one mid-stream error, then fine on the retry; llama: every answer fails.
    fake_ollama.fail_mid_stream(1, "runner crashed", model=TAGS[1])
    fake_ollama.fail_next(500, "out of memory", times=100, model=TAGS[0])
    result = runner.invoke(args=["pregenerate", "--prompts", "4"])
    assert result.exit_code == 3, result.output  # some planned answers failed
    assert {r.model.tag for r in answers(app)} == {TAGS[1]}
    assert len(answers(app)) == 4  # the retry saved qwen's first answer
    with app.app_context():
        failures = db.session.scalars(select(GenerationFailure)).all()
        by_kind = Counter((f.model_id, f.kind) for f in failures)
        kinds = sorted({f.kind for f in failures})
        assert kinds == ["http", "not_found", "skipped"]
        assert all(f.run_id == _runs(app)[-1].id for f in failures)
        assert max(by_kind.values()) == 3  # llama: three failed answers, then skipped
        http = [f for f in failures if f.kind == "http"]
        assert all(f.attempts == 3 and "out of memory" in f.reason for f in http)
    assert "failed gemma3:4b prompt" in result.output and "[not_found]" in result.output
    assert "skipped the remaining 1 prompts after 3 failed answers in a row" in result.output


def test_the_dry_run_plan_is_what_the_real_run_does(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    app.config["POOL_TARGET"] = 3
    _sync(runner)
    runner.invoke(args=["pregenerate", "--prompts", "1", "--models", TAGS[0]])
    fake_ollama.reset()
    dry = runner.invoke(args=["pregenerate", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert fake_ollama.chat_models_in_order() == []  # a dry run generates nothing
    planned = {
        m.group(1): int(m.group(2)) for m in re.finditer(r"^  (\S+:\S+)\s+(\d+)", dry.output, re.M)
    }
    assert planned == {TAGS[0]: 2, TAGS[1]: 3, TAGS[2]: 3}
    assert re.search(rf"^  {re.escape(TAGS[0])}\s+2\s+[\d.]+\s+\S+", dry.output, re.M)  # measured
    with app.app_context():
        dry_plan = run_batch(BatchRequest(dry_run=True)).plan
        real = run_batch(BatchRequest())
    assert real.plan.prompts == dry_plan.prompts
    assert real.summary is not None and dict(real.summary.stored) == planned


def test_progress_shows_count_eta_and_speed_and_the_summary_sums_up(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _sync(runner)
    runner.invoke(args=["pregenerate", "--prompts", "1"])  # measures every model's speed
    result = runner.invoke(args=["pregenerate", "--prompts", "2"])
    lines = [line for line in result.output.splitlines() if line.startswith("[")]
    assert len(lines) == 6
    assert re.match(r"\[#+-*\]\s+1/6\s+17%\s+[\d.]+ tok/s\s+ETA\s+\S+", lines[0])
    assert "6/6" in lines[-1] and "100%" in lines[-1]
    summary = _runs(app)[-1].summary
    assert summary["stored"] == 6 and summary["model_loads"] == 3
    assert 0 < summary["backend_share"] <= 1
    assert "waiting on the backend" in result.output
    assert re.search(r"6 answers stored in \S+ \([\d.]+ s\); model loads: 3", result.output)


def test_a_second_concurrent_run_is_refused(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    from arena.pregen.batch import LOCK_NAME
    from arena.pregen.records import try_instance_lock

    _sync(runner)
    with try_instance_lock(app, LOCK_NAME):
        result = runner.invoke(args=["pregenerate", "--prompts", "1"])
    assert result.exit_code == 1
    assert "another pre-generation run is in progress (pid" in result.output
