"""A backend URL with ``user:password@`` and an API key: neither ever shows, on /status,
/status.json, /admin, in ``doctor``, ``models sync`` and ``pregenerate``, in a run's stored
failures and summary, nor in the log; text stored before redaction is redacted when shown."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from arena.extensions import db
from arena.models import GenerationFailure, GenerationRun, Model
from arena.pregen.generate import FailureNote
from arena.pregen.records import record_failure
from arena.pregen.runner import RunSummary
from tests.support.app import make_app
from tests.support.fake_ollama import FakeOllama

PASSWORD = "secret-pw-4711"
KEY = "sk-live-0123456789abcdef"
TOKEN = "operator token for the tests"


def with_credentials(url: str) -> str:
    return url.replace("://", f"://user:{PASSWORD}@", 1)


def assert_hidden(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text and KEY not in text, text


def pages(app: Flask) -> list[str]:
    client: FlaskClient = app.test_client()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    return [
        client.get("/status").get_data(as_text=True),
        client.get("/status.json").get_data(as_text=True),
        client.get("/admin", headers=bearer).get_data(as_text=True),
    ]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def test_an_unreachable_backend_is_named_without_its_password(
    tmp_path: Path, nothing_listens: str, logs: pytest.LogCaptureFixture
) -> None:
    app = make_app(
        tmp_path / "instance",
        with_credentials(nothing_listens) + "/?api_key=" + KEY,
        ADMIN_TOKEN=TOKEN,
        OLLAMA_API_KEY=KEY,
    )
    status, as_json, admin = pages(app)
    problem = json.loads(as_json)["ollama"]["problem"]
    assert "cannot reach Ollama" in problem and "api_key=***" in problem
    assert "cannot reach Ollama" in admin and "cannot reach Ollama" in status
    runner = app.test_cli_runner()
    doctor = runner.invoke(args=["doctor"])
    assert doctor.exit_code == 1 and "cannot reach" in doctor.output
    sync = runner.invoke(args=["models", "sync"])
    assert sync.exit_code != 0 and "cannot reach" in sync.output
    assert_hidden(status, as_json, admin, doctor.output, sync.output, logs.text)
    with app.app_context():
        db.engine.dispose()


def test_failures_of_a_run_are_stored_and_shown_without_credentials(
    tmp_path: Path, fake_ollama: FakeOllama, logs: pytest.LogCaptureFixture
) -> None:
    url = with_credentials(fake_ollama.url)
    app = make_app(tmp_path / "instance", url, ADMIN_TOKEN=TOKEN, OLLAMA_API_KEY=KEY)
    runner = app.test_cli_runner()
    sync = runner.invoke(args=["models", "sync"])
    assert sync.exit_code == 0, sync.output
    # Every answer fails, and the server's message repeats the URL and the key.
    fake_ollama.fail_next(500, f"proxy at {url} refused key {KEY}", times=1000)
    run = runner.invoke(args=["pregenerate", "--prompts", "1"])
    assert "failed" in run.output
    with app.app_context():
        reasons = db.session.scalars(select(GenerationFailure.reason)).all()
        stored = db.session.scalars(select(GenerationRun)).one()
        summary = json.dumps(stored.summary)
    assert reasons and all("HTTP 500" in reason and "***" in reason for reason in reasons)
    assert "***" in summary
    fake_ollama.set_down()
    down = runner.invoke(args=["models", "sync"])
    assert down.exit_code != 0
    assert_hidden(run.output, down.output, *reasons, summary, *pages(app), logs.text)
    with app.app_context():
        db.engine.dispose()


def test_text_stored_before_redaction_is_redacted_when_shown(
    tmp_path: Path, nothing_listens: str
) -> None:
    app = make_app(tmp_path / "instance", nothing_listens, ADMIN_TOKEN=TOKEN)
    leaked = f"cannot reach Ollama at http://user:{PASSWORD}@10.0.0.9:11434 (key {KEY[:3]}…)"
    summary = RunSummary(planned={"a:1b": 1}, unanswered=1, stop_message=leaked)
    summary.failures.append(FailureNote("a:1b", 1, "unreachable", leaked))
    with app.app_context():
        # A row written as before, straight into the table.
        db.session.add(
            GenerationRun(
                trigger="cli", status="failed", stop_reason=leaked, summary=summary.to_json()
            )
        )
        db.session.add(Model(tag="a:1b", display_name="A 1B", backend="ollama"))
        db.session.commit()
        model_id = db.session.scalars(select(Model.id)).one()
        # A reason stored now is redacted before it is written.
        record_failure(None, model_id, FailureNote("a:1b", None, "unreachable", leaked))
        reason = db.session.scalars(select(GenerationFailure.reason)).one()
    assert "user:***@10.0.0.9" in reason and PASSWORD not in reason
    status, as_json, admin = pages(app)
    assert "user:***@10.0.0.9" in as_json
    assert_hidden(status, as_json, admin)
    with app.app_context():
        db.engine.dispose()
