"""Leaderboards from the vote log: filters, one computed :class:`Board` per filter set, its
cache, charts, exports and the import of the original arena's history.

``filters`` parses and applies the filters; ``board`` loads the counted votes and rates them
(``arena.ratings``); ``cache`` serves a board per filter set, recomputed only when the data
changed; ``charts`` and ``exports`` draw and write a board; ``legacy_import`` turns the
original arena's ``leaderboard.json`` into votes. The cache's service functions are
re-exported here: ``from arena import leaderboard; leaderboard.get_board(filters)``.
"""

from arena.leaderboard.board import Board, sorted_rows
from arena.leaderboard.cache import (
    cache_entries,
    cache_key,
    current_version,
    data_version,
    get_board,
    invalidate,
    refresh_cache,
)

__all__ = [
    "Board",
    "cache_entries",
    "cache_key",
    "current_version",
    "data_version",
    "get_board",
    "invalidate",
    "refresh_cache",
    "sorted_rows",
]
