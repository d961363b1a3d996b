"""The web nodes that serve this database: one row per host and instance folder."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from arena.extensions import DbModel
from arena.models.types import UTCDateTime, utcnow


class WebNode(DbModel):
    """A web node's last sign of life (``arena.ops.nodes``): written when it starts serving
    and at most once a minute after, by whichever of its processes serves a request.

    ``limits`` says where its rate-limit counters live (never a password); ``shared_limits``
    is false when they are the node's own (the instance's SQLite file, or memory), which
    several live nodes must not have: each would grant the limits again.
    """

    __tablename__ = "web_node"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # hash of host and folder
    host: Mapped[str] = mapped_column(String(200))
    instance: Mapped[str] = mapped_column(Text)
    pid: Mapped[int] = mapped_column()
    limits: Mapped[str] = mapped_column(String(200))
    shared_limits: Mapped[bool] = mapped_column(Boolean)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
