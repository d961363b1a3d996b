"""Bradley-Terry ratings on the Elo scale with bootstrap confidence intervals.

Model: ``P(i beats j) = 1 / (1 + 10 ** ((R_j - R_i) / 400))``; a tie or "both bad" counts as
half a win each way. The fit works on the M x M table of (fractional) pairwise wins, never on
vote rows, so its cost does not depend on the number of votes.

Solver: damped Newton on the log strengths ``theta`` (natural-log units; Elo = theta *
400 / ln 10), batched over bootstrap rounds, with backtracking so every step increases the
penalised log-likelihood. A tiny ridge prior ``ridge / 2 * sum(theta ** 2)`` (default 1e-3,
i.e. a N(0, ~5500 Elo) prior) keeps the maximum finite when a model won (or lost) all its
games or the comparison graph is disconnected; on ordinary data it moves ratings by far less
than 0.1 Elo. Models without any game get NaN and are left out of the normalisation.

Intervals: a nonparametric bootstrap that resamples the COUNTS, i.e. draws the whole pair
table from a multinomial over the (outcome, A, B) cells with the observed frequencies and the
total number of votes. That is the same distribution as resampling vote rows with
replacement, at the cost of the table instead of the log. Each round is normalised like the
point estimate (same anchor, or mean of the models with games in the full log). A model that
has games but happens to draw none in a round (likely only with a handful of votes) sits at
the prior's centre in that round, which widens its interval towards the middle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from arena.ratings.votelog import VoteLog, win_matrix

ELO_PER_NAT = 400.0 / math.log(10.0)
DEFAULT_RIDGE = 1e-3
_GAUGE = 1.0  # weight of the (sum theta)^2 term: fixes translation without moving the optimum
_JITTER = 1e-9  # Levenberg-style damping in the Newton matrix only (not in the objective)
_CHUNK_ELEMENTS = 2_000_000  # bootstrap rounds are fitted in batches of at most ~this many cells


@dataclass(frozen=True, eq=False)
class BTResult:
    """Bradley-Terry ratings, indexed like ``models``.

    Attributes:
        rating: maximum-likelihood rating (NaN for a model without games).
        lower, upper: 2.5th / 97.5th bootstrap percentiles (NaN if ``rounds == 0`` or no games).
        rank: confidence-aware rank, ``1 + #{models whose lower bound > this upper bound}``
            (see :func:`confidence_rank`).
        rounds, seed, anchor: how it was computed.
    """

    models: tuple[str, ...]
    rating: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    rank: np.ndarray
    rounds: int
    seed: int | None
    anchor: str | None


def _objective(theta: np.ndarray, wins: np.ndarray, ridge: float) -> np.ndarray:
    diff = theta[:, :, None] - theta[:, None, :]
    loglik = -(wins * np.logaddexp(0.0, -diff)).sum(axis=(1, 2))
    total = theta.sum(axis=1)
    objective: np.ndarray = loglik - 0.5 * ridge * (theta**2).sum(axis=1) - 0.5 * _GAUGE * total**2
    return objective


def fit_bt(
    wins: np.ndarray,
    *,
    ridge: float = DEFAULT_RIDGE,
    init: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> np.ndarray:
    """Maximum-likelihood log strengths (natural-log units, mean zero).

    ``wins`` is ``(M, M)`` or a batch ``(R, M, M)``: ``wins[i, j]`` = (possibly fractional)
    number of times ``i`` beat ``j``. Returns ``theta`` of shape ``(M,)`` or ``(R, M)``.
    With ``ridge=0`` the maximum must exist (connected comparisons, nobody unbeaten).
    """
    if ridge < 0:
        raise ValueError("ridge must be >= 0")
    wins = np.asarray(wins, dtype=np.float64)
    single = wins.ndim == 2
    if single:
        wins = wins[None]
    r, m = wins.shape[0], wins.shape[1]
    if m == 0:
        return np.zeros(0) if single else np.zeros((r, 0))
    games = wins + np.swapaxes(wins, 1, 2)
    won = wins.sum(axis=2)
    theta = np.zeros((r, m)) if init is None else np.array(np.broadcast_to(init, (r, m)))
    eye = np.eye(m)
    active = np.arange(r)
    for _ in range(max_iter):
        if active.size == 0:
            break
        th, g_, w_, won_ = theta[active], games[active], wins[active], won[active]
        p = 1.0 / (1.0 + np.exp(th[:, None, :] - th[:, :, None]))  # P(i beats j)
        total = th.sum(axis=1, keepdims=True)
        grad = won_ - (g_ * p).sum(axis=2) - ridge * th - _GAUGE * total
        info = g_ * p * (1.0 - p)
        hess = -info + (ridge + _JITTER) * eye + _GAUGE
        hess[:, range(m), range(m)] += info.sum(axis=2)
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        # Backtracking: halve the step for rounds whose objective would decrease.
        f_old = _objective(th, w_, ridge)
        scale = np.ones(len(active))
        for _ in range(30):
            cand = th + scale[:, None] * step
            worse = _objective(cand, w_, ridge) < f_old - 1e-12 * np.abs(f_old)
            if not worse.any():
                break
            scale[worse] *= 0.5
        theta[active] = cand
        moved = np.abs(scale[:, None] * step).max(axis=1)
        active = active[moved > tol]
    theta -= theta.mean(axis=1, keepdims=True)
    fitted: np.ndarray = theta[0] if single else theta
    return fitted


def _to_elo(theta: np.ndarray, played: np.ndarray, anchor_idx: int | None) -> np.ndarray:
    """Elo-scale ratings from ``theta`` (..., M): anchor at 1000, or mean of played at 1000."""
    if not played.any():
        return np.full(theta.shape, np.nan)
    elo = ELO_PER_NAT * theta
    ref = elo[..., anchor_idx] if anchor_idx is not None else elo[..., played].mean(axis=-1)
    out: np.ndarray = 1000.0 + elo - np.asarray(ref)[..., None]
    out[..., ~played] = np.nan
    return out


def confidence_rank(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``rank_i = 1 + #{j : lower_j > upper_i}`` (int64).

    A model with a NaN upper bound (no games) ranks after every model with a finite lower
    bound; a NaN lower bound is never "above" anyone.
    """
    lo = np.where(np.isnan(lower), -np.inf, lower)
    up = np.where(np.isnan(upper), -np.inf, upper)
    above = (lo[None, :] > up[:, None]) & np.isfinite(lo)[None, :]
    rank: np.ndarray = 1 + above.sum(axis=1).astype(np.int64)
    return rank


