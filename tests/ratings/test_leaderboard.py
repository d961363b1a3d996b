"""compute_leaderboard: one result that agrees with the individual functions."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import numpy as np
import pytest

from arena.ratings import (
    LeaderboardRow,
    VoteLog,
    arena_scores,
    bradley_terry,
    compute_leaderboard,
    head_to_head,
    online_elo,
    size_aware_elo,
)

SIZES = {"big": 7.0, "mid": 3.0, "small": 0.5, "mystery": None}


@pytest.fixture(scope="module")
def log() -> VoteLog:
    rng = np.random.default_rng(11)
    models = ("big", "mid", "small", "mystery", "unused")
    n = 3000
    a = rng.integers(0, 4, n)
    b = (a + rng.integers(1, 4, n)) % 4
    p_a = 1 / (1 + 10 ** ((a - b) * 60 / 400))  # lower index = stronger
    outcome = np.where(rng.random(n) < p_a, 0, 1)
    u = rng.random(n)
    outcome = np.where(u < 0.1, 2, np.where(u < 0.15, 3, outcome))
    return VoteLog(models, a, b, outcome, rng.random(n) * 1e6)


def test_rows_agree_with_individual_functions(log: VoteLog) -> None:
    lb = compute_leaderboard(log, SIZES, bootstrap_rounds=50, seed=3)
    assert lb.models == log.models and [r.model for r in lb.rows] == list(log.models)
    assert lb.votes == len(log) and not lb.exclude_ties
    scores = arena_scores(log)
    elo = size_aware_elo(log, SIZES).ratings
    online = online_elo(log).ratings
    bt = bradley_terry(log, bootstrap_rounds=50, seed=3)
    h2h = head_to_head(log)
    for i, row in enumerate(lb.rows[:4]):
        s = scores[i]
        assert (row.battles, row.wins, row.losses, row.ties, row.both_bad) == (
            s.battles,
            s.wins,
            s.losses,
            s.ties,
            s.both_bad,
        )
        assert (row.win_rate, row.score) == (s.win_rate, s.score)
        assert (row.elo, row.online_elo) == (elo[i], online[i])
        assert (row.bt, row.bt_lower, row.bt_upper) == (bt.rating[i], bt.lower[i], bt.upper[i])
        assert row.rank == bt.rank[i] and row.both_bad_rate == h2h.both_bad_rate[i]
    np.testing.assert_array_equal(lb.head_to_head.battles, h2h.battles)
    np.testing.assert_array_equal(lb.head_to_head.win_rate, h2h.win_rate)
    assert lb.elo_history is not None and lb.elo_history.ratings.shape == (100, 5)
    np.testing.assert_array_equal(lb.elo_history.ratings[-1], elo)


def test_zero_vote_model_row(log: VoteLog) -> None:
    row = compute_leaderboard(log, SIZES, bootstrap_rounds=10).row("unused")
    assert row == LeaderboardRow(
        model="unused",
        battles=0,
        wins=0,
        losses=0,
        ties=0,
        both_bad=0,
        win_rate=0.0,
        score=0.0,
        elo=1100.0,  # unknown size -> 1000 + 100 * 1.0, never updated
        online_elo=1000.0,
        bt=None,
        bt_lower=None,
        bt_upper=None,
        rank=5,
        both_bad_rate=0.0,
    )


def test_rows_export_to_json_and_csv(log: VoteLog) -> None:
    lb = compute_leaderboard(log, SIZES, bootstrap_rounds=10)
    dicts = [dataclasses.asdict(r) for r in lb.by_rank()]
    json.dumps(dicts, allow_nan=False)  # no NaN sneaks into the rows
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(dicts[0]))
    writer.writeheader()
    writer.writerows(dicts)
    assert out.getvalue().count("\n") == 6


def test_orderings(log: VoteLog) -> None:
    lb = compute_leaderboard(log, SIZES, bootstrap_rounds=50)
    assert lb.by_score()[0].model == "big"
    by_rank = lb.by_rank()
    assert by_rank[0].model == "big" and by_rank[-1].model == "unused"
    assert [r.rank for r in by_rank] == sorted(r.rank for r in by_rank)


def test_exclude_ties_applies_everywhere(log: VoteLog) -> None:
    lb = compute_leaderboard(log, SIZES, exclude_ties=True, bootstrap_rounds=10)
    decisive = log.exclude_ties()
    assert lb.exclude_ties and lb.votes == len(decisive)
    assert all(r.ties == 0 and r.both_bad == 0 and r.both_bad_rate == 0.0 for r in lb.rows)
    np.testing.assert_array_equal([r.elo for r in lb.rows], size_aware_elo(decisive, SIZES).ratings)


def test_anchor_max_size_and_determinism(log: VoteLog) -> None:
    first = compute_leaderboard(log, SIZES, anchor="mid", max_size=3.0, seed=1)
    again = compute_leaderboard(log, SIZES, anchor="mid", max_size=3.0, seed=1)
    assert first.rows == again.rows
    assert first.row("mid").bt == 1000.0
    assert first.row("big").elo != compute_leaderboard(log, SIZES, seed=1).row("big").elo


def test_empty_log() -> None:
    lb = compute_leaderboard(VoteLog.from_records([], ["a", "b"]), {})
    assert [r.battles for r in lb.rows] == [0, 0]
    assert [r.elo for r in lb.rows] == [1100.0, 1100.0] and lb.elo_history is None
    assert [r.bt for r in lb.rows] == [None, None] and [r.rank for r in lb.rows] == [1, 1]
