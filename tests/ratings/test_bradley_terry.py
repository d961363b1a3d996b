"""Bradley-Terry: closed forms, normalisation, ranks, recovery, coverage and robustness."""

from __future__ import annotations

import math

import numpy as np
import pytest

from arena.ratings import (
    VoteLog,
    bootstrap_bt_rows,
    bradley_terry,
    confidence_rank,
    fit_bt,
)


def two_model_log(a_wins: int, b_wins: int, ties: int = 0, both_bad: int = 0) -> VoteLog:
    votes = (
        [("A", "B", "a", 0.0)] * (a_wins // 2)
        + [("B", "A", "b", 0.0)] * (a_wins - a_wins // 2)  # A also wins from seat B
        + [("A", "B", "b", 0.0)] * b_wins
        + [("A", "B", "tie", 0.0)] * ties
        + [("B", "A", "both_bad", 0.0)] * both_bad
    )
    return VoteLog.from_records(votes)


def test_two_models_closed_form() -> None:
    # 30 wins, 10 losses: p = 30/40 = 1 / (1 + 10 ** (-d / 400)) -> d = 400 log10(30/10)
    d = 400 * math.log10(3)  # ~= 190.849
    exact = bradley_terry(two_model_log(30, 10), ridge=0.0, bootstrap_rounds=0)
    a, b = exact.rating
    assert math.isclose(a - b, d, abs_tol=1e-8)
    # Mean normalisation: (a + b) / 2 = 1000 -> a = 1000 + d/2 ~= 1095.42, b ~= 904.58
    assert math.isclose(a, 1000 + d / 2, abs_tol=1e-8)
    assert math.isclose(b, 1000 - d / 2, abs_tol=1e-8)
    # The default tiny ridge moves this by well under 0.1 Elo.
    default = bradley_terry(two_model_log(30, 10), bootstrap_rounds=0).rating
    assert abs((default[0] - default[1]) - d) < 0.05


def test_ties_and_both_bad_count_half_a_win_each_way() -> None:
    # 30 wins + 10 losses + 10 ties + 4 both bad: A has 30 + 7 = 37 "wins", B has 10 + 7 = 17.
    res = bradley_terry(two_model_log(30, 10, ties=10, both_bad=4), ridge=0.0, bootstrap_rounds=0)
    assert math.isclose(res.rating[0] - res.rating[1], 400 * math.log10(37 / 17), abs_tol=1e-8)


def test_anchor_pins_a_model_at_1000() -> None:
    log = two_model_log(30, 10)
    res = bradley_terry(log, anchor="B", ridge=0.0, bootstrap_rounds=50)
    assert res.rating[1] == 1000.0
    assert math.isclose(res.rating[0], 1000 + 400 * math.log10(3), abs_tol=1e-8)
    # Anchored in every bootstrap round, so the anchor's own interval is a point.
    assert res.lower[1] == res.upper[1] == 1000.0
    assert res.lower[0] < res.rating[0] < res.upper[0]
    assert res.anchor == "B"
    with pytest.raises(ValueError, match="not in the vote log"):
        bradley_terry(log, anchor="nope")
    with pytest.raises(ValueError, match="no votes"):
        bradley_terry(VoteLog.from_records([("A", "B", "a", 0)], ["A", "B", "C"]), anchor="C")


def test_confidence_rank_rule() -> None:
    # Intervals: P [1100, 1200], Q [1050, 1150], R [900, 1000], S (no games).
    lower = np.array([1100.0, 1050.0, 900.0, np.nan])
    upper = np.array([1200.0, 1150.0, 1000.0, np.nan])
    # P: nobody's lower bound > 1200 -> 1. Q: P's lower 1100 is not > 1150 -> 1 (overlap).
    # R: P (1100) and Q (1050) are above 1000 -> 3. S: the three rated models -> 4.
    assert confidence_rank(lower, upper).tolist() == [1, 1, 3, 4]
    # Strictly above: touching intervals do not separate.
    assert confidence_rank(np.array([10.0, 5.0]), np.array([12.0, 10.0])).tolist() == [1, 1]


def simulate(m: int, n: int, seed: int, spread: float = 120.0, ties: float = 0.0):
    """Votes from known BT strengths (Elo scale); returns the log and mean-1000 truth."""
    rng = np.random.default_rng(seed)
    true = rng.normal(0.0, spread, m)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p_a = 1.0 / (1.0 + 10.0 ** ((true[b] - true[a]) / 400.0))
    outcome = np.where(rng.random(n) < p_a, 0, 1)
    u = rng.random(n)
    outcome = np.where(u < ties, 2, np.where(u < 1.5 * ties, 3, outcome))
    models = tuple(f"m{i:02d}" for i in range(m))
    log = VoteLog(models, a, b, outcome, np.arange(n, dtype=np.float64))
    return log, true - true.mean() + 1000.0


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def test_recovers_known_strengths() -> None:
    log, truth = simulate(20, 20_000, seed=7, ties=0.1)
    res = bradley_terry(log, bootstrap_rounds=0)
    assert spearman(res.rating, truth) >= 0.95
    assert math.isclose(np.mean(res.rating), 1000.0, abs_tol=1e-9)


def test_intervals_cover_truth_about_95_percent() -> None:
    # Without ties the generating model is exactly BT, so intervals should cover ~95%.
    hits = total = 0
    for sim in range(40):
        log, truth = simulate(8, 1500, seed=100 + sim)
        res = bradley_terry(log, bootstrap_rounds=100, seed=sim)
        hits += int(((res.lower <= truth) & (truth <= res.upper)).sum())
        total += len(truth)
    assert 0.85 <= hits / total <= 1.0


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    log, _ = simulate(6, 3000, seed=1, ties=0.1)
    first, again = bradley_terry(log, seed=5), bradley_terry(log, seed=5)
    np.testing.assert_array_equal(first.lower, again.lower)
    np.testing.assert_array_equal(first.upper, again.upper)
    np.testing.assert_array_equal(first.rank, again.rank)
    other = bradley_terry(log, seed=6)
    assert not np.array_equal(first.lower, other.lower)
    np.testing.assert_array_equal(first.rating, other.rating)  # point estimate has no noise
    assert first.rounds == 200 and first.seed == 5


def test_counts_bootstrap_matches_row_bootstrap() -> None:
    # Multinomial redraws of the pair table = resampling rows: same interval widths.
    log, _ = simulate(6, 5000, seed=2, ties=0.1)
    ours = bradley_terry(log, bootstrap_rounds=400, seed=0)
    naive = bootstrap_bt_rows(log, rounds=400, seed=1)
    np.testing.assert_array_equal(ours.rating, naive.rating)
    np.testing.assert_allclose(ours.upper - ours.lower, naive.upper - naive.lower, rtol=0.25)


def test_models_without_votes() -> None:
    log = VoteLog.from_records([("A", "B", "a", 0), ("B", "A", "tie", 1)], ["A", "idle", "B"])
    res = bradley_terry(log, bootstrap_rounds=20)
    assert res.models == ("A", "idle", "B")
    assert np.isnan(res.rating[1]) and np.isnan(res.lower[1]) and np.isnan(res.upper[1])
    assert np.isfinite(res.rating[[0, 2]]).all()
    assert math.isclose(np.nanmean(res.rating), 1000.0)  # mean over models with games
    assert res.rank[1] == 3  # after both rated models
    empty = bradley_terry(VoteLog.from_records([], ["A", "B"]))
    assert np.isnan(empty.rating).all() and empty.rank.tolist() == [1, 1]


def test_all_wins_model_stays_finite() -> None:
    votes = [("A", "B", "a", 0.0)] * 10 + [("C", "B", "b", 0.0)] * 3 + [("C", "B", "a", 0.0)]
    res = bradley_terry(VoteLog.from_records(votes), bootstrap_rounds=50)
    for arr in (res.rating, res.lower, res.upper):
        assert np.isfinite(arr).all()
    assert res.rating[0] == res.rating.max() and res.rank[0] == 1
    # Disconnected comparison graph (A-B and C-D never meet): still finite.
    split = VoteLog.from_records([("A", "B", "a", 0), ("C", "D", "b", 0), ("D", "C", "tie", 0)])
    assert np.isfinite(bradley_terry(split, bootstrap_rounds=10).upper).all()


def test_fit_bt_batched_equals_single() -> None:
    rng = np.random.default_rng(0)
    wins = rng.integers(1, 20, size=(3, 5, 5)).astype(float)
    batch = fit_bt(wins)
    for k in range(3):
        np.testing.assert_allclose(batch[k], fit_bt(wins[k]), atol=1e-9)
    with pytest.raises(ValueError, match="ridge"):
        fit_bt(wins[0], ridge=-1.0)
