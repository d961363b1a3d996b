"""Exports shared by the HTTP API and ``flask --app arena export``: the leaderboard (CSV,
JSON) and the anonymised vote log (CSV, JSON Lines), both honouring the filters.

The vote log is streamed: rows are read in batches from one read transaction (a consistent
snapshot) and written out chunk by chunk, so a million votes never sit in memory at once.
It carries no voter id; a visitor's own prompt that was not shared keeps its id and
category but not its text.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import case, or_, select, true
from sqlalchemy.orm import aliased

from arena.extensions import db
from arena.leaderboard.board import Board, sorted_rows
from arena.leaderboard.filters import Filters, filtered_votes
from arena.models import Model, Prompt, Vote

LEADERBOARD_FIELDS = (
    "rank",
    "model",
    "display_name",
    "params_b",
    "battles",
    "wins",
    "losses",
    "ties",
    "both_bad",
    "win_rate",
    "score",
    "elo",
    "online_elo",
    "bt",
    "bt_lower",
    "bt_upper",
    "both_bad_rate",
    "answers",
    "tokens_per_second",
    "answer_chars",
    "answer_tokens",
)
VOTE_FIELDS = (
    "vote_id",
    "time",
    "battle_id",
    "prompt_id",
    "category",
    "prompt",
    "model_a",
    "model_b",
    "outcome",
    "source",
)
#: (format, kind) -> (content type, download file name)
MEDIA = {
    ("csv", "leaderboard"): ("text/csv; charset=utf-8", "leaderboard.csv"),
    ("json", "leaderboard"): ("application/json", "leaderboard.json"),
    ("csv", "votes"): ("text/csv; charset=utf-8", "votes.csv"),
    ("jsonl", "votes"): ("application/x-ndjson", "votes.jsonl"),
}
_CHUNK_ROWS = 2000


def etag(kind: str, fmt: str, filters: Filters, version: str, sort: str = "") -> str:
    """An entity tag for one export: changes with the data, the filters, the sort or format."""
    raw = json.dumps([kind, fmt, filters.key(), sort, version])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def leaderboard_records(board: Board, sort: str) -> list[dict[str, Any]]:
    """One record per model, in ``sort`` order, with :data:`LEADERBOARD_FIELDS`."""
    return [{name: row[name] for name in LEADERBOARD_FIELDS} for row in sorted_rows(board, sort)]


def leaderboard_json(board: Board, sort: str) -> str:
    """The leaderboard as a JSON document: what it was computed from, then ``models``."""
    document = {
        "computed_at": board.computed_at,
        "votes": board.votes,
        "filters": board.filters.describe(),
        "sort": sort,
        "bootstrap_rounds": board.bootstrap_rounds,
        "anchor": board.anchor,
        "models": leaderboard_records(board, sort),
    }
    return json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def leaderboard_csv(board: Board, sort: str) -> str:
    """The leaderboard as CSV, a header then one line per model (empty cell = unknown)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LEADERBOARD_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(leaderboard_records(board, sort))
    return buffer.getvalue()


def leaderboard_export(board: Board, sort: str, fmt: str) -> str:
    if fmt == "csv":
        return leaderboard_csv(board, sort)
    if fmt == "json":
        return leaderboard_json(board, sort)
    raise ValueError(f"unknown leaderboard format {fmt!r}; expected csv or json")


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``: ``2026-05-01T12:30:00.250Z``."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _vote_rows(filters: Filters) -> Iterator[dict[str, Any]]:
    model_a, model_b = aliased(Model), aliased(Model)
    public_text = case(
        (or_(Prompt.source != "visitor", Prompt.shared == true()), Prompt.text), else_=None
    )
    stmt = filtered_votes(
        select(
            Vote.id,
            Vote.created_at,
            Vote.battle_id,
            Vote.prompt_id,
            Prompt.category,
            public_text,
            model_a.tag,
            model_b.tag,
            Vote.outcome,
            Vote.source,
        )
        .join(model_a, model_a.id == Vote.model_a_id)
        .join(model_b, model_b.id == Vote.model_b_id)
        .outerjoin(Prompt, Prompt.id == Vote.prompt_id),
        filters,
    ).order_by(Vote.id)
    with db.engine.connect() as conn:
        result = conn.execution_options(yield_per=_CHUNK_ROWS).execute(stmt)
        for row in result:
            vote_id, created, battle_id, prompt_id, category, text, a, b, outcome, source = row
            yield {
                "vote_id": vote_id,
                "time": iso_utc(created),
                "battle_id": battle_id,
                "prompt_id": prompt_id,
                "category": category,
                "prompt": text,
                "model_a": a,
                "model_b": b,
                "outcome": outcome,
                "source": source,
            }


def _chunks(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def votes_csv(filters: Filters) -> Iterator[str]:
    """The vote log as CSV text chunks (the header first, even without votes)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=VOTE_FIELDS, lineterminator="\n")
    writer.writeheader()
    yield buffer.getvalue()
    for chunk in _chunks(_vote_rows(filters)):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(chunk)
        yield buffer.getvalue()


def votes_jsonl(filters: Filters) -> Iterator[str]:
    """The vote log as JSON Lines text chunks, one object per vote."""
    for chunk in _chunks(_vote_rows(filters)):
        yield "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in chunk)


def votes_export(filters: Filters, fmt: str) -> Iterator[str]:
    """``fmt`` is ``csv`` or ``jsonl`` (``json`` is taken as JSON Lines too)."""
    if fmt == "csv":
        return votes_csv(filters)
    if fmt in ("jsonl", "json"):
        return votes_jsonl(filters)
    raise ValueError(f"unknown votes format {fmt!r}; expected csv or jsonl")
