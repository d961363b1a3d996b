"""Compute one leaderboard: load the filtered vote log fast, rate it, add answer statistics.

The result, :class:`Board`, holds plain JSON-ready values only, so it is cached as JSON (see
``arena.leaderboard``) and rendered, charted and exported without touching the ratings again.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Float, case, cast, func, select

from arena.leaderboard.answer_style import answer_table, vote_features
from arena.leaderboard.cost import add_cost_columns, model_costs
from arena.leaderboard.filters import Filters, filtered_votes, judgement_conditions
from arena.models import Judgement, Model, Prompt, Response, Vote
from arena.ratings import VoteLog, compute_leaderboard
from arena.ratings.leaderboard import PROVISIONAL_VOTES, Leaderboard
from arena.ratings.style_control import StyleResult

#: Bump when the cached JSON layout changes: older cache rows are then ignored.
PAYLOAD_FORMAT = 4

_VOTE_DTYPE = np.dtype(
    [("a", np.int64), ("b", np.int64), ("outcome", np.int8), ("ts", "f8"), ("prompt", np.int64)]
)


def _outcome_code(column: Any) -> Any:
    return case({"a": 0, "b": 1, "tie": 2}, value=column, else_=3)


@dataclass(frozen=True)
class ModelInfo:
    id: int
    tag: str
    display_name: str
    params_b: float | None
    enabled: bool
    # The backend model it runs on: its own tag, or a contestant variant's backend model.
    base_model: str = ""


@dataclass
class Board:
    """Every rating for one filter set, as plain values.

    Attributes:
        rows: one dict per model that has a counted vote, in ``models`` order, with the
            fields of ``arena.ratings.LeaderboardRow`` plus ``display_name``, ``params_b``,
            ``base_model`` (the backend model a contestant variant runs on; else its tag),
            the answer statistics ``answers``, ``answer_chars`` and ``answer_tokens``, and
            the measured cost columns (``arena.leaderboard.cost.COST_COLUMNS``: speed,
            first token, memory, disk, ``on_pareto_front``...); None when unknown.
            ``group`` counts from 1 (the largest group) as pages and exports show it;
            ranks are within a group.
        win_rate, battles: head-to-head matrices indexed like ``models`` (``win_rate`` is
            None where two models never met).
        history_times, history: size-aware Elo over time, ``history[k][m]`` at unix time
            ``history_times[k]``.
        groups: the models of each group (group 1 first); more than one means some models
            never met the others, directly or through other models.
        notes: plain-English caveats to show with the board (``Leaderboard.notes``).
        provisional_votes: the battle count below which a row is ``provisional``.
        style: the style control's fit (see :func:`style_summary`), None when no counted
            vote has both its answers stored.
    """

    version: str
    computed_at: str
    votes: int
    bootstrap_rounds: int
    anchor: str | None
    models: list[str]
    rows: list[dict[str, Any]]
    win_rate: list[list[float | None]]
    battles: list[list[int]]
    history_times: list[float]
    history: list[list[float]]
    groups: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    provisional_votes: int = PROVISIONAL_VOTES
    style: dict[str, Any] | None = None
    filters: Filters = field(default_factory=Filters, compare=False)

    def to_json(self) -> str:
        data = asdict(self)
        del data["filters"]
        data["format"] = PAYLOAD_FORMAT
        return json.dumps(data, allow_nan=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, payload: str, filters: Filters) -> Board:
        data = json.loads(payload)
        if data.pop("format", None) != PAYLOAD_FORMAT:
            raise ValueError("cached leaderboard has an older format")
        return cls(**data, filters=filters)


def model_infos(conn: Connection) -> dict[int, ModelInfo]:
    rows = conn.execute(
        select(
            Model.id,
            Model.tag,
            Model.display_name,
            Model.params_b,
            Model.enabled,
            Model.backend_tag,
        )
    )
    return {
        r.id: ModelInfo(r.id, r.tag, r.display_name, r.params_b, r.enabled, r.backend_tag or r.tag)
        for r in rows
    }


def _epoch_seconds(conn: Connection, column: Any) -> Any:
    """SQL expression: ``column`` (a UTC datetime) as unix seconds, computed by the database."""
    if conn.dialect.name == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    # EXTRACT gives numeric on PostgreSQL (a Decimal per row in Python): ask for a float.
    return cast(func.extract("epoch", column), Float)


def load_vote_log(
    conn: Connection, filters: Filters, models: dict[int, ModelInfo], *, features: bool = False
) -> tuple[VoteLog, list[ModelInfo], np.ndarray]:
    """The counted votes under ``filters`` as a :class:`VoteLog` of the models that appear,
    and which of them have both answers stored (all False without ``features``).

    Selects only five numeric columns (outcome and time converted by the database) and
    streams the DBAPI rows straight into one numpy structured array, so a million votes
    cost ~0.7 s and ~25 MB, with no Python object per vote. Rows come in id order, so votes
    with equal timestamps replay in the order they were cast. With ``features`` the log
    carries each vote's answer style features (:mod:`arena.leaderboard.answer_style`).
    A judge source reads the judges' verdicts that rate instead (``Judgement``), the same way.
    """
    result = conn.execute(_log_select(conn, filters))
    # The raw DBAPI cursor: the columns are plain numbers, so SQLAlchemy's per-row
    # processing (Row objects) would only cost time.
    # SQLAlchemy's DBAPICursor protocol lacks __iter__ (optional in PEP 249); sqlite3's and
    # psycopg's cursors have it.
    data = np.fromiter(result.cursor, dtype=_VOTE_DTYPE)  # type: ignore[call-overload]
    result.close()
    present = np.unique(np.concatenate([data["a"], data["b"]]))
    infos = sorted((models[int(i)] for i in present), key=lambda m: m.tag)
    lookup = np.full(max(models, default=0) + 1, -1, dtype=np.int32)
    for position, info in enumerate(infos):
        lookup[info.id] = position
    log = VoteLog(
        models=tuple(info.tag for info in infos),
        a=lookup[data["a"]],
        b=lookup[data["b"]],
        outcome=data["outcome"],
        ts=data["ts"],
    )
    known = np.zeros(len(data), dtype=bool)
    if features and len(data):
        stride = max(models, default=0) + 1
        keys, table = answer_table(conn, stride)
        fa, fb, known = vote_features(keys, table, data["prompt"], data["a"], data["b"], stride)
        if known.any():
            log = log.with_features(fa, fb)
    return log, infos, known


def _log_select(conn: Connection, filters: Filters) -> Any:
    """The five columns of the vote log, from people's votes or, for a judge source, from
    the verdicts of judges (never both)."""
    if filters.is_human:
        return filtered_votes(
            select(
                Vote.model_a_id,
                Vote.model_b_id,
                _outcome_code(Vote.outcome),
                _epoch_seconds(conn, Vote.created_at),
                func.coalesce(Vote.prompt_id, -1),
            ),
            filters,
        ).order_by(Vote.id)
    return (
        select(
            Judgement.model_a_id,
            Judgement.model_b_id,
            _outcome_code(Judgement.outcome),
            _epoch_seconds(conn, Judgement.created_at),
            Judgement.prompt_id,
        )
        .where(*judgement_conditions(filters))
        .order_by(Judgement.id)
    )


def _source_note(filters: Filters) -> list[str]:
    if filters.is_human:
        return []
    who = f"the judge {filters.judge_tag}" if filters.judge_tag else "every enabled judge"
    return [
        f"Judge verdicts, not people's votes: the verdicts of {who} on pairs of stored answers "
        "(a verdict whose two orders disagree counts as a tie; unparsed ones do not count). "
        "See /judges for how far they agree with people."
    ]


def answer_stats(conn: Connection, filters: Filters) -> dict[int, dict[str, Any]]:
    """Per model id: stored answers, mean length in characters and in tokens (speeds are
    the cost columns' medians, :mod:`arena.leaderboard.cost`).

    Over every usable answer (of the filter's category, if any); dates and other filters
    concern votes, not answers.
    """
    stmt = (
        select(
            Response.model_id,
            func.count(),
            func.avg(func.length(Response.text)),
            func.avg(Response.eval_count),
        )
        .where(Response.status == "ok")
        .group_by(Response.model_id)
    )
    if filters.category:
        stmt = stmt.where(
            Response.prompt_id.in_(select(Prompt.id).where(Prompt.category == filters.category))
        )
    return {
        model_id: {
            "answers": count,
            "answer_chars": _num(chars),
            "answer_tokens": _num(tokens),
        }
        for model_id, count, chars, tokens in conn.execute(stmt)
    }


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _matrix(array: np.ndarray) -> list[list[Any]]:
    return [[_num(v) for v in row] for row in array.tolist()]


def _anchor_note(anchor: str | None, log: VoteLog) -> list[str]:
    """The note for an anchor model that has no vote under these filters at all (one with
    votes that do not count, only ties with ties excluded, gets the ratings' own note)."""
    if anchor is None or anchor in log.models or not len(log):
        return []
    return [
        f"The anchor {anchor} has no counted votes here (none under these filters): each "
        "group's mean is 1000 instead."
    ]


def style_summary(style: StyleResult, with_answers: int) -> dict[str, Any]:
    """The style control's fit as plain values: ``effects`` (one dict per feature: its
    ``effect`` in Elo with ``lower`` and ``upper``, None when undefined), the votes in the
    fit, how many of them had both answers stored, and how the intervals were computed."""
    return {
        "votes": style.votes,
        "votes_with_answers": with_answers,
        "method": style.method,
        "rounds": style.rounds,
        "effects": [
            {"feature": name, "effect": _num(e), "lower": _num(lo), "upper": _num(up)}
            for name, (e, lo, up) in style.effects().items()
        ],
    }


def _plain_rows(board: Leaderboard, infos: list[ModelInfo], stats: dict[int, Any]) -> list[Any]:
    no_answers: dict[str, Any] = dict.fromkeys(("answer_chars", "answer_tokens"), None)
    no_answers["answers"] = 0
    rows = []
    for info, row in zip(infos, board.rows, strict=True):
        plain = asdict(row)
        plain["group"] = None if row.group is None else row.group + 1
        plain.update(display_name=info.display_name, params_b=info.params_b)
        plain["base_model"] = info.base_model or info.tag
        plain.update(stats.get(info.id, no_answers))
        rows.append(plain)
    return rows


def compute_board(
    conn: Connection,
    filters: Filters,
    version: str,
    *,
    bootstrap_rounds: int = 200,
    anchor: str | None = None,
    costs: bool = True,
) -> Board:
    """Load, rate and describe the votes under ``filters`` (the expensive part: bootstrap).

    Sizes come from ``Model.params_b``; the size-aware Elo's ``max_size`` is the largest
    enabled model. An ``anchor`` model absent from the filtered votes is ignored. Without
    ``costs`` the cost columns are None (the benchmark's baseline).
    """
    models = model_infos(conn)
    log, infos, known = load_vote_log(conn, filters, models, features=True)
    with_answers = int((known & log.decisive_mask() if filters.exclude_ties else known).sum())
    enabled_sizes = [m.params_b for m in models.values() if m.enabled and m.params_b]
    board = compute_leaderboard(
        log,
        {m.tag: m.params_b for m in infos},
        max_size=max(enabled_sizes) if enabled_sizes else None,
        anchor=anchor if anchor in log.models else None,
        bootstrap_rounds=bootstrap_rounds,
        exclude_ties=filters.exclude_ties,
        style=log.has_features,
    )
    rows = _plain_rows(board, infos, answer_stats(conn, filters))
    cost = model_costs(conn, category=filters.category) if costs else None
    add_cost_columns(rows, [info.id for info in infos], cost)
    history = board.elo_history
    return Board(
        version=version,
        computed_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        votes=board.votes,
        bootstrap_rounds=bootstrap_rounds,
        anchor=anchor if anchor in log.models else None,
        models=list(log.models),
        rows=rows,
        win_rate=_matrix(board.head_to_head.win_rate),
        battles=board.head_to_head.battles.tolist(),
        history_times=history.times.tolist() if history else [],
        history=history.ratings.tolist() if history else [],
        groups=[list(group) for group in board.groups],
        notes=_source_note(filters) + _anchor_note(anchor, log) + list(board.notes),
        provisional_votes=board.provisional_votes,
        style=None if board.style is None else style_summary(board.style, with_answers),
        filters=filters,
    )


def _rated(rating: str, rank: str) -> Any:
    """Group by group (1 first, none last), then the confidence-aware rank within it, then
    the rating (rounded: ratings equal but for rounding noise, such as the two sides of a
    single vote, are not ordered by that noise), then the arena score and battles."""

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        value = r[rating]
        return (
            r["group"] is None,
            r["group"] or 0,
            r[rank] is None,
            r[rank] or 0,
            value is None,
            -round(value or 0.0, 6),
            -r["score"],
            -r["battles"],
            r["model"],
        )

    return key


SORT_KEYS = {
    "bt": _rated("bt", "rank"),
    # The style-controlled rating (models outside their group's core, unrated, last).
    "bt_style": _rated("bt_style", "bt_style_rank"),
    "elo": lambda r: (-r["elo"], r["model"]),
    # The original arena's order: score, then battles.
    "score": lambda r: (-r["score"], -r["battles"], r["model"]),
}


def sorted_rows(board: Board, sort: str = "bt") -> list[dict[str, Any]]:
    """The board's rows in the order of ``sort`` (``bt``, ``bt_style``, ``elo``, ``score``,
    or ``model``: the contestants of one backend model together, a model and its variants,
    by Bradley-Terry within it and the models by their best contestant)."""
    if sort != "model":
        return sorted(board.rows, key=SORT_KEYS[sort])
    ranked = sorted(board.rows, key=SORT_KEYS["bt"])
    first: dict[str, int] = {}
    for index, row in enumerate(ranked):
        first.setdefault(row.get("base_model") or row["model"], index)
    return sorted(ranked, key=lambda row: first[row.get("base_model") or row["model"]])
