"""The leaderboard cache table, shared by every web worker and the background worker.

Rows are disposable: deleting them all only costs one recomputation per filter set.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from arena.extensions import DbModel
from arena.models.types import UTCDateTime, utcnow


class LeaderboardCache(DbModel):
    """One computed leaderboard (all ratings, bootstrap included) for one filter set.

    ``version`` is the data signature it was computed from (see
    ``arena.leaderboard.cache.data_version``); a row whose version differs from the current one
    is stale. ``computations`` counts how many times this filter set was computed.
    """

    __tablename__ = "leaderboard_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    filters: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    compute_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    computations: Mapped[int] = mapped_column(default=1)

    def __repr__(self) -> str:
        return f"<LeaderboardCache {self.filters} v{self.version[:8]}>"
