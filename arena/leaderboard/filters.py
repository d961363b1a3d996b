"""Leaderboard and export filters: parsed from query parameters or CLI options, applied in SQL.

Every leaderboard, chart and export accepts the same filters:

- ``category``: only votes on prompts of this category (imported votes have no prompt, so
  they drop out of a category filter);
- ``size``: a size class (``le2``, ``2-4``, ``4-9``, ``gt9`` with the default bounds
  ``SIZE_CLASS_BOUNDS_B = [2, 4, 9]``). A vote counts when **both** of its models are in the
  class, so the board compares models of one class against each other only; a model of
  unknown size belongs to no class;
- ``from`` / ``to``: UTC dates (``YYYY-MM-DD``), both inclusive;
- ``exclude_ties``: drop tie and "both bad" votes;
- ``targeted``: ``exclude`` leaves out the votes cast in the picker's "settle it" battles
  (``Vote.targeted``: battles drawn mostly from chosen pairs, still blind), ``include`` (the
  default) keeps them. Judge verdicts are never targeted.

Votes flagged ``excluded`` never count, whatever the filters.

The leaderboard, its charts and its exports also take ``source`` (:func:`parse_source`):
``human`` (the default: people's votes), ``judge`` (the verdicts of every enabled judge) or
``judge:TAG`` (one judge's). Judge verdicts live in ``Judgement``, never in ``Vote``; every
filter applies to them alike (``from``/``to`` are the days they were judged; a verdict has
no voter, and no filter here concerns voters). Only counted and position-inconsistent
verdicts rate (an inconsistent one as a tie); unparsed ones never do. The vote log and
preference data are people's votes only: ``source`` is refused there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, false, or_, select, true

from arena.extensions import db
from arena.leaderboard.sizes import (
    DEFAULT_SIZE_BOUNDS_B,
    SizeClass,
    size_classes,
    size_condition,
)
from arena.models import Judge, Judgement, Model, Prompt, Vote

__all__ = [
    "DEFAULT_SIZE_BOUNDS_B",
    "FilterError",
    "Filters",
    "SizeClass",
    "parse_filters",
    "size_classes",
    "size_condition",
]

SORTS = ("bt", "elo", "score", "model")  # model: a model and its variants together
FILTER_PARAMS = ("category", "size", "from", "to", "exclude_ties", "targeted")
#: Values of ``targeted``: keep the votes of the picker's "settle it" battles, or leave them out.
TARGETED_VALUES = ("include", "exclude")
#: The default source: people's votes.
HUMAN = "human"
JUDGE = "judge"
#: The statuses of judge verdicts that rate (an inconsistent one counts as a tie).
RATED_STATUSES = ("counted", "inconsistent")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class FilterError(ValueError):
    """A filter or sort parameter that cannot be honoured; the message says what is valid."""


@dataclass(frozen=True)
class Filters:
    """One validated filter set; the empty one (all defaults) means every counted vote."""

    category: str | None = None
    size: SizeClass | None = None
    date_from: date | None = None
    date_to: date | None = None
    exclude_ties: bool = False
    #: ``human``, ``judge`` or ``judge:TAG`` (see the module's docstring).
    source: str = HUMAN
    #: Leave out votes of targeted battles (``targeted=exclude``).
    exclude_targeted: bool = False

    @property
    def is_human(self) -> bool:
        return self.source == HUMAN

    @property
    def judge_tag(self) -> str | None:
        """The one judge of ``judge:TAG``; None for ``human`` and ``judge`` (all of them)."""
        prefix = JUDGE + ":"
        return self.source[len(prefix) :] if self.source.startswith(prefix) else None

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
        if self.exclude_targeted:
            out["targeted"] = "exclude"
        if not self.is_human:
            out["source"] = self.source
        return out

    def describe(self) -> dict[str, Any]:
        """JSON-ready description, as written in exports."""
        return {
            "category": self.category,
            "size": self.size.id if self.size else None,
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "exclude_ties": self.exclude_ties,
            "exclude_targeted": self.exclude_targeted,
        }

    def key(self) -> str:
        """A canonical string identifying the filter set and source (for caches and ETags;
        a human board's is what it was before sources existed)."""
        described = self.describe()
        if self.size:
            described["size"] = [self.size.lower, self.size.upper]
        if not self.exclude_targeted:
            del described["exclude_targeted"]  # the key of every board before the filter
        if not self.is_human:
            described["source"] = self.source
        return json.dumps(described, sort_keys=True, separators=(",", ":"))

    @property
    def is_default(self) -> bool:
        return self == Filters()

    @property
    def unfiltered(self) -> bool:
        """No filter set, whatever the source."""
        return self == Filters(source=self.source)


def known_categories() -> list[str]:
    return list(db.session.scalars(select(Prompt.category).distinct().order_by(Prompt.category)))


def known_judges() -> list[str]:
    """The tags of every registered judge (enabled or not: a disabled judge's verdicts stay)."""
    return list(
        db.session.scalars(
            select(Model.tag).join(Judge, Judge.model_id == Model.id).order_by(Model.tag)
        )
    )


def parse_source(value: str | None, judges: Sequence[str] | None = None) -> str:
    """``human`` (also for an empty value), ``judge`` or ``judge:TAG`` of a registered judge
    (``judges`` defaults to those in the database).

    Raises:
        FilterError: for anything else, saying what is accepted.
    """
    source = (value or "").strip() or HUMAN
    if source in (HUMAN, JUDGE):
        return source
    prefix = JUDGE + ":"
    if not source.startswith(prefix) or not source[len(prefix) :].strip():
        raise FilterError(
            f"bad value {source!r} for 'source': expected human (people's votes), judge (every "
            "enabled judge's verdicts) or judge:TAG (one judge's)"
        )
    tag = source[len(prefix) :].strip()
    known = known_judges() if judges is None else list(judges)
    if tag not in known:
        raise FilterError(
            f"unknown judge {tag!r} in 'source'; registered judges: " + (", ".join(known) or "none")
        )
    return prefix + tag


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
    sources: bool = False,
    judges: Sequence[str] | None = None,
) -> Filters:
    """Validate query parameters (a ``MultiDict`` or a plain mapping) into :class:`Filters`.

    Empty values count as absent (an HTML form sends every field). ``allowed`` names other
    parameters the caller reads itself (such as ``sort``); any other name is refused, so a
    typo never silently shows an unfiltered board. ``categories`` defaults to those in the
    database. ``sources`` accepts ``source`` (:func:`parse_source`, ``judges`` its known
    judges); without it ``source`` is refused with a message saying why.

    Raises:
        FilterError: with a message naming the parameter and the accepted values.
    """
    expected = (*FILTER_PARAMS, *(("source",) if sources else ()), *allowed)
    if not sources and "source" in args:
        raise FilterError(
            "'source' applies to the leaderboard, its charts and exports only: this data holds "
            "people's votes only"
        )
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
    source = parse_source(single_arg(args, "source"), judges) if sources else HUMAN
    targeted = (single_arg(args, "targeted") or "include").lower()
    if targeted not in TARGETED_VALUES:
        raise FilterError(
            f"bad value {targeted!r} for 'targeted': expected include (the default) or exclude "
            '(leave out the votes of the picker\'s "settle it" battles)'
        )
    return Filters(category, size, date_from, date_to, exclude_ties, source, targeted == "exclude")


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


