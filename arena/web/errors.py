"""Every error answer, in one place: JSON on JSON routes, an HTML page elsewhere.

A JSON route is one under ``/api/``, one whose path ends in ``.json`` or ``.jsonl``, or a
request whose ``Accept`` header prefers JSON to HTML; its errors are
``{"error": "Not Found", "message": "...", "status": 404}``. Headers an error carries (``Allow``
on a 405, ``Retry-After`` on a 429) are kept, and ``Retry-After`` is sent on 429 and 503 only.

When the database itself fails the answer is a clear 503, never a traceback: the failed
transaction is rolled back, so nothing half-written is ever kept; votes and answers already
stored are untouched (the database's journal guarantees it).
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from arena.extensions import db

log = logging.getLogger(__name__)

JSON_SUFFIXES = (".json", ".jsonl")
#: Seconds a client is asked to wait after a database fault.
RETRY_AFTER_SECONDS = 60


def wants_json() -> bool:
    """Whether this request's errors are answered in JSON."""
    path = request.path
    if path.startswith("/api/") or path.endswith(JSON_SUFFIXES):
        return True
    accept = request.accept_mimetypes
    return accept.best_match(["text/html", "application/json"]) == "application/json" and (
        accept["application/json"] > accept["text/html"]
    )


def error_response(code: int, name: str, message: str, headers: dict[str, str]) -> Response:
    """The error as JSON or as the HTML error page, with ``headers``."""
    if wants_json():
        response = jsonify(error=name, message=message, status=code)
    else:
        page = render_template("error.html", code=code, name=name, message=message)
        response = Response(page, mimetype="text/html")
    response.status_code = code
    for header, value in headers.items():
        if header.lower() != "content-type":
            response.headers[header] = value
    return response


def describe_database_error(error: OperationalError) -> str:
    text = str(error.orig).lower()
    if "disk is full" in text or "database or disk is full" in text:
        return (
            "The server's disk is full, so nothing new can be saved right now "
            "(your last action was not stored). Stored votes are safe; please try again later."
        )
    if "locked" in text or "busy" in text:
        return "The database is busy right now; nothing was stored. Please try again in a moment."
    return "The database is unavailable right now; nothing was stored. Please try again later."


def _http_error(error: HTTPException) -> Response:
    code = error.code or 500
    message = error.description or error.name
    if isinstance(error, CSRFError):
        message = (
            "This form could not be accepted: it has expired or was not sent from this site "
            f"({message.rstrip('.')}). Reload the page and try again."
        )
    return error_response(code, error.name, message, dict(error.get_headers()))


def _database_error(error: OperationalError) -> Response:
    db.session.rollback()
    log.error("database error: %s", error.orig)
    g.arena_retry_after = str(RETRY_AFTER_SECONDS)
    unavailable = ServiceUnavailable()
    return error_response(503, unavailable.name, describe_database_error(error), {})


def _retry_after(response: Response) -> Response:
    """``Retry-After`` only where it means something: a 429, or a 503 with our own delay.

    Flask-Limiter writes its window's reset as ``Retry-After`` on every response of a limited
    view, a 200 too; this hook runs after it (see :func:`init_app`).
    """
    ours = g.pop("arena_retry_after", None)
    if ours is not None:
        response.headers["Retry-After"] = ours
    elif response.status_code != 429:
        response.headers.pop("Retry-After", None)
    return response


def init_app(app: Flask) -> None:
    """Call before the rate limiter's ``init_app``: Flask runs ``after_request`` hooks in the
    reverse order of registration, so :func:`_retry_after` then sees the limiter's headers."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(OperationalError, _database_error)
    app.after_request(_retry_after)
