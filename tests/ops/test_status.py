"""``/status`` and ``/status.json``: pool per pair, last run and summary, worker, Ollama."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from arena.ops.heartbeat import beat
from tests.support.fake_ollama import FakeOllama


def test_status_reports_the_pool_the_last_run_the_worker_and_ollama(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    app.config["POOL_TARGET"] = 5
    runner.invoke(args=["models", "sync"])
    runner.invoke(args=["pregenerate", "--prompts", "3"])

    data = client.get("/status.json").get_json()
    pool = data["pool"]
    assert (pool["target"], pool["models"], pool["pairs_short"], pool["min_fresh"]) == (5, 3, 3, 3)
    assert {(p["battles"], p["fresh"], p["short"]) for p in pool["pairs"]} == {(3, 3, 2)}
    run = data["last_run"]
    assert (run["status"], run["trigger"], run["stored"], run["planned"]) == (
        "finished",
        "cli",
        9,
        9,
    )
    assert run["summary"]["model_loads"] == 3 and run["summary"]["failures"] == []
    assert data["worker"]["running"] is False
    assert data["ollama"] == {"reachable": True, "problem": None}
    assert data["queue"] == {"waiting": 0}

    html = client.get("/status").get_data(as_text=True)
    assert "<strong>finished</strong>" in html and "9 answers stored" in html
    assert "never started" in html and "reachable" in html
    assert "3 of 3 pairs are below it" in html

    with app.app_context():
        beat("idle")
    assert client.get("/status.json").get_json()["worker"]["running"] is True
    assert '<strong class="ok">running</strong>' in client.get("/status").get_data(as_text=True)
    app.config["WORKER_HEARTBEAT_SECONDS"] = -1  # every heartbeat is now too old
    assert client.get("/status.json").get_json()["worker"]["running"] is False

    fake_ollama.stop()
    app.config["BACKEND_PROBE_CACHE_SECONDS"] = 0  # check again now, not reuse the last check
    data = client.get("/status.json").get_json()
    assert data["ollama"]["reachable"] is False and "cannot reach" in data["ollama"]["problem"]
    assert "unreachable" in client.get("/status").get_data(as_text=True)
