"""Intervals no surer than the data: open bounds, placements outside the core, a width floor.

Three rules complete the count bootstrap of :mod:`arena.ratings.bradley_terry` where it
cannot speak for the data (all values in natural-log units unless said otherwise):

1. **Undetermined rounds.** In a bootstrap round where a model's rating is not bounded above
   (below) relative to the normalising set (see :mod:`arena.ratings.structure`), its maximum
   likelihood value is +inf (-inf); the fitted number is set by the ridge, not by the data.
   Such rounds count as +inf (-inf) in the percentiles, so a bound whose percentile lands on
   them is open (±inf), and a bound that does not is the ordinary percentile.
2. **Placement outside the core.** A model outside its group's core (one that never lost, or
   never won, against the rest of a chain) is placed against the models it met, holding them
   at their estimates: for its block of mutually connected models (internal offsets from their
   own fit), the one-parameter conditional log-likelihood ``f(d)`` of its games against the
   others. The point is the maximum of ``f`` when it has one, else the *median-unbiased*
   estimate ``f(d) = log 1/2`` (the value at which the observed sweep is a coin flip; Hirji,
   Tsiatis & Mehta 1989, as exact logistic regression reports under separation). The finite
   bound is the likelihood-ratio bound ``f(d) = max f - 1.92`` (chi-square 1 d.f., 95%; for a
   sweep ``max f`` is the limit 0), computed with the opponents at their own bound on the same
   side (games against an opponent whose bound on that side is open say nothing and are
   dropped). None of this depends on the ridge. In a group with no core (a single vote, a
   strict order) every model is placed this way with the others at their points.
3. **Width floor.** The bootstrap cannot see variability the data never showed (three ties,
   a pair that always ends the same way): its interval can be far narrower than any unbiased
   estimate allows. The Cramér-Rao bound at the most informative win probability (1/2),
   ``Var >= c' L^+ c`` with ``L`` the Laplacian of ``games / 4`` and ``c`` the contrast to the
   normalising set, is a floor for every real bootstrap; a side narrower than half of its
   1.96-sigma width is a failed bootstrap and is widened to the full floor. Ordinary data
   never comes near it, so ordinary intervals are exactly the bootstrap's.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from arena.ratings.structure import Structure, strong_blocks

Z95 = 1.959963984540054
LR_DROP = Z95**2 / 2.0  # 1.92: half the 95% chi-square(1) quantile
BIG = 1e300  # stands in for an infinite round value inside np.percentile
_OPEN = 1e100  # percentiles beyond this landed on undetermined rounds
_LOG_HALF = math.log(0.5)


def bootstrap_bounds(
    boot: np.ndarray, upper_ok: np.ndarray, lower_ok: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """2.5th / 97.5th percentiles of ``boot`` ``(R, m)``, undetermined rounds as ±inf.

    ``upper_ok[r, i]`` / ``lower_ok[r, i]`` say whether the round's value is bounded above /
    below. Returns ``(lower, upper)`` with -inf / +inf where the bound is open. When every
    round is determined this is ``np.percentile(boot, [2.5, 97.5], axis=0)`` exactly.
    """
    if upper_ok.all() and lower_ok.all():
        with np.errstate(invalid="ignore"):
            lower, upper = np.percentile(boot, [2.5, 97.5], axis=0)
        return lower, upper
    up_vals = np.where(~upper_ok, BIG, np.where(~lower_ok, -BIG, boot))
    lo_vals = np.where(~lower_ok, -BIG, np.where(~upper_ok, BIG, boot))
    with np.errstate(invalid="ignore"):
        lower = np.percentile(lo_vals, 2.5, axis=0)
        upper = np.percentile(up_vals, 97.5, axis=0)
    lower = np.where(lower < -_OPEN, -np.inf, np.minimum(lower, _OPEN))
    upper = np.where(upper > _OPEN, np.inf, np.maximum(upper, -_OPEN))
    return lower, upper


def cramer_rao_halfwidth(games: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """1.96-sigma Cramér-Rao half-width (natural-log units) at win probability 1/2.

    ``games`` is the ``(m, m)`` symmetric game count table of one connected set,
    ``reference`` the indices whose mean (or single anchor) is the zero. Returns, per model,
    ``1.96 * sqrt(c' L^+ c)`` where ``L`` is the Laplacian of ``games / 4`` and
    ``c = e_i - mean(e_ref)``.
    """
    m = len(games)
    lap = -games / 4.0
    lap[range(m), range(m)] = games.sum(axis=1) / 4.0
    cov = np.linalg.pinv(lap)
    contrast = np.eye(m)
    contrast[:, reference] -= 1.0 / len(reference)
    var = np.einsum("ij,jk,ik->i", contrast, cov, contrast)
    halfwidth: np.ndarray = Z95 * np.sqrt(np.maximum(var, 0.0))
    return halfwidth


def apply_floor(
    point: np.ndarray, lower: np.ndarray, upper: np.ndarray, halfwidth: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Widen a side narrower than half the floor to the full floor (see the module docstring)."""
    lower = np.where(point - lower < 0.5 * halfwidth, point - halfwidth, lower)
    upper = np.where(upper - point < 0.5 * halfwidth, point + halfwidth, upper)
    return lower, upper


def _f(d: float, x: np.ndarray, won: np.ndarray, lost: np.ndarray) -> float:
    """Conditional log-likelihood: won ``x+d`` games ``won`` times, lost them ``lost`` times."""
    z = d + x
    return float(-(won * np.logaddexp(0.0, -z)).sum() - (lost * np.logaddexp(0.0, z)).sum())


def _root(
    fn: Callable[[float], float], target: float, lo: float, hi: float, increasing: bool
) -> float:
    """Bisection for ``fn(d) = target``, ``fn`` monotone on the bracket; a failing end of
    ``[lo, hi]`` moves outwards until the bracket holds the root."""
    for _ in range(200):
        f_lo, f_hi = fn(lo), fn(hi)
        ok_lo = f_lo <= target if increasing else f_lo >= target
        ok_hi = f_hi >= target if increasing else f_hi <= target
        if ok_lo and ok_hi:
            break
        width = hi - lo
        lo, hi = (lo if ok_lo else lo - width), (hi if ok_hi else hi + width)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if (fn(mid) < target) == increasing:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, abs(mid)):
            break
    return 0.5 * (lo + hi)


