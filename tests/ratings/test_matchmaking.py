"""Pairing rules: each rule's choices, constraints honoured, exploration, the planner."""

from __future__ import annotations

import numpy as np
import pytest

from arena.ratings.matchmaking import (
    DEFAULT_EXPLORATION,
    RULES,
    MatchState,
    active_weights,
    classic_weights,
    draw_pair,
    expected_gain,
    pair_weights,
    paper_weights,
    plan_battles,
    planner_priorities,
    uniform_weights,
)
from arena.ratings.simulation import (
    ELO_PER_NAT,
    ORACLE_REACH,
    checkpoints,
    simulate,
    simulate_run,
    spearman,
)


def bt_wins(truth: np.ndarray, per_pair: int, seed: int) -> np.ndarray:
    """``per_pair`` simulated votes on every pair of true Elo ratings ``truth``."""
    rng = np.random.default_rng(seed)
    m = len(truth)
    p = 1.0 / (1.0 + 10.0 ** ((truth[None, :] - truth[:, None]) / 400.0))
    wins = np.triu(rng.binomial(per_pair, p), 1).astype(float)
    out: np.ndarray = wins + np.triu(per_pair - wins, 1).T * (np.triu(np.ones((m, m)), 1).T > 0)
    return out


def check_probabilities(weights: np.ndarray, usable: np.ndarray) -> None:
    assert np.isclose(weights.sum(), 1.0)
    np.testing.assert_allclose(weights, weights.T)  # seats at random
    assert (weights >= 0).all() and (weights[~usable] == 0).all()


def test_uniform_rule() -> None:
    allowed = np.ones((4, 4), dtype=bool)
    allowed[0, 1] = allowed[1, 0] = False
    state = MatchState(np.zeros((4, 4)), allowed=allowed)
    weights = uniform_weights(state)
    check_probabilities(weights, state.usable())
    assert np.allclose(weights[state.usable()], 1 / 10)  # 5 pairs, two seatings each


def test_classic_rule_fewest_battles_first_and_weighted_opponents() -> None:
    wins = np.zeros((5, 5))
    wins[0, 1] = wins[1, 2] = wins[2, 0] = 3  # models 0-2: 6 battles each
    wins[0, 3] = 2  # model 3: 2 battles; model 4: 0 battles -> first
    state = MatchState(wins)
    weights = classic_weights(state)
    check_probabilities(weights, state.usable())
    row = weights[4] * 2  # P(second | first = 4)
    assert (weights[:4, :4] == 0).all()  # model 4 (no battles) is in every pair
    battles = np.array([8, 6, 6, 2])
    expected = (1 / (battles + 1)) / (1 / (battles + 1)).sum()
    np.testing.assert_allclose(row[:4], expected)
    # No rematch of the recent opponents...
    recent = MatchState(wins, recent=((), (), (), (), (3, 1)))
    row = classic_weights(recent)[4] * 2
    assert row[3] == row[1] == 0 and np.isclose(row[[0, 2]].sum(), 1.0)
    # ... unless nothing else is usable.
    only = np.zeros((5, 5), dtype=bool)
    only[4, 3] = only[3, 4] = True
    forced = classic_weights(MatchState(wins, allowed=only, recent=((), (), (), (), (3,))))
    assert np.isclose(forced[4, 3], 0.5)


def test_classic_rule_splits_ties_for_fewest() -> None:
    weights = classic_weights(MatchState(np.zeros((3, 3))))
    np.testing.assert_allclose(weights, (1 - np.eye(3)) / 6)


def test_active_rule_prefers_informative_uncertain_pairs_and_explores() -> None:
    truth = np.array([0.0, 30.0, 60.0, 600.0])  # model 3 is far above the rest
    state = MatchState(bt_wins(truth, 30, seed=1))
    gain = expected_gain(state)
    np.testing.assert_allclose(gain, gain.T)
    assert gain[0, 1] > gain[0, 3] and gain[1, 2] > gain[2, 3]  # close pairs teach more
    weights = active_weights(state)
    check_probabilities(weights, state.usable())
    floor = DEFAULT_EXPLORATION / state.usable().sum()
    assert (weights[state.usable()] >= floor - 1e-15).all()  # no pair is ever starved
    wide = active_weights(MatchState(state.wins, exploration=1.0))
    np.testing.assert_allclose(wide, uniform_weights(state))
    with pytest.raises(ValueError, match="exploration"):
        active_weights(MatchState(state.wins, exploration=0.0))
    # Without any votes every pair is as good as any other.
    np.testing.assert_allclose(active_weights(MatchState(np.zeros((3, 3)))), (1 - np.eye(3)) / 6)


