"""Leaderboard and export filters: parsed from query parameters or CLI options, applied in SQL.

Every leaderboard, chart and export accepts the same filters:

- ``category``: only votes on prompts of this category (imported votes have no prompt, so
  they drop out of a category filter);
- ``size``: a size class (``le2``, ``2-4``, ``4-9``, ``gt9`` with the default bounds
  ``SIZE_CLASS_BOUNDS_B = [2, 4, 9]``). A vote counts when **both** of its models are in the
  class, so the board compares models of one class against each other only; a model of
  unknown size belongs to no class;
- ``from`` / ``to``: UTC dates (``YYYY-MM-DD``), both inclusive;
- ``exclude_ties``: drop tie and "both bad" votes.

Votes flagged ``excluded`` never count, whatever the filters.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, false, or_, select

from arena.extensions import db
from arena.models import Model, Prompt, Vote

DEFAULT_SIZE_BOUNDS_B = (2.0, 4.0, 9.0)
SORTS = ("bt", "elo", "score")
FILTER_PARAMS = ("category", "size", "from", "to", "exclude_ties")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class FilterError(ValueError):
    """A filter or sort parameter that cannot be honoured; the message says what is valid."""


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


@dataclass(frozen=True)
class Filters:
    """One validated filter set; the empty one (all defaults) means every counted vote."""

    category: str | None = None
    size: SizeClass | None = None
    date_from: date | None = None
    date_to: date | None = None
    exclude_ties: bool = False

    def params(self) -> dict[str, str]:
        """The filters as query parameters (only those set), e.g. for links and forms."""
        out: dict[str, str] = {}
        if self.category:
            out["category"] = self.category
        if self.size:
            out["size"] = self.size.id
        if self.date_from:
            out["from"] = self.date_from.isoformat()
        if self.date_to:
            out["to"] = self.date_to.isoformat()
        if self.exclude_ties:
            out["exclude_ties"] = "1"
        return out

    def describe(self) -> dict[str, Any]:
        """JSON-ready description, as written in exports."""
        return {
            "category": self.category,
            "size": self.size.id if self.size else None,
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "exclude_ties": self.exclude_ties,
        }

    def key(self) -> str:
        """A canonical string identifying the filter set (for caches and ETags)."""
        described = self.describe()
        if self.size:
            described["size"] = [self.size.lower, self.size.upper]
        return json.dumps(described, sort_keys=True, separators=(",", ":"))

    @property
    def is_default(self) -> bool:
        return self == Filters()


def known_categories() -> list[str]:
    return list(db.session.scalars(select(Prompt.category).distinct().order_by(Prompt.category)))


def single_arg(args: Mapping[str, Any], name: str) -> str | None:
    """One value of ``name``; repeated query parameters are refused rather than guessed."""
    getlist = getattr(args, "getlist", None)
    if getlist is not None:
        values = getlist(name)
        if len(values) > 1:
            raise FilterError(f"give {name!r} at most once (got {len(values)} values)")
        value = values[0] if values else None
    else:
        value = args.get(name)
    if value is None:
        return None
    return str(value).strip()


def parse_date(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FilterError(f"bad date {value!r} for {name!r}: expected YYYY-MM-DD") from None


def parse_bool(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise FilterError(f"bad value {value!r} for {name!r}: expected 1/0, true/false, yes/no")


def parse_filters(
    args: Mapping[str, Any],
    bounds: Sequence[float] | None = None,
    *,
    allowed: Iterable[str] = (),
    categories: Sequence[str] | None = None,
) -> Filters:
    """Validate query parameters (a ``MultiDict`` or a plain mapping) into :class:`Filters`.

    Empty values count as absent (an HTML form sends every field). ``allowed`` names other
    parameters the caller reads itself (such as ``sort``); any other name is refused, so a
    typo never silently shows an unfiltered board. ``categories`` defaults to those in the
    database.

    Raises:
        FilterError: with a message naming the parameter and the accepted values.
    """
    expected = (*FILTER_PARAMS, *allowed)
    unknown = sorted(set(args.keys()) - set(expected))
    if unknown:
        raise FilterError(
            f"unknown parameter {unknown[0]!r}; expected one of: " + ", ".join(expected)
        )
    category = single_arg(args, "category") or None
    if category is not None:
        known = known_categories() if categories is None else list(categories)
        if category not in known:
            raise FilterError(
                f"unknown category {category!r}; known categories: " + (", ".join(known) or "none")
            )
    size = None
    size_id = single_arg(args, "size")
    if size_id:
        classes = {c.id: c for c in size_classes(bounds)}
        size = classes.get(size_id)
        if size is None:
            raise FilterError(
                f"unknown size class {size_id!r}; expected one of: " + ", ".join(classes)
            )
    raw_from, raw_to = single_arg(args, "from"), single_arg(args, "to")
    date_from = parse_date("from", raw_from) if raw_from else None
    date_to = parse_date("to", raw_to) if raw_to else None
    if date_from and date_to and date_from > date_to:
        raise FilterError(f"'from' ({date_from}) is after 'to' ({date_to})")
    exclude_ties = parse_bool("exclude_ties", single_arg(args, "exclude_ties") or "")
    return Filters(category, size, date_from, date_to, exclude_ties)


#: Values of the ``style`` parameter of the leaderboard pages: ``control`` shows the ratings
#: controlled for answer length and Markdown; ``none`` (or nothing) the ratings as voted.
STYLES = ("control", "none")


def parse_style(args: Mapping[str, Any]) -> bool:
    """Whether ``style=control`` was asked for (``none`` or an empty value: no).

    Raises:
        FilterError: for any other value, saying which ones are accepted.
    """
    raw = single_arg(args, "style") or ""
    value = raw.lower()
    if value not in ("", *STYLES):
        raise FilterError(
            f"bad value {raw!r} for 'style': expected control (ratings controlled for answer "
            "length and Markdown) or none"
        )
    return value == "control"


def parse_sort(value: str | None, default: str = "bt") -> str:
    """``bt`` (Bradley-Terry rank), ``elo`` (size-aware Elo) or ``score`` (arena score)."""
    sort = (value or "").strip() or default
    if sort not in SORTS:
        raise FilterError(f"unknown sort {sort!r}; expected one of: " + ", ".join(SORTS))
    return sort


def parse_sort_arg(args: Mapping[str, Any], default: str = "bt") -> str:
    return parse_sort(single_arg(args, "sort"), default)


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def size_condition(column: Any, size: SizeClass) -> Any:
    """SQL: ``column`` (a model size) is in the class."""
    parts = [column.is_not(None)]
    if size.lower is not None:
        parts.append(column > size.lower)
    if size.upper is not None:
        parts.append(column <= size.upper)
    return and_(*parts)


def vote_conditions(filters: Filters) -> list[Any]:
    """WHERE conditions on ``Vote`` for ``filters``; excluded votes are always left out."""
    conditions: list[Any] = [Vote.excluded == false()]
    if filters.category:
        conditions.append(
            Vote.prompt_id.in_(select(Prompt.id).where(Prompt.category == filters.category))
        )
    if filters.size:
        in_class = select(Model.id).where(size_condition(Model.params_b, filters.size))
        conditions.append(and_(Vote.model_a_id.in_(in_class), Vote.model_b_id.in_(in_class)))
    if filters.date_from:
        conditions.append(Vote.created_at >= _start_of(filters.date_from))
    if filters.date_to:
        conditions.append(Vote.created_at < _start_of(filters.date_to + timedelta(days=1)))
    if filters.exclude_ties:
        conditions.append(or_(Vote.outcome == "a", Vote.outcome == "b"))
    return conditions


def filtered_votes(stmt: Select[Any], filters: Filters) -> Select[Any]:
    """``stmt`` (a select over ``Vote``) restricted to the votes that count under ``filters``."""
    return stmt.where(*vote_conditions(filters))
