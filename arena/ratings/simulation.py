"""Simulated voters with known strengths, to compare pairing rules (benchmark and tests).

Each vote: the rule (:mod:`arena.ratings.matchmaking`) gives pair probabilities, one pair is
drawn, and the voter picks A with the Bradley-Terry probability
``1 / (1 + 10 ** ((R_B - R_A) / 400))`` of the true ratings. Besides the ``RULES``, ``paper``
(:func:`arena.ratings.matchmaking.paper_weights`, the published rule) can be simulated as a
baseline, and so can ``oracle``, a design no arena can use because it is handed the truth:
every pair at most ``ORACLE_REACH`` places apart in the true order, alike (a yardstick of
what a rule that knew the order could do), and so can ``optimal``, also handed the truth:
each vote on the pair that lowers the total variance of the ratings most, computed with the
true win probabilities (the sequential A-optimal design an active rule tries to approach).
Many runs are simulated at once (the rules are computed for a batch of runs in one set of
array operations), each with its own truth and random stream. At checkpoints the
leaderboard is computed as the arena computes it
(:func:`arena.ratings.bradley_terry.bt_from_counts`, honest intervals included) and two
questions are asked of each run:

- (a) is the Spearman correlation of its ratings with the truth at least ``spearman_target``?
- (b) does the true best model's interval clear every other model's (its lower bound above
  every other upper bound, open bounds counting as infinite)?

A run's result is the number of votes at the first checkpoint where each held. Checkpoints
are every ``step`` votes up to ``dense`` votes, then every ``ratio`` of the votes so far.
(b)'s bootstrap (``rounds`` rounds) only runs where the normal-approximation intervals at
three quarters of their width already clear, a screen the bootstrap intervals always pass
first in practice. The ``active`` rule refits its design strengths every ``refit_every``
votes; its covariance uses every vote.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.ratings.bradley_terry import ELO_PER_NAT, bt_from_counts, fit_bt
from arena.ratings.matchmaking import (
    DEFAULT_EXPLORATION,
    PRIOR_SD,
    RECENT_OPPONENTS,
    _active,
    _classic,
    _normalised,
    _paper,
    design_fit,
)


@dataclass(frozen=True, eq=False)
class RunResult:
    """One simulated run: votes until (a) and (b) (None if not reached within the votes
    cast), votes cast, and the ``(M, M)`` symmetric battle counts per pair."""

    rule: str
    votes_to_spearman: int | None
    votes_to_top: int | None
    votes: int
    battles: np.ndarray
    wins: np.ndarray


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (no ties expected)."""
    rx = np.argsort(np.argsort(x)).astype(float)
    ry = np.argsort(np.argsort(y)).astype(float)
    return float(np.corrcoef(rx, ry)[0, 1])


def checkpoints(max_votes: int, step: int = 10, dense: int = 500, ratio: float = 0.02) -> list[int]:
    """Vote counts at which to evaluate: every ``step`` up to ``dense``, then geometric."""
    points = list(range(step, min(dense, max_votes) + 1, step))
    v = float(points[-1] if points else 0)
    while v < max_votes:
        v = max(v + step, v * (1.0 + ratio))
        points.append(min(round(v / step) * step, max_votes))
    return sorted(set(points))


