"""Model pages: ``/models`` (every model) and ``/models/<slug>`` (one model), as plain values.

Ratings come from the cached leaderboards (:func:`arena.leaderboard.cache.serve_board`): the
human board, the judges' board when there are judges, and one board per prompt category (a
category's board is computed once, then kept fresh by the worker's refresh like every cached
board). Speed and memory come from :func:`arena.leaderboard.cost_cache.current_costs`. The record
against each rival reads the counted votes naming the model (two indexed queries). Sample
answers are chosen elsewhere (``arena.play.samples``): what may be shown depends on who asks.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import false, func, select

from arena.extensions import db
from arena.leaderboard.board import Board, sorted_rows
from arena.leaderboard.bounds import LeaderboardUnavailable
from arena.leaderboard.cache import serve_board
from arena.leaderboard.cost import ModelCost
from arena.leaderboard.cost_cache import current_costs
from arena.leaderboard.filters import JUDGE, Filters, known_categories, known_judges
from arena.models import Model, Vote
from arena.play.slugs import model_by_slug, model_slugs

#: The rating fields a page shows of a board's row (see ``arena.ratings.LeaderboardRow``).
RATING_FIELDS = (
    "bt",
    "bt_lower",
    "bt_upper",
    "bt_lower_open",
    "bt_upper_open",
    "rank",
    "group",
    "provisional",
    "battles",
    "wins",
    "losses",
    "ties",
    "both_bad",
    # No other model of its group is as well rated, as fast and as small (cost.add_cost_columns).
    "on_pareto_front",
)
#: The speed and memory figures a page shows of a :class:`ModelCost`.
COST_FIELDS = (
    "tokens_per_second",
    "tokens_per_second_p10",
    "prompt_tokens_per_second",
    "time_to_first_token_s",
    "load_seconds",
    "memory_bytes",
    "memory_source",
    "disk_bytes",
    "answers",
    "concurrency",
    "note",
)


class ModelNotFound(LookupError):
    """No model has this slug."""


def rating_of(board: Board, tag: str) -> dict[str, Any] | None:
    """The rating fields of ``tag``'s row on ``board`` (with ``models``: how many the board
    rates, ``groups``, and ``provisional_votes``: the battles below which a rating is
    provisional), or None when the board does not rate it."""
    for row in board.rows:
        if row["model"] == tag:
            rating = {name: row.get(name) for name in RATING_FIELDS}
            rating.update(
                models=len(board.rows),
                groups=len(board.groups),
                provisional_votes=board.provisional_votes,
            )
            return rating
    return None


def cost_dict(cost: ModelCost | None) -> dict[str, Any]:
    """The shown figures of a model's cost (every one None when unknown)."""
    return {name: getattr(cost, name) if cost else None for name in COST_FIELDS}


def _model_facts(model: Model, slug: str) -> dict[str, Any]:
    return {
        "slug": slug,
        "model": model.tag,
        "display_name": model.display_name,
        "backend": model.backend,
        "enabled": model.enabled,
        "available": model.available,
        "params_b": model.params_b,
        "param_count": model.param_count,
        "quantization": model.quantization,
        "family": model.family,
        "context_length": model.context_length,
        "capabilities": list(model.capabilities or []),
        "votes": model.vote_count,
    }


def model_list() -> list[dict[str, Any]]:
    """Every registered model: enabled ones first, then rated before unrated, in the human
    board's order (group, confidence-aware rank, rating), unrated ones by name. Each entry
    holds the model's facts, ``rating`` (None when unrated) and ``cost``."""
    board = serve_board(Filters()).board
    order = {row["model"]: i for i, row in enumerate(sorted_rows(board, "bt"))}
    slugs = model_slugs()
    costs = current_costs()
    models = db.session.scalars(select(Model)).all()
    entries = []
    for model in models:
        entry = _model_facts(model, slugs[model.id])
        entry["rating"] = rating_of(board, model.tag)
        entry["cost"] = cost_dict(costs.get(model.id))
        entries.append(entry)
    unrated = len(order)
    entries.sort(
        key=lambda e: (
            not e["enabled"],
            order.get(e["model"], unrated),
            e["display_name"].lower(),
            e["model"],
        )
    )
    return entries


