"""Preference data: the human votes as (prompt, chosen, rejected) pairs, for preference tuning.

One JSON Lines record per decisive human vote (``a`` or ``b``), with
:data:`PREFERENCE_FIELDS`: the prompt, the answer the voter preferred (``chosen``) and the other
one (``rejected``), both answers' models and the prompt's category; the shape DPO trainers
read (TRL's ``DPOTrainer`` takes ``prompt``, ``chosen``, ``rejected``). Served as
``/api/preferences.jsonl`` and written by ``flask --app arena export preferences``, both
through these functions.

What is left out, always:

- votes that are not a voter's (``source`` other than the arena's own: imported history,
  judges' verdicts);
- votes with no battle (the original arena's imported history): no answer text to pair;
- votes on a visitor's prompt that was not shared: neither its text nor its answers leave;
- flagged (excluded) votes, as everywhere (:func:`arena.leaderboard.filters.vote_conditions`).

Ties and "both bad" votes come only on request (``include=ties,both_bad``); every record then
carries ``outcome`` (``a``, ``b``, ``tie`` or ``both_bad``, as in the vote log), and for a tie or
both bad ``chosen``/``rejected`` are just the battle's sides A and B, so a trainer can filter
on it. The filters ``category``, ``size``, ``from`` and ``to`` apply as to the vote log
(``exclude_ties`` does not: ties are out unless asked for). Records come in vote id order and
read in pages like the vote log (``limit``, ``after`` a vote id; :func:`next_after` says where
the next page starts).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, or_, select, true
from sqlalchemy.orm import aliased

from arena.extensions import db
from arena.leaderboard import exports
from arena.leaderboard.cache import votes_version
from arena.leaderboard.filters import FilterError, Filters, single_arg, vote_conditions
from arena.models import Battle, Model, Prompt, Response, Vote

PREFERENCE_FIELDS = ("prompt", "chosen", "rejected", "chosen_model", "rejected_model", "category")
#: Added to every record when ties or both-bad votes are asked for.
OUTCOME_FIELD = "outcome"
#: ``include`` value -> the vote outcome it adds to the decisive ones.
INCLUDABLE = {"ties": "tie", "both_bad": "both_bad"}
DECISIVE = ("a", "b")
#: Query parameters besides the filters, read by :func:`parse_preference_page`.
PREFERENCE_PARAMS = ("limit", "after", "include")
#: The votes cast by voters on the arena (``Vote.source``); imported and judges' are not.
HUMAN_SOURCE = "arena"
#: The most records one HTTP request returns. Each holds two whole answers (up to
#: GEN_NUM_PREDICT = 1024 tokens, about 4.5 KB each): 10,000 records are about 43 MB with
#: 2,000-character answers and 93 MB with 4,500-character ones, written in 1.3 to 1.6 s (2
#: cores, SQLite), well inside a worker's 30 s. A download without ``limit`` that would hold
#: more is refused (400) with how to ask for it in pages.
MAX_ROWS = 10_000
MEDIA = ("application/x-ndjson", "preferences.jsonl")


@dataclass(frozen=True)
class PreferencePage:
    """Which records: those of votes after ``after`` (0: from the start), at most ``limit``
    (None: all), in vote id order; ties and both-bad votes too when in ``include``."""

    limit: int | None = None
    after: int = 0
    include: tuple[str, ...] = ()  # outcomes besides a and b, in INCLUDABLE order

    @property
    def outcomes(self) -> tuple[str, ...]:
        return (*DECISIVE, *self.include)

    @property
    def fields(self) -> tuple[str, ...]:
        return (*PREFERENCE_FIELDS, OUTCOME_FIELD) if self.include else PREFERENCE_FIELDS

    def key(self) -> str:
        """A canonical string for ETags."""
        return json.dumps(["preferences", self.limit, self.after, list(self.include)])


def parse_include(value: str | None) -> tuple[str, ...]:
    """``ties``, ``both_bad`` or both, comma-separated (empty: decisive votes only).

    Raises:
        FilterError: naming the unknown value and the accepted ones.
    """
    names = {part.strip() for part in (value or "").split(",") if part.strip()}
    unknown = sorted(names - set(INCLUDABLE))
    if unknown:
        raise FilterError(
            f"bad value {unknown[0]!r} for 'include': expected ties, both_bad or both "
            "(comma-separated)"
        )
    return tuple(outcome for name, outcome in INCLUDABLE.items() if name in names)


def parse_preference_page(args: Mapping[str, Any]) -> PreferencePage:
    """``limit`` (1 to :data:`MAX_ROWS`), ``after`` (a vote id, 0 or more) and ``include``
    from query parameters (or the command's options as such); other names are the filters'.

    Raises:
        FilterError: naming the parameter and what it accepts.
    """
    raw_limit, raw_after = single_arg(args, "limit"), single_arg(args, "after")
    limit = exports.int_arg("limit", raw_limit, 1, MAX_ROWS) if raw_limit else None
    after = exports.int_arg("after", raw_after, 0, 2**63 - 1) if raw_after else 0
    return PreferencePage(limit, after, parse_include(single_arg(args, "include")))


def check_filters(filters: Filters) -> Filters:
    """The filters, unless they ask for what preference data cannot honour.

    Raises:
        FilterError: ``exclude_ties``: ties are left out unless ``include`` asks for them.
    """
    if filters.exclude_ties:
        raise FilterError(
            "'exclude_ties' does not apply to preference data: ties and both-bad votes are "
            "left out unless 'include' asks for them"
        )
    return filters


def _conditions(filters: Filters, page: PreferencePage) -> list[Any]:
    """The votes that make records: human, with a battle, on a public prompt, counted under
    ``filters`` (never a flagged one), of the page's outcomes, after the page's cursor."""
    public = or_(Prompt.source != "visitor", Prompt.shared == true())
    return [
        Vote.id > page.after,
        Vote.source == HUMAN_SOURCE,
        Vote.battle_id.is_not(None),
        Vote.outcome.in_(page.outcomes),
        public,
        *vote_conditions(filters),
    ]


def _ids(filters: Filters, page: PreferencePage) -> Select[Any]:
    return (
        select(Vote.id)
        .join(Prompt, Prompt.id == Vote.prompt_id)
        .where(*_conditions(filters, page))
        .order_by(Vote.id)
    )


def next_after(
    filters: Filters, page: PreferencePage, conn: Connection | None = None
) -> int | None:
    """Where the next page starts (this page's last vote id) when more records follow it;
    None when this page is the last one (or has no limit). On ``conn`` if given."""
    return exports.page_end(_ids(filters, page), page.limit, conn)


def more_rows_than(filters: Filters, page: PreferencePage, rows: int) -> bool:
    """Whether the page holds more than ``rows`` records (an index walk, no count)."""
    if page.limit is not None and page.limit <= rows:
        return False
    return exports.selects_more_than(_ids(filters, page), rows)


def too_many_message(rows: int | None = None) -> str:
    """Why a download of more than ``rows`` (:data:`MAX_ROWS`) records is refused, and how
    to get them."""
    rows = MAX_ROWS if rows is None else rows
    return (
        f"more than {rows} preference pairs match: ask for them in pages of at most {rows} "
        f'(limit={rows}) and follow the Link header (rel="next") or X-Next-After until it '
        "is absent, or narrow the filters; flask --app arena export preferences writes any "
        "number"
    )


def _statement(filters: Filters, page: PreferencePage, upto: int | None) -> Select[Any]:
    left, right = aliased(Response), aliased(Response)
    model_left, model_right = aliased(Model), aliased(Model)
    # The vote's A is the battle's left side (see arena.play.battles.record_vote); the models
    # are read from the answers themselves.
    columns: list[Any] = [
        Vote.outcome,
        Prompt.text,
        Prompt.category,
        left.text,
        right.text,
        model_left.tag,
        model_right.tag,
    ]
    stmt = (
        select(*columns)
        .join(Prompt, Prompt.id == Vote.prompt_id)
        .join(Battle, Battle.id == Vote.battle_id)
        .join(left, left.id == Battle.left_response_id)
        .join(right, right.id == Battle.right_response_id)
        .join(model_left, model_left.id == left.model_id)
        .join(model_right, model_right.id == right.model_id)
        .where(*_conditions(filters, page))
        .order_by(Vote.id)
    )
    if upto is not None:
        stmt = stmt.where(Vote.id <= upto)
    if page.limit is not None:
        stmt = stmt.limit(page.limit)
    return stmt


def _record(row: Any, with_outcome: bool) -> tuple[Any, ...]:
    outcome, prompt, category, text_a, text_b, model_a, model_b = row
    if outcome == "b":
        record: tuple[Any, ...] = (prompt, text_b, text_a, model_b, model_a, category)
    else:  # a; or a tie or both bad, when asked for: the sides A and B as they are
        record = (prompt, text_a, text_b, model_a, model_b, category)
    return (*record, outcome) if with_outcome else record


def preference_rows(
    filters: Filters,
    page: PreferencePage,
    upto: int | None = None,
    conn: Connection | None = None,
) -> Iterator[tuple[Any, ...]]:
    """The page's records as tuples of ``page.fields``, in vote id order, read in batches by
    one statement; ``upto`` (from :func:`next_after`) ends the page where the next one
    starts, whatever is voted in between."""
    stmt = _statement(filters, page, upto)
    with_outcome = bool(page.include)
    if conn is None:
        with db.engine.connect() as own:
            for row in own.execution_options(yield_per=2000).execute(stmt):
                yield _record(row, with_outcome)
    else:
        for row in conn.execution_options(yield_per=2000).execute(stmt):
            yield _record(row, with_outcome)


def preferences_export(
    filters: Filters, page: PreferencePage, upto: int | None = None
) -> Iterator[str]:
    """The page as JSON Lines text chunks; nothing is read before the first is asked for."""
    return exports.json_lines(preference_rows(filters, page, upto), page.fields)


def etag(filters: Filters, page: PreferencePage) -> str:
    """The ETag of this page of preference data over the database as it is now."""
    with db.engine.connect() as conn:
        # The vote log's with its answers: votes, flags, models' tags and sizes, prompts'
        # categories and sharing (stored answers are never rewritten); the ETag adds filters.
        version = votes_version(conn, answers=True)
    return exports.etag("preferences", "jsonl", filters, version, page.key())