def _bt(wins: np.ndarray, rounds: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arena's BT ratings and bounds (±inf where open) for one win table."""
    m = len(wins)
    counts = np.zeros((4, m, m))
    counts[0] = wins
    res = bt_from_counts(tuple(map(str, range(m))), counts, bootstrap_rounds=rounds, seed=seed)
    rating = res.rating if res.n_groups == 1 else np.full(m, np.nan)
    return rating, res.lower_bound(), res.upper_bound()


def _wald_screen(wins: np.ndarray, best: np.ndarray, shrink: float = 0.75) -> np.ndarray:
    """Per run: do normal-approximation 95% intervals, ``shrink``-ed, already clear (b)?"""
    r, m = wins.shape[0], wins.shape[1]
    theta = fit_bt(wins)
    games = wins + np.swapaxes(wins, 1, 2)
    p = 1.0 / (1.0 + np.exp(theta[:, None, :] - theta[:, :, None]))
    lap = -games * p * (1.0 - p)
    lap[:, range(m), range(m)] = -lap.sum(axis=2)
    centre = np.eye(m) - 1.0 / m
    var = np.diagonal(centre @ np.linalg.pinv(lap) @ centre, axis1=1, axis2=2)
    half = shrink * 1.96 * np.sqrt(np.maximum(var, 0.0))
    rows = np.arange(r)
    lower_best = theta[rows, best] - half[rows, best]
    upper = theta + half
    upper[rows, best] = -np.inf
    out: np.ndarray = lower_best > upper.max(axis=1)
    return out


#: The oracle's reach: pairs at most this many places apart in the true order.
ORACLE_REACH = 2


def _oracle(truths: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Per run: every usable pair at most :data:`ORACLE_REACH` places apart in the true
    order, with the same probability."""
    rank = np.argsort(np.argsort(truths, axis=1), axis=1)
    apart = np.abs(rank[:, :, None] - rank[:, None, :])
    return _normalised((usable & (apart <= ORACLE_REACH)).astype(np.float64))


def _optimal(wins: np.ndarray, truths: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Per run: the usable pair(s) whose next vote lowers the total variance of the centred
    ratings most, computed with the *true* win probabilities (the sequential A-optimal design
    handed the truth, under the design's ``N(0, PRIOR_SD^2)`` prior), ties alike."""
    m = truths.shape[1]
    theta = truths / ELO_PER_NAT
    p = 1.0 / (1.0 + np.exp(theta[:, None, :] - theta[:, :, None]))
    weight = p * (1.0 - p)
    lap = -(wins + np.swapaxes(wins, 1, 2)) * weight
    lap[:, range(m), range(m)] = -lap.sum(axis=2)
    sigma = np.linalg.inv(lap + np.eye(m) / PRIOR_SD**2)
    cs = (np.eye(m) - 1.0 / m) @ sigma  # column k: C Sigma e_k
    # Sherman-Morrison for u = e_i - e_j: w |C Sigma u|^2 / (1 + w u' Sigma u).
    spread = ((cs[:, :, :, None] - cs[:, :, None, :]) ** 2).sum(axis=1)
    var = np.diagonal(sigma, axis1=1, axis2=2)
    u_sigma_u = var[:, :, None] + var[:, None, :] - 2.0 * sigma
    gain = np.where(usable, weight * spread / (1.0 + weight * u_sigma_u), -np.inf)
    top = gain.max(axis=(1, 2), keepdims=True)
    return _normalised((usable & (gain >= top - 1e-12 * np.abs(top))).astype(np.float64))


def _batch_weights(
    rule: str,
    wins: np.ndarray,
    theta: np.ndarray,
    usable: np.ndarray,
    recent: np.ndarray,
    exploration: float,
    truths: np.ndarray,
) -> np.ndarray:
    if rule == "active":
        return _active(wins, theta, usable, exploration)
    if rule == "classic":
        return _classic(wins + np.swapaxes(wins, 1, 2), usable, recent)
    if rule == "uniform":
        return _normalised(usable.astype(np.float64))
    if rule == "paper":
        return _paper(wins, usable)
    if rule == "oracle":
        return _oracle(truths, usable)
    if rule == "optimal":
        return _optimal(wins, truths, usable)
    raise ValueError(f"unknown matchmaking rule {rule!r}")


def simulate(
    rule: str,
    truths: np.ndarray,
    *,
    max_votes: int,
    seed: int,
    refit_every: int = 10,
    spearman_target: float = 0.9,
    rounds: int = 100,
    exploration: float = DEFAULT_EXPLORATION,
    allowed: np.ndarray | None = None,
    battle_cap: int | None = None,
    stop_when_done: bool = True,
    check: bool = True,
) -> list[RunResult]:
    """Simulate runs (one per row of ``truths``, ratings in Elo) under ``rule``.

    ``allowed`` (``(M, M)`` bool) and ``battle_cap`` constrain every run like the caller's
    constraints in :class:`arena.ratings.matchmaking.MatchState`. Runs stop once both
    answers are known (``stop_when_done``), or at ``max_votes``.
    """
    truths = np.atleast_2d(np.asarray(truths, dtype=np.float64))
    n_runs, m = truths.shape
    rng = np.random.default_rng(seed)
    wins = np.zeros((n_runs, m, m))
    theta = np.zeros((n_runs, m))
    ring = np.full((n_runs, m, RECENT_OPPONENTS), -1)
    slot = np.zeros((n_runs, m), dtype=np.int64)
    recent = np.zeros((n_runs, m, m), dtype=bool)
    base = ~np.eye(m, dtype=bool)
    if allowed is not None:
        base &= np.asarray(allowed, dtype=bool) & np.asarray(allowed, dtype=bool).T
    to_a: list[int | None] = [None] * n_runs
    to_b: list[int | None] = [None] * n_runs
    votes = np.zeros(n_runs, dtype=np.int64)
    live = np.arange(n_runs)
    best = truths.argmax(axis=1)
    marks = set(checkpoints(max_votes)) if check else set()
    for v in range(max_votes):
        if not len(live):
            break
        w = wins[live]
        if rule == "active" and v % refit_every == 0:
            theta[live] = design_fit(w)
        usable = np.broadcast_to(base, w.shape).copy()
        if battle_cap is not None:
            below = (w + np.swapaxes(w, 1, 2)).sum(axis=2) < battle_cap
            usable &= below[:, :, None] & below[:, None, :]
        prob = _batch_weights(rule, w, theta[live], usable, recent[live], exploration, truths[live])
        flat = np.cumsum(prob.reshape(len(live), -1), axis=1)
        has = flat[:, -1] > 0
        u = rng.random(len(live)) * flat[:, -1]
        cell = np.minimum((flat < u[:, None]).sum(axis=1), m * m - 1)
        live, cell = live[has], cell[has]
        if not len(live):
            break
        i, j = cell // m, cell % m
        p_i = 1.0 / (1.0 + 10.0 ** ((truths[live, j] - truths[live, i]) / 400.0))
        won = rng.random(len(live)) < p_i
        wins[live, np.where(won, i, j), np.where(won, j, i)] += 1.0
        for side, other in ((i, j), (j, i)):
            ring[live, side, slot[live, side]] = other
            slot[live, side] = (slot[live, side] + 1) % RECENT_OPPONENTS
            recent[live, side] = False
            for k in range(RECENT_OPPONENTS):
                opp = ring[live, side, k]
                ok = opp >= 0
                recent[live[ok], side[ok], opp[ok]] = True
        votes[live] = v + 1
        if v + 1 in marks:
            _check(wins, truths, best, live, v + 1, to_a, to_b, spearman_target, rounds, seed)
            if stop_when_done:
                live = np.array([k for k in live if to_a[k] is None or to_b[k] is None], int)
    return [
        RunResult(rule, to_a[k], to_b[k], int(votes[k]), wins[k] + wins[k].T, wins[k].copy())
        for k in range(n_runs)
    ]


def _check(
    wins: np.ndarray,
    truths: np.ndarray,
    best: np.ndarray,
    live: np.ndarray,
    votes: int,
    to_a: list[int | None],
    to_b: list[int | None],
    target: float,
    rounds: int,
    seed: int,
) -> None:
    """Record (a) and (b) for the live runs at this checkpoint."""
    need_b = np.array([k for k in live if to_b[k] is None], dtype=int)
    screened = (
        set(need_b[_wald_screen(wins[need_b], best[need_b])].tolist()) if len(need_b) else set()
    )
    for k in live.tolist():
        if to_a[k] is None:
            rating, _, _ = _bt(wins[k], 0, 0)
            if np.isfinite(rating).all() and spearman(rating, truths[k]) >= target:
                to_a[k] = votes
        if to_b[k] is None and k in screened:
            rating, lower, upper = _bt(wins[k], rounds, seed + votes)
            if np.isfinite(rating).all() and lower[best[k]] > np.delete(upper, best[k]).max():
                to_b[k] = votes


def simulate_run(
    rule: str, truth: np.ndarray, *, max_votes: int, seed: int, **kwargs: object
) -> RunResult:
    """One run of :func:`simulate`."""
    return simulate(rule, np.asarray(truth)[None], max_votes=max_votes, seed=seed, **kwargs)[0]  # type: ignore[arg-type]


__all__ = [
    "ELO_PER_NAT",
    "ORACLE_REACH",
    "RunResult",
    "checkpoints",
    "simulate",
    "simulate_run",
    "spearman",
]
