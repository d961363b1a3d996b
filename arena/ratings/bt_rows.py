"""The naive row bootstrap of common arena notebooks, kept as a benchmark and a cross-check.

It resamples vote ROWS with ``rng.choice``, rebuilds the pair table and fits each round on its
own; :func:`arena.ratings.bradley_terry.bradley_terry` draws the same distribution from the
pair table's counts at a fraction of the cost. Plain percentiles, one group, no open bounds.
"""

from __future__ import annotations

import numpy as np

from arena.ratings.bradley_terry import (
    DEFAULT_RIDGE,
    ELO_PER_NAT,
    BTResult,
    _anchor_index,
    _freeze,
    fit_bt,
    grouped_rank,
)
from arena.ratings.votelog import VoteLog, win_matrix


def _to_elo(theta: np.ndarray, played: np.ndarray, anchor_idx: int | None) -> np.ndarray:
    """Elo-scale ratings from ``theta`` (..., M): anchor at 1000, or mean of played at 1000."""
    if not played.any():
        return np.full(theta.shape, np.nan)
    elo = ELO_PER_NAT * theta
    ref = elo[..., anchor_idx] if anchor_idx is not None else elo[..., played].mean(axis=-1)
    out: np.ndarray = 1000.0 + elo - np.asarray(ref)[..., None]
    out[..., ~played] = np.nan
    return out


def _result(
    models: tuple[str, ...],
    rating: np.ndarray,
    boot: np.ndarray | None,
    *,
    seed: int | None,
    anchor: str | None,
) -> BTResult:
    """A result from plain bootstrap percentiles (the row bootstrap's; no open bounds)."""
    played = ~np.isnan(rating)
    group = np.where(played, 0, -1).astype(np.int64)
    if boot is None or len(boot) == 0:
        lower = upper = np.full(len(models), np.nan)
        rank = grouped_rank(rating, rating, group)
        rounds = 0
    else:
        with np.errstate(invalid="ignore"):
            lower, upper = np.percentile(boot, [2.5, 97.5], axis=0)
        rank = grouped_rank(lower, upper, group)
        rounds = len(boot)
    lower, upper = lower.copy(), upper.copy()
    no = np.zeros(len(models), dtype=bool)
    _freeze(rating, lower, upper, rank, group, played, no)
    return BTResult(
        tuple(models),
        rating=rating,
        lower=lower,
        upper=upper,
        rank=rank,
        rounds=rounds,
        seed=seed,
        anchor=anchor,
        group=group,
        core=played,
        lower_open=no,
        upper_open=no,
    )


def bootstrap_bt_rows(
    log: VoteLog,
    *,
    rounds: int = 200,
    seed: int | None = 0,
    anchor: str | None = None,
    ridge: float = DEFAULT_RIDGE,
) -> BTResult:
    """FOR BENCHMARKING ONLY: the naive bootstrap of common arena notebooks.

    Each round resamples vote ROWS with ``rng.choice``, rebuilds the pair table and fits it
    on its own. Statistically equivalent to :func:`bradley_terry`, but its cost grows with
    the number of votes (three ~N-sized gathers per round) instead of the number of cells.
    """
    counts = log.pair_counts()
    wins = win_matrix(counts)
    played = (wins + wins.T).sum(axis=1) > 0
    anchor_idx = _anchor_index(log.models, played, anchor)
    sub = np.ix_(played, played)
    theta = np.zeros(log.n_models)
    theta[played] = fit_bt(wins[sub], ridge=ridge)
    rating = _to_elo(theta, played, anchor_idx)
    rng = np.random.default_rng(seed)
    n, m = len(log), log.n_models
    outcome = log.outcome.astype(np.int64)
    boot = np.empty((rounds if n else 0, m))
    for k in range(len(boot)):
        rows = rng.choice(n, size=n, replace=True)
        cell = (outcome[rows] * m + log.a[rows]) * m + log.b[rows]
        w = win_matrix(np.bincount(cell, minlength=4 * m * m).reshape(4, m, m))
        th = np.zeros(log.n_models)
        th[played] = fit_bt(w[sub], ridge=ridge)
        boot[k] = _to_elo(th, played, anchor_idx)
    return _result(log.models, rating, boot, seed=seed, anchor=anchor)
