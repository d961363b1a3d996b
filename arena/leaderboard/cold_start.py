"""Cold start: the judges' rating of a model people have hardly voted on yet, shown beside
its human one (never mixed into it).

A model with fewer than ``provisional_votes`` human battles is provisional on the human
board; when the judges (``source=judge``, the same filters) rate it, the leaderboard shows
that rating with its interval beside the human one, marked as the judges'. A model with no
human vote at all but judge verdicts is listed apart. The judges' ratings are on their own
scale (each board is centred on its own models), so they are shown, never compared number
for number.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select

from arena.extensions import db
from arena.leaderboard.board import Board
from arena.leaderboard.bounds import LeaderboardUnavailable
from arena.leaderboard.cache import serve_board
from arena.leaderboard.filters import JUDGE, Filters, judgement_conditions

#: The fields of a judge board's row shown beside a human one.
BRIEF_FIELDS = (
    "model",
    "display_name",
    "bt",
    "bt_lower",
    "bt_upper",
    "bt_lower_open",
    "bt_upper_open",
    "battles",
    "provisional",
)


@dataclass(frozen=True)
class ColdStart:
    """``beside``: model tag -> its judge row (:data:`BRIEF_FIELDS`), for the human board's
    provisional models the judges rate; ``judge_only``: judge rows of models with no human
    vote under these filters; ``verdicts``: the judge board's verdict count."""

    beside: dict[str, dict[str, Any]]
    judge_only: list[dict[str, Any]]
    verdicts: int

    @property
    def empty(self) -> bool:
        return not self.beside and not self.judge_only


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in BRIEF_FIELDS}


def cold_start(human: Board, judges: Board) -> ColdStart:
    """Pair a human board with the judges' board of the same filters."""
    rated = {row["model"]: row for row in judges.rows if row["bt"] is not None}
    beside = {
        row["model"]: _brief(rated[row["model"]])
        for row in human.rows
        if row["provisional"] and row["model"] in rated
    }
    in_human = {row["model"] for row in human.rows}
    judge_only = [_brief(row) for tag, row in sorted(rated.items()) if tag not in in_human]
    return ColdStart(beside, judge_only, judges.votes)


def has_verdicts(filters: Filters) -> bool:
    """Whether any enabled judge has a verdict that rates (a cheap EXISTS)."""
    judge_filters = Filters(source=JUDGE)
    stmt = select(exists().where(*judgement_conditions(judge_filters)))
    return bool(db.session.scalar(stmt))


def cold_start_for(human: Board) -> ColdStart | None:
    """The judges' ratings to show beside ``human`` (a human board), or None: not a human
    board, no provisional or missing model to help, no verdicts, or the judges' board is not
    computed yet and cannot be now (the page then shows the human board alone)."""
    filters = human.filters
    if not filters.is_human or not has_verdicts(filters):
        return None
    try:
        judges = serve_board(dataclasses.replace(filters, source=JUDGE)).board
    except LeaderboardUnavailable:
        return None
    result = cold_start(human, judges)
    return None if result.empty else result
