"""Style features and style control: a planted length bias that fools the plain fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from arena.ratings import (
    ELO_PER_NAT,
    STYLE_FEATURES,
    VoteLog,
    bradley_terry,
    compute_leaderboard,
    normalized_differences,
    style_controlled_bt,
    style_features,
)

ANSWER = """# Title

Some **bold** text and `**not bold in code**` and __also bold__ but snake__case__word.

## Steps
1. first
2) second
   - nested item
* star item
+ plus item

---
***

```python
# a comment, not a header
- not a list item
x = "**not bold**"
```

~~~
# still code
~~~
####### seven hashes is not a header
#no space is not a header
"""


def test_style_features_count_markdown_outside_code() -> None:
    length, headers, lists, bold = style_features(ANSWER)
    assert (headers, lists, bold) == (2.0, 5.0, 2.0)
    assert length == len(ANSWER)
    assert style_features(ANSWER, tokens=321)[0] == 321.0
    assert style_features("") == (0.0, 0.0, 0.0, 0.0)
    assert style_features("```\n# open fence never closed\n- item")[1:] == (0.0, 0.0, 0.0)
    assert STYLE_FEATURES == ("length", "headers", "lists", "bold")


def test_normalized_differences() -> None:
    fa = np.array([[100.0, 0.0], [40.0, 2.0], [500.0, 0.0]])
    fb = np.array([[100.0, 0.0], [20.0, 0.0], [520.0, 0.0]])
    z, scale = normalized_differences(fa, fb)
    raw = np.array([0.0, 20 / 60, -20 / 1020])
    assert math.isclose(scale[0], math.sqrt((raw**2).mean()))
    np.testing.assert_allclose(z[:, 0], raw / scale[0])
    assert z[:, 1].tolist() == [0.0, 1.0 / scale[1], 0.0] and scale[1] == math.sqrt(1 / 3)
    assert math.isclose(float((z[:, 0] ** 2).mean()), 1.0)
    _, empty_scale = normalized_differences(np.zeros((3, 1)), np.zeros((3, 1)))
    assert empty_scale.tolist() == [1.0]


def test_vote_log_carries_features_through_filters() -> None:
    log = VoteLog.from_records([("A", "B", "a", 2.0), ("B", "A", "tie", 1.0)])
    assert not log.has_features
    with_f = log.with_features(np.array([[10.0, 1], [20, 0]]), np.array([[5.0, 0], [7, 3]]))
    assert with_f.has_features and with_f.features_a is not None
    assert with_f.features_a.dtype == np.float32 and not with_f.features_a.flags.writeable
    ordered = with_f.sorted_by_time()
    assert ordered.features_b is not None and ordered.features_b.tolist() == [[7, 3], [5, 0]]
    decisive = with_f.exclude_ties()
    assert decisive.features_a is not None and decisive.features_a.tolist() == [[10, 1]]
    with pytest.raises(ValueError, match="both"):
        VoteLog(log.models, log.a, log.b, log.outcome, log.ts, np.zeros((2, 1)))
    with pytest.raises(ValueError, match="shape"):
        log.with_features(np.zeros((3, 1)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="non-negative"):
        log.with_features(-np.ones((2, 1)), np.zeros((2, 1)))


def length_biased_log(n: int, seed: int) -> tuple[VoteLog, np.ndarray, float]:
    """Voters prefer longer answers; the weaker models write longer ones.

    Returns the log, the true strengths (Elo, mean 1000) and the true length effect in Elo
    per root-mean-square normalised difference.
    """
    rng = np.random.default_rng(seed)
    m = 8
    true = np.linspace(-150.0, 150.0, m)
    typical = np.exp(np.linspace(np.log(900.0), np.log(150.0), m))  # strong models are terse
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    len_a = rng.lognormal(np.log(typical[a]), 0.3)
    len_b = rng.lognormal(np.log(typical[b]), 0.3)
    raw = (len_a - len_b) / (len_a + len_b)
    bias = 3.0  # nats per unit of the raw normalised difference
    eta = (true[a] - true[b]) / ELO_PER_NAT + bias * raw
    outcome = np.where(rng.random(n) < 1 / (1 + np.exp(-eta)), 0, 1)
    outcome[rng.random(n) < 0.05] = 2  # a few ties, counted half
    other = rng.poisson([1.0, 3.0, 2.0], (n, 3)), rng.poisson([1.0, 3.0, 2.0], (n, 3))
    fa = np.column_stack([len_a, other[0]])
    fb = np.column_stack([len_b, other[1]])
    log = VoteLog(tuple(f"m{i}" for i in range(m)), a, b, outcome, np.arange(n, dtype=float))
    scale = math.sqrt(float((raw**2).mean()))
    return log.with_features(fa, fb), true + 1000.0, bias * scale * ELO_PER_NAT


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def test_style_control_recovers_strengths_that_a_length_bias_hides() -> None:
    log, truth, length_effect = length_biased_log(5000, seed=1)
    plain = bradley_terry(log)
    assert spearman(plain.rating, truth) < 0  # the plain fit is fooled: long answers win
    sc = style_controlled_bt(log, bootstrap_rounds=200, seed=0, method="refit")
    assert sc.method == "refit" and sc.votes == len(log) and sc.features == STYLE_FEATURES
    assert spearman(sc.rating, truth) == 1.0
    assert np.abs(sc.rating - truth).max() < 30.0
    covered = (sc.lower <= truth) & (truth <= sc.upper)
    assert covered.sum() >= 7
    effect, low, high = sc.effects()["length"]
    assert 0.0 < low <= length_effect <= high  # the interval excludes 0 and holds the truth
    assert abs(effect - length_effect) < 0.15 * length_effect
    for name in ("headers", "lists", "bold"):  # no planted effect: small
        assert abs(sc.effects()[name][0]) < 20.0
    assert math.isclose(float(sc.rating.mean()), 1000.0)
    assert sc.rank[np.argmax(truth)] == 1


def test_sandwich_intervals_match_the_refitted_bootstrap() -> None:
    log, _, _ = length_biased_log(6000, seed=2)
    refit = style_controlled_bt(log, bootstrap_rounds=300, seed=1, method="refit")
    sandwich = style_controlled_bt(log, bootstrap_rounds=300, seed=1, method="sandwich")
    assert sandwich.method == "sandwich" and sandwich.rounds == 0
    np.testing.assert_array_equal(refit.rating, sandwich.rating)
    np.testing.assert_allclose(sandwich.upper - sandwich.lower, refit.upper - refit.lower, rtol=0.2)
    np.testing.assert_allclose(
        sandwich.effect_upper - sandwich.effect_lower,
        refit.effect_upper - refit.effect_lower,
        rtol=0.2,
    )
    with pytest.raises(ValueError, match="method"):
        style_controlled_bt(log, method="magic")


def test_auto_refits_small_logs_and_takes_the_sandwich_beyond_the_budget() -> None:
    small, _, _ = length_biased_log(400, seed=4)
    assert style_controlled_bt(small, bootstrap_rounds=200, seed=1).method == "refit"
    large, _, _ = length_biased_log(1000, seed=4)
    assert style_controlled_bt(large, bootstrap_rounds=200, seed=1).method == "sandwich"


def test_leaderboard_style_columns_only_when_asked() -> None:
    log, _, _ = length_biased_log(3000, seed=3)
    plain = compute_leaderboard(log, {}, bootstrap_rounds=50)
    assert plain.style is None and all(r.bt_style is None for r in plain.rows)
    lb = compute_leaderboard(log, {}, bootstrap_rounds=50, style=True)
    assert lb.style is not None
    for i, row in enumerate(lb.rows):
        assert row.bt_style == lb.style.rating[i]
        assert row.bt_style_lower is not None and row.bt_style_upper is not None
        assert row.bt_style_lower <= row.bt_style <= row.bt_style_upper
        assert row.bt_style_rank == lb.style.rank[i]
    assert lb.by_rank()[0].bt == plain.by_rank()[0].bt  # the plain columns are unchanged
    with pytest.raises(ValueError, match="features"):
        compute_leaderboard(VoteLog.from_records([("A", "B", "a", 0)]), {}, style=True)


def test_style_control_leaves_models_outside_the_core_unrated() -> None:
    records = [("A", "B", "a", 0.0)] * 6 + [("B", "A", "a", 0.0)] * 4 + [("C", "A", "a", 0.0)]
    log = VoteLog.from_records(records)
    n = len(log)
    feats = np.column_stack([np.arange(1, n + 1), np.zeros(n), np.zeros(n), np.zeros(n)])
    sc = style_controlled_bt(log.with_features(feats, feats[::-1]), bootstrap_rounds=20)
    assert np.isnan(sc.rating[2]) and sc.group[2] == -1 and sc.votes == n - 1
    assert np.isfinite(sc.rating[:2]).all()
