"""Leaderboards as a service: cached per filter set, recomputed only when the data changed.

A web request reads the data signature (:func:`data_version`, a few index-only counts: about
10 ms at a million votes) and the cached row of its filter set in the ``leaderboard_cache``
table. A board is computed (``arena.leaderboard.board``, the bootstrap included) only when
that row is missing or was computed from other data, one at a time under a lock
(``arena.database.database_lock``: every machine on PostgreSQL). Commands and the worker wait
for the lock; a request never queues for it (``arena.leaderboard.bounds``): it shows the
previous board while the new one is computed in the background, or waits a bounded time in
one of a few places, and the web limits how many computations one client may start. The table
is shared by every gunicorn worker and by the background worker, whose job calls
:func:`refresh_cache` so page views rarely compute.

Everything here opens its own connections, so it never commits or rolls back the caller's
session.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from flask import current_app, has_request_context
from sqlalchemy import (
    Connection,
    ScalarSelect,
    and_,
    delete,
    false,
    func,
    insert,
    select,
    true,
)
from sqlalchemy.exc import OperationalError

from arena.database import database_lock
from arena.extensions import db
from arena.leaderboard.board import PAYLOAD_FORMAT, Board, compute_board, sorted_rows
from arena.leaderboard.bounds import (
    COMPUTE_GATE,
    Cached,
    LeaderboardUnavailable,
    Served,
    serve_request,
)
from arena.leaderboard.filters import (
    HUMAN,
    FilterError,
    Filters,
    judgement_conditions,
    judges_of,
    parse_filters,
    parse_source,
)
from arena.models import Judge, Judgement, LeaderboardCache, Model, Prompt, Response, Vote

__all__ = [
    "COMPUTE_GATE",
    "Board",
    "LeaderboardUnavailable",
    "Served",
    "cache_key",
    "current_votes_version",
    "data_version",
    "get_board",
    "invalidate",
    "refresh_cache",
    "serve_board",
    "sorted_rows",
    "votes_version",
]

log = logging.getLogger(__name__)


def data_version(conn: Connection, source: str = HUMAN) -> str:
    """A signature of everything a leaderboard of ``source`` depends on.

    Votes (the human source): count, highest id, and the count and id-sum of flagged votes
    (a flag set or lifted changes it; the partial index ``ix_vote_excluded`` keeps that
    cheap). A judge source reads its verdicts instead (:func:`_judgement_count_columns`), so
    a verdict changes the judge boards' version, never the human one, and a vote never the
    judge boards'. Answers: count of usable ones and highest id (for tokens/s and lengths).
    Models: id, tag, display name, size and enabled flag of each (sizes drive the size-aware
    Elo), and their memory and disk sizes (the cost columns).
    """
    source_columns = _vote_count_columns() if source == HUMAN else _judgement_count_columns(source)
    counts = conn.execute(
        select(
            *source_columns,
            select(func.count())
            .select_from(Response)
            .where(Response.status == "ok")
            .scalar_subquery(),
            select(func.max(Response.id)).scalar_subquery(),
        )
    ).one()
    models = conn.execute(
        select(
            Model.id,
            Model.tag,
            Model.display_name,
            Model.params_b,
            Model.enabled,
            Model.memory_bytes,
            Model.disk_bytes,
        ).order_by(Model.id)
    ).all()
    parts: list[Any] = [list(counts), [list(m) for m in models]]
    if source != HUMAN:
        # Which judges the source reads: a judge enabled or disabled changes it.
        parts += [source, list(conn.scalars(judges_of(source).order_by(Judge.id)))]
    signature = json.dumps(parts, default=str)
    return hashlib.sha256(signature.encode()).hexdigest()[:32]


def current_version(source: str = HUMAN) -> str:
    """:func:`data_version` of the database now, on a connection of its own."""
    with db.engine.connect() as conn:
        return data_version(conn, source)


def _judgement_count_columns(source: str) -> list[ScalarSelect[Any]]:
    """Count and highest id of a judge source's verdicts that rate (:func:`judgement_conditions`
    with no filter: a verdict is written once, whole, and never changed)."""
    conditions = judgement_conditions(Filters(source=source))
    return [
        select(func.count()).select_from(Judgement).where(*conditions).scalar_subquery(),
        select(func.max(Judgement.id)).where(*conditions).scalar_subquery(),
    ]


def _vote_count_columns() -> list[ScalarSelect[Any]]:
    """Count and highest id of the votes, count and id-sum of the flagged ones: a new vote,
    or a flag set or lifted, changes them."""
    flagged = Vote.excluded == true()
    return [
        select(func.count()).select_from(Vote).scalar_subquery(),
        select(func.max(Vote.id)).scalar_subquery(),
        select(func.count()).select_from(Vote).where(flagged).scalar_subquery(),
        select(func.coalesce(func.sum(Vote.id), 0)).where(flagged).scalar_subquery(),
    ]


def _vote_counts(conn: Connection) -> list[Any]:
    """:func:`_vote_count_columns` read now."""
    return list(conn.execute(select(*_vote_count_columns())).one())


def votes_version(conn: Connection, *, answers: bool = False) -> str:
    """A signature of what the vote log export shows, for its ETag.

    Votes as in :func:`data_version` (a new vote, or a flag set or lifted, changes it); each
    model's id, tag and size (the size filter reads it: a size corrected by ``models sync``
    changes what ``size=`` selects); per category, the count and id-sum of the public and of
    the private prompts (a visitor's prompt that was not shared: its text is hidden), so a prompt
    re-categorised or shared changes it. New answers do not: the log shows an answer only
    as a voted battle's side, and stored answers and battles are written whole once and
    never rewritten, so the vote fixes the text shown. ``answers`` (the answer columns are
    in the export) is part of the signature for that reason alone.
    """
    private = and_(Prompt.source == "visitor", Prompt.shared == false())
    prompts = conn.execute(
        select(Prompt.category, private, func.count(), func.sum(Prompt.id))
        .group_by(Prompt.category, private)
        .order_by(Prompt.category, private)
    ).all()
    models = conn.execute(select(Model.id, Model.tag, Model.params_b).order_by(Model.id)).all()
    signature = [
        "votes",
        _vote_counts(conn),
        [list(m) for m in models],
        [[str(c), bool(p), n, s] for c, p, n, s in prompts],
        bool(answers),
    ]
    return hashlib.sha256(json.dumps(signature, default=str).encode()).hexdigest()[:32]


def current_votes_version(*, answers: bool = False) -> str:
    """:func:`votes_version` of the database now, on a connection of its own."""
    with db.engine.connect() as conn:
        return votes_version(conn, answers=answers)


def _settings() -> tuple[int, str | None]:
    config = current_app.config
    return int(config["LEADERBOARD_BOOTSTRAP_ROUNDS"]), config.get("LEADERBOARD_BT_ANCHOR") or None


def cache_key(filters: Filters) -> str:
    """The cache row of a filter set (the rating settings are part of it)."""
    rounds, anchor = _settings()
    raw = json.dumps([filters.key(), rounds, anchor, PAYLOAD_FORMAT])
    return hashlib.sha256(raw.encode()).hexdigest()


def _read(conn: Connection, key: str, filters: Filters) -> Cached:
    row = conn.execute(
        select(
            LeaderboardCache.payload,
            LeaderboardCache.computed_at,
            LeaderboardCache.compute_seconds,
        ).where(LeaderboardCache.key == key)
    ).first()
    if row is None:
        return Cached()
    try:
        return Cached(Board.from_json(row.payload, filters), row.computed_at, row.compute_seconds)
    except (ValueError, TypeError, KeyError):
        return Cached()


@contextmanager
def _compute_lock() -> Iterator[None]:
    """One computation at a time (on every machine sharing a PostgreSQL database): the
    others wait, then find it cached."""
    with database_lock(current_app, "leaderboard"):
        yield


def get_board(filters: Filters | None = None) -> Board:
    """The leaderboard for ``filters`` (see :func:`serve_board`)."""
    return serve_board(filters).board


def serve_board(filters: Filters | None = None) -> Served:
    """The leaderboard for ``filters``, from the cache when the data has not changed.

    A stale row younger than ``LEADERBOARD_MAX_STALE_SECONDS`` is served as it is (0, the
    default, never serves a stale row without recomputing it). Outside a request (commands,
    the worker) a board that must be computed is computed here, after waiting for the lock.
    A request never queues for seconds (``arena.leaderboard.bounds.serve_request``).
    """
    filters = filters or Filters()
    key = cache_key(filters)
    cached, fresh = _lookup(filters, key)
    board = cached.board
    if board is not None:
        if fresh:
            return Served(board, cached.computed_at)
        max_stale = float(current_app.config["LEADERBOARD_MAX_STALE_SECONDS"])
        if cached.computed_at is not None and max_stale > 0:
            age = (datetime.now(UTC) - cached.computed_at).total_seconds()
            if age < max_stale:
                return Served(board, cached.computed_at)
    if has_request_context():
        return serve_request(
            current_app._get_current_object(),  # type: ignore[attr-defined]
            lambda: _lookup(filters, key),
            lambda: _compute_locked(filters, key),
        )
    return Served(_recompute(filters, key), datetime.now(UTC))


def _lookup(filters: Filters, key: str) -> tuple[Cached, bool]:
    """The cached row of ``key`` and whether it is up to date."""
    with db.engine.connect() as conn:
        version = data_version(conn, filters.source)
        cached = _read(conn, key, filters)
    return cached, cached.board is not None and cached.board.version == version


def _recompute(filters: Filters, key: str) -> Board:
    with _compute_lock():
        return _compute_locked(filters, key)


def _compute_locked(filters: Filters, key: str) -> Board:
    """Compute and store the board; the caller holds the computation lock."""
    with db.engine.connect() as conn:
        # Another process may have computed it while this one waited for the lock.
        version = data_version(conn, filters.source)
        board = _read(conn, key, filters).board
        if board is not None and board.version == version:
            return board
        rounds, anchor = _settings()
        started = time.perf_counter()
        board = compute_board(conn, filters, version, bootstrap_rounds=rounds, anchor=anchor)
        seconds = time.perf_counter() - started
        conn.rollback()  # end the read snapshot before writing
        try:
            _store(key, filters, board, seconds)
        except OperationalError as error:
            # The cache is an optimisation: a full disk or a long lock must not hide the board.
            log.warning("leaderboard not cached: %s", error.orig)
    log.info("leaderboard %s computed in %.2f s (%d votes)", filters.key(), seconds, board.votes)
    return board


def _store(key: str, filters: Filters, board: Board, seconds: float) -> None:
    keep = int(current_app.config["LEADERBOARD_CACHE_ENTRIES"])
    with db.engine.begin() as conn:
        previous = conn.scalar(
            select(LeaderboardCache.computations).where(LeaderboardCache.key == key)
        )
        conn.execute(delete(LeaderboardCache).where(LeaderboardCache.key == key))
        conn.execute(
            insert(LeaderboardCache).values(
                key=key,
                filters=json.dumps(filters.params(), sort_keys=True),
                version=board.version,
                payload=board.to_json(),
                computed_at=datetime.now(UTC),
                compute_seconds=seconds,
                computations=(previous or 0) + 1,
            )
        )
        newest = (
            select(LeaderboardCache.key)
            .order_by(LeaderboardCache.computed_at.desc())
            .limit(max(keep, 1))
        )
        conn.execute(delete(LeaderboardCache).where(LeaderboardCache.key.not_in(newest)))


def refresh_cache(sources: Sequence[str] = ()) -> int:
    """Recompute the default (unfiltered) leaderboard and every cached filter set whose data
    changed, newest first; for the worker's periodic job or ``flask leaderboard refresh``.
    ``sources`` adds the unfiltered boards of other sources (``judge``, ``judge:TAG``).

    Needs an app context. Returns how many leaderboards were computed (0 when nothing
    changed). Filter sets that are no longer valid (a size class or category gone) are
    dropped from the cache.

    Raises:
        FilterError: a source in ``sources`` that is not one.
    """
    extra = [Filters(source=parse_source(source)) for source in sources]
    with db.engine.connect() as conn:
        cached = conn.execute(
            select(
                LeaderboardCache.key, LeaderboardCache.filters, LeaderboardCache.version
            ).order_by(LeaderboardCache.computed_at.desc())
        ).all()
    bounds = current_app.config["SIZE_CLASS_BOUNDS_B"]
    todo: dict[str, Filters] = {cache_key(f): f for f in (Filters(), *extra)}
    versions: dict[str, str] = {}  # source -> its data version now
    stored = {row.key: row.version for row in cached}
    for row in cached:
        try:
            filters = parse_filters(json.loads(row.filters), bounds, sources=True)
        except (FilterError, ValueError, TypeError):
            invalidate(row.key)
            continue
        todo.setdefault(cache_key(filters), filters)
    computed = 0
    for key, filters in todo.items():
        if filters.source not in versions:
            versions[filters.source] = current_version(filters.source)
        if stored.get(key) == versions[filters.source]:
            continue
        _recompute(filters, key)
        computed += 1
    return computed


def invalidate(key: str | None = None) -> None:
    """Drop one cached leaderboard (by :func:`cache_key`), or all of them."""
    with db.engine.begin() as conn:
        stmt = delete(LeaderboardCache)
        if key is not None:
            stmt = stmt.where(LeaderboardCache.key == key)
        conn.execute(stmt)


def cache_entries() -> list[dict[str, Any]]:
    """What the cache holds (filters, when and how often computed), newest first."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(
                LeaderboardCache.filters,
                LeaderboardCache.version,
                LeaderboardCache.computed_at,
                LeaderboardCache.compute_seconds,
                LeaderboardCache.computations,
            ).order_by(LeaderboardCache.computed_at.desc())
        ).all()
    return [row._asdict() for row in rows]
