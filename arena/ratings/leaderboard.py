"""Everything on the leaderboard in one immutable result: :func:`compute_leaderboard`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from arena.ratings.bradley_terry import DEFAULT_RIDGE, BTResult, bt_from_counts
from arena.ratings.elo import EloHistory, online_elo, size_aware_elo
from arena.ratings.score import HeadToHead, head_to_head_from_counts, scores_from_counts
from arena.ratings.votelog import VoteLog


@dataclass(frozen=True)
class LeaderboardRow:
    """One model's line; plain values only, ready for ``dataclasses.asdict`` / CSV / JSON.

    ``bt``, ``bt_lower`` and ``bt_upper`` are None when undefined (no games, or no bootstrap
    for the bounds). ``rank`` is the confidence-aware Bradley-Terry rank.
    """

    model: str
    battles: int
    wins: int
    losses: int
    ties: int
    both_bad: int
    win_rate: float
    score: float
    elo: float
    online_elo: float
    bt: float | None
    bt_lower: float | None
    bt_upper: float | None
    rank: int
    both_bad_rate: float


@dataclass(frozen=True, eq=False)
class Leaderboard:
    """All ratings for one vote log.

    Attributes:
        rows: one per model, in ``models`` order (see :meth:`by_score`, :meth:`by_rank`).
        head_to_head: win-rate and battle-count matrices (indexed like ``models``).
        elo_history: size-aware Elo sampled over time.
        bradley_terry: the BT arrays (ratings, bounds, ranks) and how they were computed.
        votes: number of votes used (after ``exclude_ties``).
        exclude_ties: whether ties and "both bad" votes were dropped first.
    """

    models: tuple[str, ...]
    rows: tuple[LeaderboardRow, ...]
    head_to_head: HeadToHead
    elo_history: EloHistory | None
    bradley_terry: BTResult
    votes: int
    exclude_ties: bool

    def row(self, model: str) -> LeaderboardRow:
        return self.rows[self.models.index(model)]

    def by_score(self) -> list[LeaderboardRow]:
        """The original arena's order: score, then battles, descending."""
        return sorted(self.rows, key=lambda r: (-r.score, -r.battles, r.model))

    def by_rank(self) -> list[LeaderboardRow]:
        """Confidence-aware rank, then BT rating descending (unrated last)."""
        return sorted(
            self.rows,
            key=lambda r: (r.rank, r.bt is None, -(r.bt or 0.0), r.model),
        )


def _opt(value: float) -> float | None:
    return None if math.isnan(value) else value


def compute_leaderboard(
    log: VoteLog,
    sizes: Mapping[str, float | None],
    *,
    max_size: float | None = None,
    anchor: str | None = None,
    bootstrap_rounds: int = 200,
    seed: int | None = 0,
    exclude_ties: bool = False,
    history_points: int = 100,
    ridge: float = DEFAULT_RIDGE,
) -> Leaderboard:
    """Arena score, size-aware Elo (+ history), online Elo, Bradley-Terry with bootstrap
    intervals and ranks, and head-to-head matrices, from one vote log.

    ``sizes`` maps model tag -> size in billions (None or missing = unknown, treated as 1.0);
    ``exclude_ties`` applies the "ties excluded" filter to everything. The pair table is built
    once and shared; the two Elo replays are the only per-vote work.
    """
    if exclude_ties:
        log = log.exclude_ties()
    log = log.sorted_by_time()
    counts = log.pair_counts()
    scores = scores_from_counts(log.models, counts)
    h2h = head_to_head_from_counts(log.models, counts)
    elo = size_aware_elo(log, sizes, max_size=max_size, history_points=history_points)
    online = online_elo(log)
    bt = bt_from_counts(
        log.models,
        counts,
        anchor=anchor,
        bootstrap_rounds=bootstrap_rounds,
        seed=seed,
        ridge=ridge,
    )
    elo_list, online_list = elo.ratings.tolist(), online.ratings.tolist()
    bt_list, lo_list, up_list = bt.rating.tolist(), bt.lower.tolist(), bt.upper.tolist()
    rank_list, bb_list = bt.rank.tolist(), h2h.both_bad_rate.tolist()
    rows = tuple(
        LeaderboardRow(
            model=s.model,
            battles=s.battles,
            wins=s.wins,
            losses=s.losses,
            ties=s.ties,
            both_bad=s.both_bad,
            win_rate=s.win_rate,
            score=s.score,
            elo=elo_list[i],
            online_elo=online_list[i],
            bt=_opt(bt_list[i]),
            bt_lower=_opt(lo_list[i]),
            bt_upper=_opt(up_list[i]),
            rank=rank_list[i],
            both_bad_rate=bb_list[i],
        )
        for i, s in enumerate(scores)
    )
    return Leaderboard(
        models=log.models,
        rows=rows,
        head_to_head=h2h,
        elo_history=elo.history,
        bradley_terry=bt,
        votes=len(log),
        exclude_ties=exclude_ties,
    )
