"""The picker: which rated model is best on a given machine (``/pick``, ``/api/pick.json``).

A :class:`PickQuery` holds the visitor's limits, all optional: memory (``ram_gb``, GiB of
resident memory while the model is loaded), speed (``min_tps``, median generation tokens per
second as measured here) and a prompt category (ratings from votes on that category only).
:func:`pick` keeps the rated models within the limits, best first (Bradley-Terry rating, then
the lower bound of its interval), from the cached leaderboard of that category and the
measured costs (:func:`arena.leaderboard.cost_cache.current_costs`).

A model whose memory (or speed) is unknown cannot be said to fit a memory (speed) limit: it
is left out of the list and named apart as of unknown cost. Without a limit, nothing is
left out for it.

When the best model's interval overlaps another candidate's (or a candidate never met the
best one's group, so their ratings cannot be compared) the pick says plainly that they are
too close to call, and offers a "settle it" token (:mod:`arena.play.focus`) for blind battles
drawn mostly from those models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sqlalchemy import select

from arena.extensions import db
from arena.leaderboard.board import Board
from arena.leaderboard.cache import get_board
from arena.leaderboard.cost import ModelCost
from arena.leaderboard.cost_cache import current_costs
from arena.leaderboard.filters import FilterError, Filters, known_categories, single_arg
from arena.models import Model
from arena.play.focus import MAX_FOCUS_MODELS, make_token
from arena.play.slugs import model_slugs

PICK_PARAMS = ("ram_gb", "min_tps", "category")
#: The verdict names at most this many models too close to call, then counts the others.
NAMED = 4
GIB = 1024**3


class PickError(FilterError):
    """A limit or category that cannot be honoured; the message says what is accepted."""


@dataclass(frozen=True)
class PickQuery:
    """The visitor's limits; None: no limit."""

    ram_gb: float | None = None
    min_tps: float | None = None
    category: str | None = None

    def params(self) -> dict[str, str]:
        """The limits as query parameters (only those set)."""
        out: dict[str, str] = {}
        if self.ram_gb is not None:
            out["ram_gb"] = f"{self.ram_gb:g}"
        if self.min_tps is not None:
            out["min_tps"] = f"{self.min_tps:g}"
        if self.category:
            out["category"] = self.category
        return out


def _single(args: Mapping[str, Any], name: str) -> str | None:
    """``single_arg`` whose complaint (the parameter given twice) is a :class:`PickError`."""
    try:
        return single_arg(args, name)
    except FilterError as error:
        raise PickError(str(error)) from None


def _number(args: Mapping[str, Any], name: str, what: str, *, positive: bool) -> float | None:
    raw = _single(args, name)
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise PickError(f"bad value {raw!r} for {name!r}: expected a number of {what}") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "above 0" if positive else "0 or more"
        raise PickError(f"bad value {raw!r} for {name!r}: expected {what}, {bound}")
    return value


def parse_pick(args: Mapping[str, Any], categories: Sequence[str] | None = None) -> PickQuery:
    """Validate the picker's query parameters (empty values count as absent).

    Raises:
        PickError: an unknown parameter, a limit that is not a number, negative (or a zero
            memory), or an unknown category; the message names it and what is accepted.
    """
    unknown = sorted(set(args.keys()) - set(PICK_PARAMS))
    if unknown:
        raise PickError(
            f"unknown parameter {unknown[0]!r}; expected one of: " + ", ".join(PICK_PARAMS)
        )
    ram_gb = _number(args, "ram_gb", "GB of memory", positive=True)
    min_tps = _number(args, "min_tps", "tokens per second", positive=False)
    category = _single(args, "category") or None
    if category is not None:
        known = known_categories() if categories is None else list(categories)
        if category not in known:
            raise PickError(
                f"unknown category {category!r}; known categories: " + (", ".join(known) or "none")
            )
    return PickQuery(ram_gb, min_tps, category)


