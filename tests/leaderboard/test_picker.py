"""The picker's pure parts on constructed data: parsing the limits, filtering and ordering,
overlap detection and the verdict."""

from __future__ import annotations

import pytest
from flask import Flask

from arena.leaderboard.picker import (
    Candidate,
    PickError,
    PickQuery,
    _fits,
    _unknown,
    decide,
    overlapping,
    parse_pick,
)
from arena.play.focus import make_token, read_token

GIB = 1024**3


def cand(
    name: str,
    bt: float,
    lower: float | None,
    upper: float | None,
    *,
    memory: int | None = GIB,
    speed: float | None = 20.0,
    group: int = 1,
) -> Candidate:
    return Candidate(
        model=name,
        display_name=name.upper(),
        slug=name,
        bt=bt,
        bt_lower=lower,
        bt_upper=upper,
        memory_bytes=memory,
        tokens_per_second=speed,
        provisional=False,
        battles=100,
        group=group,
    )


def test_parse_pick_accepts_limits_and_refuses_bad_input() -> None:
    categories = ["coding", "fun"]
    query = parse_pick({"ram_gb": "4", "min_tps": "0", "category": "coding"}, categories)
    assert query == PickQuery(4.0, 0.0, "coding")
    assert parse_pick({"ram_gb": "", "min_tps": " ", "category": ""}, categories) == PickQuery()
    bad = {
        "ram_gb=-1": ({"ram_gb": "-1"}, "'ram_gb'.*above 0"),
        "ram_gb=0": ({"ram_gb": "0"}, "above 0"),
        "ram_gb=abc": ({"ram_gb": "abc"}, "expected a number"),
        "ram_gb=inf": ({"ram_gb": "inf"}, "'ram_gb'"),
        "min_tps=-3": ({"min_tps": "-3"}, "'min_tps'.*0 or more"),
        "min_tps=nan": ({"min_tps": "nan"}, "'min_tps'"),
        "category": ({"category": "poetry"}, "unknown category 'poetry'.*coding, fun"),
        "unknown": ({"ram": "4"}, "unknown parameter 'ram'"),
    }
    for args, message in bad.values():
        with pytest.raises(PickError, match=message):
            parse_pick(args, categories)


def test_fits_and_unknown_cost() -> None:
    small, big = cand("small", 0, 0, 0, memory=2 * GIB), cand("big", 0, 0, 0, memory=9 * GIB)
    slow = cand("slow", 0, 0, 0, speed=3.0)
    mystery = cand("mystery", 0, 0, 0, memory=None, speed=None)
    limits = PickQuery(ram_gb=4, min_tps=5)
    assert _fits(small, limits) and not _fits(big, limits) and not _fits(slow, limits)
    assert _unknown(mystery, limits) == ("memory", "speed")
    assert _unknown(mystery, PickQuery(ram_gb=4)) == ("memory",)
    assert _unknown(mystery, PickQuery()) == ()  # no limit: nothing is missing
    assert _fits(cand("exact", 0, 0, 0, memory=4 * GIB), PickQuery(ram_gb=4))


def test_ordering_by_rating_then_lower_bound() -> None:
    models = [
        cand("b", 1000, 950, 1050),
        cand("a", 1100, 1080, 1120),
        cand("c", 1000, 990, 1010),
    ]
    pick = decide(PickQuery(), 500, models, [], {"a": 1, "b": 2, "c": 3})
    assert [c.model for c in pick.models] == ["a", "c", "b"]


def test_a_clear_winner_is_called() -> None:
    models = [cand("a", 1100, 1080, 1120), cand("b", 1000, 950, 1050)]
    pick = decide(PickQuery(), 500, models, [], {"a": 1, "b": 2})
    assert pick.overlap == [] and pick.focus is None
    assert pick.verdict.startswith("A is best on your machine")


def test_overlapping_intervals_are_too_close_to_call(app: Flask) -> None:
    models = [
        cand("a", 1100, 1040, 1160),
        cand("b", 1080, 1030, 1130),  # overlaps a
        cand("c", 1060, 1045, 1075),  # overlaps a
        cand("d", 900, 850, 1000),  # clear of a's lower bound
    ]
    with app.test_request_context():
        pick = decide(PickQuery(), 42, models, [], {"a": 1, "b": 2, "c": 3, "d": 4})
        assert [c.model for c in pick.overlap] == ["a", "b", "c"]
        assert pick.verdict.startswith("A, B and C are too close to call with 42 votes")
        assert pick.focus is not None and read_token(pick.focus) == (1, 2, 3)


def test_open_bounds_and_other_groups_overlap() -> None:
    best = cand("a", 1100, 1090, None)  # never lost: open above
    open_below = cand("b", 900, None, 950)  # never won: open below
    assert overlapping([best, open_below]) == []  # b's upper bound is below a's lower
    assert overlapping([cand("a", 1100, None, 1200), open_below]) != []  # a open below
    elsewhere = cand("z", 500, 480, 520, group=2)  # never met a's group: not comparable
    assert [c.model for c in overlapping([best, elsewhere])] == ["a", "z"]


def test_single_and_empty() -> None:
    one = decide(PickQuery(), 3, [cand("a", 1000, 900, 1100)], [], {"a": 1})
    assert "the only rated model that fits" in one.verdict and one.overlap == []
    none = decide(PickQuery(ram_gb=1), 3, [], [cand("x", 1, 0, 2, memory=None)], {"x": 1})
    assert none.verdict == "No rated model fits these limits." and none.models == []
    assert [c.model for c in none.unknown_cost] == ["x"]


def test_many_close_models_are_counted_and_the_best_six_focused(app: Flask) -> None:
    models = [cand(f"m{k}", 1000 - k, None, None) for k in range(8)]  # nothing bounded yet
    ids = {f"m{k}": 100 + k for k in range(8)}
    with app.test_request_context():
        pick = decide(PickQuery(), 8, models, [], ids)
        assert len(pick.overlap) == 8
        assert pick.verdict.startswith("M0, M1, M2, M3 and 4 other models are too close")
        assert pick.focus is not None and read_token(pick.focus) == tuple(range(100, 106))
        with pytest.raises(ValueError, match="2 to 6"):
            make_token(list(range(7)))
