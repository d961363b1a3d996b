"""Bradley-Terry ratings on the Elo scale with bootstrap confidence intervals.

Model: ``P(i beats j) = 1 / (1 + 10 ** ((R_j - R_i) / 400))``; a tie or "both bad" counts as
half a win each way. The fit works on the M x M table of (fractional) pairwise wins, never on
vote rows, so its cost does not depend on the number of votes.

Solver: damped Newton on the log strengths ``theta`` (natural-log units; Elo = theta *
400 / ln 10), batched over bootstrap rounds, with backtracking so every step increases the
penalised log-likelihood. A tiny ridge prior ``ridge / 2 * sum(theta ** 2)`` (default 1e-3,
i.e. a N(0, ~5500 Elo) prior) keeps every fit finite; on ordinary data it moves ratings by far
less than 0.1 Elo. Models without any game get NaN.

Structure (:mod:`arena.ratings.structure`): the models with games fall into *groups*
(connected sets of the comparison graph); each group is normalised on its own (mean 1000 over
its core, or the anchor at 1000 in the anchor's group) and ranks compare only models of the
same group. The maximum-likelihood fit runs on each group's *core* (its largest strongly
connected set of the win graph), where the estimate exists; models outside it (a model that
never lost or never won against the rest) are placed by :mod:`arena.ratings.honest`, with the
bound on the side the data leave open reported as open. On ordinary data (one group, every
model beaten at least once by the rest and beating them at least once) the core is every
model with games and the result is the plain fit.

Intervals: a nonparametric bootstrap that resamples the COUNTS, i.e. draws the whole pair
table from a multinomial over the (outcome, A, B) cells with the observed frequencies and the
total number of votes. That is the same distribution as resampling vote rows with
replacement, at the cost of the table instead of the log. Each round is normalised like the
point estimate (same anchor, or the core's mean). Rounds in which a model's rating is not
determined on a side count as ±inf there, so a percentile landing on them is an open bound;
a side far narrower than the Cramér-Rao bound allows (a bootstrap that saw no variability,
such as three ties) is widened to it (:mod:`arena.ratings.honest`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from arena.ratings.honest import (
    apply_floor,
    bootstrap_bounds,
    cramer_rao_halfwidth,
    place_outside_core,
)
from arena.ratings.structure import determined_in_rounds, structure
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
        rating: the rating (NaN for a model without games): the maximum-likelihood estimate,
            or for a model outside its group's core the placement of
            :mod:`arena.ratings.honest` (never set by the ridge).
        lower, upper: 95% bounds (NaN if ``rounds == 0`` or no games). Always finite: an
            open bound (``lower_open``/``upper_open``) holds the rating itself, so arrays and
            JSON stay finite; :meth:`lower_bound`/:meth:`upper_bound` give them as ±inf.
        rank: confidence-aware rank within the model's group, ``1 + #{models of the same
            group whose lower bound > this upper bound}`` (open bounds as ±inf); models
            without games come after every model with games.
        group: the model's group (0 = the largest; -1 without games): models of different
            groups never met through any chain of games and are not comparable.
        core: whether the model is in its group's core (its rating is a maximum-likelihood
            estimate; see :mod:`arena.ratings.structure`).
        lower_open, upper_open: the data do not bound the rating on that side (a model that
            never lost, or never won, against the rest of a chain; or a bootstrap percentile
            that falls on undetermined rounds).
        rounds, seed, anchor: how it was computed (``anchor`` is the one used, or None).
    """

    models: tuple[str, ...]
    rating: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    rank: np.ndarray
    rounds: int
    seed: int | None
    anchor: str | None
    group: np.ndarray
    core: np.ndarray
    lower_open: np.ndarray
    upper_open: np.ndarray

    @property
    def n_groups(self) -> int:
        """Number of groups (connected sets of models with games)."""
        return int(self.group.max()) + 1 if len(self.group) else 0

    def lower_bound(self) -> np.ndarray:
        """``lower`` with open bounds as -inf."""
        out: np.ndarray = np.where(self.lower_open, -np.inf, self.lower)
        return out

    def upper_bound(self) -> np.ndarray:
        """``upper`` with open bounds as +inf."""
        out: np.ndarray = np.where(self.upper_open, np.inf, self.upper)
        return out


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


def grouped_rank(lower: np.ndarray, upper: np.ndarray, group: np.ndarray) -> np.ndarray:
    """:func:`confidence_rank` within each group; ``group == -1`` (no games) ranks last.

    Bounds may be ±inf (open): an open upper bound is never below anyone, an open lower
    bound never above anyone. A model without games ranks ``1 +`` the number of models with.
    """
    lo = np.where(np.isnan(lower), -np.inf, lower)
    up = np.where(np.isnan(upper), -np.inf, upper)
    same = (group[:, None] == group[None, :]) & (group[:, None] >= 0)
    above = (lo[None, :] > up[:, None]) & (lo[None, :] > -np.inf) & same
    rank: np.ndarray = 1 + above.sum(axis=1).astype(np.int64)
    rank[group < 0] = 1 + int((group >= 0).sum())
    return rank


def _anchor_index(
    models: tuple[str, ...], played: np.ndarray, anchor: str | None, strict: bool = True
) -> int | None:
    if anchor is None:
        return None
    if anchor not in models:
        raise ValueError(f"anchor model {anchor!r} is not in the vote log's models")
    idx = models.index(anchor)
    if not played[idx]:
        if not strict:
            return None
        raise ValueError(f"anchor model {anchor!r} has no votes")
    return idx


def _freeze(*arrays: np.ndarray) -> None:
    for arr in arrays:
        arr.flags.writeable = False


