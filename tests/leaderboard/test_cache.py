"""The leaderboard cache: computed once per filter set and data version, shared, refreshed."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select, update

from arena import leaderboard
from arena.extensions import db
from arena.models import LeaderboardCache, Model, Vote
from tests.support.app import make_app
from tests.support.battles import battle_id_of, neutral_pool
from tests.support.fake_ollama import FakeOllama
from tests.support.leaderboard_data import add_models, add_votes, computations

MODELS = {"alpha:1b": 1.0, "beta:3b": 3.0, "gamma:7b": 7.0}


def test_a_page_view_reuses_the_cache_until_a_vote_arrives(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    neutral_pool(runner, fake_ollama)
    battle_id = battle_id_of(client.get("/").get_data(as_text=True))
    client.post("/vote", data={"battle_id": battle_id, "outcome": "a"})

    assert client.get("/leaderboard").status_code == 200
    assert computations(app) == {"{}": 1}
    with app.app_context():
        first = db.session.scalar(select(LeaderboardCache.computed_at))
    for path in ("/leaderboard", "/charts", "/api/leaderboard.json", "/api/leaderboard.csv"):
        assert client.get(path).status_code == 200
    assert computations(app) == {"{}": 1}
    with app.app_context():
        assert db.session.scalar(select(LeaderboardCache.computed_at)) == first

    battle_id = battle_id_of(client.get("/").get_data(as_text=True))
    client.post("/vote", data={"battle_id": battle_id, "outcome": "tie"})
    assert client.get("/api/leaderboard.json").get_json()["votes"] == 2
    assert computations(app) == {"{}": 2}


def test_each_filter_set_has_its_own_entry(app: Flask, client: FlaskClient) -> None:
    add_models(app, MODELS)
    add_votes(app, [("alpha:1b", "beta:3b", "a"), ("beta:3b", "gamma:7b", "tie")])
    for _ in range(2):
        client.get("/leaderboard")
        client.get("/leaderboard?size=le2&sort=elo")
        client.get("/api/leaderboard.csv?exclude_ties=1&sort=score")
    assert computations(app) == {"{}": 1, '{"size": "le2"}': 1, '{"exclude_ties": "1"}': 1}


def test_flagging_a_vote_or_resizing_a_model_invalidates(app: Flask, client: FlaskClient) -> None:
    add_models(app, MODELS)
    (vote_id,) = add_votes(app, [("alpha:1b", "beta:3b", "a")])
    client.get("/leaderboard")
    with app.app_context():
        db.session.execute(update(Vote).where(Vote.id == vote_id).values(excluded=True))
        db.session.commit()
    assert client.get("/api/leaderboard.json").get_json()["votes"] == 0
    assert computations(app) == {"{}": 2}
    with app.app_context():
        db.session.execute(update(Model).where(Model.tag == "gamma:7b").values(params_b=8.0))
        db.session.commit()
    client.get("/leaderboard")
    assert computations(app) == {"{}": 3}


def test_refresh_cache_recomputes_what_changed_so_views_do_not(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    add_models(app, MODELS)
    add_votes(app, [("alpha:1b", "beta:3b", "a")])
    with app.app_context():
        assert leaderboard.refresh_cache() == 1  # the default board, never computed yet
        assert leaderboard.refresh_cache() == 0
    client.get("/leaderboard?size=2-4")
    add_votes(app, [("beta:3b", "gamma:7b", "b")])
    result = runner.invoke(args=["leaderboard", "refresh"])
    assert result.exit_code == 0, result.output
    assert "2 leaderboards recomputed" in result.output
    before = computations(app)
    assert before == {"{}": 2, '{"size": "2-4"}': 2}
    client.get("/leaderboard")
    client.get("/leaderboard?size=2-4")
    assert computations(app) == before


def test_a_stale_board_is_served_within_the_configured_window(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    app = make_app(tmp_path / "instance", fake_ollama.url, LEADERBOARD_MAX_STALE_SECONDS=3600)
    client = app.test_client()
    add_models(app, MODELS)
    add_votes(app, [("alpha:1b", "beta:3b", "a")])
    assert client.get("/api/leaderboard.json").get_json()["votes"] == 1
    add_votes(app, [("alpha:1b", "beta:3b", "b")])
    assert client.get("/api/leaderboard.json").get_json()["votes"] == 1  # stale but young
    with app.app_context():
        assert leaderboard.refresh_cache() == 1  # the worker's job catches up
    assert client.get("/api/leaderboard.json").get_json()["votes"] == 2
    assert computations(app) == {"{}": 2}
    with app.app_context():
        db.engine.dispose()


def test_the_cache_keeps_a_bounded_number_of_entries(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    app = make_app(tmp_path / "instance", fake_ollama.url, LEADERBOARD_CACHE_ENTRIES=2)
    client = app.test_client()
    add_models(app, MODELS)
    add_votes(app, [("alpha:1b", "beta:3b", "a")])
    for day in ("01", "02", "03", "04"):
        assert client.get(f"/leaderboard?from=2026-03-{day}").status_code == 200
    assert set(computations(app)) == {'{"from": "2026-03-03"}', '{"from": "2026-03-04"}'}
    with app.app_context():
        db.engine.dispose()


def test_a_damaged_cache_row_is_recomputed(app: Flask, client: FlaskClient) -> None:
    add_models(app, MODELS)
    add_votes(app, [("alpha:1b", "beta:3b", "a")])
    client.get("/leaderboard")
    with app.app_context():
        db.session.execute(update(LeaderboardCache).values(payload="{not json"))
        db.session.commit()
    assert client.get("/api/leaderboard.json").get_json()["votes"] == 1
    assert computations(app) == {"{}": 2}
