"""Downloads: the leaderboard (CSV, JSON) and the anonymised vote log (CSV, JSON Lines).

Each answers with an ETag (and 304 to a matching If-None-Match), an exact Content-Type and
an attachment Content-Disposition. Errors are JSON (``arena.web.errors``).
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint, Response, request, stream_with_context

from arena import leaderboard
from arena.leaderboard import exports
from arena.web.params import request_filters

bp = Blueprint("api", __name__, url_prefix="/api")


def _download(body: str | Iterable[str], kind: str, fmt: str, tag: str) -> Response:
    mimetype, filename = exports.MEDIA[(fmt, kind)]
    response = Response(body, content_type=mimetype)
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    response.headers["Cache-Control"] = "no-cache"
    response.set_etag(tag)
    return response


def _not_modified(tag: str) -> Response | None:
    if not request.if_none_match.contains(tag):
        return None
    response = Response(status=304)
    response.set_etag(tag)
    response.headers["Cache-Control"] = "no-cache"
    return response


def _leaderboard(fmt: str) -> Response:
    filters, sort = request_filters(allow_sort=True)
    board = leaderboard.get_board(filters)
    tag = exports.etag("leaderboard", fmt, filters, board.version, sort)
    not_modified = _not_modified(tag)
    if not_modified is not None:
        return not_modified
    return _download(exports.leaderboard_export(board, sort, fmt), "leaderboard", fmt, tag)


@bp.get("/leaderboard.json")
def leaderboard_json() -> Response:
    return _leaderboard("json")


@bp.get("/leaderboard.csv")
def leaderboard_csv() -> Response:
    return _leaderboard("csv")


def _votes(fmt: str) -> Response:
    filters, _ = request_filters(allow_sort=False)
    tag = exports.etag("votes", fmt, filters, leaderboard.current_version())
    not_modified = _not_modified(tag)
    if not_modified is not None:
        return not_modified
    body = stream_with_context(exports.votes_export(filters, fmt))
    return _download(body, "votes", fmt, tag)


@bp.get("/votes.csv")
def votes_csv() -> Response:
    return _votes("csv")


@bp.get("/votes.jsonl")
def votes_jsonl() -> Response:
    return _votes("jsonl")
