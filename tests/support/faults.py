"""Faults of the database under a running app, made with the database's own mechanisms."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event

from arena.extensions import db


def fill_the_disk(app: Flask) -> None:
    """Every new connection may not grow the file: SQLite answers SQLITE_FULL, as on a full disk."""
    with app.app_context():
        engine = db.engine
        pages = db.session.connection().exec_driver_sql("PRAGMA page_count").scalar()
        db.session.remove()

        @event.listens_for(engine, "connect")
        def _cap(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

        engine.dispose()
