"""What each model costs to run on this machine, measured from its stored answers.

Every usable answer keeps the backend's figures (Ollama's ``eval_count``/``eval_duration``,
``prompt_eval_*``, ``load_duration``, the first token's time) and how many requests were under
way on the backend while it was generated (``Response.options["concurrency"]``, 1: it ran
alone). :func:`model_costs` turns them into one :class:`ModelCost` per model, and
:func:`pareto_front` finds the models that no other model beats on quality *and* cost.

Figures measured while other requests competed are not mixed in blindly: a model's figures
come from its answers that ran alone when there are enough of them (:data:`MIN_ALONE`, or all
its answers if it has fewer), else from all its answers, and ``note`` says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session, scoped_session

from arena.models import Model, Prompt, Response

__all__ = [
    "COST_COLUMNS",
    "LOADED_NS",
    "MIN_ALONE",
    "RATING_DIGITS",
    "ModelCost",
    "ParetoPoint",
    "add_cost_columns",
    "model_costs",
    "pareto_front",
]

#: Answers that ran alone needed to report a model's figures from those alone.
MIN_ALONE = 10
#: Decimals of an Elo rating the Pareto front compares (finer differences are the fit's noise).
RATING_DIGITS = 6
#: A ``load_duration`` above this (0.1 s) means the model was actually loaded for the answer;
#: a warm model reports a few milliseconds.
LOADED_NS = 100_000_000

_ANSWER_DTYPE = np.dtype(
    [
        ("model", np.int64),
        ("eval_count", np.int64),
        ("eval_duration", np.int64),
        ("prompt_eval_count", np.int64),
        ("prompt_eval_duration", np.int64),
        ("first_token_ns", np.int64),
        ("load_duration", np.int64),
        ("concurrency", np.int64),
    ]
)


@dataclass(frozen=True)
class ModelCost:
    """One model's measured cost; a figure is None when unknown.

    Attributes:
        model_id: the ``Model.id``.
        answers: the model's usable answers (status "ok", of the category asked, if any).
        measured: how many of them the speed figures come from (see ``concurrency``).
        tokens_per_second: median generation speed, tokens over generation time (prompt
            reading and model load excluded).
        tokens_per_second_p10: its 10th percentile: nine answers in ten were faster.
        prompt_tokens_per_second: median prompt reading speed.
        time_to_first_token_s: median seconds from the request to the first token (thinking
            included, a model load too when there was one).
        time_to_first_token_source: "measured" (the backend timed the first token) or
            "estimated" (load plus prompt reading time, for answers stored without it);
            None when unknown.
        load_seconds: median time of the loads that actually loaded the model
            (``load_duration`` above :data:`LOADED_NS`); ``loads`` how many there were.
        memory_bytes: resident memory while loaded (``Model.memory_bytes``), and
            ``memory_source`` how it was known ("ps", "measured", "configured").
        disk_bytes: the model's file size (``Model.disk_bytes``).
        concurrency: the most requests under way on the backend while the measured answers
            were generated (1: each ran alone); None when it was not recorded for any.
        note: plain English on how the figures were taken when they are not from answers
            that ran alone; None when they are (or there are no answers).
    """

    model_id: int
    answers: int = 0
    measured: int = 0
    tokens_per_second: float | None = None
    tokens_per_second_p10: float | None = None
    prompt_tokens_per_second: float | None = None
    time_to_first_token_s: float | None = None
    time_to_first_token_source: str | None = None
    load_seconds: float | None = None
    loads: int = 0
    memory_bytes: int | None = None
    memory_source: str | None = None
    disk_bytes: int | None = None
    concurrency: int | None = None
    note: str | None = None

    @property
    def known(self) -> bool:
        """Both speed and memory are known: the model can be placed on the Pareto front."""
        return self.tokens_per_second is not None and self.memory_bytes is not None


def model_costs(
    source: Connection | Session | scoped_session[Any],
    *,
    category: str | None = None,
    min_alone: int = MIN_ALONE,
) -> dict[int, ModelCost]:
    """Every model's :class:`ModelCost`, keyed by ``Model.id`` (models without answers too:
    their memory and disk size may be known).

    Reads seven numeric columns of the usable answers (of prompts of ``category`` if given),
    streamed from the DBAPI cursor into one numpy array, and the models' sizes; the medians
    and percentiles are computed per model in numpy (SQLite has no percentile function).
    """
    conn = source if isinstance(source, Connection) else source.connection()
    costs = {}
    for model_id, memory, memory_source, disk in conn.execute(
        select(Model.id, Model.memory_bytes, Model.memory_source, Model.disk_bytes)
    ):
        costs[model_id] = ModelCost(
            model_id, memory_bytes=memory, memory_source=memory_source, disk_bytes=disk
        )
    data = _answers(conn, category)
    if not len(data):
        return costs
    ids, starts = np.unique(data["model"], return_index=True)
    for model_id, rows in zip(ids.tolist(), np.split(data, starts[1:]), strict=True):
        base = costs.get(model_id, ModelCost(model_id))
        costs[model_id] = _measure(base, rows, min_alone)
    return costs


def _answers(conn: Connection, category: str | None) -> np.ndarray:
    """The figures of every usable answer, in model order (-1 for a missing figure, 0 for an
    unrecorded concurrency).

    Sorted here, not by the database: an ORDER BY would read the table in the order of the
    model index, one random row access per answer (twice as slow on SQLite as a plain scan)."""

    def known(column: Any) -> Any:
        return func.coalesce(column, -1)

    stmt = select(
        Response.model_id,
        known(Response.eval_count),
        known(Response.eval_duration),
        known(Response.prompt_eval_count),
        known(Response.prompt_eval_duration),
        known(Response.first_token_ns),
        known(Response.load_duration),
        func.coalesce(Response.options["concurrency"].as_integer(), 0),
    ).where(Response.status == "ok")
    if category:
        stmt = stmt.where(
            Response.prompt_id.in_(select(Prompt.id).where(Prompt.category == category))
        )
    result = conn.execute(stmt)
    # The raw DBAPI cursor: plain numbers, no Row object per answer (as board.load_vote_log).
    data: np.ndarray = np.fromiter(result.cursor, dtype=_ANSWER_DTYPE)  # type: ignore[call-overload]
    result.close()
    ordered: np.ndarray = data[np.argsort(data["model"], kind="stable")]
    return ordered


def _measure(base: ModelCost, rows: np.ndarray, min_alone: int) -> ModelCost:
    """``base`` with the figures of one model's answers ``rows``."""
    answers = len(rows)
    concurrency = rows["concurrency"]
    alone = concurrency == 1
    note = None
    most: int | None = 1
    if alone.sum() >= min(min_alone, answers):
        used = rows[alone]
    else:
        used = rows
        recorded = concurrency[concurrency > 0]
        most = int(recorded.max()) if len(recorded) else None
        note = _mixed_note(answers, int(alone.sum()), len(recorded), most)
    ttft, ttft_source = _first_token(used)
    loads = used["load_duration"][used["load_duration"] > LOADED_NS]
    speeds = _rates(used["eval_count"], used["eval_duration"])
    return ModelCost(
        base.model_id,
        answers=answers,
        measured=len(used),
        tokens_per_second=_percentile(speeds, 50),
        tokens_per_second_p10=_percentile(speeds, 10),
        prompt_tokens_per_second=_percentile(
            _rates(used["prompt_eval_count"], used["prompt_eval_duration"]), 50
        ),
        time_to_first_token_s=ttft,
        time_to_first_token_source=ttft_source,
        load_seconds=_percentile(loads / 1e9, 50),
        loads=len(loads),
        memory_bytes=base.memory_bytes,
        memory_source=base.memory_source,
        disk_bytes=base.disk_bytes,
        concurrency=most,
        note=note,
    )


