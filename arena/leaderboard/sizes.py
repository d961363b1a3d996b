"""Size classes of models (billions of parameters), for the ``size`` filter.

``size_classes([2, 4, 9])`` gives ``le2`` (≤ 2B), ``2-4``, ``4-9`` and ``gt9`` (> 9B); a vote
counts in a class when both of its models are in it, and a model of unknown size is in none.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_

DEFAULT_SIZE_BOUNDS_B = (2.0, 4.0, 9.0)


@dataclass(frozen=True)
class SizeClass:
    """Models whose size in billions is in ``(lower, upper]`` (open ends are None)."""

    id: str
    label: str
    lower: float | None
    upper: float | None

    def contains(self, size_b: float | None) -> bool:
        if size_b is None:
            return False
        return (self.lower is None or size_b > self.lower) and (
            self.upper is None or size_b <= self.upper
        )


def size_classes(bounds: Sequence[float] | None = None) -> tuple[SizeClass, ...]:
    """The size classes cut at ``bounds`` (ascending billions): ``[2, 4, 9]`` gives
    ``le2`` (≤ 2B), ``2-4`` (2–4B), ``4-9`` (4–9B) and ``gt9`` (> 9B)."""
    values = [float(b) for b in (DEFAULT_SIZE_BOUNDS_B if bounds is None else bounds)]
    if not values or any(not math.isfinite(b) or b <= 0 for b in values):
        raise ValueError(f"size class bounds must be positive numbers, got {bounds!r}")
    if any(b2 <= b1 for b1, b2 in itertools.pairwise(values)):
        raise ValueError(f"size class bounds must be strictly ascending, got {bounds!r}")
    classes = [SizeClass(f"le{values[0]:g}", f"≤ {values[0]:g}B", None, values[0])]
    for lower, upper in itertools.pairwise(values):
        classes.append(SizeClass(f"{lower:g}-{upper:g}", f"{lower:g}–{upper:g}B", lower, upper))
    classes.append(SizeClass(f"gt{values[-1]:g}", f"> {values[-1]:g}B", values[-1], None))
    return tuple(classes)


def size_condition(column: Any, size: SizeClass) -> Any:
    """SQL: ``column`` (a model size) is in the class."""
    parts = [column.is_not(None)]
    if size.lower is not None:
        parts.append(column > size.lower)
    if size.upper is not None:
        parts.append(column <= size.upper)
    return and_(*parts)