def _core_fit(
    wins: np.ndarray, core: np.ndarray, ref: np.ndarray, ridge: float
) -> tuple[np.ndarray, np.ndarray]:
    """Log strengths of a core (mean zero) and its Elo ratings normalised on ``ref``."""
    theta = fit_bt(wins[np.ix_(core, core)], ridge=ridge)
    elo = ELO_PER_NAT * theta
    ref_elo = elo[ref[0]] if len(ref) == 1 else elo[ref].mean(axis=-1)
    return theta, 1000.0 + elo - ref_elo


def bt_from_counts(
    models: tuple[str, ...],
    counts: np.ndarray,
    *,
    anchor: str | None = None,
    bootstrap_rounds: int = 200,
    seed: int | None = 0,
    ridge: float = DEFAULT_RIDGE,
    strict_anchor: bool = True,
) -> BTResult:
    """:func:`bradley_terry` on a precomputed ``VoteLog.pair_counts()`` table ``(4, M, M)``.

    ``strict_anchor=False`` ignores an anchor without games (the result's ``anchor`` is then
    None) instead of raising.
    """
    if bootstrap_rounds < 0:
        raise ValueError("bootstrap_rounds must be >= 0")
    m = len(models)
    wins = win_matrix(counts)
    played = (wins + wins.T).sum(axis=1) > 0
    anchor_idx = _anchor_index(models, played, anchor, strict_anchor)
    st = structure(wins)
    rating = np.full(m, np.nan)
    lower, upper = np.full(m, np.nan), np.full(m, np.nan)
    cores = [st.core_members(g) for g in range(st.n_groups)]
    refs = []
    thetas = []
    for core in cores:
        ref = np.flatnonzero(core == anchor_idx) if anchor_idx in core else np.arange(len(core))
        refs.append(ref)
        if len(core):
            theta, rating[core] = _core_fit(wins, core, ref, ridge)
            thetas.append(theta)
        else:
            thetas.append(np.zeros(0))
    n = int(counts.sum())
    rounds = bootstrap_rounds if n else 0
    if rounds:
        boots = [np.empty((rounds, len(c))) for c in cores]
        up_ok = [np.ones((rounds, len(c)), dtype=bool) for c in cores]
        lo_ok = [np.ones((rounds, len(c)), dtype=bool) for c in cores]
        rng = np.random.default_rng(seed)
        cells = counts.reshape(-1)
        nonzero = np.flatnonzero(cells)
        draws = rng.multinomial(n, cells[nonzero] / n, size=rounds)
        chunk = max(1, _CHUNK_ELEMENTS // cells.size)
        for start in range(0, rounds, chunk):
            part = draws[start : start + chunk]
            table = np.zeros((len(part), cells.size))
            table[:, nonzero] = part
            all_w = win_matrix(table.reshape(len(part), 4, m, m))
            rows = slice(start, start + len(part))
            for g, core in enumerate(cores):
                if not len(core):
                    continue
                w = all_w[:, core][:, :, core]
                elo = ELO_PER_NAT * fit_bt(w, ridge=ridge, init=thetas[g])
                ref_elo = elo[:, refs[g][0]] if len(refs[g]) == 1 else elo[:, refs[g]].mean(-1)
                boots[g][rows] = 1000.0 + elo - ref_elo[:, None]
                up_ok[g][rows], lo_ok[g][rows] = determined_in_rounds(w, refs[g])
        for g, core in enumerate(cores):
            if len(core):
                lo, up = bootstrap_bounds(boots[g], up_ok[g], lo_ok[g])
                half = ELO_PER_NAT * cramer_rao_halfwidth(
                    (wins + wins.T)[np.ix_(core, core)], refs[g]
                )
                lower[core], upper[core] = apply_floor(rating[core], lo, up, half)
    for g, core in enumerate(cores):
        members = st.members(g)
        if len(core) == len(members):
            continue
        nat = (np.array([rating, lower, upper]) - 1000.0) / ELO_PER_NAT
        place_outside_core(
            wins,
            st,
            g,
            *nat,
            fit=lambda w: fit_bt(w, ridge=ridge),
            with_bounds=bool(rounds),
        )
        if anchor_idx in members and anchor_idx not in core:
            nat[:, members] -= nat[0, anchor_idx]
        elif not len(core):
            nat[:, members] -= nat[0, members].mean()
        outside = np.setdiff1d(members, core) if len(core) else members
        rating[outside], lower[outside], upper[outside] = 1000.0 + ELO_PER_NAT * nat[:, outside]
        if anchor_idx in members and anchor_idx not in core:  # the shift moved the core too
            rating[core], lower[core], upper[core] = 1000.0 + ELO_PER_NAT * nat[:, core]
    if rounds:
        lower[st.lower_open] = -np.inf
        upper[st.upper_open] = np.inf
        lower_open, upper_open = np.isneginf(lower), np.isposinf(upper)
    else:
        lower_open, upper_open = st.lower_open.copy(), st.upper_open.copy()
    rank = (
        grouped_rank(lower, upper, st.group) if rounds else grouped_rank(rating, rating, st.group)
    )
    lower = np.where(lower_open, rating, lower)
    upper = np.where(upper_open, rating, upper)
    _freeze(rating, lower, upper, rank, lower_open, upper_open)
    return BTResult(
        tuple(models),
        rating=rating,
        lower=lower,
        upper=upper,
        rank=rank,
        rounds=rounds,
        seed=seed,
        anchor=None if anchor_idx is None else anchor,
        group=st.group,
        core=st.core,
        lower_open=lower_open,
        upper_open=upper_open,
    )


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
