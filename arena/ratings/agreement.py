"""How far a judge agrees with people: proportions, Cohen's kappa and rank correlations.

Pure functions over numpy arrays (numpy only), each with a 95% interval:

- :func:`wilson` — a proportion with its Wilson score interval (right even near 0 or 1 and
  for few trials, where the normal approximation leaves [0, 1]);
- :func:`cohen_kappa` — agreement between two raters over the same items beyond what their
  own marginal frequencies would give by chance, with the large-sample standard error of
  Fleiss, Cohen and Everitt (1969) for its interval;
- :func:`spearman` and :func:`kendall_tau_b` — how alike two orderings of the same models
  are (ties get average ranks; tau-b corrects for ties), Spearman's with a Fisher-z interval
  (Bonett and Wright's variance ``1.06 / (n - 3)``).

Categories are small integer codes (``0 .. k-1``); callers map verdicts to them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: The normal quantile of a two-sided 95% interval.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A figure with its 95% interval and the number of items (``n``) behind it; all None
    when there is nothing to estimate from (``n`` is then 0 or too small)."""

    value: float | None
    lower: float | None
    upper: float | None
    n: int

    def as_dict(self) -> dict[str, float | int | None]:
        return {"value": self.value, "lower": self.lower, "upper": self.upper, "n": self.n}


def _empty(n: int) -> Estimate:
    return Estimate(None, None, None, n)


def wilson(successes: int, n: int, z: float = Z95) -> Estimate:
    """``successes / n`` with its Wilson score interval (no estimate when ``n`` is 0)."""
    if successes < 0 or n < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return _empty(0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), n)


def confusion(first: np.ndarray, second: np.ndarray, k: int) -> np.ndarray:
    """Counts ``table[i, j]`` of items the first rater put in category ``i`` and the second
    in ``j`` (both int arrays of codes ``0 .. k-1``, one entry per item)."""
    a = np.asarray(first, dtype=np.int64)
    b = np.asarray(second, dtype=np.int64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"ratings must be two 1-D arrays of one length, got {a.shape}, {b.shape}")
    if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= k):
        raise ValueError(f"category codes must be in 0..{k - 1}")
    return np.bincount(a * k + b, minlength=k * k).reshape(k, k)


def kappa_from_table(table: np.ndarray, z: float = Z95) -> Estimate:
    """Cohen's kappa of a ``k x k`` confusion table with a 95% interval from the
    large-sample variance of Fleiss, Cohen and Everitt (1969), clipped to [-1, 1].

    ``kappa = (p_o - p_e) / (1 - p_e)`` with ``p_o`` the observed share of agreement and
    ``p_e = sum_i p_i. * p_.i`` the agreement expected by chance from the raters' marginals.
    No estimate when the table is empty or both raters always used one same category
    (``p_e = 1``: kappa is undefined).
    """
    counts = np.asarray(table, dtype=np.float64)
    n = int(counts.sum())
    if n == 0:
        return _empty(0)
    p = counts / n
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    p_o = float(np.trace(p))
    p_e = float(rows @ cols)
    if p_e >= 1.0 - 1e-12:
        return _empty(n)
    kappa = (p_o - p_e) / (1 - p_e)
    diagonal = np.diag(p)
    term1 = float((diagonal * (1 - (rows + cols) * (1 - kappa)) ** 2).sum())
    spread = (cols[:, None] + rows[None, :]) ** 2  # (p_.i + p_j.)^2 for cell (i, j)
    off = p * spread
    term2 = (1 - kappa) ** 2 * float(off.sum() - np.trace(off))
    term3 = (kappa - p_e * (1 - kappa)) ** 2
    variance = max(term1 + term2 - term3, 0.0) / (n * (1 - p_e) ** 2)
    half = z * math.sqrt(variance)
    return Estimate(kappa, max(-1.0, kappa - half), min(1.0, kappa + half), n)


def cohen_kappa(first: np.ndarray, second: np.ndarray, k: int, z: float = Z95) -> Estimate:
    """Cohen's kappa of two raters' category codes over the same items (see
    :func:`kappa_from_table`)."""
    return kappa_from_table(confusion(first, second, k), z)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1 (smallest value), tied values sharing the mean of their ranks."""
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    start = 0
    for end in range(1, len(x) + 1):
        if end == len(x) or sorted_x[end] != sorted_x[start]:
            ranks[order[start:end]] = (start + end + 1) / 2  # mean of ranks start+1 .. end
            start = end
    return ranks


def _pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two 1-D arrays of one length, got {a.shape}, {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("values must be finite")
    return a, b


def spearman(x: np.ndarray, y: np.ndarray, z: float = Z95) -> Estimate:
    """Spearman's rank correlation of paired values (the Pearson correlation of their average
    ranks), with a Fisher-z 95% interval (variance ``1.06 / (n - 3)``, Bonett and Wright
    2000) from 4 pairs on. No estimate under 2 pairs or when either side is constant."""
    a, b = _pair(x, y)
    n = len(a)
    if n < 2:
        return _empty(n)
    ra, rb = average_ranks(a), average_ranks(b)
    da, db = ra - ra.mean(), rb - rb.mean()
    norm = math.sqrt(float(da @ da) * float(db @ db))
    if norm == 0:
        return _empty(n)
    rho = max(-1.0, min(1.0, float(da @ db) / norm))
    if n < 4:
        return Estimate(rho, None, None, n)
    if abs(rho) >= 1.0:
        return Estimate(rho, rho, rho, n)
    half = z * math.sqrt(1.06 / (n - 3))
    centre = math.atanh(rho)
    return Estimate(rho, math.tanh(centre - half), math.tanh(centre + half), n)


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float | None:
    """Kendall's tau-b of paired values: (concordant - discordant) pairs over the geometric
    mean of the pairs untied in each variable. None under 2 pairs or when a side is constant.
    O(n^2): meant for a leaderboard's few dozen models."""
    a, b = _pair(x, y)
    if len(a) < 2:
        return None
    upper = np.triu_indices(len(a), k=1)
    sa = np.sign(a[:, None] - a[None, :])[upper]
    sb = np.sign(b[:, None] - b[None, :])[upper]
    untied_a, untied_b = int(np.count_nonzero(sa)), int(np.count_nonzero(sb))
    if untied_a == 0 or untied_b == 0:
        return None
    return float((sa * sb).sum()) / math.sqrt(untied_a * untied_b)
