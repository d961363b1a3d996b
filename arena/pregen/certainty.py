"""Where the leaderboard is least certain: the planner's targets under ``active`` matchmaking.

With ``MATCHMAKING = "active"`` the battle page serves the pairs whose votes teach the
leaderboard most, so their fresh battles run out first, and the night's answers should go
there. From the cached default leaderboard (:func:`arena.play.pairing.board_table`, never the
vote log) each pair of working models gets its share of the expected gain
(:func:`arena.ratings.matchmaking.planner_priorities`); its target of fresh battles is
``POOL_TARGET x pairs x share``, kept between half and three times ``POOL_TARGET`` (no pair is
left without supply), and models are answered in order of the gain of their pairs, so a run
cut short by its budget has answered for the least certain models first. With any other rule,
or before a leaderboard exists, every pair has ``POOL_TARGET`` and the order is unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from arena.models import Model
from arena.play.pairing import board_table
from arena.ratings.matchmaking import MatchState, planner_priorities

Pair = tuple[int, int]  # model ids, smaller first

MAX_TARGET_FACTOR = 3.0
MIN_TARGET_FACTOR = 0.5


def pair_priorities(models: Sequence[Model], config: Mapping[str, Any]) -> dict[Pair, float]:
    """Each pair's share of the expected gain (summing to 1), or {} when every pair should be
    treated alike (another rule, fewer than two models, no leaderboard yet)."""
    if config.get("MATCHMAKING") != "active":
        return {}
    return pair_gains(models)


def pair_gains(models: Sequence[Model]) -> dict[Pair, float]:
    """Each pair's share of the expected gain of its next battle on the cached default
    leaderboard, whatever the matchmaking rule (judging orders its pairs by it); {} with
    fewer than two models or no leaderboard yet."""
    if len(models) < 2:
        return {}
    wins = board_table().for_models([m.tag for m in models])
    if not wins.any():
        return {}
    shares = planner_priorities(MatchState(wins))
    out: dict[Pair, float] = {}
    for i, j in zip(*np.triu_indices(len(models), 1), strict=True):
        a, b = models[int(i)].id, models[int(j)].id
        out[(a, b) if a < b else (b, a)] = float(shares[i, j])
    return out


def pair_targets(
    pairs: Sequence[Pair], target: int, shares: Mapping[Pair, float]
) -> dict[Pair, int]:
    """Fresh battles each pair should have: ``target`` each without ``shares``, else
    ``target x len(pairs) x share`` rounded, within [target / 2, 3 x target]."""
    if not shares:
        return dict.fromkeys(pairs, target)
    low = max(1, math.ceil(MIN_TARGET_FACTOR * target))
    high = math.ceil(MAX_TARGET_FACTOR * target)
    return {p: min(high, max(low, round(target * len(pairs) * shares.get(p, 0.0)))) for p in pairs}


def model_order(models: Sequence[Model], shares: Mapping[Pair, float]) -> list[Model]:
    """``models`` by the gain of their pairs, largest first (unchanged without ``shares``)."""
    if not shares:
        return list(models)
    weight = {m.id: 0.0 for m in models}
    for (a, b), share in shares.items():
        weight[a] = weight.get(a, 0.0) + share
        weight[b] = weight.get(b, 0.0) + share
    return sorted(models, key=lambda m: -weight[m.id])
