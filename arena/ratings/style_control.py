"""Style-controlled Bradley-Terry: ratings with answer length and Markdown held equal.

LMArena's method (Li, Angelopoulos & Chiang, "Does style matter?", LMSYS blog 2024-08-29):
a logistic regression on the vote level,

    logit P(A better) = theta_A - theta_B + gamma . z

where ``z`` holds the vote's normalised style differences (:mod:`arena.ratings.style`) and
``gamma`` one coefficient per feature, fitted jointly with the model strengths ``theta``. A
tie or "both bad" counts as half a win each way (``y = 1/2``), as in the plain fit. The
strengths are then what each model wins *beyond* what its style explains; ``gamma`` says
how much a typical (one root-mean-square) difference in a feature sways a vote, on the Elo
scale.

The fit runs over the votes among each group's core models (:mod:`arena.ratings.structure`),
where the plain estimate exists; models outside a core get no style-controlled rating (NaN).
Ratings are normalised per group like the plain ones. Newton's method with the same tiny
ridge and a per-group gauge, batched over bootstrap rounds; each iteration is ``O(n K^2)``.

Intervals: the vote-row bootstrap (rows resampled with replacement, i.e. multinomial counts
per vote), refitted exactly, with the same open-bound and width-floor rules as the plain fit
(:mod:`arena.ratings.honest`), while ``votes * rounds`` stays under ``EXACT_BUDGET``. Above
it (large logs, where refits would cost minutes) the intervals are the bootstrap's normal
limit, the sandwich covariance ``H^-1 S H^-1`` (Huber 1967; White 1980) with ``H`` the
information matrix and ``S = sum_v r_v^2 x_v x_v'`` the covariance of the resampled score:
one pass over the votes, and at that size the bootstrap's percentiles agree with it far
closer than their own Monte Carlo noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.ratings.bradley_terry import (
    DEFAULT_RIDGE,
    ELO_PER_NAT,
    _anchor_index,
    fit_bt,
    grouped_rank,
)
from arena.ratings.honest import Z95, apply_floor, bootstrap_bounds, cramer_rao_halfwidth
from arena.ratings.structure import determined_in_rounds, structure
from arena.ratings.style import STYLE_FEATURES, normalized_differences
from arena.ratings.votelog import A_WINS, B_WINS, VoteLog, win_matrix

#: Votes x rounds refitted exactly (500 votes at the default 200 rounds); beyond, the sandwich.
#: From 300 to 4,000 votes the sandwich's widths are within 0.90-1.19 of the refit's (median
#: 0.94-1.02) while the refit costs 0.1-1 s a board: a small arena recomputes after each vote.
EXACT_BUDGET = 100_000
_GAUGE = 1.0
_CHUNK = 500_000  # (rounds x votes) elements per batch


@dataclass(frozen=True, eq=False)
class StyleResult:
    """Style-controlled ratings (indexed like ``models``) and style effects (like ``features``).

    Attributes:
        rating, lower, upper, rank, lower_open, upper_open, group: as in
            :class:`arena.ratings.bradley_terry.BTResult` (NaN rating for a model outside its
            group's core; open bounds hold the rating itself).
        effect: per feature, ``gamma`` on the Elo scale: the rating-difference equivalent of
            one root-mean-square normalised difference in that feature (positive: voters
            favour the answer with more of it).
        effect_lower, effect_upper: its 95% bootstrap interval.
        scale: the root mean square each normalised difference was divided by.
        votes: votes in the fit; method: ``"refit"`` (bootstrap rounds refitted) or
            ``"sandwich"`` (the bootstrap's normal limit; ``rounds`` is then 0).
    """

    models: tuple[str, ...]
    rating: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    rank: np.ndarray
    lower_open: np.ndarray
    upper_open: np.ndarray
    group: np.ndarray
    features: tuple[str, ...]
    effect: np.ndarray
    effect_lower: np.ndarray
    effect_upper: np.ndarray
    scale: np.ndarray
    votes: int
    rounds: int
    seed: int | None
    method: str

    def effects(self) -> dict[str, tuple[float, float, float]]:
        """``{feature: (effect, lower, upper)}`` in Elo, plain floats (NaN when undefined)."""
        return {
            name: (float(e), float(lo), float(up))
            for name, e, lo, up in zip(
                self.features, self.effect, self.effect_lower, self.effect_upper, strict=True
            )
        }


@dataclass(frozen=True)
class _Design:
    """The votes of the fit: model indices (compact), outcome score, style differences."""

    a: np.ndarray
    b: np.ndarray
    y: np.ndarray
    z: np.ndarray
    m: int
    group: np.ndarray  # per compact model
    pair: np.ndarray  # a * m + b, the vote's ordered pair

    @property
    def p(self) -> int:
        return self.m + int(self.z.shape[1])


def _per_round_bincount(idx: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """``bincount`` of ``idx`` (n,) with ``weights`` (R, n) per round -> (R, size)."""
    r = weights.shape[0]
    if r == 1:
        return np.bincount(idx, weights[0], minlength=size)[None]
    flat = (np.arange(r)[:, None] * size + idx[None, :]).ravel()
    out: np.ndarray = np.bincount(flat, weights.ravel(), minlength=r * size).reshape(r, size)
    return out


def _signed_sums(d: _Design, weights: np.ndarray) -> np.ndarray:
    """Per round and model: the weights of its votes as A minus those as B, ``(R, m)``."""
    pair = _per_round_bincount(d.pair, weights, d.m * d.m).reshape(-1, d.m, d.m)
    out: np.ndarray = pair.sum(2) - pair.sum(1)
    return out


def _objective(d: _Design, params: np.ndarray, counts: np.ndarray, ridge: float) -> np.ndarray:
    theta, gamma = params[:, : d.m], params[:, d.m :]
    eta = theta[:, d.a] - theta[:, d.b] + gamma @ d.z.T
    softplus = np.maximum(eta, 0.0) + np.log1p(np.exp(-np.abs(eta)))
    loglik = -(counts * (softplus - d.y * eta)).sum(1)
    sums = np.stack([theta[:, d.group == g].sum(1) for g in range(int(d.group.max()) + 1)], 1)
    out: np.ndarray = loglik - 0.5 * ridge * (params**2).sum(1) - 0.5 * _GAUGE * (sums**2).sum(1)
    return out


def _information(d: _Design, w: np.ndarray) -> np.ndarray:
    """``sum_v w_v x_v x_v'`` per round, ``(R, P, P)``, for per-vote weights ``w`` (R, n).

    ``x_v`` is the vote's design row: +1 at A, -1 at B, then its style differences.
    """
    r, m = w.shape[0], d.m
    info = np.zeros((r, d.p, d.p))
    pair = _per_round_bincount(d.pair, w, m * m).reshape(r, m, m)
    pair = pair + np.swapaxes(pair, 1, 2)
    info[:, :m, :m] = -pair
    info[:, range(m), range(m)] += pair.sum(2)
    for k in range(d.z.shape[1]):
        cross = _signed_sums(d, w * d.z[:, k])
        info[:, :m, m + k] = info[:, m + k, :m] = cross
    info[:, m:, m:] = np.swapaxes(w[:, :, None] * d.z[None], 1, 2) @ d.z
    return info


def _gradient_hessian(
    d: _Design, params: np.ndarray, counts: np.ndarray, ridge: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradient ``(R, P)``, negative Hessian ``(R, P, P)`` of the penalised objective, and
    the per-vote residuals ``y - p`` ``(R, n)``."""
    m = d.m
    theta, gamma = params[:, :m], params[:, m:]
    eta = theta[:, d.a] - theta[:, d.b] + gamma @ d.z.T
    prob = 1.0 / (1.0 + np.exp(-eta))
    resid = d.y - prob
    cr = counts * resid
    grad = np.empty_like(params)
    grad[:, :m] = _signed_sums(d, cr)
    grad[:, m:] = cr @ d.z
    info = _information(d, counts * prob * (1.0 - prob))
    onehot = (d.group[None, :] == np.arange(int(d.group.max()) + 1)[:, None]).astype(float)
    grad[:, :m] -= _GAUGE * (theta @ onehot.T) @ onehot
    grad -= ridge * params
    info[:, :m, :m] += _GAUGE * onehot.T @ onehot
    info += (ridge + 1e-9) * np.eye(d.p)
    return grad, info, resid


def _newton(
    d: _Design, counts: np.ndarray, init: np.ndarray, ridge: float, max_iter: int = 50
) -> np.ndarray:
    """Penalised maximum likelihood for each round's ``counts`` (R, n), from ``init`` (P,).

    Damped Newton like :func:`arena.ratings.bradley_terry.fit_bt`: a round's step is halved
    while its objective would fall, and rounds leave the batch once they have converged.
    """
    params = np.array(np.broadcast_to(init, (counts.shape[0], d.p)))
    active = np.arange(len(params))
    f_old = _objective(d, params, counts, ridge)
    for _ in range(max_iter):
        if not len(active):
            break
        cur, c_act = params[active], counts[active]
        grad, info, _ = _gradient_hessian(d, cur, c_act, ridge)
        step = np.linalg.solve(info, grad[..., None])[..., 0]
        scale = np.ones(len(active))
        for _ in range(30):
            cand = cur + scale[:, None] * step
            f_new = _objective(d, cand, c_act, ridge)
            worse = f_new < f_old - 1e-12 * np.abs(f_old)
            if not worse.any():
                break
            scale[worse] *= 0.5
        params[active] = cand
        moved = np.abs(scale[:, None] * step).max(axis=1)
        keep = moved > 1e-8
        active, f_old = active[keep], f_new[keep]
    return params


def _to_elo(d: _Design, theta: np.ndarray, refs: list[np.ndarray]) -> np.ndarray:
    """Elo ratings ``(R, m)`` normalised per group on its reference models."""
    elo = ELO_PER_NAT * theta
    out = np.empty_like(elo)
    for g, ref in enumerate(refs):
        members = np.flatnonzero(d.group == g)
        out[:, members] = 1000.0 + elo[:, members] - elo[:, ref].mean(axis=1)[:, None]
    return out


def _refit_bootstrap(
    d: _Design,
    full: np.ndarray,
    refs: list[np.ndarray],
    rounds: int,
    seed: int | None,
    ridge: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bootstrap rounds refitted: parameters ``(R, P)`` and per-round determinedness."""
    n = len(d.y)
    rng = np.random.default_rng(seed)
    boot = np.empty((rounds, d.p))
    up_ok = np.ones((rounds, d.m), dtype=bool)
    lo_ok = np.ones((rounds, d.m), dtype=bool)
    chunk = max(1, _CHUNK // n)
    for start in range(0, rounds, chunk):
        size = min(chunk, rounds - start)
        draws = [np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(size)]
        counts = np.stack(draws).astype(np.float64)
        rows = slice(start, start + size)
        boot[rows] = _newton(d, counts, full, ridge)
        won = _per_round_bincount(d.pair, counts * d.y, d.m * d.m)
        lost = _per_round_bincount(d.pair, counts * (1 - d.y), d.m * d.m)
        w = won.reshape(-1, d.m, d.m) + np.swapaxes(lost.reshape(-1, d.m, d.m), 1, 2)
        for g, ref in enumerate(refs):
            members = np.flatnonzero(d.group == g)
            up, lo = determined_in_rounds(w[:, members][:, :, members], ref_local(members, ref))
            up_ok[rows, members], lo_ok[rows, members] = up, lo
    return boot, up_ok, lo_ok


def ref_local(members: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Positions of ``ref`` within the sorted ``members``."""
    out: np.ndarray = np.searchsorted(members, ref)
    return out


def _sandwich(
    d: _Design, full: np.ndarray, refs: list[np.ndarray], ridge: float
) -> tuple[np.ndarray, np.ndarray]:
    """Standard deviations (natural-log units) of the normalised strengths and of ``gamma``
    from the sandwich covariance ``H^-1 S H^-1``."""
    n = len(d.y)
    _, info, resid = _gradient_hessian(d, full[None], np.ones((1, n)), ridge)
    meat = _information(d, resid**2)[0]
    bread = np.linalg.inv(info[0])
    cov = bread @ meat @ bread
    contrast = np.zeros((d.m, d.p))
    for g, ref in enumerate(refs):
        members = np.flatnonzero(d.group == g)
        contrast[members, members] = 1.0
        contrast[np.ix_(members, ref)] -= 1.0 / len(ref)
    var = np.einsum("ij,jk,ik->i", contrast, cov, contrast)
    gamma_var = np.diag(cov)[d.m :]
    return np.sqrt(np.maximum(var, 0.0)), np.sqrt(np.maximum(gamma_var, 0.0))


def _design(log: VoteLog, core: np.ndarray, group: np.ndarray) -> tuple[_Design, np.ndarray]:
    """The fit's votes (both models in a core) with compact model indices, and the scale."""
    assert log.features_a is not None and log.features_b is not None
    keep = core[log.a] & core[log.b]
    compact = np.cumsum(core) - 1
    _, local_group = np.unique(group[core], return_inverse=True)
    z, scale = normalized_differences(log.features_a[keep], log.features_b[keep])
    outcome = log.outcome[keep]
    y = np.where(outcome == A_WINS, 1.0, np.where(outcome == B_WINS, 0.0, 0.5))
    a, b = compact[log.a[keep]], compact[log.b[keep]]
    m = int(core.sum())
    return _Design(a, b, y, z, m, local_group, a * m + b), scale


def style_controlled_bt(
    log: VoteLog,
    *,
    anchor: str | None = None,
    bootstrap_rounds: int = 200,
    seed: int | None = 0,
    ridge: float = DEFAULT_RIDGE,
    method: str = "auto",
) -> StyleResult:
    """Bradley-Terry controlled for style, with 95% intervals (see the module docstring).

    ``log`` must carry features (:meth:`VoteLog.with_features`). ``method``: ``"auto"``
    (refitted bootstrap up to ``EXACT_BUDGET`` votes x rounds, the sandwich beyond),
    ``"refit"`` or ``"sandwich"``. An anchor outside every core (or without games) is
    ignored; ``bootstrap_rounds=0`` gives no intervals.
    """
    if log.features_a is None or log.features_b is None:
        raise ValueError("style control needs a vote log with features (VoteLog.with_features)")
    if method not in ("auto", "refit", "sandwich"):
        raise ValueError(f"unknown method {method!r}: expected auto, refit or sandwich")
    k = log.features_a.shape[1]
    names = STYLE_FEATURES if k == len(STYLE_FEATURES) else tuple(f"f{i}" for i in range(k))
    mm = log.n_models
    wins_all = win_matrix(log.pair_counts())
    st = structure(wins_all)
    d, scale = _design(log, st.core, st.group)
    core_idx = np.flatnonzero(st.core)
    n = len(d.y)
    played = (wins_all + wins_all.T).sum(1) > 0
    anchor_idx = _anchor_index(log.models, played, anchor, strict=False)
    a_c = -1
    if anchor_idx is not None and st.core[anchor_idx]:
        a_c = int(np.searchsorted(core_idx, anchor_idx))
    refs = []
    for g in range(int(d.group.max()) + 1 if d.m else 0):
        members = np.flatnonzero(d.group == g)
        refs.append(np.array([a_c]) if a_c in members else members)
    rating = np.full(mm, np.nan)
    lower, upper = np.full(mm, np.nan), np.full(mm, np.nan)
    effect, eff_lo, eff_up = np.full(k, np.nan), np.full(k, np.nan), np.full(k, np.nan)
    rounds = bootstrap_rounds if n else 0
    if method == "auto":
        method = "refit" if n * rounds <= EXACT_BUDGET else "sandwich"
    if n:
        start = np.zeros(d.p)  # warm start: the plain fit of each core, no style effect
        for members in (np.flatnonzero(d.group == g) for g in range(len(refs))):
            sub = core_idx[members]
            start[members] = fit_bt(wins_all[np.ix_(sub, sub)], ridge=ridge)
        full = _newton(d, np.ones((1, n)), start, ridge)[0]
        point = _to_elo(d, full[None, : d.m], refs)[0]
        rating[core_idx] = point
        effect = ELO_PER_NAT * full[d.m :]
    if rounds and method == "refit":
        boot, up_ok, lo_ok = _refit_bootstrap(d, full, refs, rounds, seed, ridge)
        lo, up = bootstrap_bounds(_to_elo(d, boot[:, : d.m], refs), up_ok, lo_ok)
        with np.errstate(invalid="ignore"):
            eff_lo, eff_up = ELO_PER_NAT * np.percentile(boot[:, d.m :], [2.5, 97.5], axis=0)
    elif rounds:
        sd, gamma_sd = _sandwich(d, full, refs, ridge)
        lo, up = point - Z95 * ELO_PER_NAT * sd, point + Z95 * ELO_PER_NAT * sd
        eff_lo, eff_up = (
            effect - Z95 * ELO_PER_NAT * gamma_sd,
            effect + Z95 * ELO_PER_NAT * gamma_sd,
        )
        rounds = 0
    if n and (rounds or method == "sandwich"):
        games = (wins_all + wins_all.T)[np.ix_(core_idx, core_idx)]
        for g, ref in enumerate(refs):
            members = np.flatnonzero(d.group == g)
            half = cramer_rao_halfwidth(games[np.ix_(members, members)], ref_local(members, ref))
            lo[members], up[members] = apply_floor(
                point[members], lo[members], up[members], ELO_PER_NAT * half
            )
        lower[core_idx], upper[core_idx] = lo, up
    lower_open, upper_open = np.isneginf(lower), np.isposinf(upper)
    group_all = np.where(st.core, st.group, -1)
    bounded = not np.isnan(lower).all()
    rank = grouped_rank(*((lower, upper) if bounded else (rating, rating)), group_all)
    lower = np.where(lower_open, rating, lower)
    upper = np.where(upper_open, rating, upper)
    for arr in (rating, lower, upper, rank, lower_open, upper_open, effect, eff_lo, eff_up, scale):
        arr.flags.writeable = False
    return StyleResult(
        models=log.models,
        rating=rating,
        lower=lower,
        upper=upper,
        rank=rank,
        lower_open=lower_open,
        upper_open=upper_open,
        group=group_all,
        features=names,
        effect=effect,
        effect_lower=eff_lo,
        effect_upper=eff_up,
        scale=scale,
        votes=n,
        rounds=rounds,
        seed=seed,
        method=method,
    )
