"""Under active matchmaking the planner spends its answers where the leaderboard is least
certain: higher targets for the pairs whose votes teach most, their models answered first."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from arena import leaderboard
from arena.extensions import db
from arena.models import Model, Vote
from arena.pregen import plan_batch
from arena.pregen.certainty import pair_targets
from arena.pregen.planner import Plan
from tests.support.fake_ollama import FakeOllama

# Four models, best first: the first far ahead, the middle two neck and neck.
TAGS = ("gemma3:4b", "llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0", "smollm2:360m")
RESULTS = [(0, 1, 9, 1), (0, 2, 9, 1), (0, 3, 10, 0), (1, 2, 5, 5), (1, 3, 9, 1), (2, 3, 9, 1)]


def _plan(app: Flask) -> Plan:
    with app.app_context():
        return plan_batch()


def _setup(app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama) -> dict[str, int]:
    fake_ollama.add_model("smollm2:360m", "361.82M", "Q8_0", "llama")
    app.config["POOL_TARGET"] = 2
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    assert runner.invoke(args=["pregenerate"]).exit_code == 0
    with app.app_context():
        ids = {tag: db.session.scalar(select(Model.id).where(Model.tag == tag)) for tag in TAGS}
        prompt = db.session.scalar(select(Vote.prompt_id).limit(1)) or 1
        for a, b, wins_a, wins_b in RESULTS:
            for k, outcome in enumerate(["a"] * wins_a + ["b"] * wins_b):
                db.session.add(
                    Vote(
                        prompt_id=prompt,
                        model_a_id=ids[TAGS[a]],
                        model_b_id=ids[TAGS[b]],
                        outcome=outcome,
                        voter=f"old{a}{b}{k}",
                    )
                )
        db.session.commit()
        leaderboard.refresh_cache()
    return {tag: model_id for tag, model_id in ids.items() if model_id is not None}


def test_the_plan_follows_the_leaderboards_uncertainty_under_active_matchmaking(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    ids = _setup(app, runner, fake_ollama)
    app.config["POOL_TARGET"] = 4
    classic = _plan(app)
    assert set(classic.targets.values()) == {4}  # every pair alike
    app.config["MATCHMAKING"] = "active"
    active = _plan(app)
    middle = tuple(sorted((ids[TAGS[1]], ids[TAGS[2]])))
    lopsided = tuple(sorted((ids[TAGS[0]], ids[TAGS[3]])))
    assert active.targets[middle] == max(active.targets.values()) > 4
    assert active.targets[lopsided] == min(active.targets.values()) >= 2  # never starved
    # The contested models answer first (a run cut short has answered for them), and the
    # plan holds more prompts than the uniform one, for the pair that needs them.
    assert {item.tag for item in active.work[:2]} == {TAGS[1], TAGS[2]}
    assert [item.tag for item in classic.work] != [item.tag for item in active.work]
    assert len(active.prompts) > len(classic.prompts)


def test_pair_targets_stay_within_bounds() -> None:
    pairs = [(1, 2), (1, 3), (2, 3)]
    assert pair_targets(pairs, 10, {}) == dict.fromkeys(pairs, 10)
    shares = {(1, 2): 0.9, (1, 3): 0.1, (2, 3): 0.0}
    assert pair_targets(pairs, 10, shares) == {(1, 2): 27, (1, 3): 5, (2, 3): 5}
    assert pair_targets(pairs, 10, {(1, 2): 2.0})[(1, 2)] == 30
