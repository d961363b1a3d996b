"""Size-aware Elo and online Elo against hand-computed updates."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest

from arena.ratings import VoteLog, online_elo, size_aware_elo, size_aware_k


def one_vote(a: str, b: str, outcome: str, models: list[str]) -> VoteLog:
    return VoteLog.from_records([(a, b, outcome, 0.0)], models)


def expected(r_self: float, r_other: float) -> float:
    return 1.0 / (1.0 + 10.0 ** ((r_other - r_self) / 400.0))


def test_small_model_beating_big_one() -> None:
    # Initial ratings: 1000 + 100 * size -> small (1B) 1100, big (8B) 1800. max_size = 8.
    res = size_aware_elo(one_vote("small", "big", "a", ["small", "big"]), {"small": 1, "big": 8})
    # E_small = 1 / (1 + 10 ** ((1800 - 1100) / 400)) = 1 / (1 + 10 ** 1.75) ~= 0.017472
    e = 1.0 / (1.0 + 10.0**1.75)
    # K = min(64, 32 * (1 + (8 - 1) / 8)) = 32 * 1.875 = 60
    k = 60.0
    # small += 60 * (1 - 0.017472) ~= +58.95; big += 60 * (0 - (1 - 0.017472)) = same, negative
    small, big = res.ratings
    assert math.isclose(small, 1100 + k * (1 - e), rel_tol=1e-12)
    assert math.isclose(big, 1800 - k * (1 - e), rel_tol=1e-12)
    assert math.isclose(small, 1158.9516, abs_tol=1e-4)
    assert res.as_dict() == {"small": small, "big": big}


def test_big_model_beating_small_one_seated_as_b() -> None:
    # big wins from seat B. K = min(64, 32 * (1 + (1 - 8) / 8)) = 32 * 0.125 = 4.
    res = size_aware_elo(one_vote("small", "big", "b", ["small", "big"]), {"small": 1, "big": 8})
    e_big = 1.0 / (1.0 + 10.0 ** ((1100 - 1800) / 400))  # ~= 0.982528
    small, big = res.ratings
    # big += 4 * (1 - 0.982528) ~= +0.0699; small loses the same.
    assert math.isclose(big, 1800 + 4 * (1 - e_big), rel_tol=1e-12)
    assert math.isclose(small, 1100 - 4 * (1 - e_big), rel_tol=1e-12)


def test_k_is_capped_at_64() -> None:
    # max_size = 4 (largest enabled model), 8B model disabled but still in the log:
    # K = min(64, 32 * (1 + (8 - 1) / 4)) = min(64, 88) = 64.
    assert size_aware_k(1, 8, 4) == 64.0
    log = one_vote("small", "big", "a", ["small", "big"])
    res = size_aware_elo(log, {"small": 1, "big": 8}, max_size=4)
    e = expected(1100, 1800)
    assert math.isclose(res.ratings[0], 1100 + 64 * (1 - e), rel_tol=1e-12)
    # Equal sizes: K = 32; floor at 0 when a model bigger than max_size beats a tiny one.
    assert size_aware_k(3, 3, 8) == 32.0
    assert size_aware_k(20, 0.5, 8) == 0.0
    with pytest.raises(ValueError, match="max_size"):
        size_aware_elo(log, {}, max_size=0)


def test_unknown_size_defaults_to_one_billion() -> None:
    # "u" has size None, "m" is missing from sizes: both start at 1000 + 100 * 1.0 = 1100.
    # max_size defaults to the largest size, 3 (for "k"); nobody has voted yet.
    log = VoteLog.from_records([], ["u", "m", "k"])
    res = size_aware_elo(log, {"u": None, "k": 3})
    np.testing.assert_array_equal(res.ratings, [1100.0, 1100.0, 1300.0])
    # u (1.0) beats k (3.0): K = 32 * (1 + (3 - 1) / 3) = 53.333...
    res = size_aware_elo(one_vote("u", "k", "a", ["u", "m", "k"]), {"u": None, "k": 3})
    k = 32 * (1 + 2 / 3)
    assert math.isclose(res.ratings[0], 1100 + k * (1 - expected(1100, 1300)), rel_tol=1e-12)


def test_tie_and_both_bad_use_k32_and_half_score() -> None:
    sizes = {"p": 1.0, "q": 3.0}  # 1100 vs 1300
    # E_p = 1 / (1 + 10 ** (200 / 400)) = 1 / (1 + sqrt(10)) ~= 0.240253
    e_p = 1.0 / (1.0 + math.sqrt(10))
    # p += 32 * (0.5 - 0.240253) ~= +8.3119; q += 32 * (0.5 - 0.759747), the same negative.
    for outcome in ("tie", "both_bad"):
        p, q = size_aware_elo(one_vote("p", "q", outcome, ["p", "q"]), sizes).ratings
        assert math.isclose(p, 1100 + 32 * (0.5 - e_p), rel_tol=1e-12)
        assert math.isclose(q, 1300 - 32 * (0.5 - e_p), rel_tol=1e-12)
        assert math.isclose(p - 1100, 8.3119, abs_tol=1e-4)


def random_log(n: int, m: int, seed: int) -> VoteLog:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    return VoteLog(tuple(f"m{i}" for i in range(m)), a, b, rng.integers(0, 4, n), rng.random(n))


def test_replay_is_deterministic_and_order_sensitive() -> None:
    log = random_log(500, 5, seed=1)
    sizes = {f"m{i}": float(i) for i in range(5)}
    first = size_aware_elo(log, sizes).ratings
    np.testing.assert_array_equal(first, size_aware_elo(log, sizes).ratings)
    # Shuffling the rows without touching timestamps changes nothing (replay is by time) ...
    perm = np.random.default_rng(2).permutation(len(log))
    np.testing.assert_array_equal(first, size_aware_elo(log.select(perm), sizes).ratings)
    # ... but reversing the timestamps replays the same votes in the opposite order.
    reversed_log = VoteLog(log.models, log.a, log.b, log.outcome, -log.ts)
    assert not np.allclose(first, size_aware_elo(reversed_log, sizes).ratings)
    assert not np.allclose(online_elo(log).ratings, online_elo(reversed_log).ratings)
    # Zero-sum updates: the total rating is conserved.
    assert math.isclose(first.sum(), sum(1000 + 100 * s for s in sizes.values()))


def test_online_elo_hand_computed() -> None:
    votes = [
        ("A", "B", "a", 1.0),  # E = 0.5: A = 1000 + 4 * 0.5 = 1002, B = 998
        ("B", "A", "a", 2.0),  # B wins from seat A: E_B = 1 / (1 + 10 ** (4 / 400)) ~= 0.494244
        ("A", "B", "both_bad", 3.0),  # half a point each, K = 4
    ]
    log = VoteLog.from_records(votes)
    a1, b1 = online_elo(log.select(np.array([0]))).ratings
    assert (a1, b1) == (1002.0, 998.0)
    e_b = 1.0 / (1.0 + 10.0**0.01)
    b2, a2 = 998 + 4 * (1 - e_b), 1002 - 4 * (1 - e_b)  # B ~= 1000.023025, A ~= 999.976975
    assert math.isclose(b2, 1000.023025, abs_tol=1e-6)
    a3 = a2 + 4 * (0.5 - expected(a2, b2))
    b3 = b2 + 4 * (0.5 - expected(b2, a2))
    np.testing.assert_allclose(online_elo(log).ratings, [a3, b3], rtol=1e-12)
    # Every model starts at 1000 regardless of size.
    assert online_elo(VoteLog.from_records([], ["z"])).ratings.tolist() == [1000.0]


def chatbot_arena_online_elo(log: VoteLog, k: float = 4) -> dict[str, float]:
    """Literal port of Chatbot Arena's compute_online_elo (ties and both bad = 0.5)."""
    rating: defaultdict[str, float] = defaultdict(lambda: 1000.0)
    order = np.argsort(log.ts, kind="stable")
    for i in order:
        ma, mb, winner = log.models[log.a[i]], log.models[log.b[i]], int(log.outcome[i])
        ra, rb = rating[ma], rating[mb]
        ea = 1 / (1 + 10 ** ((rb - ra) / 400))
        eb = 1 / (1 + 10 ** ((ra - rb) / 400))
        sa = {0: 1.0, 1: 0.0}.get(winner, 0.5)
        rating[ma] += k * (sa - ea)
        rating[mb] += k * (1 - sa - eb)
    return {m: rating[m] for m in log.models}


