"""All tables, SQLAlchemy 2.0 style (``Mapped``/``mapped_column``).

``core`` holds the product's own data (Model, Prompt, Response, Battle, Vote); ``pregen`` the
batch runs, their failures, the visitors' queue and the worker's heartbeat; ``leaderboard``
the cache of computed leaderboards; ``nodes`` the web nodes serving the database; ``admin``
the operators' sign-ins; ``judges`` the judges and their verdicts; ``types`` the UTC column
type and id helpers. Import the tables from here: ``from arena.models import Vote``.
"""

from arena.models.admin import AdminSession
from arena.models.core import (
    OUTCOMES,
    PROMPT_SOURCES,
    RESPONSE_STATUSES,
    Battle,
    Model,
    Prompt,
    Response,
    Vote,
)
from arena.models.judges import JUDGEMENT_STATUSES, ORDER_VERDICTS, Judge, Judgement
from arena.models.leaderboard import LeaderboardCache
from arena.models.nodes import WebNode
from arena.models.pregen import (
    RUN_STATUSES,
    RUN_TRIGGERS,
    VISITOR_STATUSES,
    GenerationFailure,
    GenerationRun,
    RunRequest,
    VisitorRequest,
    WorkerHeartbeat,
)
from arena.models.types import UTCDateTime, is_token_id, prompt_hash, utcnow

__all__ = [
    "JUDGEMENT_STATUSES",
    "ORDER_VERDICTS",
    "OUTCOMES",
    "PROMPT_SOURCES",
    "RESPONSE_STATUSES",
    "RUN_STATUSES",
    "RUN_TRIGGERS",
    "VISITOR_STATUSES",
    "AdminSession",
    "Battle",
    "GenerationFailure",
    "GenerationRun",
    "Judge",
    "Judgement",
    "LeaderboardCache",
    "Model",
    "Prompt",
    "Response",
    "RunRequest",
    "UTCDateTime",
    "VisitorRequest",
    "Vote",
    "WebNode",
    "WorkerHeartbeat",
    "is_token_id",
    "prompt_hash",
    "utcnow",
]
