"""The original arena's win-rate score and the head-to-head matrices."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from arena.ratings.votelog import A_WINS, B_WINS, BOTH_BAD, TIE, VoteLog, win_matrix

_Row = TypeVar("_Row", bound="ScoreRow")


@dataclass(frozen=True)
class ScoreRow:
    """Per-model tallies and the arena score.

    ``win_rate = (wins + 0.5 * (ties + both_bad)) / battles`` (0.0 without battles) and
    ``score = win_rate * (1 - 1 / (battles + 1))``, which discounts models with few battles.
    """

    model: str
    battles: int
    wins: int
    losses: int
    ties: int
    both_bad: int
    win_rate: float
    score: float


@dataclass(frozen=True, eq=False)
class HeadToHead:
    """Pairwise matrices, indexed like ``models``.

    Attributes:
        win_rate: ``[i, j]`` = row model's win rate against column model, ties and "both bad"
            counting half; NaN where the two never met (and on the diagonal).
        battles: ``[i, j]`` = number of votes between the two models (symmetric, int64).
        both_bad_rate: per model, ``both_bad / battles`` (0.0 without battles).
    """

    models: tuple[str, ...]
    win_rate: np.ndarray
    battles: np.ndarray
    both_bad_rate: np.ndarray


def _tallies(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-model wins/losses/ties/both_bad/battles (int64 arrays) from a pair-count table."""
    a_won, b_won = counts[A_WINS], counts[B_WINS]
    wins = a_won.sum(axis=1) + b_won.sum(axis=0)
    losses = a_won.sum(axis=0) + b_won.sum(axis=1)
    ties = counts[TIE].sum(axis=1) + counts[TIE].sum(axis=0)
    both_bad = counts[BOTH_BAD].sum(axis=1) + counts[BOTH_BAD].sum(axis=0)
    return {
        "wins": wins,
        "losses": losses,
        "ties": ties,
        "both_bad": both_bad,
        "battles": wins + losses + ties + both_bad,
    }


def scores_from_counts(models: tuple[str, ...], counts: np.ndarray) -> tuple[ScoreRow, ...]:
    """:func:`arena_scores` on a precomputed ``VoteLog.pair_counts()`` table."""
    t = _tallies(counts)
    rows = []
    for i, model in enumerate(models):
        battles = int(t["battles"][i])
        wins, ties, both_bad = int(t["wins"][i]), int(t["ties"][i]), int(t["both_bad"][i])
        win_rate = (wins + 0.5 * (ties + both_bad)) / battles if battles else 0.0
        rows.append(
            ScoreRow(
                model=model,
                battles=battles,
                wins=wins,
                losses=int(t["losses"][i]),
                ties=ties,
                both_bad=both_bad,
                win_rate=win_rate,
                score=win_rate * (1.0 - 1.0 / (battles + 1)),
            )
        )
    return tuple(rows)


def arena_scores(log: VoteLog) -> tuple[ScoreRow, ...]:
    """Battles, wins, losses, ties, both_bad, win rate and arena score per model.

    Rows follow ``log.models`` order; use :func:`sort_by_score` for the leaderboard order.
    """
    return scores_from_counts(log.models, log.pair_counts())


def sort_by_score(rows: Iterable[_Row]) -> list[_Row]:
    """Sort by score, then battles, both descending (model tag ascending breaks exact ties)."""
    return sorted(rows, key=lambda r: (-r.score, -r.battles, r.model))


def head_to_head_from_counts(models: tuple[str, ...], counts: np.ndarray) -> HeadToHead:
    """:func:`head_to_head` on a precomputed ``VoteLog.pair_counts()`` table."""
    total = counts.sum(axis=0)
    battles = total + total.T
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rate = np.where(battles > 0, win_matrix(counts) / battles, np.nan)
    np.fill_diagonal(win_rate, np.nan)
    t = _tallies(counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        both_bad_rate = np.where(t["battles"] > 0, t["both_bad"] / t["battles"], 0.0)
    for arr in (win_rate, battles, both_bad_rate):
        arr.flags.writeable = False
    return HeadToHead(tuple(models), win_rate, battles, both_bad_rate)


def head_to_head(log: VoteLog) -> HeadToHead:
    """Win-rate and battle-count matrices plus the per-model "both bad" rate."""
    return head_to_head_from_counts(log.models, log.pair_counts())