@dataclass(frozen=True)
class Candidate:
    """One rated model as the picker shows it. An open bound (the data do not bound the
    rating on that side) is None."""

    model: str
    display_name: str
    slug: str | None
    bt: float
    bt_lower: float | None
    bt_upper: float | None
    memory_bytes: int | None
    tokens_per_second: float | None
    provisional: bool
    battles: int
    group: int | None
    #: What is unknown of its cost among the limits asked ("memory", "speed").
    unknown: tuple[str, ...] = ()

    @property
    def low(self) -> float:
        return -math.inf if self.bt_lower is None else self.bt_lower

    @property
    def high(self) -> float:
        return math.inf if self.bt_upper is None else self.bt_upper

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["unknown"] = list(self.unknown)
        return data


@dataclass(frozen=True)
class Pick:
    """The picker's answer: the fitting models best first, those of unknown cost, the models
    too close to call with the best (empty when it stands alone) and the verdict in words."""

    query: PickQuery
    votes: int
    models: list[Candidate]
    unknown_cost: list[Candidate]
    overlap: list[Candidate]
    verdict: str
    #: The "settle it" token (:func:`arena.play.focus.make_token`) when there is an overlap.
    focus: str | None = None
    #: How the speed figures were taken when not from answers that ran alone.
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> Candidate | None:
        return self.models[0] if self.models else None


def _candidate(
    row: dict[str, Any], model_id: int | None, cost: ModelCost | None, slug: str | None
) -> Candidate:
    return Candidate(
        model=row["model"],
        display_name=row.get("display_name") or row["model"],
        slug=slug,
        bt=float(row["bt"]),
        bt_lower=None if row.get("bt_lower_open") else row.get("bt_lower"),
        bt_upper=None if row.get("bt_upper_open") else row.get("bt_upper"),
        memory_bytes=cost.memory_bytes if cost else None,
        tokens_per_second=cost.tokens_per_second if cost else None,
        provisional=bool(row.get("provisional")),
        battles=int(row.get("battles") or 0),
        group=row.get("group"),
    )


def _unknown(candidate: Candidate, query: PickQuery) -> tuple[str, ...]:
    missing = []
    if query.ram_gb is not None and candidate.memory_bytes is None:
        missing.append("memory")
    if query.min_tps is not None and candidate.tokens_per_second is None:
        missing.append("speed")
    return tuple(missing)


def _fits(candidate: Candidate, query: PickQuery) -> bool:
    memory, speed = candidate.memory_bytes, candidate.tokens_per_second
    too_big = query.ram_gb is not None and memory is not None and memory > query.ram_gb * GIB
    too_slow = query.min_tps is not None and speed is not None and speed < query.min_tps
    return not (too_big or too_slow)


def candidates(board: Board, costs: Mapping[int, ModelCost], query: PickQuery) -> Pick:
    """The pick from a computed board and the measured costs (reads the models' ids and
    slugs)."""
    ids, enabled = _model_ids(board)
    slugs = model_slugs()
    fitting: list[Candidate] = []
    unknown: list[Candidate] = []
    for row in board.rows:
        if row.get("bt") is None:
            continue
        model_id = ids.get(row["model"])
        cost = costs.get(model_id) if model_id is not None else None
        slug = slugs.get(model_id) if model_id is not None else None
        candidate = _candidate(row, model_id, cost, slug)
        missing = _unknown(candidate, query)
        if missing:
            unknown.append(_with_unknown(candidate, missing))
        elif _fits(candidate, query):
            fitting.append(candidate)
    # Only enabled models are served in battles: a focus can settle nothing about the others.
    focusable = {tag: model_id for tag, model_id in ids.items() if model_id in enabled}
    return decide(query, board.votes, fitting, unknown, focusable, _notes(fitting, costs, ids))


def _with_unknown(candidate: Candidate, missing: tuple[str, ...]) -> Candidate:
    return replace(candidate, unknown=missing)


