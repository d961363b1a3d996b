"""``/status`` and ``/status.json``: pool per pair, blind battles left per voter and per
prompt, last run and summary, worker, Ollama."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from arena.extensions import db
from arena.models import Battle
from arena.ops.heartbeat import beat
from tests.support.battles import battle_id_of
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


def test_status_shows_the_blind_battles_left_per_voter_and_per_prompt(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    app.config["POOL_TARGET"] = 3
    runner.invoke(args=["models", "sync"])
    runner.invoke(args=["pregenerate", "--prompts", "3"])  # 3 prompts x 3 models
    pool = client.get("/status.json").get_json()["pool"]
    assert pool["blind"] == {
        "target": 3,
        "per_new_voter": 3,  # one battle per prompt: 3 answers, two per battle
        "least": None,
        "median": None,
        "least_supplied": [],
        "below_target": 0,
        "out": 0,
        "left": 0,
    }
    assert [(p["answers"], p["per_voter"], p["left"]) for p in pool["prompts"]] == [(3, 1, 0)] * 3
    assert "No voter has voted in the last 30 days" in client.get("/status").get_data(as_text=True)

    voter = app.test_client()
    battle_id = battle_id_of(voter.get("/").get_data(as_text=True))
    assert voter.post("/vote", data={"battle_id": battle_id, "outcome": "a"}).status_code == 303
    with app.app_context():
        spent = db.session.get_one(Battle, battle_id).prompt_id
    # The report is kept for STATUS_POOL_CACHE_SECONDS: the vote shows once it is older.
    kept = client.get("/status.json").get_json()["pool"]
    assert (kept["active_voters"], kept["updating"]) == (0, False)
    app.config["STATUS_POOL_CACHE_SECONDS"] = 0
    pool = client.get("/status.json").get_json()["pool"]
    assert pool["active_voters"] == 1
    blind = pool["blind"]
    assert (blind["least"], blind["median"], blind["least_supplied"]) == (2, 2, [2])
    assert (blind["below_target"], blind["out"], blind["left"]) == (1, 0, 2)
    # The emptiest prompt first: the one this voter has used up.
    first = pool["prompts"][0]
    assert (first["id"], first["left"], first["spent"]) == (spent, 0, 1)
    assert sorted(p["left"] for p in pool["prompts"]) == [0, 1, 1]
    html = client.get("/status").get_data(as_text=True)
    assert 'the least supplied has <strong class="bad">2</strong> left and the median 2' in html
    assert "1 is below the target of 3" in html
    assert "Per prompt: blind battles it can still give the active voters (3 prompts" in html

    doctor = runner.invoke(args=["doctor"]).output
    assert "[warn] 1 of 1 active voters have fewer than 3 blind battles left" in doctor
