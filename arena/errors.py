"""What a visitor sees when the database itself fails: a clear 503, never a traceback.

The failed transaction is rolled back, so nothing half-written is ever kept; votes and
answers already stored are untouched (SQLite's journal guarantees it).
"""

from __future__ import annotations

import logging

from flask import Flask, render_template
from sqlalchemy.exc import OperationalError

from arena.extensions import db

log = logging.getLogger(__name__)


def describe(error: OperationalError) -> str:
    text = str(error.orig).lower()
    if "disk is full" in text or "database or disk is full" in text:
        return (
            "The server's disk is full, so nothing new can be saved right now "
            "(your last action was not stored). Stored votes are safe; please try again later."
        )
    if "locked" in text or "busy" in text:
        return "The database is busy right now; nothing was stored. Please try again in a moment."
    return "The database is unavailable right now; nothing was stored. Please try again later."


def init_app(app: Flask) -> None:
    @app.errorhandler(OperationalError)
    def _database_error(error: OperationalError) -> tuple[str, int, dict[str, str]]:
        db.session.rollback()
        log.error("database error: %s", error.orig)
        message = describe(error)
        page = render_template("error.html", code=503, name="Service Unavailable", message=message)
        return page, 503, {"Retry-After": "60"}