def test_active_rule_concentrates_on_the_contest_for_first_place() -> None:
    truth = np.array([0.0, 100.0, 200.0, 300.0, 320.0])  # 3 and 4 contest the top
    weights = active_weights(MatchState(bt_wins(truth, 40, seed=2)))
    top_pair = weights[3, 4] + weights[4, 3]
    assert np.isclose(top_pair, weights.max() * 2)
    involving_top = weights[[3, 4]].sum() + weights[:, [3, 4]].sum() - top_pair
    assert involving_top > 0.6


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_rule_honours_the_pool_and_the_battle_cap(rule: str) -> None:
    m = 6
    allowed = np.ones((m, m), dtype=bool)
    allowed[0, 1] = allowed[1, 0] = allowed[2, 5] = allowed[5, 2] = False
    truth = np.linspace(0, 250, m)
    results = simulate(rule, truth[None], max_votes=600, seed=3, allowed=allowed, battle_cap=150)
    battles = results[0].battles
    assert battles[0, 1] == battles[2, 5] == 0
    assert battles.sum(axis=1).max() <= 150
    assert results[0].votes < 600  # stopped once every usable pair touches a capped model
    # Model 1 has 6 battles (the cap), model 0 has 4, model 2 has 2: only 0-2 is left.
    capped = MatchState(np.array([[0.0, 2, 0], [2, 0, 2], [0, 0, 0]]), battle_cap=6)
    weights = pair_weights(rule, capped)
    assert (weights[1] == 0).all() and (weights[:, 1] == 0).all()
    assert np.isclose(weights[0, 2], 0.5) and np.isclose(weights[2, 0], 0.5)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_no_pair_starves(rule: str) -> None:
    truth = np.array([0.0, 40.0, 80.0, 120.0, 160.0, 200.0, 240.0, 900.0])
    run = simulate_run(rule, truth, max_votes=3000, seed=5, check=False)
    pairs = run.battles[np.triu_indices(8, 1)]
    assert run.votes == 3000 and pairs.min() >= 5, pairs.min()


def test_draw_pair_follows_the_weights() -> None:
    rng = np.random.default_rng(0)
    weights = np.array([[0.0, 0.3, 0.0], [0.3, 0.0, 0.2], [0.0, 0.2, 0.0]])
    seen = np.zeros((3, 3))
    for _ in range(20_000):
        pair = draw_pair(weights, rng)
        assert pair is not None
        seen[pair] += 1
    np.testing.assert_allclose(seen / seen.sum(), weights, atol=0.01)
    assert draw_pair(np.zeros((3, 3)), rng) is None


def test_pair_weights_by_name() -> None:
    state = MatchState(np.zeros((3, 3)))
    for name, rule in RULES.items():
        np.testing.assert_array_equal(pair_weights(name, state), rule(state))
    with pytest.raises(ValueError, match="unknown matchmaking rule"):
        pair_weights("greedy", state)


def test_active_focus_moves_from_the_order_to_the_winner() -> None:
    # Early (the order in doubt): balanced coverage first, so the model without battles
    # is in the best pairs, as under the classic rule.
    early = bt_wins(np.array([0.0, 20.0, 40.0, 60.0, 80.0]), 2, seed=4)
    early[4, :] = early[:, 4] = 0
    priorities = planner_priorities(MatchState(early))
    assert priorities[4].sum() > 0.7 and priorities[4].min() == 0.0
    # Then, among close models, the pairs likely to be in the wrong order.
    close = MatchState(bt_wins(np.array([0.0, 20.0, 40.0, 800.0]), 10, seed=4))
    upper = planner_priorities(close)[np.triu_indices(4, 1)]  # (0, 1), (0, 2), ... (2, 3)
    assert upper[0] == upper.max() and upper[-1] == upper.min()
    # Once the order is settled: the contest for first place.
    settled = MatchState(bt_wins(np.array([0.0, 20.0, 400.0, 800.0]), 10, seed=4))
    upper = np.triu(planner_priorities(settled), 1)
    assert upper[2, 3] == upper.max() > 1.5 * upper[0, 1]