def test_online_elo_matches_reference_implementation() -> None:
    log = random_log(2000, 6, seed=3)
    ours = online_elo(log).as_dict()
    ref = chatbot_arena_online_elo(log)
    for model in log.models:
        assert math.isclose(ours[model], ref[model], abs_tol=1e-8)


def test_history_samples_ratings_at_time_points() -> None:
    votes = [("A", "B", "a", 10.0), ("A", "B", "a", 20.0), ("B", "A", "tie", 30.0)]
    log = VoteLog.from_records(votes, ["A", "B", "C"])
    sizes = {"A": 2.0, "B": 2.0}
    full = size_aware_elo(log, sizes, history_times=[5.0, 15.0, 30.0])
    hist = full.history
    assert hist is not None
    np.testing.assert_array_equal(hist.times, [5.0, 15.0, 30.0])
    # Before any vote: initial ratings (C is unknown size: 1100).
    np.testing.assert_array_equal(hist.ratings[0], [1200.0, 1200.0, 1100.0])
    after_first = size_aware_elo(log.select(np.array([0])), sizes).ratings
    np.testing.assert_array_equal(hist.ratings[1], after_first)
    np.testing.assert_array_equal(hist.ratings[2], full.ratings)
    assert hist.series("A")[1] == (15.0, after_first[0])
    # Default: evenly spaced points from first to last vote, the last one = final ratings.
    default = size_aware_elo(log, sizes, history_points=5).history
    assert default is not None and default.times.tolist() == [10.0, 15.0, 20.0, 25.0, 30.0]
    np.testing.assert_array_equal(default.ratings[-1], full.ratings)
    assert size_aware_elo(log, sizes, history_points=0).history is None
    assert online_elo(log).history is None
