"""Focus battles (the picker's "settle it"): mostly the focus pairs, never only them, still
blind, and every one of them (and its vote) marked targeted."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from flask import Flask
from sqlalchemy import select

from arena.extensions import db
from arena.models import Battle, Model, Prompt, Response, prompt_hash
from arena.play import battles
from arena.play.focus import (
    FOCUS_SHARE,
    FocusError,
    focus_pairs,
    make_token,
    read_token,
)


def populate(app: Flask, n_models: int, n_prompts: int) -> list[int]:
    """Models f0..f{n-1}, each answering every prompt; their ids."""
    with app.app_context():
        models = [Model(tag=f"f{i}:1b", display_name=f"f{i}") for i in range(n_models)]
        prompts = [
            Prompt(text=f"focus question {i}", text_hash=prompt_hash(f"fq {i}"), category="fun")
            for i in range(n_prompts)
        ]
        db.session.add_all(models + prompts)
        db.session.flush()
        for model in models:
            for prompt in prompts:
                db.session.add(
                    Response(prompt_id=prompt.id, model_id=model.id, text=f"answer {prompt.id}")
                )
        db.session.commit()
        return [m.id for m in models]


def pair_of(battle_id: str) -> frozenset[int]:
    battle = db.session.get_one(Battle, battle_id)
    return frozenset((battle.left.model_id, battle.right.model_id))


def test_token_round_trip_and_refusals(app: Flask) -> None:
    with app.test_request_context():
        token = make_token([7, 3, 7, 5])
        assert read_token(token) == (3, 5, 7)
        with pytest.raises(FocusError, match="not valid"):
            read_token(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
        with pytest.raises(FocusError, match="not valid"):
            read_token("garbage")
        with pytest.raises(FocusError, match="expired"):
            read_token(token, max_age=-1)
        with pytest.raises(ValueError):
            make_token([4, 4])
    # Signed with the app's key: another key refuses it.
    other = Flask("other")
    other.secret_key = "another key"
    with other.test_request_context(), pytest.raises(FocusError, match="not valid"):
        read_token(token)


def test_focus_pairs_only_among_available_models() -> None:
    rng = random.Random(1)
    pairs = focus_pairs((1, 2, 3, 9), (1, 2, 3, 4), rng)
    assert len(pairs) == 3
    assert {frozenset(p) for p in pairs} == {frozenset(p) for p in ((1, 2), (1, 3), (2, 3))}
    assert focus_pairs((1, 9), (1, 2, 3), rng) == []


def test_focus_battles_are_mostly_but_not_only_the_focus_pair(app: Flask) -> None:
    m0, m1, *_ = populate(app, 4, 5)
    focus = frozenset((m0, m1))
    kinds: Counter[bool] = Counter()
    with app.test_request_context():
        for seed in range(200):
            view = battles.serve_battle(f"voter-{seed}", focus=(m0, m1), rng=random.Random(seed))
            assert view is not None
            assert db.session.get_one(Battle, view.id).targeted
            kinds[pair_of(view.id) == focus] += 1
    share = kinds[True] / 200
    # FOCUS_SHARE of them by design, plus the usual rule's own draws of that pair (1 in 6).
    assert FOCUS_SHARE - 0.1 < share < FOCUS_SHARE + 0.3 * 2 / 6 + 0.1, kinds
    assert kinds[False] >= 20, "a visitor must not be able to tell a focus battle"


def test_without_focus_battles_are_not_targeted_and_pairs_spread(app: Flask) -> None:
    m0, m1, *_ = populate(app, 4, 5)
    pairs: Counter[frozenset[int]] = Counter()
    with app.test_request_context():
        for seed in range(60):
            view = battles.serve_battle(f"voter-{seed}", rng=random.Random(seed))
            assert view is not None
            assert not db.session.get_one(Battle, view.id).targeted
            pairs[pair_of(view.id)] += 1
    assert pairs[frozenset((m0, m1))] < 30  # the focus share is not the usual rule


def test_the_vote_copies_targeted(app: Flask) -> None:
    m0, m1, *_ = populate(app, 3, 2)
    with app.test_request_context():
        targeted = battles.serve_battle("v1", focus=(m0, m1), rng=random.Random(0))
        plain = battles.serve_battle("v2", rng=random.Random(0))
        assert targeted is not None and plain is not None
        assert battles.record_vote(targeted.id, "v1", "a").targeted is True
        assert battles.record_vote(plain.id, "v2", "b").targeted is False


def test_focus_stays_blind_and_falls_back_when_its_pair_is_spent(app: Flask) -> None:
    """One voter, two prompts: the focus pair's answers are spent first, then the rule's
    pairs still serve, and no answer is ever shown twice."""
    m0, m1, *_ = populate(app, 4, 2)
    with app.test_request_context():
        served = []
        for seed in range(50):
            view = battles.serve_battle("one-voter", focus=(m0, m1), rng=random.Random(seed))
            if view is None:
                break
            served.append(view.id)
            battles.record_vote(view.id, "one-voter", "tie")
        shown = [
            response
            for b in db.session.scalars(select(Battle).where(Battle.voter == "one-voter"))
            for response in (b.left_response_id, b.right_response_id)
        ]
        assert len(shown) == len(set(shown)) == 2 * len(served)
        # Each prompt has four answers: two battles per prompt, whichever pairs they were.
        assert len(served) == 4
        assert any(pair_of(b) != frozenset((m0, m1)) for b in served)
