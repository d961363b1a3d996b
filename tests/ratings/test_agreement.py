"""Agreement statistics: known values, and a simulated judge's known accuracy recovered.

scipy is not in the venv, so the reference values are scipy's documented examples and hand
computations (Wikipedia's kappa example), and the kappa interval is checked against a
bootstrap and by its coverage over many simulated samples.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from arena.ratings.agreement import (
    average_ranks,
    cohen_kappa,
    confusion,
    kappa_from_table,
    kendall_tau_b,
    spearman,
    wilson,
)


def test_wilson_known_values() -> None:
    est = wilson(8, 10)
    assert est.value == pytest.approx(0.8)
    assert est.lower == pytest.approx(0.4902, abs=1e-4)
    assert est.upper == pytest.approx(0.9433, abs=1e-4)
    assert est.n == 10
    edge = wilson(0, 5)
    assert edge.value == 0.0 and edge.lower == 0.0 and edge.upper is not None
    assert 0.4 < edge.upper < 0.5  # 0.4345
    assert wilson(0, 0).value is None
    with pytest.raises(ValueError):
        wilson(3, 2)


def test_kappa_wikipedia_example() -> None:
    # Wikipedia, "Cohen's kappa": 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> 0.4.
    est = kappa_from_table(np.array([[20, 5], [10, 15]]))
    assert est.value == pytest.approx(0.4)
    assert est.lower is not None and est.upper is not None
    assert est.lower < 0.4 < est.upper
    assert est.n == 50


def test_kappa_perfect_and_undefined() -> None:
    codes = np.array([0, 1, 2, 0, 1, 2])
    assert cohen_kappa(codes, codes, 3).value == pytest.approx(1.0)
    same = np.zeros(5, dtype=int)
    assert cohen_kappa(same, same, 3).value is None  # p_e = 1
    assert cohen_kappa(np.array([], dtype=int), np.array([], dtype=int), 3).n == 0
    with pytest.raises(ValueError):
        confusion(np.array([0, 3]), np.array([0, 1]), 3)


def _simulate(
    rng: np.random.Generator, n: int, accuracy: float, human_p: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Human codes drawn from ``human_p``; the judge copies each with ``accuracy``, else picks
    one of the other categories uniformly."""
    k = len(human_p)
    human = rng.choice(k, size=n, p=human_p)
    agree = rng.random(n) < accuracy
    other = (human + rng.integers(1, k, size=n)) % k
    return human, np.where(agree, human, other)


def _analytic_kappa(accuracy: float, human_p: np.ndarray) -> float:
    k = len(human_p)
    judge_p = accuracy * human_p + (1 - accuracy) * (1 - human_p) / (k - 1)
    p_e = float(human_p @ judge_p)
    return (accuracy - p_e) / (1 - p_e)


def test_simulated_judge_accuracy_recovered() -> None:
    """A judge that agrees with decisive human votes 80% of the time over 400 battles: the
    share's Wilson interval holds 0.8 (and is narrow enough to mean something)."""
    rng = np.random.default_rng(11)
    human = rng.integers(0, 2, size=400)
    judge = np.where(rng.random(400) < 0.8, human, 1 - human)
    est = wilson(int((human == judge).sum()), 400)
    assert est.lower is not None and est.upper is not None
    assert est.lower <= 0.8 <= est.upper
    assert est.upper - est.lower < 0.1


def test_kappa_matches_its_analytic_value() -> None:
    """Three categories (a, b, tie) with ties rarer: kappa near its analytic value, inside
    its interval."""
    human_p = np.array([0.4, 0.4, 0.2])
    expected = _analytic_kappa(0.8, human_p)
    assert expected == pytest.approx(0.448 / 0.648)  # judge marginals (.38, .38, .24)
    human, judge = _simulate(np.random.default_rng(5), 600, 0.8, human_p)
    est = cohen_kappa(human, judge, 3)
    assert est.lower is not None and est.upper is not None and est.value is not None
    assert est.lower <= expected <= est.upper
    assert abs(est.value - expected) < 0.08


def test_kappa_interval_coverage_and_bootstrap() -> None:
    """Over 300 simulated samples the 95% interval holds the true kappa 90-99% of the time,
    and its width matches a bootstrap's."""
    human_p = np.array([0.45, 0.35, 0.2])
    expected = _analytic_kappa(0.7, human_p)
    rng = np.random.default_rng(2026)
    covered = 0
    for _ in range(300):
        human, judge = _simulate(rng, 300, 0.7, human_p)
        est = cohen_kappa(human, judge, 3)
        assert est.lower is not None and est.upper is not None
        covered += est.lower <= expected <= est.upper
    assert 0.90 <= covered / 300 <= 0.99
    human, judge = _simulate(rng, 300, 0.7, human_p)
    est = cohen_kappa(human, judge, 3)
    assert est.lower is not None and est.upper is not None
    boot = []
    for _ in range(1000):
        pick = rng.integers(0, 300, size=300)
        value = cohen_kappa(human[pick], judge[pick], 3).value
        assert value is not None
        boot.append(value)
    se_formula = (est.upper - est.lower) / (2 * 1.96)
    assert se_formula == pytest.approx(float(np.std(boot)), rel=0.15)


def test_spearman_and_kendall_documented_examples() -> None:
    # scipy.stats.spearmanr's and kendalltau's documentation examples.
    rho = spearman(np.array([1, 2, 3, 4, 5]), np.array([5, 6, 7, 8, 7]))
    assert rho.value == pytest.approx(0.8207826816681233)
    assert rho.lower is not None and rho.upper is not None and rho.value is not None
    assert rho.lower < rho.value < rho.upper
    tau = kendall_tau_b(np.array([12, 2, 1, 12, 2]), np.array([1, 4, 7, 1, 0]))
    assert tau == pytest.approx(-0.47140452079103173)


def test_rank_correlation_of_constructed_boards() -> None:
    human = np.array([1200.0, 1100.0, 1050.0, 1000.0, 900.0, 850.0])
    same_order = human * 0.5 + 30  # another scale, the same order
    assert spearman(human, same_order).value == pytest.approx(1.0)
    assert kendall_tau_b(human, same_order) == pytest.approx(1.0)
    reversed_board = -human
    assert spearman(human, reversed_board).value == pytest.approx(-1.0)
    assert kendall_tau_b(human, reversed_board) == pytest.approx(-1.0)
    # One adjacent swap among 6: rho = 1 - 6 * 2 / (6 * 35); tau = 1 - 2 * 1 / 15.
    swapped = np.array([1100.0, 1200.0, 1050.0, 1000.0, 900.0, 850.0])
    assert spearman(human, swapped).value == pytest.approx(1 - 12 / 210)
    assert kendall_tau_b(human, swapped) == pytest.approx(1 - 2 / 15)
    assert spearman(human[:1], swapped[:1]).value is None
    assert spearman(np.ones(4), human[:4]).value is None
    assert kendall_tau_b(np.ones(4), human[:4]) is None


def test_average_ranks_share_ties() -> None:
    assert average_ranks(np.array([10, 20, 20, 5])).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert math.isclose(float(average_ranks(np.array([3.0, 3.0, 3.0])).sum()), 6.0)
