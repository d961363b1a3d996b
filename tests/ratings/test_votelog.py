"""VoteLog: construction, validation, filters and the pair table."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from arena.ratings import A_WINS, B_WINS, BOTH_BAD, TIE, VoteLog, win_matrix

RECORDS = [
    ("x", "y", "a", 3.0),
    ("y", "z", "b", 1.0),
    ("z", "x", "tie", 2.0),
    ("x", "z", "both_bad", 2.0),
]


def test_from_records_columns_and_default_model_order() -> None:
    log = VoteLog.from_records(RECORDS)
    assert log.models == ("x", "y", "z")  # sorted tags when no model list is given
    assert log.a.dtype == np.int32 and log.b.dtype == np.int32
    assert log.outcome.dtype == np.int8 and log.ts.dtype == np.float64
    assert log.a.tolist() == [0, 1, 2, 0]
    assert log.b.tolist() == [1, 2, 0, 2]
    assert log.outcome.tolist() == [A_WINS, B_WINS, TIE, BOTH_BAD]
    assert log.ts.tolist() == [3.0, 1.0, 2.0, 2.0]
    assert len(log) == 4 and log.n_models == 3


def test_explicit_models_keep_order_and_zero_vote_models() -> None:
    log = VoteLog.from_records(RECORDS, models=["z", "idle", "y", "x"])
    assert log.models == ("z", "idle", "y", "x")
    assert log.index_of("idle") == 1
    assert log.pair_counts()[:, 1, :].sum() == 0 and log.pair_counts()[:, :, 1].sum() == 0


def test_unknown_outcome_raises_clear_error() -> None:
    with pytest.raises(
        ValueError, match=r"vote 1: unknown outcome 'draw'.*'a', 'b', 'tie', 'both_bad'"
    ):
        VoteLog.from_records([("x", "y", "a", 0.0), ("x", "y", "draw", 1.0)])


def test_model_against_itself_raises() -> None:
    with pytest.raises(ValueError, match="'x' cannot battle itself"):
        VoteLog.from_records([("x", "y", "a", 0.0), ("x", "x", "tie", 1.0)])
    with pytest.raises(ValueError, match="cannot battle itself"):
        VoteLog(("x", "y"), np.array([1]), np.array([1]), np.array([0]), np.array([0.0]))


def test_other_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match="'w', not in models"):
        VoteLog.from_records([RECORDS[0], ("w", "x", "a", 1.0)], models=["x", "y"])
    with pytest.raises(ValueError, match="differ in length"):
        VoteLog(("x", "y"), np.array([0, 1]), np.array([1]), np.array([0]), np.array([0.0]))
    with pytest.raises(ValueError, match="outside"):
        VoteLog(("x", "y"), np.array([0]), np.array([2]), np.array([0]), np.array([0.0]))
    with pytest.raises(ValueError, match="outcome"):
        VoteLog(("x", "y"), np.array([0]), np.array([1]), np.array([4]), np.array([0.0]))
    with pytest.raises(ValueError, match="duplicate"):
        VoteLog(("x", "x"), np.array([], int), np.array([], int), np.array([], int), np.array([]))
    with pytest.raises(ValueError, match="tuple"):
        VoteLog.from_records([("x", "y", "a")])  # type: ignore[list-item]


def test_empty_log() -> None:
    log = VoteLog.from_records([], models=["x", "y"])
    assert len(log) == 0 and log.models == ("x", "y")
    assert log.pair_counts().shape == (4, 2, 2) and log.pair_counts().sum() == 0
    assert len(log.sorted_by_time()) == 0 and len(log.exclude_ties()) == 0


def test_immutable() -> None:
    log = VoteLog.from_records(RECORDS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        log.models = ("q",)  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        log.a[0] = 2


def test_constructor_does_not_freeze_callers_arrays() -> None:
    a = np.array([0], dtype=np.int32)
    VoteLog(("x", "y"), a, np.array([1]), np.array([0]), np.array([0.0]))
    a[0] = 1  # still writable: the log holds its own copy
    assert a[0] == 1


def test_select_keeps_models() -> None:
    log = VoteLog.from_records(RECORDS)
    sub = log.select(log.ts >= 2.0)
    assert sub.models == log.models
    assert sub.ts.tolist() == [3.0, 2.0, 2.0]
    assert log.select(np.array([3, 0])).ts.tolist() == [2.0, 3.0]
    with pytest.raises(ValueError, match="shape"):
        log.select(np.array([True, False]))


def test_sorted_by_time_is_stable() -> None:
    log = VoteLog.from_records(RECORDS).sorted_by_time()
    assert log.ts.tolist() == [1.0, 2.0, 2.0, 3.0]
    # The two votes at ts=2.0 keep their original relative order (tie, then both_bad).
    assert log.outcome.tolist() == [B_WINS, TIE, BOTH_BAD, A_WINS]
    assert log.sorted_by_time() is log  # already sorted: no copy


def test_exclude_ties_drops_ties_and_both_bad() -> None:
    log = VoteLog.from_records(RECORDS)
    assert log.exclude_ties().outcome.tolist() == [A_WINS, B_WINS]
    assert log.decisive_mask().tolist() == [True, True, False, False]


def test_pair_counts_and_win_matrix() -> None:
    log = VoteLog.from_records(RECORDS)
    counts = log.pair_counts()
    assert counts.sum() == 4
    assert counts[A_WINS, 0, 1] == 1  # x (A) beat y
    assert counts[B_WINS, 1, 2] == 1  # y (A) lost to z (B)
    assert counts[TIE, 2, 0] == 1 and counts[BOTH_BAD, 0, 2] == 1
    w = win_matrix(counts)
    # x beat y once; z beat y once; x-z tie and both_bad give half a win each way, twice.
    expected = np.array([[0.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    np.testing.assert_array_equal(w, expected)
    # Batched input gives the same per-batch answer.
    np.testing.assert_array_equal(win_matrix(np.stack([counts, counts]))[1], expected)
