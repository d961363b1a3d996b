"""Exports shared by the HTTP API and ``flask --app arena export``: the leaderboard (CSV,
JSON) and the anonymised vote log (CSV, JSON Lines), both honouring the filters.

The vote log is streamed: rows are read in batches from one read transaction (a consistent
snapshot) and written out chunk by chunk, so a million votes never sit in memory at once.
It comes in vote id order and can be read in pages (:class:`VotePage`: the votes after a
cursor, at most ``limit`` of them). It carries no voter id; a visitor's own prompt that was
not shared keeps its id and category but neither its text nor its answers' texts.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, or_, select, true
from sqlalchemy.orm import aliased

from arena.extensions import db
from arena.leaderboard.board import Board, sorted_rows
from arena.leaderboard.filters import (
    FilterError,
    Filters,
    filtered_votes,
    parse_bool,
    single_arg,
)
from arena.models import Battle, Model, Prompt, Response, Vote

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
#: The answer columns, added at the end on request: the texts shown on the battle's sides
#: that became ``model_a`` and ``model_b``.
ANSWER_FIELDS = ("answer_a", "answer_b")
#: Query parameters of the vote log besides the filters, read by :func:`parse_vote_page`.
VOTE_PAGE_PARAMS = ("limit", "after", "answers")
#: The largest page of the vote log one request may ask for.
MAX_PAGE_ROWS = 100_000
#: (format, kind) -> (content type, download file name)
MEDIA = {
    ("csv", "leaderboard"): ("text/csv; charset=utf-8", "leaderboard.csv"),
    ("json", "leaderboard"): ("application/json", "leaderboard.json"),
    ("csv", "votes"): ("text/csv; charset=utf-8", "votes.csv"),
    ("jsonl", "votes"): ("application/x-ndjson", "votes.jsonl"),
}
_CHUNK_ROWS = 2000


def etag(kind: str, fmt: str, filters: Filters, version: str, *extra: str) -> str:
    """An entity tag for one export: changes with the data (``version``), the filters, the
    format and anything else that shapes it (``extra``: the sort, the page and columns)."""
    raw = json.dumps([kind, fmt, filters.key(), version, *extra])
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


@dataclass(frozen=True)
class VotePage:
    """Which slice of the vote log, with which columns.

    The votes whose id is above ``after`` (0: from the start), at most ``limit`` of them
    (None: all), in id order; with :data:`ANSWER_FIELDS` when ``answers``. The next page
    starts after the last ``vote_id`` of this one (:func:`next_after`).
    """

    limit: int | None = None
    after: int = 0
    answers: bool = False

    @property
    def fields(self) -> tuple[str, ...]:
        return (*VOTE_FIELDS, *ANSWER_FIELDS) if self.answers else VOTE_FIELDS

    def key(self) -> str:
        """A canonical string for ETags."""
        return json.dumps([self.limit, self.after, self.answers])


def _int_arg(name: str, value: str, lowest: int, highest: int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not lowest <= number <= highest:
        raise FilterError(
            f"bad value {value!r} for {name!r}: expected a whole number from {lowest} to {highest}"
        )
    return number


def parse_vote_page(args: Mapping[str, Any]) -> VotePage:
    """``limit`` (1 to :data:`MAX_PAGE_ROWS`), ``after`` (a vote id, 0 or more) and
    ``answers`` (1/0) from query parameters; other names are left to the filters.

    Raises:
        FilterError: naming the parameter and what it accepts.
    """
    raw_limit, raw_after = single_arg(args, "limit"), single_arg(args, "after")
    limit = _int_arg("limit", raw_limit, 1, MAX_PAGE_ROWS) if raw_limit else None
    after = _int_arg("after", raw_after, 0, 2**63 - 1) if raw_after else 0
    answers = parse_bool("answers", single_arg(args, "answers") or "")
    return VotePage(limit, after, answers)


def _page_ids(filters: Filters, page: VotePage) -> Select[Any]:
    return filtered_votes(select(Vote.id).where(Vote.id > page.after), filters).order_by(Vote.id)


def next_after(filters: Filters, page: VotePage) -> int | None:
    """Where the next page starts (this page's last vote id) when more votes follow this
    page; None when this page is the last one (or has no limit)."""
    if page.limit is None:
        return None
    with db.engine.connect() as conn:
        ids = conn.scalars(_page_ids(filters, page).offset(page.limit - 1).limit(2)).all()
    return ids[0] if len(ids) == 2 else None


def _vote_rows(filters: Filters, page: VotePage, upto: int | None) -> Iterator[dict[str, Any]]:
    model_a, model_b = aliased(Model), aliased(Model)
    public = or_(Prompt.source != "visitor", Prompt.shared == true())
    columns: list[Any] = [
        Vote.id,
        Vote.created_at,
        Vote.battle_id,
        Vote.prompt_id,
        Prompt.category,
        case((public, Prompt.text), else_=None),
        model_a.tag,
        model_b.tag,
        Vote.outcome,
        Vote.source,
    ]
    if page.answers:
        left, right = aliased(Response), aliased(Response)
        columns += [case((public, left.text), else_=None), case((public, right.text), else_=None)]
    stmt = (
        select(*columns)
        .join(model_a, model_a.id == Vote.model_a_id)
        .join(model_b, model_b.id == Vote.model_b_id)
        .outerjoin(Prompt, Prompt.id == Vote.prompt_id)
    )
    if page.answers:
        # The vote's model_a is the battle's left side (see arena.play.battles.record_vote).
        stmt = (
            stmt.outerjoin(Battle, Battle.id == Vote.battle_id)
            .outerjoin(left, left.id == Battle.left_response_id)
            .outerjoin(right, right.id == Battle.right_response_id)
        )
    stmt = filtered_votes(stmt.where(Vote.id > page.after), filters).order_by(Vote.id)
    if upto is not None:
        stmt = stmt.where(Vote.id <= upto)
    if page.limit is not None:
        stmt = stmt.limit(page.limit)
    fields = page.fields
    with db.engine.connect() as conn:
        result = conn.execution_options(yield_per=_CHUNK_ROWS).execute(stmt)
        for row in result:
            record = dict(zip(fields, row, strict=True))
            record["time"] = iso_utc(record["time"])
            yield record


def _chunks(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def votes_csv(filters: Filters, page: VotePage, upto: int | None = None) -> Iterator[str]:
    """The vote log as CSV text chunks (the header first, even without votes)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=page.fields, lineterminator="\n")
    writer.writeheader()
    yield buffer.getvalue()
    for chunk in _chunks(_vote_rows(filters, page, upto)):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(chunk)
        yield buffer.getvalue()


def votes_jsonl(filters: Filters, page: VotePage, upto: int | None = None) -> Iterator[str]:
    """The vote log as JSON Lines text chunks, one object per vote."""
    for chunk in _chunks(_vote_rows(filters, page, upto)):
        yield "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in chunk)


def votes_export(
    filters: Filters, fmt: str, page: VotePage | None = None, upto: int | None = None
) -> Iterator[str]:
    """``fmt`` is ``csv`` or ``jsonl`` (``json`` is taken as JSON Lines too).

    ``upto`` (the page's last vote id, from :func:`next_after`) ends the page exactly where
    the next one starts, whatever changes in between. Nothing is read before the first
    chunk is asked for.
    """
    page = page or VotePage()
    if fmt == "csv":
        return votes_csv(filters, page, upto)
    if fmt in ("jsonl", "json"):
        return votes_jsonl(filters, page, upto)
    raise ValueError(f"unknown votes format {fmt!r}; expected csv or jsonl")