def _mixed_note(answers: int, alone: int, recorded: int, most: int | None) -> str:
    if not recorded:
        return (
            f"From all {answers} answers; how many requests ran at once on the backend was "
            "not recorded."
        )
    shared = recorded - alone
    text = (
        f"From all {answers} answers, too few of which ran alone ({alone}): {shared} were "
        f"generated with other requests under way on the backend (up to {most} at once)"
    )
    if recorded < answers:
        text += f", and for {answers - recorded} it was not recorded"
    return text + "; speeds may be lower than alone."


def _rates(count: np.ndarray, duration: np.ndarray) -> np.ndarray:
    """Tokens per second of the answers where both figures are known and positive."""
    usable = (count > 0) & (duration > 0)
    rates: np.ndarray = count[usable] * 1e9 / duration[usable]
    return rates


def _first_token(rows: np.ndarray) -> tuple[float | None, str | None]:
    """Median time to the first token: measured where the backend timed it, else estimated
    as load plus prompt reading (an unknown load counts as none)."""
    measured = rows["first_token_ns"][rows["first_token_ns"] >= 0]
    if len(measured):
        return _percentile(measured / 1e9, 50), "measured"
    reading = rows["prompt_eval_duration"] >= 0
    if not reading.any():
        return None, None
    estimate = rows["prompt_eval_duration"][reading] + np.maximum(rows["load_duration"][reading], 0)
    return _percentile(estimate / 1e9, 50), "estimated"


