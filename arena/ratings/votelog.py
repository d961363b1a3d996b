"""Columnar vote log: the single input type of every rating function in this package.

A vote says which two models were shown (A on the left, B on the right) and what the voter
picked. Models are stored once in ``VoteLog.models``; the columns hold int32 indices into it,
so a million votes cost ~17 MB and every aggregate is a ``np.bincount`` away.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

A_WINS = 0
B_WINS = 1
TIE = 2
BOTH_BAD = 3

#: Outcome strings accepted by :meth:`VoteLog.from_records`, indexed by outcome code.
OUTCOMES: tuple[str, ...] = ("a", "b", "tie", "both_bad")
_OUTCOME_CODE = {name: code for code, name in enumerate(OUTCOMES)}


def _frozen(array: np.ndarray, dtype: type | np.dtype) -> np.ndarray:
    """Return a read-only, C-contiguous 1-D copy (or view, if already right) of ``array``."""
    out = np.ascontiguousarray(array, dtype=dtype)
    if out.ndim != 1:
        raise ValueError(f"vote log columns must be 1-D, got shape {out.shape}")
    if out.flags.writeable:
        out = out.copy() if out is array else out
        out.flags.writeable = False
    return out


def _features(array: np.ndarray, n: int) -> np.ndarray:
    """A read-only ``(n, K)`` float32 copy of a feature table (counts and lengths are exact
    in float32 up to 16 million), checked."""
    out = np.array(array, dtype=np.float32, copy=True)
    if out.ndim != 2 or out.shape[0] != n:
        raise ValueError(f"style features must have shape ({n}, K), got {out.shape}")
    if out.size and not (np.isfinite(out).all() and (out >= 0).all()):
        raise ValueError("style features must be finite and non-negative")
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class VoteLog:
    """An immutable, columnar log of votes.

    Attributes:
        models: index -> model tag. Models listed here but absent from the votes still
            appear (with zero battles) in every result.
        a: int32 index of the model shown as A (left).
        b: int32 index of the model shown as B (right).
        outcome: int8 outcome code: 0 = A better, 1 = B better, 2 = tie, 3 = both bad.
        ts: float64 unix seconds of each vote (used for ordering and date filters).
        features_a, features_b: optional ``(n, K)`` float32 style features of the answer
            shown as A / B (see :mod:`arena.ratings.style`), for style control; None when
            unknown. Both or neither; filtered and reordered with the votes.

    The constructor validates the columns (equal lengths, indices in range, no model against
    itself, known outcome codes, finite non-negative features) and makes them read-only.
    """

    models: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray
    ts: np.ndarray
    features_a: np.ndarray | None = None
    features_b: np.ndarray | None = None

    def __post_init__(self) -> None:
        models = tuple(self.models)
        if len(set(models)) != len(models):
            raise ValueError("VoteLog.models contains duplicate tags")
        a = _frozen(self.a, np.int32)
        b = _frozen(self.b, np.int32)
        outcome = _frozen(self.outcome, np.int8)
        ts = _frozen(self.ts, np.float64)
        n = len(a)
        if not (len(b) == len(outcome) == len(ts) == n):
            raise ValueError(
                f"VoteLog columns differ in length: a={n}, b={len(b)}, "
                f"outcome={len(outcome)}, ts={len(ts)}"
            )
        if n:
            m = len(models)
            for name, col in (("a", a), ("b", b)):
                if col.min() < 0 or col.max() >= m:
                    raise ValueError(f"VoteLog.{name} holds an index outside 0..{m - 1}")
            same = np.flatnonzero(a == b)
            if same.size:
                raise ValueError(
                    f"vote {int(same[0])}: model {models[a[same[0]]]!r} cannot battle itself"
                )
            if outcome.min() < 0 or outcome.max() > BOTH_BAD:
                raise ValueError("VoteLog.outcome holds a code outside 0..3")
            if np.isnan(ts).any():
                raise ValueError("VoteLog.ts holds NaN")
        if (self.features_a is None) != (self.features_b is None):
            raise ValueError("VoteLog needs both features_a and features_b, or neither")
        if self.features_a is not None and self.features_b is not None:
            fa, fb = _features(self.features_a, n), _features(self.features_b, n)
            if fa.shape != fb.shape:
                raise ValueError(f"feature shapes differ: {fa.shape} and {fb.shape}")
            object.__setattr__(self, "features_a", fa)
            object.__setattr__(self, "features_b", fb)
        object.__setattr__(self, "models", models)
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "outcome", outcome)
        object.__setattr__(self, "ts", ts)

    @classmethod
    def from_records(
        cls,
        records: Iterable[tuple[str, str, str, float]],
        models: Sequence[str] | None = None,
    ) -> VoteLog:
        """Build a log from ``(model_a, model_b, outcome, ts)`` tuples.

        ``outcome`` is one of ``"a"``, ``"b"``, ``"tie"``, ``"both_bad"``. ``models`` fixes the
        model list and its order (and may include models without votes); a record naming a
        model outside it raises ``ValueError``. Without ``models`` the tags seen in the
        records are used, sorted.

        Raises:
            ValueError: unknown outcome string, unknown model, or a model against itself.
        """
        rows = list(records)
        if rows:
            try:
                col_a, col_b, col_o, col_t = zip(*rows, strict=True)
            except ValueError as exc:
                raise ValueError(
                    "each vote record must be a (model_a, model_b, outcome, ts) tuple"
                ) from exc
        else:
            col_a = col_b = col_o = col_t = ()
        if models is None:
            models = sorted(set(col_a) | set(col_b))
        tags = tuple(models)
        index = {tag: i for i, tag in enumerate(tags)}
        try:
            a = [index[tag] for tag in col_a]
            b = [index[tag] for tag in col_b]
        except KeyError as exc:
            raise ValueError(f"vote references model {exc.args[0]!r}, not in models") from None
        try:
            outcome = [_OUTCOME_CODE[name] for name in col_o]
        except (KeyError, TypeError):
            bad = next(
                i
                for i, name in enumerate(col_o)
                if not isinstance(name, str) or name not in _OUTCOME_CODE
            )
            raise ValueError(
                f"vote {bad}: unknown outcome {col_o[bad]!r}; expected one of "
                + ", ".join(repr(name) for name in OUTCOMES)
            ) from None
        return cls(
            models=tags,
            a=np.array(a, dtype=np.int32),
            b=np.array(b, dtype=np.int32),
            outcome=np.array(outcome, dtype=np.int8),
            ts=np.array(col_t, dtype=np.float64),
        )

    def __len__(self) -> int:
        return len(self.a)

    @property
    def n_models(self) -> int:
        return len(self.models)

    def index_of(self, model: str) -> int:
        """Index of ``model`` in :attr:`models` (``ValueError`` if absent)."""
        try:
            return self.models.index(model)
        except ValueError:
            raise ValueError(f"unknown model {model!r}") from None

    def select(self, mask: np.ndarray) -> VoteLog:
        """Votes where the boolean ``mask`` is true (or at the given integer indices).

        The model list is kept unchanged, so filtered-out models still appear with zero votes.
        """
        mask = np.asarray(mask)
        if mask.dtype == np.bool_ and mask.shape != self.a.shape:
            raise ValueError(f"mask has shape {mask.shape}, expected {self.a.shape}")
        fa, fb = self.features_a, self.features_b
        return VoteLog(
            self.models,
            self.a[mask],
            self.b[mask],
            self.outcome[mask],
            self.ts[mask],
            None if fa is None else fa[mask],
            None if fb is None else fb[mask],
        )

    def with_features(self, features_a: np.ndarray, features_b: np.ndarray) -> VoteLog:
        """The same votes carrying per-vote style features ``(n, K)`` of answers A and B."""
        return VoteLog(self.models, self.a, self.b, self.outcome, self.ts, features_a, features_b)

    @property
    def has_features(self) -> bool:
        return self.features_a is not None

    def sorted_by_time(self) -> VoteLog:
        """The same votes in timestamp order (stable: equal timestamps keep their order)."""
        if self.is_time_sorted():
            return self
        return self.select(np.argsort(self.ts, kind="stable"))

    def is_time_sorted(self) -> bool:
        return bool(len(self.ts) < 2 or (np.diff(self.ts) >= 0).all())

    def decisive_mask(self) -> np.ndarray:
        """True for votes with a winner (neither tie nor both bad)."""
        return self.outcome <= B_WINS

    def exclude_ties(self) -> VoteLog:
        """The "ties excluded" filter: drop ties and "both bad" votes."""
        return self.select(self.decisive_mask())

    def pair_counts(self) -> np.ndarray:
        """Vote counts per outcome and ordered pair: ``counts[outcome, a, b]``, int64 (4, M, M)."""
        m = self.n_models
        cell = (self.outcome.astype(np.int64) * m + self.a) * m + self.b
        return np.bincount(cell, minlength=4 * m * m).reshape(4, m, m)


def win_matrix(counts: np.ndarray) -> np.ndarray:
    """Pairwise wins with ties and "both bad" counted half a win each way.

    ``counts`` has shape ``(..., 4, M, M)`` as returned by :meth:`VoteLog.pair_counts` (a
    leading batch axis is allowed). Returns float64 ``(..., M, M)`` where ``[i, j]`` is how many
    times model ``i`` beat model ``j`` in either seat, plus half of their ties and "both bad".
    """
    counts = np.asarray(counts, dtype=np.float64)
    a_won, b_won = counts[..., A_WINS, :, :], counts[..., B_WINS, :, :]
    drawn = counts[..., TIE, :, :] + counts[..., BOTH_BAD, :, :]
    wins: np.ndarray = (
        a_won + np.swapaxes(b_won, -1, -2) + 0.5 * (drawn + np.swapaxes(drawn, -1, -2))
    )
    return wins
