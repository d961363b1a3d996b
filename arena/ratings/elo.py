"""Sequential Elo replays: the original arena's size-aware Elo and Chatbot Arena's online Elo.

Both replay the votes once each, in timestamp order (stable for equal timestamps). The loop
runs over plain Python lists (``ndarray.tolist()``), which is several times faster than
iterating numpy scalars: about 0.1-0.2 s per million votes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from arena.ratings.votelog import VoteLog

DEFAULT_SIZE_B = 1.0
"""Size (billions of parameters) assumed for a model whose size is unknown."""


@dataclass(frozen=True, eq=False)
class EloHistory:
    """Ratings sampled at a few time points, for an "Elo over time" chart.

    ``ratings[k, m]`` is model ``m``'s rating after every vote with ``ts <= times[k]``
    (its initial rating if it had none yet).
    """

    models: tuple[str, ...]
    times: np.ndarray
    ratings: np.ndarray

    def series(self, model: str) -> list[tuple[float, float]]:
        """``[(ts, rating), ...]`` for one model, in time order."""
        column = self.ratings[:, self.models.index(model)]
        return list(zip(self.times.tolist(), column.tolist(), strict=True))


@dataclass(frozen=True, eq=False)
class EloResult:
    """Final ratings (indexed like ``models``) and, if requested, their history."""

    models: tuple[str, ...]
    ratings: np.ndarray
    history: EloHistory | None = None

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.models, self.ratings.tolist(), strict=True))


def effective_sizes(models: Sequence[str], sizes: Mapping[str, float | None]) -> list[float]:
    """Sizes in billions for ``models``; unknown (missing or None) sizes become 1.0."""
    out = []
    for model in models:
        size = sizes.get(model)
        size = DEFAULT_SIZE_B if size is None else float(size)
        if not math.isfinite(size) or size < 0:
            raise ValueError(f"size of {model!r} must be a non-negative number, got {size!r}")
        out.append(size)
    return out


def size_aware_k(winner_size: float, loser_size: float, max_size: float) -> float:
    """K for a decisive vote: ``min(64, 32 * (1 + (loser_size - winner_size) / max_size))``.

    Beating a bigger model earns more, beating a smaller one less. The result is floored at 0,
    which only matters if a model larger than ``max_size`` wins (the formula would otherwise
    turn its win into a rating loss).
    """
    return max(0.0, min(64.0, 32.0 * (1.0 + (loser_size - winner_size) / max_size)))


def _history_cutoffs(
    ts: np.ndarray, history_points: int, history_times: Sequence[float] | np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Sample times and, for each, how many (time-sorted) votes have ``ts <= time``."""
    if history_times is not None:
        times = np.sort(np.asarray(history_times, dtype=np.float64))
    elif history_points <= 0 or len(ts) == 0:
        times = np.empty(0)
    elif history_points == 1:
        times = ts[-1:].copy()
    else:
        times = np.linspace(ts[0], ts[-1], history_points)
        times[-1] = ts[-1]  # exact, despite rounding in linspace
    return times, np.searchsorted(ts, times, side="right")


def _replay(
    log: VoteLog,
    initial: list[float],
    k_win: list[list[float]],
    k_draw: float,
    *,
    base: float,
    scale: float,
    history_points: int,
    history_times: Sequence[float] | np.ndarray | None,
) -> EloResult:
    """Replay ``log`` in time order; ``k_win[winner][loser]`` is K for a decisive vote.

    Every vote updates both sides by the same amount in opposite directions:
    ``E_a = 1 / (1 + base ** ((R_b - R_a) / scale))``; A winning adds ``K (1 - E_a)`` to A,
    B winning adds ``K E_a`` to B, a tie or "both bad" adds ``k_draw (0.5 - E_a)`` to A.
    """
    log = log.sorted_by_time()
    times, cutoffs = _history_cutoffs(log.ts, history_points, history_times)
    a_list, b_list, o_list = log.a.tolist(), log.b.tolist(), log.outcome.tolist()
    r = list(initial)
    snapshots: list[list[float]] = []
    start = 0
    for stop in [*cutoffs.tolist(), len(a_list)]:
        for i, j, o in zip(a_list[start:stop], b_list[start:stop], o_list[start:stop], strict=True):
            ri = r[i]
            rj = r[j]
            e = 1.0 / (1.0 + base ** ((rj - ri) / scale))
            if o == 0:
                d = k_win[i][j] * (1.0 - e)
            elif o == 1:
                d = -k_win[j][i] * e
            else:
                d = k_draw * (0.5 - e)
            r[i] = ri + d
            r[j] = rj - d
        snapshots.append(r.copy())
        start = stop
    snapshots.pop()  # the final state, kept in ``ratings`` below
    ratings = np.array(r, dtype=np.float64)
    ratings.flags.writeable = False
    history = None
    if len(times):
        hist = np.array(snapshots, dtype=np.float64).reshape(len(times), len(r))
        hist.flags.writeable = times.flags.writeable = False
        history = EloHistory(log.models, times, hist)
    return EloResult(log.models, ratings, history)


def size_aware_elo(
    log: VoteLog,
    sizes: Mapping[str, float | None],
    *,
    max_size: float | None = None,
    history_points: int = 100,
    history_times: Sequence[float] | np.ndarray | None = None,
) -> EloResult:
    """The original arena's size-aware Elo, replayed once over the votes in time order.

    Initial rating ``1000 + 100 * size`` (size in billions; 1.0 when unknown). A decisive vote
    uses ``K = min(64, 32 * (1 + (loser_size - winner_size) / max_size))`` for both sides; a
    tie or "both bad" scores 0.5 each with ``K = 32``. ``max_size`` should be the largest
    enabled model's size; by default it is the largest size in ``sizes`` or among the log's
    models (unknown sizes counting as 1.0).

    The history holds ratings at ``history_points`` evenly spaced times from the first to
    the last vote (or at explicit ``history_times``); it costs one list copy per point.
    """
    own = effective_sizes(log.models, sizes)
    if max_size is None:
        known = [float(s) for s in sizes.values() if s is not None]
        max_size = max([*known, *own], default=DEFAULT_SIZE_B)
    if not max_size > 0:
        raise ValueError(f"max_size must be positive, got {max_size!r}")
    k_win = [[size_aware_k(sw, sl, max_size) for sl in own] for sw in own]
    return _replay(
        log,
        [1000.0 + 100.0 * s for s in own],
        k_win,
        32.0,
        base=10.0,
        scale=400.0,
        history_points=history_points,
        history_times=history_times,
    )


def online_elo(
    log: VoteLog,
    *,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
    history_points: int = 0,
    history_times: Sequence[float] | np.ndarray | None = None,
) -> EloResult:
    """Chatbot Arena's ``compute_online_elo``: fixed K, ties and "both bad" score 0.5 each."""
    m = log.n_models
    return _replay(
        log,
        [float(init)] * m,
        [[float(k)] * m for _ in range(m)],
        float(k),
        base=float(base),
        scale=float(scale),
        history_points=history_points,
        history_times=history_times,
    )