def _percentile(values: np.ndarray, q: float) -> float | None:
    if not len(values):
        return None
    value = float(np.percentile(values, q))
    return value if np.isfinite(value) else None


class ParetoPoint(NamedTuple):
    """A model placed by quality and cost: ``rating`` (higher better), ``tokens_per_second``
    (higher better) and ``memory_bytes`` (lower better); None where unknown."""

    id: int
    rating: float | None
    tokens_per_second: float | None
    memory_bytes: float | None


def pareto_front(rows: Iterable[ParetoPoint | tuple[int, Any, Any, Any]]) -> set[int]:
    """The ids of the models no other model dominates: none is at least as well rated, at
    least as fast and needs at most as much memory while strictly better on one of the three.

    Models with an unknown rating, speed or memory are never on the front (their cost cannot
    be compared) and dominate none. Equal models do not dominate each other: all are on it.
    Compare only ratings that are comparable (one group of the leaderboard). Ratings are
    compared to :data:`RATING_DIGITS` decimals: a fit's last bits (two models one vote apart
    both sit at the centre, 1e-11 Elo apart) are no better rating.
    """
    known = [
        (int(row[0]), round(float(row[1]), RATING_DIGITS), float(row[2]), float(row[3]))
        for row in rows
        if row[1] is not None and row[2] is not None and row[3] is not None
    ]
    front = set()
    for pid, rating, speed, memory in known:
        dominated = any(
            r >= rating and s >= speed and m <= memory and (r > rating or s > speed or m < memory)
            for _, r, s, m in known
        )
        if not dominated:
            front.add(pid)
    return front


#: The cost columns of a leaderboard row (:class:`arena.leaderboard.board.Board`), None where
#: unknown: the :class:`ModelCost` figures (its ``note`` as ``cost_note``) and
#: ``on_pareto_front``.
COST_COLUMNS = (
    "tokens_per_second",
    "tokens_per_second_p10",
    "prompt_tokens_per_second",
    "time_to_first_token_s",
    "time_to_first_token_source",
    "load_seconds",
    "memory_bytes",
    "memory_source",
    "disk_bytes",
    "concurrency",
    "cost_note",
    "on_pareto_front",
)


def add_cost_columns(
    rows: list[dict[str, Any]], ids: list[int], costs: Mapping[int, ModelCost] | None
) -> None:
    """Give each leaderboard row (``ids[k]`` the ``Model.id`` of ``rows[k]``) the
    :data:`COST_COLUMNS`, all None without ``costs``.

    ``on_pareto_front`` compares each row with the rows of its own group only (ratings of
    different groups are not comparable), on the Bradley-Terry rating ``bt``; a row without
    a group, rating, speed or memory is never on the front.
    """
    groups: dict[int, list[tuple[int, Any, Any, Any]]] = {}
    for index, (row, model_id) in enumerate(zip(rows, ids, strict=True)):
        cost = costs.get(model_id) if costs is not None else None
        for name in COST_COLUMNS[:-2]:
            row[name] = getattr(cost, name) if cost is not None else None
        row["cost_note"] = cost.note if cost is not None else None
        row["on_pareto_front"] = False
        if cost is not None and row.get("group") is not None:
            point = (index, row.get("bt"), cost.tokens_per_second, cost.memory_bytes)
            groups.setdefault(row["group"], []).append(point)
    for points in groups.values():
        for index in pareto_front(points):
            rows[index]["on_pareto_front"] = True
