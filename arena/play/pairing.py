"""The ``active`` and ``uniform`` matchmaking rules on the battle page.

The rules themselves are pure (:mod:`arena.ratings.matchmaking`); this module gives them what
they need without ever reading the vote log on a page view:

- the win table of the default leaderboard (all human votes), read from its cached row in
  ``leaderboard_cache`` (``win_rate x battles`` of the head-to-head matrices): one small
  query per cache refresh of the pool, the payload parsed only when a newer board was
  computed (the worker refreshes it every ``LEADERBOARD_REFRESH_SECONDS``). Before any board
  was computed the table is empty, and ``active`` is ``uniform`` until there is one;
- the vote counters (``Model.vote_count``) for the battle cap: a model with ``BATTLE_CAP``
  votes is not paired while two models below it can be.

A voter's constraints (no answer twice, no model revealed on a prompt) depend on the voter,
so the pair probabilities are computed once per pool snapshot without them, and a page view
tries pairs in a weighted random order without replacement (the first pair with two blind
answers wins): the pair shown is drawn from the rule's probabilities restricted to the pairs
that still have a blind battle for this voter.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from flask import current_app
from sqlalchemy import select

from arena.extensions import db
from arena.models import LeaderboardCache
from arena.ratings.matchmaking import MatchState, pair_weights

DEFAULT_BOARD_FILTERS = "{}"
"""``leaderboard_cache.filters`` of the default leaderboard (no filter)."""


@dataclass(frozen=True)
class WinTable:
    """Fractional wins between models by tag (ties and "both bad" count half each way)."""

    tags: tuple[str, ...] = ()
    wins: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def for_models(self, tags: Sequence[str]) -> np.ndarray:
        """The ``(len(tags), len(tags))`` block of ``tags`` (zero for a tag not rated)."""
        where = {tag: k for k, tag in enumerate(self.tags)}
        index = np.array([where.get(tag, -1) for tag in tags], dtype=np.int64)
        known = index >= 0
        out = np.zeros((len(tags), len(tags)))
        rows, cols = np.flatnonzero(known), index[known]
        out[np.ix_(rows, rows)] = self.wins[np.ix_(cols, cols)]
        return out


def board_table() -> WinTable:
    """The win table of the newest cached default leaderboard (empty without one).

    Reads the row's key and time only; its payload is parsed again only when they change.
    """
    row = db.session.execute(
        select(LeaderboardCache.key, LeaderboardCache.computed_at)
        .where(LeaderboardCache.filters == DEFAULT_BOARD_FILTERS)
        .order_by(LeaderboardCache.computed_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return WinTable()
    stamp = (row.key, str(row.computed_at))
    kept: tuple[tuple[str, str], WinTable] | None = current_app.extensions.get("arena_board_table")
    if kept is not None and kept[0] == stamp:
        return kept[1]
    payload = db.session.scalar(
        select(LeaderboardCache.payload).where(LeaderboardCache.key == row.key)
    )
    table = _parse(payload or "")
    current_app.extensions["arena_board_table"] = (stamp, table)
    return table


def _parse(payload: str) -> WinTable:
    """The win table of a board's JSON payload (empty if it cannot be read)."""
    try:
        data = json.loads(payload)
        tags = tuple(str(tag) for tag in data["models"])
        rate = np.array(
            [[np.nan if v is None else float(v) for v in row] for row in data["win_rate"]],
            dtype=np.float64,
        ).reshape(len(tags), len(tags))
        battles = np.asarray(data["battles"], dtype=np.float64).reshape(len(tags), len(tags))
    except (ValueError, TypeError, KeyError):
        return WinTable()
    wins = np.where(np.isfinite(rate), rate, 0.0) * battles
    np.fill_diagonal(wins, 0.0)
    return WinTable(tags, wins)


def rule_weights(
    rule: str,
    models: Sequence[int],
    tags: dict[int, str],
    votes: dict[int, int],
    table: WinTable,
) -> np.ndarray:
    """The rule's pair probabilities over ``models`` (indexed like it).

    ``BATTLE_CAP`` (from the vote counters) leaves out the models at the cap while two below
    it remain; otherwise every pair of two different models is allowed.
    """
    wins = table.for_models([tags.get(m, "") for m in models])
    cap = current_app.config.get("BATTLE_CAP")
    allowed = None
    if cap:
        below = np.array([votes.get(m, 0) < int(cap) for m in models], dtype=bool)
        if below.sum() >= 2:
            allowed = below[:, None] & below[None, :]
    return pair_weights(rule, MatchState(wins, allowed=allowed))


def weighted_pairs(
    models: Sequence[int], weights: np.ndarray, rng: random.Random
) -> Iterator[tuple[int, int]]:
    """Pairs of ``models`` in a random order without replacement, each next pair drawn with
    probability proportional to its weight among those left (Efraimidis-Spirakis keys
    ``u ** (1 / w)``, largest first); seats at random. Pairs of weight zero never come."""
    upper = np.triu(weights + weights.T, 1)
    first, second = np.nonzero(upper > 0)
    if not len(first):
        return
    draws = np.random.default_rng(rng.getrandbits(64))
    keys = np.log(draws.random(len(first))) / upper[first, second]  # log of u ** (1 / w)
    swap = draws.random(len(first)) < 0.5
    for k in np.argsort(-keys, kind="stable"):
        i, j = int(first[k]), int(second[k])
        yield (models[j], models[i]) if swap[k] else (models[i], models[j])
