"""Which pairs a judge takes first: the pairs of models least certain on the leaderboard, in a
weighted round robin that starves no pair; alike without a leaderboard."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from arena import leaderboard
from arena.extensions import db
from arena.judging.planner import Candidate, order_pairs
from arena.models import Model, Vote
from tests.support.fake_ollama import FakeOllama
from tests.support.judging import CONTESTANTS, judgements, judging_pool

GEMMA, LLAMA, QWEN = "gemma3:4b", "llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0"
# gemma far ahead of both; llama and qwen neck and neck: their pair is the least certain.
RESULTS = [(GEMMA, LLAMA, 10, 0), (GEMMA, QWEN, 10, 0), (LLAMA, QWEN, 5, 5)]


def _pairs(n: int, models: tuple[int, int]) -> list[Candidate]:
    return [Candidate(p, *models, 100 * p + models[0], 100 * p + models[1]) for p in range(n)]


def test_without_a_leaderboard_pairs_of_models_take_turns() -> None:
    pairs = _pairs(3, (1, 2)) + _pairs(3, (1, 3)) + _pairs(3, (2, 3))
    ordered = order_pairs(pairs, {}, {})
    firsts = [(p.model_a, p.model_b) for p in ordered[:3]]
    assert sorted(firsts) == [(1, 2), (1, 3), (2, 3)]
    # A pair of models judged before waits for the others to catch up.
    ordered = order_pairs(pairs, {}, {(1, 2): 2})
    assert [(p.model_a, p.model_b) for p in ordered[:4]].count((1, 2)) == 0


def test_weights_put_a_pair_first_without_starving_the_others() -> None:
    pairs = _pairs(6, (1, 2)) + _pairs(6, (1, 3))
    ordered = order_pairs(pairs, {(1, 2): 2.7, (1, 3): 0.3}, {})
    models = [(p.model_a, p.model_b) for p in ordered]
    assert models[:5] == [(1, 2)] * 5
    assert (1, 3) in models[:8]


def test_the_least_certain_pair_of_models_is_judged_first(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    judging_pool(runner, fake_ollama, prompts=4)
    with app.app_context():
        ids = {m.tag: m.id for m in db.session.scalars(select(Model))}
        for a, b, wins_a, wins_b in RESULTS:
            for k, outcome in enumerate(["a"] * wins_a + ["b"] * wins_b):
                vote = Vote(
                    prompt_id=1,
                    model_a_id=ids[a],
                    model_b_id=ids[b],
                    outcome=outcome,
                    voter=f"v{a}{b}{k}",
                )
                db.session.add(vote)
        db.session.commit()
        leaderboard.refresh_cache()
    result = runner.invoke(args=["judge", "--limit", "5"])
    assert result.exit_code == 0, result.output
    middle = tuple(sorted((ids[LLAMA], ids[QWEN])))
    judged = [(r.model_a_id, r.model_b_id) for r in judgements(app)]
    assert judged[:3] == [middle] * 3  # the uncertain pair first,
    assert len(set(judged)) == 3  # the others not starved
    result = runner.invoke(args=["judge"])
    assert result.exit_code == 0 and len(judgements(app)) == 3 * 4
    assert set(CONTESTANTS) == {GEMMA, LLAMA, QWEN}
