"""Helpers for the judging tests: a pool of stored answers and a judge on the fake Ollama."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from arena.extensions import db
from arena.models import Judgement
from tests.support.fake_ollama import FakeOllama
from tests.support.fakes.judge import FakeJudge

JUDGE = "judge-x:1b"
PREFERRED = "gemma3:4b"
#: The fake's three contestants.
CONTESTANTS = ("llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0", "gemma3:4b")


def judging_pool(
    runner: FlaskCliRunner,
    fake: FakeOllama,
    *,
    prompts: int = 3,
    judge: FakeJudge | None = None,
    tag: str = JUDGE,
) -> FakeJudge:
    """Contestants synced, ``prompts`` prompts answered by each, and ``tag`` registered as a
    judge only (not a contestant) whose answers come from ``judge``."""
    result = runner.invoke(args=["models", "sync"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["pregenerate", "--prompts", str(prompts)])
    assert result.exit_code == 0, result.output
    fake.add_model(tag, "1B")
    judge = judge or FakeJudge(PREFERRED, p=1.0)
    fake.set_answer(tag, judge)
    result = runner.invoke(args=["judges", "add", tag, "--backend", "ollama"])
    assert result.exit_code == 0, result.output
    assert "a judge only" in result.output
    return judge


def judgements(app: Flask) -> list[Judgement]:
    with app.app_context():
        db.session.expire_all()
        rows = list(db.session.scalars(select(Judgement).order_by(Judgement.id)))
        for row in rows:
            _ = row.judge.model.tag
        db.session.expunge_all()
        return rows
