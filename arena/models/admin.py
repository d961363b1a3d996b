"""The operators' sign-ins on /admin, kept by the server so that they can end."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from arena.extensions import DbModel
from arena.models.types import UTCDateTime, utcnow


class AdminSession(DbModel):
    """One operator sign-in. The browser's cookie holds a random key; only its SHA-256 is
    stored, so the table alone signs nobody in. ``token_fingerprint`` ties it to the
    ADMIN_TOKEN it was opened with (a keyed hash, never the token): when the token changes,
    the sign-in ends. Signing out deletes the row; ``expires_at`` ends it anyway."""

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