def test_paper_rule() -> None:
    wins = np.zeros((4, 4))
    wins[0, 1], wins[1, 0] = 5, 5  # 10 even battles
    wins[0, 2] = 10  # 10 one-sided battles
    allowed = ~np.eye(4, dtype=bool)
    allowed[2, 3] = allowed[3, 2] = False
    state = MatchState(wins, allowed=allowed)
    weights = paper_weights(state)
    check_probabilities(weights, state.usable())
    assert weights[0, 3] > weights[0, 1] > weights[0, 2] > 0  # unplayed, even, one-sided
    assert weights[2, 3] == 0
    assert "paper" not in RULES  # a baseline for the benchmark, not a setting


def test_planner_spends_battles_where_the_board_is_least_certain() -> None:
    truth = np.array([0.0, 20.0, 400.0, 800.0])
    state = MatchState(bt_wins(truth, 10, seed=4))
    priorities = planner_priorities(state)
    assert np.isclose(priorities.sum(), 2.0) and np.isclose(np.triu(priorities, 1).sum(), 1.0)
    plan = plan_battles(state, total=60, minimum=2)
    assert plan.sum() == 120 and (plan == plan.T).all()  # symmetric: each battle twice
    assert plan[np.triu_indices(4, 1)].min() >= 2
    # The order is settled: most battles go to the contest for first place.
    assert plan[2, 3] == np.triu(plan, 1).max() and plan[2, 3] > 60 / 2
    blocked = np.ones((4, 4), dtype=bool)
    blocked[0, 1] = blocked[1, 0] = False
    assert plan_battles(MatchState(state.wins, allowed=blocked), total=10)[0, 1] == 0
    with pytest.raises(ValueError):
        plan_battles(state, total=-1)


def test_simulation_helpers() -> None:
    assert checkpoints(100, step=10, dense=50) == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert checkpoints(2000)[-1] == 2000 and len(checkpoints(20_000)) < 300
    assert spearman(np.array([1.0, 2, 3]), np.array([10.0, 20, 30])) == 1.0
    truth = np.array([0.0, 100.0, 200.0, 300.0])
    run = simulate_run("uniform", truth, max_votes=4000, seed=1)
    assert run.votes_to_spearman is not None and run.votes_to_top is not None
    assert run.votes_to_spearman <= run.votes == run.votes_to_top or run.votes_to_top <= run.votes


def test_oracle_yardstick_only_draws_pairs_near_in_the_true_order() -> None:
    truth = np.array([300.0, 0.0, 200.0, 100.0, 400.0, -100.0])
    run = simulate_run("oracle", truth, max_votes=600, seed=3, stop_when_done=False, check=False)
    rank = np.argsort(np.argsort(truth))
    apart = np.abs(rank[:, None] - rank[None, :])
    assert run.votes == 600
    assert run.battles[apart > ORACLE_REACH].sum() == 0
    assert (run.battles[(apart >= 1) & (apart <= ORACLE_REACH)] > 0).all()


def _true_variance(battles: np.ndarray, truth: np.ndarray) -> float:
    """Total variance of the centred ratings under the true win probabilities."""
    theta = truth / ELO_PER_NAT
    p = 1.0 / (1.0 + np.exp(theta[None, :] - theta[:, None]))
    lap = -battles * p * (1.0 - p)
    np.fill_diagonal(lap, -lap.sum(axis=1))
    centre = np.eye(len(truth)) - 1.0 / len(truth)
    return float(np.trace(centre @ np.linalg.pinv(lap) @ centre))


def test_optimal_yardstick_lowers_the_true_variance_below_every_rule() -> None:
    truth = np.array([0.0, 10.0, 150.0, 300.0, 320.0, 600.0])
    variance = {
        rule: _true_variance(
            simulate_run(
                rule, truth, max_votes=300, seed=5, stop_when_done=False, check=False
            ).battles,
            truth,
        )
        for rule in ("optimal", "classic", "uniform", "oracle")
    }
    assert variance["optimal"] < min(v for rule, v in variance.items() if rule != "optimal")
