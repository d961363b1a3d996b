"""Column types and small helpers shared by every table: UTC times, ids, prompt identity."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given: use datetime.now(UTC)")
        return value.astimezone(UTC).replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_TOKEN_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


def is_token_id(value: object) -> bool:
    """Whether ``value`` can be a battle or visitor-request id (``secrets.token_urlsafe(16)``).

    Checked before a lookup, so a malformed id from a URL or a form is a plain "not found",
    never a database error (PostgreSQL refuses a string with a NUL byte outright).
    """
    return isinstance(value, str) and _TOKEN_ID.fullmatch(value) is not None


def prompt_hash(text: str) -> str:
    """Identity of a prompt: NFC-normalised, whitespace-collapsed, case-folded text."""
    normal = " ".join(unicodedata.normalize("NFC", text).split()).casefold()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()
