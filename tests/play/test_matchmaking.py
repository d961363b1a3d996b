"""Matchmaking: fewest votes first, weighted second, recent opponents avoided, no repeats."""

from __future__ import annotations

import random
from collections import Counter

from flask import Flask
from sqlalchemy import select

from arena.extensions import db
from arena.models import Model, Prompt, Response, Vote, prompt_hash
from arena.play.matchmaking import choose_matchup, choose_model_pair


def populate(app: Flask, n_models: int, n_prompts: int) -> tuple[list[int], list[int]]:
    """Models m0..m{n-1}, each answering every prompt (one full slate)."""
    with app.app_context():
        models = [
            Model(tag=f"m{i}:1b", display_name=f"m{i}", params_b=1.0) for i in range(n_models)
        ]
        prompts = [
            Prompt(text=f"question {i}", text_hash=prompt_hash(f"question {i}"), category="fun")
            for i in range(n_prompts)
        ]
        db.session.add_all(models + prompts)
        db.session.flush()
        for model in models:
            for prompt in prompts:
                db.session.add(Response(prompt_id=prompt.id, model_id=model.id, text="answer"))
        db.session.commit()
        return [m.id for m in models], [p.id for p in prompts]


def add_votes(app: Flask, pairs: list[tuple[int, int]], prompt_id: int, voter: str = "x") -> None:
    with app.app_context():
        for a, b in pairs:
            db.session.add(
                Vote(prompt_id=prompt_id, model_a_id=a, model_b_id=b, outcome="tie", voter=voter)
            )
        db.session.commit()


def model_of(response_id: int) -> int:
    return db.session.get(Response, response_id).model_id


def test_first_model_has_the_fewest_votes(app: Flask) -> None:
    models, prompts = populate(app, 4, 3)
    m0, m1, m2, m3 = models
    add_votes(app, [(m0, m1), (m0, m2), (m1, m2), (m0, m3), (m1, m3)], prompts[0])
    # votes: m0 3, m1 3, m2 2, m3 2 -> the first model is m2 or m3
    with app.test_request_context():
        for seed in range(20):
            matchup = choose_matchup("someone", rng=random.Random(seed))
            first = model_of(matchup.first_response_id)
            second = model_of(matchup.second_response_id)
            assert first in (m2, m3)
            assert first != second


def test_second_model_is_weighted_by_inverse_votes(app: Flask) -> None:
    models, prompts = populate(app, 4, 2)
    m0, m1, m2, m3 = models
    with app.app_context():
        filler = Model(tag="filler:1b", display_name="filler", enabled=False)
        db.session.add(filler)
        db.session.commit()
        filler_id = filler.id
    # Votes against a disabled model: m0 0, m1 9, m2 3, m3 1. m0 always goes first; the
    # weights 1/(v+1) of the others are 0.1, 0.25, 0.5, so their shares are 2/17, 5/17, 10/17.
    add_votes(app, [(m1, filler_id)] * 9 + [(m2, filler_id)] * 3 + [(m3, filler_id)], prompts[1])
    seconds: Counter[int] = Counter()
    with app.test_request_context():
        for seed in range(600):
            matchup = choose_matchup(f"voter{seed}", rng=random.Random(seed))
            assert model_of(matchup.first_response_id) == m0
            seconds[model_of(matchup.second_response_id)] += 1
    assert seconds[m3] > seconds[m2] > seconds[m1] > 0
    assert abs(seconds[m3] / 600 - 10 / 17) < 0.08
    assert abs(seconds[m1] / 600 - 2 / 17) < 0.06


def test_recent_opponents_are_avoided_when_possible(app: Flask) -> None:
    models, prompts = populate(app, 8, 2)
    first, *others = models
    recent = others[:5]
    # `first` has 5 votes, against `recent`; the others have more, so `first` goes first.
    add_votes(app, [(first, r) for r in recent], prompts[1], voter="v1")
    add_votes(app, [(a, b) for a in others for b in others if a < b], prompts[1], voter="v2")
    with app.test_request_context():
        for seed in range(30):
            matchup = choose_matchup("fresh voter", rng=random.Random(seed))
            assert model_of(matchup.first_response_id) == first
            assert model_of(matchup.second_response_id) not in recent


def test_only_unjudged_pairs_with_answers_to_the_same_prompt(app: Flask) -> None:
    models, prompts = populate(app, 2, 2)
    m0, m1 = models
    with app.app_context():
        lone = Model(tag="lone:1b", display_name="lone")
        other_prompt = Prompt(text="only lone", text_hash=prompt_hash("only lone"))
        db.session.add_all([lone, other_prompt])
        db.session.flush()
        db.session.add(Response(prompt_id=other_prompt.id, model_id=lone.id, text="x"))
        db.session.commit()
    add_votes(app, [(m0, m1)], prompts[0], voter="judge")
    with app.test_request_context():
        matchup = choose_matchup("judge", rng=random.Random(1))
        assert matchup.prompt_id == prompts[1]
        assert {model_of(matchup.first_response_id), model_of(matchup.second_response_id)} == {
            m0,
            m1,
        }
    add_votes(app, [(m1, m0)], prompts[1], voter="judge")  # the other order counts too
    with app.test_request_context():
        assert choose_matchup("judge", rng=random.Random(1)) is None
        assert choose_matchup("newcomer", rng=random.Random(1)) is not None


def test_excluded_answers_and_disabled_models_never_battle(app: Flask) -> None:
    models, _ = populate(app, 3, 1)
    _, m1, m2 = models
    with app.app_context():
        db.session.get(Model, m2).enabled = False
        for response in db.session.scalars(select(Response).where(Response.model_id == m1)):
            response.status = "excluded"
        db.session.commit()
    with app.test_request_context():
        assert choose_matchup("anyone", rng=random.Random(3)) is None


def test_choose_model_pair_never_pairs_a_model_with_itself(app: Flask) -> None:
    models, _ = populate(app, 3, 1)
    with app.test_request_context():
        for seed in range(30):
            first, second = choose_model_pair(random.Random(seed))
            assert first != second
            assert {first, second} <= set(models)