def _anchor_index(models: tuple[str, ...], played: np.ndarray, anchor: str | None) -> int | None:
    if anchor is None:
        return None
    if anchor not in models:
        raise ValueError(f"anchor model {anchor!r} is not in the vote log's models")
    idx = models.index(anchor)
    if not played[idx]:
        raise ValueError(f"anchor model {anchor!r} has no votes")
    return idx


def _result(
    models: tuple[str, ...],
    rating: np.ndarray,
    boot: np.ndarray | None,
    *,
    seed: int | None,
    anchor: str | None,
) -> BTResult:
    if boot is None or len(boot) == 0:
        lower = upper = np.full(len(models), np.nan)
        rank = confidence_rank(rating, rating)
        rounds = 0
    else:
        with np.errstate(invalid="ignore"):
            lower, upper = np.percentile(boot, [2.5, 97.5], axis=0)
        rank = confidence_rank(lower, upper)
        rounds = len(boot)
    lower, upper = lower.copy(), upper.copy()
    for arr in (rating, lower, upper, rank):
        arr.flags.writeable = False
    return BTResult(
        tuple(models),
        rating=rating,
        lower=lower,
        upper=upper,
        rank=rank,
        rounds=rounds,
        seed=seed,
        anchor=anchor,
    )


def bt_from_counts(
    models: tuple[str, ...],
    counts: np.ndarray,
    *,
    anchor: str | None = None,
    bootstrap_rounds: int = 200,
    seed: int | None = 0,
    ridge: float = DEFAULT_RIDGE,
) -> BTResult:
    """:func:`bradley_terry` on a precomputed ``VoteLog.pair_counts()`` table ``(4, M, M)``."""
    if bootstrap_rounds < 0:
        raise ValueError("bootstrap_rounds must be >= 0")
    m = len(models)
    wins = win_matrix(counts)
    games = wins + wins.T
    played = games.sum(axis=1) > 0
    anchor_idx = _anchor_index(models, played, anchor)
    sub = np.ix_(played, played)
    theta = np.zeros(m)
    theta[played] = fit_bt(wins[sub], ridge=ridge)
    rating = _to_elo(theta, played, anchor_idx)
    boot = None
    n = int(counts.sum())
    if bootstrap_rounds and n:
        rng = np.random.default_rng(seed)
        cells = counts.reshape(-1)
        nonzero = np.flatnonzero(cells)
        draws = rng.multinomial(n, cells[nonzero] / n, size=bootstrap_rounds)
        boot = np.empty((bootstrap_rounds, m))
        chunk = max(1, _CHUNK_ELEMENTS // cells.size)
        for start in range(0, bootstrap_rounds, chunk):
            part = draws[start : start + chunk]
            table = np.zeros((len(part), cells.size))
            table[:, nonzero] = part
            w = win_matrix(table.reshape(len(part), 4, m, m))[:, played][:, :, played]
            th = np.zeros((len(part), m))
            th[:, played] = fit_bt(w, ridge=ridge, init=theta[played])
            boot[start : start + len(part)] = _to_elo(th, played, anchor_idx)
    return _result(models, rating, boot, seed=seed, anchor=anchor)


def bradley_terry(
    log: VoteLog,
    *,
    anchor: str | None = None,
    bootstrap_rounds: int = 200,
    seed: int | None = 0,
    ridge: float = DEFAULT_RIDGE,
) -> BTResult:
    """Bradley-Terry ratings with 95% bootstrap intervals and confidence-aware ranks.

    Ratings are on the Elo scale (base 10, scale 400), shifted so that the mean over models
    with games is 1000, or so that ``anchor`` is exactly 1000 (in every bootstrap round too,
    so the anchor's own interval is [1000, 1000]). Bootstrap: ``bootstrap_rounds`` multinomial
    redraws of the pair table with the same total (see module docstring), reproducible for a
    fixed ``seed``; ``bootstrap_rounds=0`` skips it (NaN bounds, rank by rating).
    """
    return bt_from_counts(
        log.models,
        log.pair_counts(),
        anchor=anchor,
        bootstrap_rounds=bootstrap_rounds,
        seed=seed,
        ridge=ridge,
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