def decide(
    query: PickQuery,
    votes: int,
    fitting: list[Candidate],
    unknown: list[Candidate],
    model_ids: Mapping[str, int],
    notes: list[str] | None = None,
) -> Pick:
    """Order the fitting models, find those too close to call with the best, and say so
    (``model_ids``: tag -> ``Model.id`` of the models battles may serve, for the "settle it"
    token; without two of them among the close models there is no token)."""
    ordered = sorted(fitting, key=lambda c: (-c.bt, -c.low, c.model))
    unknown = sorted(unknown, key=lambda c: (-c.bt, -c.low, c.model))
    overlap = overlapping(ordered)
    focus = None
    if overlap:
        # The best of them: a focus spread over many models would settle nothing soon.
        chosen = [model_ids[c.model] for c in overlap if c.model in model_ids]
        chosen = chosen[:MAX_FOCUS_MODELS]
        if len(chosen) >= 2:
            focus = make_token(chosen)
    return Pick(
        query,
        votes,
        ordered,
        unknown,
        overlap,
        verdict(ordered, overlap, votes),
        focus,
        notes or [],
    )


def overlapping(ordered: Sequence[Candidate]) -> list[Candidate]:
    """The best model and every other whose interval overlaps the best's (or that never met
    the best's group: not comparable), best first; empty when the best stands alone (or
    there is at most one model)."""
    if len(ordered) < 2:
        return []
    best = ordered[0]
    close = [
        c
        for c in ordered[1:]
        if c.group != best.group or (c.high >= best.low and c.low <= best.high)
    ]
    return [best, *close] if close else []


def _names(candidates: Sequence[Candidate], most: int = NAMED) -> str:
    """ "A", "A and B", "A, B and C", or past ``most``: "A, B, C, D and 3 other models"."""
    names = [c.display_name for c in candidates]
    if len(names) > most:
        rest = len(names) - most
        names = [*names[:most], f"{rest} other model{'' if rest == 1 else 's'}"]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def verdict(ordered: Sequence[Candidate], overlap: Sequence[Candidate], votes: int) -> str:
    """The plain-language answer."""
    counted = f"{votes} vote{'' if votes == 1 else 's'}"
    if not ordered:
        return "No rated model fits these limits."
    if overlap:
        return (
            f"{_names(overlap)} are too close to call with {counted}: their rating intervals "
            "overlap. More blind votes between them would settle it."
        )
    best = ordered[0]
    if len(ordered) == 1:
        return f"{best.display_name} is best on your machine: the only rated model that fits."
    return (
        f"{best.display_name} is best on your machine: its rating interval is clear of every "
        f"other model that fits ({counted})."
    )


def _model_ids(board: Board) -> tuple[dict[str, int], set[int]]:
    """The board's models' ids by tag, and which of them are enabled."""
    tags = [row["model"] for row in board.rows]
    if not tags:
        return {}, set()
    rows = db.session.execute(
        select(Model.tag, Model.id, Model.enabled).where(Model.tag.in_(tags))
    ).all()
    return {tag: model_id for tag, model_id, _ in rows}, {m for _, m, on in rows if on}


def _notes(
    fitting: Sequence[Candidate], costs: Mapping[int, ModelCost], ids: Mapping[str, int]
) -> list[str]:
    """How the figures of the fitting models were taken, where not from answers run alone."""
    out = []
    for candidate in fitting:
        cost = costs.get(ids.get(candidate.model, -1))
        if cost is not None and cost.note:
            out.append(f"{candidate.display_name}: {cost.note}")
    return out


def pick(query: PickQuery) -> Pick:
    """The pick for ``query``: ratings from the cached leaderboard of its category, costs
    from every answer (a model's speed hardly depends on the prompt's category)."""
    board = get_board(Filters(category=query.category))
    costs = current_costs()
    return candidates(board, costs, query)
