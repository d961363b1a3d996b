"""Ratings over a vote log: pure functions, no Flask, no SQL.

Build a :class:`VoteLog` (``VoteLog.from_records`` or the columnar constructor), filter it
with ``select(mask)`` / ``exclude_ties()``, then call :func:`compute_leaderboard` or the
individual rating functions below. Bradley-Terry results say what the votes cannot
determine (groups that never met, open-ended bounds, provisional models): see
:mod:`arena.ratings.structure` and :mod:`arena.ratings.honest`.
"""

from arena.ratings.bradley_terry import (
    DEFAULT_RIDGE,
    ELO_PER_NAT,
    BTResult,
    bradley_terry,
    bt_from_counts,
    confidence_rank,
    fit_bt,
    grouped_rank,
)
from arena.ratings.bt_rows import bootstrap_bt_rows
from arena.ratings.elo import (
    DEFAULT_SIZE_B,
    EloHistory,
    EloResult,
    effective_sizes,
    online_elo,
    size_aware_elo,
    size_aware_k,
)
from arena.ratings.leaderboard import (
    PROVISIONAL_VOTES,
    Leaderboard,
    LeaderboardRow,
    compute_leaderboard,
)
from arena.ratings.matchmaking import (
    RULES,
    MatchState,
    draw_pair,
    expected_gain,
    pair_weights,
    plan_battles,
    planner_priorities,
)
from arena.ratings.score import (
    HeadToHead,
    ScoreRow,
    arena_scores,
    head_to_head,
    head_to_head_from_counts,
    scores_from_counts,
    sort_by_score,
)
from arena.ratings.structure import Structure, structure
from arena.ratings.style import STYLE_FEATURES, normalized_differences, style_features
from arena.ratings.style_control import StyleResult, style_controlled_bt
from arena.ratings.votelog import (
    A_WINS,
    B_WINS,
    BOTH_BAD,
    OUTCOMES,
    TIE,
    VoteLog,
    win_matrix,
)

__all__ = [
    "A_WINS",
    "BOTH_BAD",
    "B_WINS",
    "DEFAULT_RIDGE",
    "DEFAULT_SIZE_B",
    "ELO_PER_NAT",
    "OUTCOMES",
    "PROVISIONAL_VOTES",
    "RULES",
    "STYLE_FEATURES",
    "TIE",
    "BTResult",
    "EloHistory",
    "EloResult",
    "HeadToHead",
    "Leaderboard",
    "LeaderboardRow",
    "MatchState",
    "ScoreRow",
    "Structure",
    "StyleResult",
    "VoteLog",
    "arena_scores",
    "bootstrap_bt_rows",
    "bradley_terry",
    "bt_from_counts",
    "compute_leaderboard",
    "confidence_rank",
    "draw_pair",
    "effective_sizes",
    "expected_gain",
    "fit_bt",
    "grouped_rank",
    "head_to_head",
    "head_to_head_from_counts",
    "normalized_differences",
    "online_elo",
    "pair_weights",
    "plan_battles",
    "planner_priorities",
    "scores_from_counts",
    "size_aware_elo",
    "size_aware_k",
    "sort_by_score",
    "structure",
    "style_controlled_bt",
    "style_features",
    "win_matrix",
]
