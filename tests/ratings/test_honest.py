"""Honest intervals: groups, open-ended bounds, no interval narrower than the data allow."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from arena.ratings import (
    ELO_PER_NAT,
    VoteLog,
    bradley_terry,
    compute_leaderboard,
    confidence_rank,
    fit_bt,
    win_matrix,
)
from arena.ratings.structure import structure

# The likelihood-ratio bound of one sweep: log s(d) = -1.92 (chi-square 1 d.f., 95%).
LR_DROP = 1.959963984540054**2 / 2


def sweep_bound_elo(games: int) -> float:
    """Smallest Elo gap a model that won all ``games`` against one opponent may have."""
    p = math.exp(-LR_DROP / games)
    return 400 * math.log10(p / (1 - p))


def records(pairs: list[tuple[str, str, str, int]]) -> list[tuple[str, str, str, float]]:
    """``(a, b, outcome, times)`` -> that many vote records, alternating seats for wins."""
    out = []
    for a, b, outcome, times in pairs:
        for k in range(times):
            if outcome == "a" and k % 2:
                out.append((b, a, "b", 0.0))
            else:
                out.append((a, b, outcome, 0.0))
    return out


CORE = [("B", "C", "a", 12), ("B", "C", "b", 8), ("C", "D", "a", 11), ("D", "C", "a", 9)]
CORE += [("B", "D", "a", 10), ("D", "B", "a", 10)]


def test_ordinary_data_is_exactly_the_plain_fit_and_count_bootstrap() -> None:
    # An independent re-implementation of the plain method: fit, multinomial redraws of the
    # pair table, percentiles. On ordinary data the honest rules change nothing, bit for bit.
    rng = np.random.default_rng(4)
    m, n = 6, 4000
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    strength = np.linspace(-120, 120, m)
    outcome = np.where(rng.random(n) < 1 / (1 + 10 ** ((strength[b] - strength[a]) / 400)), 0, 1)
    outcome[rng.random(n) < 0.1] = 2
    log = VoteLog(tuple("abcdef"), a, b, outcome, np.zeros(n))
    res = bradley_terry(log, bootstrap_rounds=100, seed=9)
    counts = log.pair_counts()
    theta = fit_bt(win_matrix(counts))
    elo = ELO_PER_NAT * theta
    np.testing.assert_array_equal(res.rating, 1000.0 + elo - elo.mean())
    cells = counts.reshape(-1)
    nz = np.flatnonzero(cells)
    draws = np.random.default_rng(9).multinomial(n, cells[nz] / n, size=100)
    table = np.zeros((100, cells.size))
    table[:, nz] = draws
    boot = ELO_PER_NAT * fit_bt(win_matrix(table.reshape(100, 4, m, m)), init=theta)
    boot = 1000.0 + boot - boot.mean(axis=1, keepdims=True)
    lower, upper = np.percentile(boot, [2.5, 97.5], axis=0)
    np.testing.assert_array_equal(res.lower, lower)
    np.testing.assert_array_equal(res.upper, upper)
    assert not res.lower_open.any() and not res.upper_open.any() and res.core.all()
    assert res.group.tolist() == [0] * m and res.n_groups == 1


def test_disconnected_groups_are_normalised_and_ranked_apart() -> None:
    pairs = [("A", "B", "a", 30), ("B", "A", "a", 5), ("C", "D", "a", 30), ("D", "C", "a", 5)]
    votes = records(pairs)
    res = bradley_terry(VoteLog.from_records(votes), bootstrap_rounds=200)
    assert res.group.tolist() == [0, 0, 1, 1] and res.n_groups == 2
    for members in ([0, 1], [2, 3]):
        assert math.isclose(res.rating[members].mean(), 1000.0)  # each group's own mean
    # A is clearly above B, C above D. Ranked across groups, B and D would be third (A's and
    # C's lower bounds lie above both their upper bounds); within their groups they are second.
    assert confidence_rank(res.lower, res.upper).tolist() == [1, 3, 1, 3]
    assert res.rank.tolist() == [1, 2, 1, 2]

    lb = compute_leaderboard(VoteLog.from_records(votes), {}, bootstrap_rounds=200)
    assert lb.groups == (("A", "B"), ("C", "D"))
    assert [r.group for r in lb.rows] == [0, 0, 1, 1]
    assert [r.model for r in lb.by_rank()] == ["A", "B", "C", "D"]
    assert any("2 groups" in note for note in lb.notes)


def test_unbeaten_model_has_an_open_upper_bound_not_moved_by_the_ridge() -> None:
    votes = records([("A", "B", "a", 40), *CORE])  # A beat B 40 times, never met C or D
    log = VoteLog.from_records(votes)
    results = [bradley_terry(log, ridge=r, bootstrap_rounds=200) for r in (1e-4, 1e-3, 1e-2)]
    for res in results:
        assert res.upper_open.tolist() == [True, False, False, False]
        assert not res.lower_open.any()
        assert res.core.tolist() == [False, True, True, True]
        assert np.isfinite(res.upper).all() and res.upper[0] == res.rating[0]
        assert res.upper_bound()[0] == np.inf and res.lower_bound()[0] == res.lower[0]
        assert res.rank[0] == 1
        # The finite bound is the likelihood-ratio bound of a 40-0 sweep over B's lower bound.
        assert math.isclose(res.lower[0] - res.lower[1], sweep_bound_elo(40), abs_tol=1e-6)
        # The point: the median-unbiased estimate, where a 40-0 sweep has probability 1/2.
        p = 0.5 ** (1 / 40)
        assert math.isclose(res.rating[0] - res.rating[1], 400 * math.log10(p / (1 - p)))
    # The old fit put A at ~2150 with ridge 1e-3 and moved it by hundreds with the ridge;
    # now the ridge moves nothing but the core's tiny shrinkage.
    spread = np.ptp([[r.rating[0], r.lower[0]] for r in results], axis=0)
    assert (spread < 2.0).all()
    row = compute_leaderboard(log, {}).row("A")
    assert row.bt_upper_open and not row.bt_lower_open and row.bt_upper == row.bt
    json.dumps(dataclasses.asdict(row), allow_nan=False)


def test_never_winning_model_has_an_open_lower_bound() -> None:
    res = bradley_terry(VoteLog.from_records(records([("B", "E", "a", 15), *CORE])))
    e = res.models.index("E")
    assert res.lower_open[e] and not res.upper_open[e]
    assert math.isclose(res.upper[res.models.index("B")] - res.upper[e], sweep_bound_elo(15))


def test_a_single_vote_gives_no_zero_width_interval_and_no_significant_rank() -> None:
    res = bradley_terry(VoteLog.from_records([("A", "B", "a", 0.0)]), bootstrap_rounds=100)
    # Old: A 1507 [1507, 1507], B 493 [493, 493], ranks 1 and 2.
    np.testing.assert_allclose(res.rating, 1000.0)  # a 1-0 sweep is a coin flip's median
    assert res.upper_open.tolist() == [True, False] and res.lower_open.tolist() == [False, True]
    assert math.isclose(res.rating[0] - res.lower[0], -sweep_bound_elo(1))  # ~306 Elo
    assert math.isclose(res.upper[1] - res.rating[1], -sweep_bound_elo(1))
    assert res.rank.tolist() == [1, 1]
    assert res.core.tolist() == [False, False]  # no cycle: nothing is a plain estimate


def test_a_strict_order_places_every_model_and_opens_the_ends() -> None:
    res = bradley_terry(VoteLog.from_records(records([("A", "B", "a", 5), ("B", "C", "a", 5)])))
    assert res.rating[0] > res.rating[1] > res.rating[2]
    assert math.isclose(res.rating.mean(), 1000.0)
    assert res.upper_open.tolist() == [True, True, False]
    assert res.lower_open.tolist() == [False, True, True]


def test_too_few_votes_to_rule_out_a_sweep_open_the_bound() -> None:
    # 1-1: a quarter of the bootstrap rounds are sweeps either way, so no side is bounded.
    res = bradley_terry(VoteLog.from_records([("A", "B", "a", 0), ("A", "B", "b", 0)]))
    assert res.lower_open.all() and res.upper_open.all() and res.rank.tolist() == [1, 1]
    assert res.core.all()


def test_a_bootstrap_that_sees_no_variability_is_widened_to_the_cramer_rao_floor() -> None:
    # Three ties: every bootstrap round is the same table, old interval [1000, 1000].
    res = bradley_terry(VoteLog.from_records([("A", "B", "tie", 0)] * 3))
    # Var(theta_A - mean) at p = 1/2: (4 / 3) / 4 nats^2 -> half-width 1.96 * sqrt(1/3).
    half = 1.959963984540054 * math.sqrt(1 / 3) * ELO_PER_NAT
    np.testing.assert_allclose(res.lower, 1000.0 - half)
    np.testing.assert_allclose(res.upper, 1000.0 + half)
    assert not res.lower_open.any() and not res.upper_open.any()


def test_anchor_with_only_draws_is_ignored_under_exclude_ties() -> None:
    votes = records([("X", "B", "tie", 4), ("B", "C", "a", 6), ("C", "B", "a", 4)])
    log = VoteLog.from_records(votes)
    lb = compute_leaderboard(log, {}, anchor="X", exclude_ties=True)  # used to raise
    assert lb.anchor is None and lb.bradley_terry.anchor is None
    assert lb.row("X").bt is None
    assert any("anchor X" in note for note in lb.notes)
    assert math.isclose(np.nanmean(lb.bradley_terry.rating), 1000.0)
    with pytest.raises(ValueError, match="no votes"):  # the strict function still refuses
        bradley_terry(log.exclude_ties(), anchor="X")
    kept = compute_leaderboard(log, {}, anchor="X")  # ties counted: X is the anchor
    assert kept.anchor == "X" and kept.row("X").bt == 1000.0


def test_anchor_outside_the_core_shifts_its_group() -> None:
    log = VoteLog.from_records(records([("A", "B", "a", 40), *CORE]))
    res = bradley_terry(log, anchor="A")
    plain = bradley_terry(log)
    assert res.rating[0] == 1000.0 and res.anchor == "A"
    np.testing.assert_allclose(res.rating - plain.rating, 1000.0 - plain.rating[0])
    np.testing.assert_allclose(res.lower - plain.lower, 1000.0 - plain.rating[0])


def test_provisional_flags() -> None:
    votes = records(
        [("A", "B", "a", 15), ("B", "A", "a", 10), ("A", "C", "a", 3), ("C", "A", "a", 2)]
    )
    log = VoteLog.from_records(votes, ["A", "B", "C", "idle"])
    lb = compute_leaderboard(log, {})
    assert lb.provisional_votes == 20
    assert [r.provisional for r in lb.rows] == [False, False, True, False]  # 30, 25, 5, 0
    assert any("Provisional" in note and "C" in note for note in lb.notes)
    strict = compute_leaderboard(log, {}, provisional_votes=26)
    assert [r.provisional for r in strict.rows] == [False, True, True, False]
    assert not any(r.provisional for r in compute_leaderboard(log, {}, provisional_votes=0).rows)
    with pytest.raises(ValueError, match="provisional_votes"):
        compute_leaderboard(log, {}, provisional_votes=-1)


def test_structure_of_a_win_graph() -> None:
    #  A beats B and B beats A (core), C beat A only (above), D lost to B only (below),
    #  E and F met only each other (second group).
    wins = np.zeros((6, 6))
    wins[0, 1] = wins[1, 0] = 3
    wins[2, 0] = 2
    wins[1, 3] = 1
    wins[4, 5] = wins[5, 4] = 0.5  # a tie links both ways
    st = structure(wins)
    assert st.group.tolist() == [0, 0, 0, 0, 1, 1]
    assert st.core.tolist() == [True, True, False, False, True, True]
    assert st.upper_open.tolist() == [False, False, True, False, False, False]
    assert st.lower_open.tolist() == [False, False, False, True, False, False]
