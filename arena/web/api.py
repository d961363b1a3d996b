"""Downloads: the leaderboard (CSV, JSON), the anonymised vote log (CSV, JSON Lines) and
preference data (JSON Lines).

Each answers with an ETag, an exact Content-Type and an attachment Content-Disposition.
``If-None-Match`` (a tag, strong or weak as nginx makes it when it compresses, a list, or
``*``) gets a 304 decided before any export work; HEAD is GET without the body. The data is
public: every answer (a 304 and an error too) may be read from any origin, without
credentials, and a CORS preflight is answered. The vote log reads in pages (``limit``,
``after``) and tells where the next one starts (``Link: rel="next"``, ``X-Next-After``).
Errors are JSON (``arena.web.errors``).

A vote log export of more than ``EXPORTS_STREAM_MAX_ROWS`` votes is never streamed by the
request (``arena.ops.export_builds``): the first request gets ``202 Accepted`` with
``Retry-After`` while a thread builds its file, later ones get the complete file with a
``Content-Length`` (by ``send_file``, or by nginx through ``X-Accel-Redirect`` when
``EXPORTS_ACCEL_REDIRECT`` names its internal location), a failed build a JSON 503.

Preference data (:mod:`arena.leaderboard.preferences`) follows the vote log's conventions
(ETag, 304, HEAD, CORS, pages) and is always streamed: a download without ``limit`` of more
than ``preferences.MAX_ROWS`` records is refused (400) with how to ask for it in pages, so no
request holds a worker for long.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    request,
    send_file,
    stream_with_context,
    url_for,
)

from arena import leaderboard
from arena.leaderboard import exports, preferences
from arena.leaderboard.cache import current_votes_version
from arena.leaderboard.filters import FilterError, Filters
from arena.ops.export_builds import Pending, Unavailable, prepare
from arena.ops.exports import ExportFile, VoteExport
from arena.web.errors import error_response
from arena.web.params import request_filters, request_vote_page

bp = Blueprint("api", __name__, url_prefix="/api")

DOWNLOADS = {
    "api.leaderboard_json",
    "api.leaderboard_csv",
    "api.votes_csv",
    "api.votes_jsonl",
    "api.preferences_jsonl",
}
#: On every answer of a download: public data, readable from any origin (never with
#: credentials: no Access-Control-Allow-Credentials), and embeddable cross-origin.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": ", ".join(
        [
            "ETag",
            "Content-Disposition",
            "Link",
            "X-Next-After",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "Retry-After",
        ]
    ),
    "Cross-Origin-Resource-Policy": "cross-origin",
}
#: On the answer to a preflight (``OPTIONS``): a conditional GET may be sent cross-origin.
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, HEAD",
    "Access-Control-Allow-Headers": "If-None-Match",
    "Access-Control-Max-Age": "86400",
}


@bp.after_request
def _cross_origin(response: Response) -> Response:
    """CORS headers on the downloads only (``arena.web.security`` keeps the view's CORP)."""
    if request.endpoint not in DOWNLOADS:
        return response
    response.headers.update(CORS_HEADERS)
    if request.method == "OPTIONS":
        response.headers.update(PREFLIGHT_HEADERS)
    return response


def _download(body: str | Iterable[str], kind: str, fmt: str, tag: str) -> Response:
    return _attachment(body, exports.MEDIA[(fmt, kind)], tag)


def _attachment(body: str | Iterable[str], media: tuple[str, str], tag: str) -> Response:
    mimetype, filename = media
    response = Response(body, content_type=mimetype)
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    response.headers["Cache-Control"] = "no-cache"
    response.set_etag(tag)
    return response


def _unchanged(tag: str) -> bool:
    """Whether the request's ``If-None-Match`` matches ``tag`` (weak comparison, as RFC 9110
    asks: ``W/"tag"``, ``"tag"``, a list holding either, or ``*``)."""
    return request.if_none_match.contains_weak(tag)


def _not_modified(tag: str) -> Response:
    response = Response(status=304)
    response.set_etag(tag)
    response.headers["Cache-Control"] = "no-cache"
    return response


def _leaderboard(fmt: str) -> Response:
    filters, sort = request_filters(allow_sort=True, sources=True)
    # The board's content depends on the rating settings too: cache_key holds them.
    shape = (sort, leaderboard.cache_key(filters))
    if request.if_none_match:
        # The data now: a client holding it gets its 304 before any board is read.
        current = exports.etag(
            "leaderboard", fmt, filters, leaderboard.current_version(filters.source), *shape
        )
        if _unchanged(current):
            return _not_modified(current)
    board = leaderboard.get_board(filters)
    tag = exports.etag("leaderboard", fmt, filters, board.version, *shape)
    if _unchanged(tag):  # a stale board (LEADERBOARD_MAX_STALE_SECONDS) the client holds
        return _not_modified(tag)
    return _download(exports.leaderboard_export(board, sort, fmt), "leaderboard", fmt, tag)


@bp.get("/leaderboard.json")
def leaderboard_json() -> Response:
    return _leaderboard("json")


@bp.get("/leaderboard.csv")
def leaderboard_csv() -> Response:
    return _leaderboard("csv")


def _next_page_url(after: int, limit: int) -> str:
    args = {k: v for k, v in request.args.items() if k not in ("after", "limit")}
    return url_for(str(request.endpoint), _external=True, **args, after=after, limit=limit)


def _votes(fmt: str) -> Response:
    filters, page = request_vote_page()
    version = current_votes_version(answers=page.answers)
    tag = exports.etag("votes", fmt, filters, version, page.key())
    if _unchanged(tag):
        return _not_modified(tag)
    prepared = prepare(VoteExport(fmt, filters, page), tag)
    if isinstance(prepared, ExportFile):
        if _unchanged(prepared.tag):  # the client holds the file served for now
            return _not_modified(prepared.tag)
        return _paged(_file_download(prepared, fmt), page.limit, prepared.next_after)
    if isinstance(prepared, Pending):
        return _pending(prepared)
    if isinstance(prepared, Unavailable):
        g.arena_retry_after = str(prepared.retry_after)
        return error_response(503, "Service Unavailable", prepared.message, {})
    upto = exports.next_after(filters, page)
    body = stream_with_context(exports.votes_export(filters, fmt, page, upto))
    return _paged(_download(body, "votes", fmt, tag), page.limit, upto)


def _paged(response: Response, limit: int | None, upto: int | None) -> Response:
    """Where the next page starts, when more votes follow this one."""
    if upto is not None and limit is not None:
        response.headers["Link"] = f'<{_next_page_url(upto, limit)}>; rel="next"'
        response.headers["X-Next-After"] = str(upto)
    return response


def _file_download(file: ExportFile, fmt: str) -> Response:
    """A built export: by nginx (``X-Accel-Redirect``) or by ``send_file``, with a
    ``Content-Length``, ranges and the file's ETag."""
    mimetype, filename = exports.MEDIA[(fmt, "votes")]
    accel = current_app.config.get("EXPORTS_ACCEL_REDIRECT")
    if accel:
        response = Response(content_type=mimetype)
        response.headers["X-Accel-Redirect"] = f"{accel.rstrip('/')}/{file.path.name}"
    else:
        response = send_file(file.path, mimetype=mimetype, etag=False, conditional=False)
        response.content_type = mimetype
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    response.headers["Cache-Control"] = "no-cache"
    response.set_etag(file.tag)
    if not accel:
        response.make_conditional(request, accept_ranges=True, complete_length=file.size)
    return response


def _pending(pending: Pending) -> Response:
    """202: the export's file is being built; ask again after ``Retry-After`` seconds."""
    g.arena_retry_after = str(pending.retry_after)  # kept by arena.web.errors' hook
    response = jsonify(
        status=202,
        state=pending.state,
        message=pending.message(),
        retry_after=pending.retry_after,
        bytes_written=pending.bytes_written,
    )
    response.status_code = 202
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/votes.csv")
def votes_csv() -> Response:
    return _votes("csv")


@bp.get("/votes.jsonl")
def votes_jsonl() -> Response:
    return _votes("jsonl")


def _preference_request() -> tuple[Filters, preferences.PreferencePage]:
    """The filters and the page of a preference data request; a clear 400 otherwise."""
    filters, _ = request_filters(allow_sort=False, extra=preferences.PREFERENCE_PARAMS)
    try:
        return preferences.check_filters(filters), preferences.parse_preference_page(request.args)
    except FilterError as error:
        abort(400, description=str(error))


@bp.get("/preferences.jsonl")
def preferences_jsonl() -> Response:
    """One record per decisive human vote on a public prompt (ties and both bad on request):
    ``prompt``, ``chosen``, ``rejected``, ``chosen_model``, ``rejected_model``, ``category``."""
    filters, page = _preference_request()
    tag = preferences.etag(filters, page)
    if _unchanged(tag):
        return _not_modified(tag)
    if page.limit is None and preferences.more_rows_than(filters, page, preferences.MAX_ROWS):
        abort(400, description=preferences.too_many_message())
    upto = preferences.next_after(filters, page)
    body = stream_with_context(preferences.preferences_export(filters, page, upto))
    return _paged(_attachment(body, preferences.MEDIA, tag), page.limit, upto)
