"""CSRF protection on every form: a post without this session's token is refused, clearly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.app import make_app
from tests.support.battles import NEUTRAL_ANSWER
from tests.support.fake_ollama import FakeOllama


@pytest.fixture
def protected(tmp_path: Path, fake_ollama: FakeOllama) -> Flask:
    """An app with CSRF checks on, as in production, and a small pool."""
    app = make_app(tmp_path / "instance", fake_ollama.url, WTF_CSRF_ENABLED=True)
    for model in fake_ollama.models:
        fake_ollama.set_answer(model.tag, NEUTRAL_ANSWER)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    assert runner.invoke(args=["pregenerate", "--prompts", "2"]).exit_code == 0
    return app


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert match, f"no hidden {name} field"
    return match.group(1)


def test_vote_needs_the_sessions_token(protected: Flask) -> None:
    client: FlaskClient = protected.test_client()
    html = client.get("/").get_data(as_text=True)
    battle_id, token = hidden(html, "battle_id"), hidden(html, "csrf_token")

    missing = client.post("/vote", data={"battle_id": battle_id, "outcome": "a"})
    assert missing.status_code == 400
    assert "Reload the page and try again" in missing.get_data(as_text=True)

    stranger = protected.test_client()
    foreign = hidden(stranger.get("/").get_data(as_text=True), "csrf_token")
    wrong = client.post(
        "/vote", data={"battle_id": battle_id, "outcome": "a", "csrf_token": foreign}
    )
    assert wrong.status_code == 400

    ok = client.post("/vote", data={"battle_id": battle_id, "outcome": "a", "csrf_token": token})
    assert ok.status_code == 303


def test_visitor_prompt_form_needs_the_token(protected: Flask) -> None:
    client = protected.test_client()
    html = client.get("/ask").get_data(as_text=True)
    token = hidden(html, "csrf_token")
    assert client.post("/ask", data={"prompt": "Why is the sky blue?"}).status_code == 400
    accepted = client.post("/ask", data={"prompt": "Why is the sky blue?", "csrf_token": token})
    assert accepted.status_code in (302, 303)