def vote_conditions(filters: Filters) -> list[Any]:
    """WHERE conditions on ``Vote`` for ``filters``; excluded votes are always left out.

    Raises:
        ValueError: for a judge source (judge verdicts are not votes: see
            :func:`judgement_conditions`).
    """
    if not filters.is_human:
        raise ValueError(f"vote conditions for source {filters.source!r}: votes are human only")
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
    if filters.exclude_targeted:
        conditions.append(Vote.targeted == false())
    return conditions


def judgement_conditions(filters: Filters) -> list[Any]:
    """WHERE conditions on ``Judgement`` for a judge source's ``filters``: the verdicts that
    rate (counted or inconsistent, with an outcome) of every enabled judge or of ``judge:TAG``,
    under the same filters as votes (dates: the day judged)."""
    if filters.is_human:
        raise ValueError("judgement conditions for the human source")
    conditions: list[Any] = [
        Judgement.status.in_(RATED_STATUSES),
        Judgement.outcome.is_not(None),
        Judgement.judge_id.in_(judges_of(filters.source)),
    ]
    if filters.category:
        conditions.append(
            Judgement.prompt_id.in_(select(Prompt.id).where(Prompt.category == filters.category))
        )
    if filters.size:
        in_class = select(Model.id).where(size_condition(Model.params_b, filters.size))
        conditions.append(
            and_(Judgement.model_a_id.in_(in_class), Judgement.model_b_id.in_(in_class))
        )
    if filters.date_from:
        conditions.append(Judgement.created_at >= _start_of(filters.date_from))
    if filters.date_to:
        conditions.append(Judgement.created_at < _start_of(filters.date_to + timedelta(days=1)))
    if filters.exclude_ties:
        conditions.append(or_(Judgement.outcome == "a", Judgement.outcome == "b"))
    return conditions


def judges_of(source: str) -> Select[Any]:
    """SQL: the judge ids of a judge source (every enabled judge, or the one of ``judge:TAG``)."""
    if source == JUDGE:
        return select(Judge.id).where(Judge.enabled == true())
    tag = source.split(":", 1)[1]
    return select(Judge.id).join(Model, Judge.model_id == Model.id).where(Model.tag == tag)


def filtered_votes(stmt: Select[Any], filters: Filters) -> Select[Any]:
    """``stmt`` (a select over ``Vote``) restricted to the votes that count under ``filters``."""
    return stmt.where(*vote_conditions(filters))
