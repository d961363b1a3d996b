"""Matchmaking: fewest votes first (the models' vote counters), weighted second, recent
opponents avoided, no repeats."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from sqlalchemy import select, update

from arena import leaderboard
from arena.extensions import db
from arena.models import Model, Prompt, Response, Vote, prompt_hash
from arena.play.matchmaking import choose_matchup, choose_model_pair, vote_counts
from arena.play.pairing import board_table
from arena.ratings.matchmaking import MatchState, pair_weights
from tests.support.app import make_app
from tests.support.battles import battle_id_of
from tests.support.blind import Witness, slate_pool


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


def test_vote_counts_are_the_models_counters_not_a_count_of_the_log(app: Flask) -> None:
    models, prompts = populate(app, 3, 2)
    m0, m1, m2 = models
    add_votes(app, [(m0, m1)] * 3, prompts[0])  # m2 has no vote: it would go first
    with app.app_context():
        # Votes counted elsewhere (an import from another arena, say): the counters say
        # m2 has the most, and matchmaking believes them without reading the log.
        db.session.execute(update(Model).where(Model.id == m2).values(vote_count=100))
        db.session.commit()
    with app.test_request_context():
        assert vote_counts() == {m0: 3, m1: 3, m2: 100}
        for seed in range(10):
            matchup = choose_matchup(f"voter{seed}", rng=random.Random(seed))
            assert model_of(matchup.first_response_id) in (m0, m1)


def add_outcomes(app: Flask, results: list[tuple[int, int, int, int]], prompt_id: int) -> None:
    """(model a, model b, a's wins, b's wins) as decisive votes of one voter each."""
    with app.app_context():
        for a, b, wins_a, wins_b in results:
            for k, outcome in enumerate(["a"] * wins_a + ["b"] * wins_b):
                db.session.add(
                    Vote(
                        prompt_id=prompt_id,
                        model_a_id=a,
                        model_b_id=b,
                        outcome=outcome,
                        voter=f"past{a}-{b}-{k}",
                    )
                )
        db.session.commit()


def pair_shares(app: Flask, models: list[int], draws: int) -> dict[frozenset[int], float]:
    """How often each pair of models is served to ``draws`` new voters."""
    seen: Counter[frozenset[int]] = Counter()
    with app.test_request_context():
        for seed in range(draws):
            matchup = choose_matchup(f"new{seed}", rng=random.Random(seed))
            pair = frozenset(
                (model_of(matchup.first_response_id), model_of(matchup.second_response_id))
            )
            assert len(pair) == 2 and pair <= set(models)
            seen[pair] += 1
    return {pair: n / draws for pair, n in seen.items()}


def test_the_active_rule_serves_pairs_as_the_cached_board_says(app: Flask) -> None:
    models, prompts = populate(app, 4, 3)
    m0, m1, m2, m3 = models
    # m0 ahead, m1 and m2 neck and neck, m3 well behind.
    add_outcomes(
        app,
        [
            (m0, m1, 9, 1),
            (m0, m2, 9, 1),
            (m0, m3, 10, 0),
            (m1, m2, 5, 5),
            (m1, m3, 8, 2),
            (m2, m3, 8, 2),
        ],
        prompts[0],
    )
    app.config.update(MATCHMAKING="active", MATCHMAKING_CACHE_SECONDS=600)
    with app.test_request_context():
        assert board_table().tags == ()  # no board computed yet: every pair alike
        expected = pair_weights("active", MatchState(np.zeros((4, 4))))
        np.testing.assert_allclose(expected, (1 - np.eye(4)) / 12)
    with app.app_context():
        assert leaderboard.refresh_cache() == 1  # the worker's job computes the board
        tags = [db.session.get(Model, m).tag for m in models]
    with app.test_request_context():
        table = board_table()
        wins = table.for_models(tags)
        assert wins[0, 3] == 10 and wins[3, 0] == 0 and wins[1, 2] == wins[2, 1] == 5
        expected = pair_weights("active", MatchState(wins))
    shares = pair_shares(app, models, 600)
    for i, j in itertools.combinations(range(4), 2):
        want = expected[i, j] + expected[j, i]
        assert abs(shares.get(frozenset((models[i], models[j])), 0.0) - want) < 0.06, (i, j)
    # The settled pair (m0 far above m3) is served least, the contests at the top most.
    top = min(shares[frozenset(pair)] for pair in ((m0, m1), (m0, m2), (m1, m2)))
    assert shares[frozenset((m0, m3))] < 0.1 < 0.2 < top
    assert len(shares) == 6  # exploration: every pair is served


def test_the_uniform_rule_serves_every_pair_alike(app: Flask) -> None:
    models, prompts = populate(app, 4, 3)
    add_votes(app, [(models[0], models[1])] * 20, prompts[0])  # counts do not matter
    app.config.update(MATCHMAKING="uniform", MATCHMAKING_CACHE_SECONDS=600)
    shares = pair_shares(app, models, 600)
    assert len(shares) == 6 and all(abs(share - 1 / 6) < 0.05 for share in shares.values())


@pytest.mark.parametrize("rule", ["active", "uniform"])
def test_every_rule_keeps_battles_blind_until_the_pool_is_used_up(
    tmp_path: Path, nothing_listens: str, rule: str
) -> None:
    app = make_app(
        tmp_path / "instance", nothing_listens, RATELIMIT_ENABLED=False, MATCHMAKING=rule
    )
    slate_pool(app, 6, 10)  # 10 prompts x 6 answers: 3 battles each
    client = app.test_client()
    witness, rng = Witness(), random.Random(7)
    with app.app_context():
        leaderboard.refresh_cache()
    while True:
        page = client.get("/").get_data(as_text=True)
        if 'name="battle_id"' not in page:
            break
        battle_id = battle_id_of(page)
        prompt, a, b = witness.check(app, battle_id)
        outcome = rng.choice(("a", "b", "tie"))
        assert (
            client.post("/vote", data={"battle_id": battle_id, "outcome": outcome}).status_code
            == 303
        )
        witness.voted(prompt, a, b)
    assert witness.battles == 30 and len(witness.served) == 60  # every answer exactly once


@pytest.mark.parametrize("rule", ["active", "classic", "uniform"])
def test_every_rule_leaves_models_at_the_battle_cap_out(app: Flask, rule: str) -> None:
    models, prompts = populate(app, 4, 3)
    m0, m1, m2, m3 = models
    add_votes(app, [(m0, m1)] * 6, prompts[0])  # m0 and m1 reach the cap
    app.config.update(MATCHMAKING=rule, BATTLE_CAP=6)
    with app.app_context():
        leaderboard.refresh_cache()
    with app.test_request_context():
        for seed in range(20):
            matchup = choose_matchup(f"new{seed}", rng=random.Random(seed))
            pair = {model_of(matchup.first_response_id), model_of(matchup.second_response_id)}
            assert pair == {m2, m3}
            assert set(choose_model_pair(random.Random(seed)) or ()) == {m2, m3}
    app.config["BATTLE_CAP"] = 5  # every model but two at the cap: the cap is not kept
    add_votes(app, [(m2, m0)] * 5, prompts[1])
    with app.test_request_context():
        assert choose_matchup("late", rng=random.Random(1)) is not None


@pytest.mark.parametrize("rule", ["active", "uniform"])
def test_the_rules_pick_a_visitors_prompt_pair_among_the_models_that_answered_it(
    app: Flask, rule: str
) -> None:
    models, prompts = populate(app, 4, 2)
    app.config["MATCHMAKING"] = rule
    with app.app_context():
        db.session.execute(
            update(Response)
            .where(Response.prompt_id == prompts[1], Response.model_id == models[0])
            .values(status="excluded")
        )
        db.session.commit()
    with app.test_request_context():
        for seed in range(10):
            matchup = choose_matchup("visitor", prompt_id=prompts[1], rng=random.Random(seed))
            assert matchup is not None and matchup.prompt_id == prompts[1]
            pair = {model_of(matchup.first_response_id), model_of(matchup.second_response_id)}
            assert len(pair) == 2 and models[0] not in pair
            first, second = choose_model_pair(random.Random(seed)) or (0, 0)
            assert first != second and {first, second} <= set(models)


def test_the_setting_is_checked_at_start_up(
    tmp_path: Path,
    nothing_listens: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert make_app(tmp_path / "a", nothing_listens).config["MATCHMAKING"] == "classic"
    monkeypatch.setenv("ARENA_MATCHMAKING", "uniform")
    assert make_app(tmp_path / "env", nothing_listens).config["MATCHMAKING"] == "uniform"
    monkeypatch.delenv("ARENA_MATCHMAKING")
    assert (
        make_app(tmp_path / "b", nothing_listens, MATCHMAKING="Active").config["MATCHMAKING"]
        == "active"
    )
    with pytest.raises(SystemExit) as stopped:
        make_app(tmp_path / "c", nothing_listens, MATCHMAKING="greedy")
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "arena: MATCHMAKING in the tests' config is 'greedy': "
        "expected one of 'active', 'classic', 'uniform'"
    )
