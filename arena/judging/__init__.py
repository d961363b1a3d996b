"""Batch evaluation: local models judging stored pairs of answers, both orders, at night.

Judges are registered models (:mod:`.judges`); the batch (:mod:`.batch`) plans the pairs
least certain on the leaderboard first (:mod:`.planner`) and writes one
:class:`~arena.models.judges.Judgement` per pair, whole, after both orders (:mod:`.runner`,
:mod:`.verdicts`, :mod:`.prompt`).
"""

from arena.judging.batch import JudgeRequest, JudgeResult, run_in_window, run_judging
from arena.judging.judges import (
    JudgeError,
    JudgeRow,
    add_judge,
    enabled_judges,
    find_judge,
    find_model,
    list_judges,
    remove_judge,
)
from arena.judging.planner import JudgePlan, plan_judging
from arena.judging.prompt import JudgePromptError, load_prompt
from arena.judging.summary import JudgeSummary, summary_lines
from arena.judging.verdicts import combine, parse_verdict
from arena.pregen.records import LockBusy

__all__ = [
    "JudgeError",
    "JudgePlan",
    "JudgePromptError",
    "JudgeRequest",
    "JudgeResult",
    "JudgeRow",
    "JudgeSummary",
    "LockBusy",
    "add_judge",
    "combine",
    "enabled_judges",
    "find_judge",
    "find_model",
    "list_judges",
    "load_prompt",
    "parse_verdict",
    "plan_judging",
    "remove_judge",
    "run_in_window",
    "run_judging",
    "summary_lines",
]
