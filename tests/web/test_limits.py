"""Rate limits per client on votes, visitors' prompts and exports: a clear 429, never a 500."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskCliRunner

from tests.support.app import make_app
from tests.support.battles import battle_id_of, neutral_pool
from tests.support.fake_ollama import FakeOllama


def test_votes_beyond_the_limit_get_a_clear_429(tmp_path: Path, fake_ollama: FakeOllama) -> None:
    app = make_app(tmp_path / "instance", fake_ollama.url, RATELIMIT_VOTES="3 per minute")
    runner: FlaskCliRunner = app.test_cli_runner()
    neutral_pool(runner, fake_ollama, prompts=4)  # one blind battle per prompt for a voter
    client = app.test_client()
    statuses = []
    for _ in range(4):
        battle_id = battle_id_of(client.get("/").get_data(as_text=True))
        response = client.post("/vote", data={"battle_id": battle_id, "outcome": "a"})
        statuses.append(response.status_code)
    assert statuses == [303, 303, 303, 429]
    assert "3 per 1 minute" in response.get_data(as_text=True)
    assert response.headers["Retry-After"]
    # Another client (address) is not affected.
    other = app.test_client()
    battle_id = battle_id_of(other.get("/").get_data(as_text=True))
    voted = other.post(
        "/vote",
        data={"battle_id": battle_id, "outcome": "b"},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert voted.status_code == 303


def test_exports_and_prompts_are_limited(tmp_path: Path, fake_ollama: FakeOllama) -> None:
    app = make_app(
        tmp_path / "instance",
        fake_ollama.url,
        RATELIMIT_EXPORTS="2 per minute",
        RATELIMIT_PROMPTS="1 per hour",
    )
    client = app.test_client()
    codes = [client.get("/api/leaderboard.json").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    first = client.post("/ask", data={"prompt": "What is a quasar?"})
    second = client.post("/ask", data={"prompt": "What is a pulsar?"})
    assert first.status_code in (302, 303)
    assert second.status_code == 429


def test_limits_can_be_turned_off(tmp_path: Path, fake_ollama: FakeOllama) -> None:
    app = make_app(
        tmp_path / "instance",
        fake_ollama.url,
        RATELIMIT_EXPORTS="1 per minute",
        RATELIMIT_ENABLED=False,
    )
    client = app.test_client()
    assert [client.get("/api/leaderboard.json").status_code for _ in range(3)] == [200] * 3