def solve_offset(x: np.ndarray, won: np.ndarray, lost: np.ndarray, side: str) -> float:
    """Point (``side="point"``) or likelihood bound (``"lower"``/``"upper"``) of ``d``.

    ``f(d) = sum won log s(d + x) + lost log s(-(d + x))`` with ``s`` the logistic function.
    Returns ±inf for a bound on a side where ``f`` does not fall (no game to bound it), NaN
    without games.
    """
    n_won, n_lost = float(won.sum()), float(lost.sum())
    if n_won + n_lost <= 0:
        return math.nan
    center = -float(np.average(x, weights=won + lost))

    def fn(d: float) -> float:
        return _f(d, x, won, lost)

    def slope(d: float) -> float:
        return float((won / (1 + np.exp(d + x))).sum() - (lost / (1 + np.exp(-d - x))).sum())

    if n_won > 0 and n_lost > 0:
        d_hat = _root(slope, 0.0, center - 1.0, center + 1.0, increasing=False)
        f_max = fn(d_hat)
    else:
        d_hat, f_max = (math.inf if n_won > 0 else -math.inf), 0.0
    if side == "point":
        if math.isfinite(d_hat):
            return d_hat
        return _root(fn, _LOG_HALF, center - 1.0, center + 1.0, increasing=d_hat > 0)
    if side == "lower":
        if n_won == 0:
            return -math.inf
        hi = d_hat if math.isfinite(d_hat) else center + 1.0
        return _root(fn, f_max - LR_DROP, hi - 1.0, hi, increasing=True)
    if n_lost == 0:
        return math.inf
    lo = d_hat if math.isfinite(d_hat) else center - 1.0
    return _root(fn, f_max - LR_DROP, lo, lo + 1.0, increasing=False)


def _games_against(
    wins: np.ndarray, block: np.ndarray, others: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flattened (block member, opponent) pairs that met: member offset, opponent, won, lost."""
    won = wins[np.ix_(block, others)]
    lost = wins[np.ix_(others, block)].T
    met = (won + lost) > 0
    rows, cols = np.nonzero(met)
    return offsets[rows], others[cols], won[met], lost[met]


def place_outside_core(
    wins: np.ndarray,
    st: Structure,
    g: int,
    theta: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    fit: Callable[[np.ndarray], np.ndarray],
    with_bounds: bool,
) -> None:
    """Place group ``g``'s models outside its core (rule 2), filling ``theta``/``lower``/``upper``.

    Core models must already hold their values (natural-log units, any common zero);
    ``lower``/``upper`` of the others are NaN on entry. ``fit(sub_wins)`` returns mean-zero
    log strengths of a strongly connected block (the internal offsets). In a group without a
    core the model with the most games seeds the placement at 0.
    """
    members = st.members(g)
    core = st.core_members(g)
    games = wins + wins.T
    placed = np.zeros(len(wins), dtype=bool)
    placed[core] = True
    blocks = [b for b in strong_blocks(st.reach, members) if not st.core[b[0]]]
    offsets: dict[int, np.ndarray] = {}
    order: list[np.ndarray] = []

    def internal(block: np.ndarray) -> np.ndarray:
        return np.zeros(1) if len(block) == 1 else np.asarray(fit(wins[np.ix_(block, block)]))

    if not len(core):
        seed = members[np.argmax(games[np.ix_(members, members)].sum(axis=1))]
        first = next(b for b in blocks if seed in b)
        offsets[int(first[0])] = internal(first)
        theta[first] = offsets[int(first[0])]
        placed[first] = True
        order.append(first)
        blocks = [b for b in blocks if b is not first]
    while blocks:
        k = int(np.argmax([games[np.ix_(b, np.flatnonzero(placed))].sum() for b in blocks]))
        block = blocks.pop(k)
        s = internal(block)
        offsets[int(block[0])] = s
        x_s, opp, won, lost = _games_against(wins, block, np.flatnonzero(placed), s)
        theta[block] = s + solve_offset(x_s - theta[opp], won, lost, "point")
        placed[block] = True
        order.append(block)
    if not with_bounds:
        return
    conditional = not len(core)  # no core: bounds given the others' points
    for block in order:
        s = offsets[int(block[0])]
        others = np.setdiff1d(members, block)
        x_s, opp, won, lost = _games_against(wins, block, others, s)
        d_point = float(np.mean(theta[block] - s))
        for side, bound in (("lower", lower), ("upper", upper)):
            at = theta[opp] if conditional else bound[opp]
            at = np.where(np.isnan(at), theta[opp], at)
            keep = np.isfinite(at)
            d = solve_offset(x_s[keep] - at[keep], won[keep], lost[keep], side)
            if math.isnan(d):
                d = -math.inf if side == "lower" else math.inf
            d = min(d, d_point) if side == "lower" else max(d, d_point)
            bound[block] = s + d
