"""Exports shared by the HTTP API and ``flask --app arena export``: the leaderboard (CSV,
JSON) and the anonymised vote log (CSV, JSON Lines), both honouring the filters.

The vote log is streamed: rows are read in batches from one read transaction (a consistent
snapshot) and written out chunk by chunk, so a million votes never sit in memory at once.
It comes in vote id order and can be read in pages (:class:`VotePage`: the votes after a
cursor, at most ``limit`` of them). It carries no voter id; a visitor's own prompt that was
not shared keeps its id and category but neither its text nor its answers' texts.

CSV is for people and spreadsheets: no cell runs as a formula (:mod:`arena.leaderboard.csvsafe`)
and the leaderboard's floats are rounded per column (:data:`CSV_DECIMALS`). JSON and JSON
Lines keep every value as stored, at full precision.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, case, or_, select, true
from sqlalchemy.orm import aliased

from arena.extensions import db
from arena.leaderboard.board import Board, sorted_rows
from arena.leaderboard.csvsafe import csv_cell, csv_lines, csv_text
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
    "bt_lower_open",
    "bt_upper_open",
    "group",
    "provisional",
    "bt_style",
    "bt_style_lower",
    "bt_style_upper",
    "bt_style_rank",
    "bt_style_lower_open",
    "bt_style_upper_open",
    "both_bad_rate",
    "answers",
    "tokens_per_second",
    "answer_chars",
    "answer_tokens",
    "tokens_per_second_p10",
    "time_to_first_token_s",
    "memory_bytes",
    "disk_bytes",
    "concurrency",
    "on_pareto_front",
    "base_model",
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
    "targeted",
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
#: Decimals kept in CSV per leaderboard column (JSON keeps full precision): sizes in billions
#: to the million parameters, rates and scores (0 to 1) to 4 decimals, ratings, tokens/s and
#: mean answer lengths to 1 decimal, seconds to the millisecond.
CSV_DECIMALS = {
    "params_b": 3,
    "win_rate": 4,
    "score": 4,
    "both_bad_rate": 4,
    "elo": 1,
    "online_elo": 1,
    "bt": 1,
    "bt_lower": 1,
    "bt_upper": 1,
    "bt_style": 1,
    "bt_style_lower": 1,
    "bt_style_upper": 1,
    "tokens_per_second": 1,
    "tokens_per_second_p10": 1,
    "time_to_first_token_s": 3,
    "answer_chars": 1,
    "answer_tokens": 1,
}


def etag(kind: str, fmt: str, filters: Filters, version: str, *extra: str) -> str:
    """An entity tag for one export: changes with the data (``version``), the filters, the
    format and anything else that shapes it (``extra``: the sort, the page and columns)."""
    raw = json.dumps([kind, fmt, filters.key(), version, *extra])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def leaderboard_records(board: Board, sort: str) -> list[dict[str, Any]]:
    """One record per model, in ``sort`` order, with :data:`LEADERBOARD_FIELDS`."""
    return [{name: row[name] for name in LEADERBOARD_FIELDS} for row in sorted_rows(board, sort)]


def leaderboard_json(board: Board, sort: str) -> str:
    """The leaderboard as a JSON document: what it was computed from (``source``: human,
    judge or judge:TAG; ``votes`` counts a judge source's verdicts), its caveats (``notes``,
    ``groups``, ``provisional_votes``), the style control's fitted effects (``style``, null
    when no vote has both answers stored), then ``models``."""
    document = {
        "computed_at": board.computed_at,
        "votes": board.votes,
        # human (people's votes), judge or judge:TAG: judge verdicts are never people's.
        "source": board.filters.source,
        "filters": board.filters.describe(),
        "sort": sort,
        "bootstrap_rounds": board.bootstrap_rounds,
        "anchor": board.anchor,
        "provisional_votes": board.provisional_votes,
        "groups": board.groups,
        "notes": board.notes,
        "style": board.style,
        "models": leaderboard_records(board, sort),
    }
    return json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def _csv_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """One leaderboard record for people: floats rounded (:data:`CSV_DECIMALS`), text safe."""
    cells = {}
    for name, value in record.items():
        places = CSV_DECIMALS.get(name)
        if places is not None and isinstance(value, float):
            value = round(value, places)
        cells[name] = csv_cell(value)
    return cells


def leaderboard_csv(board: Board, sort: str) -> str:
    """The leaderboard as CSV, a header then one line per model (empty cell = unknown)."""
    records = [_csv_record(record) for record in leaderboard_records(board, sort)]
    return csv_text([LEADERBOARD_FIELDS, *([r[f] for f in LEADERBOARD_FIELDS] for r in records)])


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


def int_arg(name: str, value: str, lowest: int, highest: int) -> int:
    """A whole-number query parameter within bounds, else a :class:`FilterError`."""
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
    limit = int_arg("limit", raw_limit, 1, MAX_PAGE_ROWS) if raw_limit else None
    after = int_arg("after", raw_after, 0, 2**63 - 1) if raw_after else 0
    answers = parse_bool("answers", single_arg(args, "answers") or "")
    return VotePage(limit, after, answers)


def _page_ids(filters: Filters, page: VotePage) -> Select[Any]:
    return filtered_votes(select(Vote.id).where(Vote.id > page.after), filters).order_by(Vote.id)


def page_end(ids: Select[Any], limit: int | None, conn: Connection | None = None) -> int | None:
    """The last of the first ``limit`` ids that ``ids`` (ordered) selects when more follow it,
    else None (or with no limit): where the next page starts. On ``conn`` if given."""
    if limit is None:
        return None
    stmt = ids.offset(limit - 1).limit(2)
    if conn is None:
        with db.engine.connect() as own:
            found = own.scalars(stmt).all()
    else:
        found = conn.scalars(stmt).all()
    return found[0] if len(found) == 2 else None


def selects_more_than(ids: Select[Any], rows: int) -> bool:
    """Whether ``ids`` selects more than ``rows`` rows: an index walk of at most ``rows``
    ids, no count of the whole log."""
    with db.engine.connect() as conn:
        return conn.scalar(ids.offset(rows).limit(1)) is not None


def next_after(filters: Filters, page: VotePage, conn: Connection | None = None) -> int | None:
    """Where the next page starts (this page's last vote id) when more votes follow this
    page; None when this page is the last one (or has no limit). On ``conn`` if given."""
    return page_end(_page_ids(filters, page), page.limit, conn)


def more_rows_than(filters: Filters, page: VotePage, rows: int) -> bool:
    """Whether the page (the whole log after ``page.after`` without a limit) holds more than
    ``rows`` votes."""
    if page.limit is not None and page.limit <= rows:
        return False
    return selects_more_than(_page_ids(filters, page), rows)


def _vote_statement(filters: Filters, page: VotePage, upto: int | None) -> Select[Any]:
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
        Vote.targeted,
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
    return stmt


def vote_rows(
    filters: Filters, page: VotePage, upto: int | None = None, conn: Connection | None = None
) -> Iterator[tuple[Any, ...]]:
    """The page's votes as tuples of ``page.fields`` (the time as ISO text), in id order,
    read in batches by one statement, on ``conn`` if given (else a connection of its own)."""
    stmt = _vote_statement(filters, page, upto)
    if conn is None:
        with db.engine.connect() as own:
            yield from _read_rows(own, stmt)
    else:
        yield from _read_rows(conn, stmt)


def _read_rows(conn: Connection, stmt: Select[Any]) -> Iterator[tuple[Any, ...]]:
    result = conn.execution_options(yield_per=_CHUNK_ROWS).execute(stmt)
    for row in result:
        yield (row[0], iso_utc(row[1]), *row[2:])


def _chunks(rows: Iterable[Sequence[Any]]) -> Iterator[list[Sequence[Any]]]:
    chunk: list[Sequence[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def json_lines(rows: Iterable[Sequence[Any]], fields: Sequence[str]) -> Iterator[str]:
    """Rows as JSON Lines text chunks, one object per row, values as stored."""
    for chunk in _chunks(rows):
        yield "".join(
            json.dumps(dict(zip(fields, row, strict=True)), ensure_ascii=False) + "\n"
            for row in chunk
        )


def votes_text(rows: Iterable[Sequence[Any]], fmt: str, page: VotePage) -> Iterator[str]:
    """Rows of :func:`vote_rows` as ``fmt`` (``csv``, ``jsonl``; ``json`` is JSON Lines)."""
    if fmt == "csv":
        return csv_lines(rows, page.fields, _CHUNK_ROWS)
    if fmt in ("jsonl", "json"):
        return json_lines(rows, page.fields)
    raise ValueError(f"unknown votes format {fmt!r}; expected csv or jsonl")


def votes_export(
    filters: Filters, fmt: str, page: VotePage | None = None, upto: int | None = None
) -> Iterator[str]:
    """``fmt`` is ``csv`` or ``jsonl`` (``json`` is taken as JSON Lines too).

    ``upto`` (the page's last vote id, from :func:`next_after`) ends the page exactly where
    the next one starts, whatever changes in between. Nothing is read before the first
    chunk is asked for.
    """
    page = page or VotePage()
    return votes_text(vote_rows(filters, page, upto), fmt, page)
