"""Arena score and head-to-head matrices against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np

from arena.ratings import ScoreRow, VoteLog, arena_scores, head_to_head, sort_by_score

VOTES = [
    ("X", "Y", "a", 1.0),  # X beats Y
    ("X", "Y", "b", 2.0),  # Y beats X
    ("Y", "X", "tie", 3.0),
    ("X", "Z", "both_bad", 4.0),
    ("Z", "X", "b", 5.0),  # X (shown as B) beats Z
]
MODELS = ["X", "Y", "Z", "W"]  # W never played


def test_arena_score_with_ties_and_both_bad() -> None:
    rows = {r.model: r for r in arena_scores(VoteLog.from_records(VOTES, MODELS))}
    x, y, z, w = rows["X"], rows["Y"], rows["Z"], rows["W"]
    # X: 5 battles, wins 2, losses 1, ties 1, both_bad 1.
    assert (x.battles, x.wins, x.losses, x.ties, x.both_bad) == (5, 2, 1, 1, 1)
    # win_rate = (2 + 0.5 * (1 + 1)) / 5 = 0.6; score = 0.6 * (1 - 1/6) = 0.5
    assert math.isclose(x.win_rate, 0.6) and math.isclose(x.score, 0.5)
    # Y: 3 battles, 1 win, 1 loss, 1 tie: win_rate = 1.5 / 3 = 0.5; score = 0.5 * 3/4 = 0.375
    assert (y.battles, y.wins, y.losses, y.ties, y.both_bad) == (3, 1, 1, 1, 0)
    assert math.isclose(y.win_rate, 0.5) and math.isclose(y.score, 0.375)
    # Z: 2 battles, 1 loss, 1 both_bad: win_rate = 0.5 / 2 = 0.25; score = 0.25 * 2/3 = 1/6
    assert (z.battles, z.wins, z.losses, z.ties, z.both_bad) == (2, 0, 1, 0, 1)
    assert math.isclose(z.win_rate, 0.25) and math.isclose(z.score, 1 / 6)
    # W: no votes, still listed, zero everywhere.
    assert (w.battles, w.wins, w.win_rate, w.score) == (0, 0, 0.0, 0.0)
    # Every vote is one battle for each side, and one win+loss or two halves overall.
    assert sum(r.battles for r in rows.values()) == 2 * len(VOTES)


def test_rows_follow_model_order_and_sort_by_score_then_battles() -> None:
    rows = arena_scores(VoteLog.from_records(VOTES, MODELS))
    assert [r.model for r in rows] == MODELS
    assert [r.model for r in sort_by_score(rows)] == ["X", "Y", "Z", "W"]
    same_score = [
        ScoreRow("few", 3, 2, 1, 0, 0, 2 / 3, 0.5),
        ScoreRow("many", 10, 5, 5, 0, 0, 0.55, 0.5),
        ScoreRow("top", 1, 1, 0, 0, 0, 1.0, 0.5 + 1e-9),
    ]
    assert [r.model for r in sort_by_score(same_score)] == ["top", "many", "few"]


def test_head_to_head_matrices_and_both_bad_rate() -> None:
    h2h = head_to_head(VoteLog.from_records(VOTES, MODELS))
    x, y, z, w = range(4)
    # X-Y: 3 battles, 1 win each and a tie: (1 + 0.5) / 3 = 0.5 both ways.
    assert h2h.battles[x, y] == h2h.battles[y, x] == 3
    assert math.isclose(h2h.win_rate[x, y], 0.5) and math.isclose(h2h.win_rate[y, x], 0.5)
    # X-Z: X won once, one both_bad: (1 + 0.5) / 2 = 0.75; Z: 0.5 / 2 = 0.25.
    assert h2h.battles[x, z] == 2
    assert math.isclose(h2h.win_rate[x, z], 0.75) and math.isclose(h2h.win_rate[z, x], 0.25)
    # Never met (and the diagonal): NaN win rate, zero battles.
    assert np.isnan(h2h.win_rate[y, z]) and np.isnan(h2h.win_rate[x, w])
    assert np.isnan(np.diag(h2h.win_rate)).all() and h2h.battles[y, z] == 0
    # Opposite cells sum to 1 wherever the models met.
    met = h2h.battles > 0
    np.testing.assert_allclose((h2h.win_rate + h2h.win_rate.T)[met], 1.0)
    # both_bad / battles: X 1/5, Y 0/3, Z 1/2, W (no battles) 0.
    np.testing.assert_allclose(h2h.both_bad_rate, [0.2, 0.0, 0.5, 0.0])
    assert h2h.models == tuple(MODELS)