@dataclass
class ModelPage:
    """Everything ``/models/<slug>`` shows but the samples (``arena.play.samples``).

    ``human`` and ``judge`` are the model's rating on the human board and on the judges'
    board (None when unrated there; ``judge`` also when there are no judges), ``judge_pending``
    says the judges' board could not be read now. ``categories`` has one entry per prompt
    category: ``category``, ``rating`` (None: unrated there) and ``pending`` (not computed
    yet). ``rivals``: the record against each opponent, most battles first. ``history``: the
    model's size-aware Elo after each sampled vote (``times`` as unix seconds, ``elo``)."""

    model: Model
    facts: dict[str, Any]
    human: dict[str, Any] | None
    cost: dict[str, Any]
    judge: dict[str, Any] | None = None
    judge_pending: bool = False
    provisional_votes: int = 0
    categories: list[dict[str, Any]] = field(default_factory=list)
    rivals: list[dict[str, Any]] = field(default_factory=list)
    history: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The page as JSON-ready values (``/api/models/<slug>.json``)."""
        return {
            **self.facts,
            "rating": self.human,
            "judge_rating": self.judge,
            "provisional_votes": self.provisional_votes,
            "cost": self.cost,
            "categories": self.categories,
            "rivals": self.rivals,
            "history": self.history,
            "notes": self.notes,
        }


def find_model(slug: str) -> Model:
    """The model of ``slug``; :class:`ModelNotFound` otherwise."""
    model = model_by_slug(slug)
    if model is None:
        raise ModelNotFound(f"no model has the slug {slug!r}; every model is listed at /models")
    return model


def model_page(slug: str) -> ModelPage:
    """The page of the model of ``slug`` (:class:`ModelNotFound` when none has it).

    Raises ``LeaderboardUnavailable`` when the human board cannot be served yet (as the
    leaderboard page does); a category's or the judges' board that cannot be is marked
    pending instead.
    """
    model = find_model(slug)
    slugs = model_slugs()
    served = serve_board(Filters())
    board = served.board
    costs = current_costs()
    page = ModelPage(
        model=model,
        facts=_model_facts(model, slugs[model.id]),
        human=rating_of(board, model.tag),
        cost=cost_dict(costs.get(model.id)),
        provisional_votes=board.provisional_votes,
        rivals=rivals(model.id, slugs),
        history=_history(board, model.tag),
        notes=list(board.notes),
    )
    if known_judges():
        try:
            page.judge = rating_of(serve_board(Filters(source=JUDGE)).board, model.tag)
        except LeaderboardUnavailable:
            page.judge_pending = True
    page.categories = category_ratings(model.tag)
    return page


def category_ratings(tag: str) -> list[dict[str, Any]]:
    """The model's rating on each category's board (cached boards, as ``?category=`` shows)."""
    out: list[dict[str, Any]] = []
    for category in known_categories():
        try:
            board = serve_board(Filters(category=category)).board
        except LeaderboardUnavailable:
            out.append({"category": category, "rating": None, "pending": True})
            continue
        out.append({"category": category, "rating": rating_of(board, tag), "pending": False})
    return out


def _history(board: Board, tag: str) -> dict[str, list[float]]:
    if tag not in board.models or not board.history_times:
        return {"times": [], "elo": []}
    column = board.models.index(tag)
    return {
        "times": list(board.history_times),
        "elo": [point[column] for point in board.history],
    }


def rivals(model_id: int, slugs: dict[int, str]) -> list[dict[str, Any]]:
    """Wins, losses, ties and "both bad" against each opponent, over the counted (unflagged)
    votes naming the model on either side, with the win rate as the leaderboard counts it;
    most battles first. Every filter-free counted vote is here (targeted ones too)."""
    counts: dict[int, dict[str, int]] = defaultdict(
        lambda: {"wins": 0, "losses": 0, "ties": 0, "both_bad": 0}
    )
    for own, other in ((Vote.model_a_id, Vote.model_b_id), (Vote.model_b_id, Vote.model_a_id)):
        won = "a" if own is Vote.model_a_id else "b"
        rows = db.session.execute(
            select(other, Vote.outcome, func.count())
            .where(own == model_id, Vote.excluded == false())
            .group_by(other, Vote.outcome)
        )
        for opponent, outcome, n in rows:
            record = counts[opponent]
            if outcome == won:
                record["wins"] += n
            elif outcome in ("a", "b"):
                record["losses"] += n
            elif outcome == "tie":
                record["ties"] += n
            else:
                record["both_bad"] += n
    if not counts:
        return []
    opponents = db.session.execute(
        select(Model.id, Model.tag, Model.display_name).where(Model.id.in_(counts))
    ).all()
    tags = {model_id: tag for model_id, tag, _ in opponents}
    names = {model_id: name for model_id, _, name in opponents}
    out: list[dict[str, Any]] = []
    for opponent, record in counts.items():
        battles = sum(record.values())
        out.append(
            {
                "slug": slugs.get(opponent),
                "model": tags.get(opponent),
                "display_name": names.get(opponent),
                "battles": battles,
                **record,
                # As the leaderboard counts it: ties and "both bad" half a win.
                "win_rate": (record["wins"] + 0.5 * (record["ties"] + record["both_bad"]))
                / battles,
            }
        )
    out.sort(key=lambda r: (-r["battles"], r["display_name"] or "", r["model"] or ""))
    return out
