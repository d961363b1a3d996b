"""How far to trust each judge: its verdicts measured against people's votes.

Per registered judge (:func:`judge_trust`), from the ``Judgement`` and ``Vote`` tables (read
only; the statistics are :mod:`arena.ratings.agreement`'s):

- ``verdicts``: its judgements (pairs judged in both orders), by status;
- ``unparsed_rate``: the share of judgements with an order that gave no verdict;
- ``inconsistency_rate``: among parsed judgements, the share whose two orders disagree
  (position bias; they count as ties);
- agreement with people, over the **battles** people voted on that showed the same two
  answers (a vote is matched to a judgement by the unordered pair of response ids of its
  battle; flagged votes are left out; one battle is one item, and the same pair voted twice
  is two): ``decisive`` is the share of battles where the person and the judge both picked a
  side (the judge's verdict counted) on which they picked the same one, with a Wilson
  interval; ``kappa`` is Cohen's kappa over three categories (the lower model id's answer
  wins, the other wins, neither: a person's tie or "both bad", a judge's tie or inconsistent
  verdict), over every matched battle with a parsed verdict, with the Fleiss-Cohen-Everitt
  interval; each says how many battles are behind it;
- ``longer_answer``: among its counted decisive verdicts on answers of different lengths
  (characters), the share that picked the longer answer (0.5: no length preference);
- ``rank_correlation``: Spearman's rho (Fisher-z interval) and Kendall's tau-b between the
  Bradley-Terry ratings of its own leaderboard (``source=judge:TAG``) and the human one, over
  the models both rate.

Only the unfiltered boards and every verdict are used: the trust figures take no filter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Integer, and_, case, cast, func, or_, select, true
from sqlalchemy.orm import aliased

from arena.extensions import db
from arena.leaderboard.board import Board
from arena.leaderboard.bounds import LeaderboardUnavailable
from arena.leaderboard.cache import serve_board
from arena.leaderboard.filters import RATED_STATUSES, Filters
from arena.models import Battle, Judge, Judgement, Model, Response, Vote
from arena.ratings.agreement import Z95, Estimate, cohen_kappa, kendall_tau_b, spearman, wilson

__all__ = ["Z95", "JudgeTrust", "judge_trust", "known_judges", "matched_battles", "rank_agreement"]

#: Kappa's categories: the lower model id's answer wins, the higher's wins, neither.
LOWER, HIGHER, NEITHER = 0, 1, 2


@dataclass
class JudgeTrust:
    """One judge's figures (see the module's docstring); estimates carry ``n``."""

    judge: str
    display_name: str
    enabled: bool
    verdicts: int = 0
    counted: int = 0
    inconsistent: int = 0
    unparsed: int = 0
    unparsed_rate: Estimate = field(default_factory=lambda: wilson(0, 0))
    inconsistency_rate: Estimate = field(default_factory=lambda: wilson(0, 0))
    battles: int = 0
    decisive: Estimate = field(default_factory=lambda: wilson(0, 0))
    kappa: Estimate = field(default_factory=lambda: wilson(0, 0))
    longer_answer: Estimate = field(default_factory=lambda: wilson(0, 0))
    spearman: Estimate = field(default_factory=lambda: wilson(0, 0))
    kendall: float | None = None
    rank_note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "display_name": self.display_name,
            "enabled": self.enabled,
            "verdicts": self.verdicts,
            "counted": self.counted,
            "inconsistent": self.inconsistent,
            "unparsed": self.unparsed,
            "unparsed_rate": self.unparsed_rate.as_dict(),
            "inconsistency_rate": self.inconsistency_rate.as_dict(),
            "agreement": {
                "battles": self.battles,
                "decisive": self.decisive.as_dict(),
                "kappa": self.kappa.as_dict(),
            },
            "longer_answer": self.longer_answer.as_dict(),
            "rank_correlation": {
                "models": self.spearman.n,
                "spearman": self.spearman.as_dict(),
                "kendall": self.kendall,
                "note": self.rank_note,
            },
        }


def known_judges() -> list[tuple[int, str, str, bool]]:
    """(judge id, tag, display name, enabled) of every registered judge, by tag."""
    rows = db.session.execute(
        select(Judge.id, Model.tag, Model.display_name, Judge.enabled)
        .join(Model, Judge.model_id == Model.id)
        .order_by(Model.tag)
    )
    return [(r[0], r[1], r[2], bool(r[3])) for r in rows]


def _status_counts() -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {}
    rows = db.session.execute(
        select(Judgement.judge_id, Judgement.status, func.count()).group_by(
            Judgement.judge_id, Judgement.status
        )
    )
    for judge_id, status, count in rows:
        counts.setdefault(judge_id, {})[status] = int(count)
    return counts


def _code(outcome: str | None, model_a: int, model_b: int) -> int:
    """A verdict or vote (``a``/``b``/``tie``/``both_bad`` on its own sides) as a kappa
    category: who won by model id, not by side."""
    if outcome == "a":
        return LOWER if model_a < model_b else HIGHER
    if outcome == "b":
        return LOWER if model_b < model_a else HIGHER
    return NEITHER


def matched_battles(judge_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Kappa codes (people, judge) of every unflagged human vote on a battle showing the
    same two answers as one of the judge's parsed judgements."""
    same_pair = or_(
        and_(
            Battle.left_response_id == Judgement.response_a_id,
            Battle.right_response_id == Judgement.response_b_id,
        ),
        and_(
            Battle.left_response_id == Judgement.response_b_id,
            Battle.right_response_id == Judgement.response_a_id,
        ),
    )
    rows = db.session.execute(
        select(
            Vote.outcome,
            Vote.model_a_id,
            Vote.model_b_id,
            Judgement.outcome,
            Judgement.model_a_id,
            Judgement.model_b_id,
        )
        .select_from(Judgement)
        .join(Battle, same_pair)
        .join(Vote, Vote.battle_id == Battle.id)
        .where(
            Judgement.judge_id == judge_id,
            Judgement.status.in_(RATED_STATUSES),
            Vote.excluded.is_not(true()),
        )
        .order_by(Vote.id)
    ).all()
    human = np.array([_code(r[0], r[1], r[2]) for r in rows], dtype=np.int64)
    judge = np.array([_code(r[3], r[4], r[5]) for r in rows], dtype=np.int64)
    return human, judge


def _longer_answer() -> dict[int, tuple[int, int]]:
    """Per judge: (verdicts picking the longer answer, counted decisive verdicts on answers
    of different lengths)."""
    ra, rb = aliased(Response), aliased(Response)
    len_a, len_b = func.length(ra.text), func.length(rb.text)
    longer = case(
        (and_(Judgement.outcome == "a", len_a > len_b), 1),
        (and_(Judgement.outcome == "b", len_b > len_a), 1),
        else_=0,
    )
    rows = db.session.execute(
        select(Judgement.judge_id, func.sum(cast(longer, Integer)), func.count())
        .join(ra, ra.id == Judgement.response_a_id)
        .join(rb, rb.id == Judgement.response_b_id)
        .where(Judgement.status == "counted", Judgement.outcome.in_(("a", "b")), len_a != len_b)
        .group_by(Judgement.judge_id)
    )
    return {judge_id: (int(chosen or 0), int(n)) for judge_id, chosen, n in rows}


def rank_agreement(human: Board, judge: Board) -> tuple[Estimate, float | None]:
    """Spearman's rho (with its interval) and Kendall's tau-b between two boards'
    Bradley-Terry ratings over the models both rate."""
    ours = {r["model"]: r["bt"] for r in judge.rows if r["bt"] is not None}
    shared = [
        (r["bt"], ours[r["model"]])
        for r in human.rows
        if r["model"] in ours and r["bt"] is not None
    ]
    if not shared:
        return spearman(np.array([]), np.array([])), None
    x = np.array([h for h, _ in shared])
    y = np.array([j for _, j in shared])
    return spearman(x, y), kendall_tau_b(x, y)


def judge_trust(only: str | None = None) -> list[JudgeTrust]:
    """The figures of every registered judge (or of the judge ``only``), by tag.

    Reads the human leaderboard and each judge's (cached; in a request a board being
    computed leaves the rank correlation out with a note saying so).
    """
    judges = [j for j in known_judges() if only is None or j[1] == only]
    statuses = _status_counts()
    longer = _longer_answer()
    human: Board | None = None
    human_note: str | None = None
    try:
        human = serve_board(Filters()).board
    except LeaderboardUnavailable as error:
        human_note = f"the human leaderboard is not available now: {error}"
    out = []
    for judge_id, tag, name, enabled in judges:
        counts = statuses.get(judge_id, {})
        trust = JudgeTrust(tag, name, enabled)
        trust.counted = counts.get("counted", 0)
        trust.inconsistent = counts.get("inconsistent", 0)
        trust.unparsed = counts.get("unparsed", 0)
        trust.verdicts = trust.counted + trust.inconsistent + trust.unparsed
        trust.unparsed_rate = wilson(trust.unparsed, trust.verdicts)
        trust.inconsistency_rate = wilson(trust.inconsistent, trust.counted + trust.inconsistent)
        people, verdicts = matched_battles(judge_id)
        trust.battles = len(people)
        both_decisive = (people != NEITHER) & (verdicts != NEITHER)
        agreed = int((people[both_decisive] == verdicts[both_decisive]).sum())
        trust.decisive = wilson(agreed, int(both_decisive.sum()))
        trust.kappa = cohen_kappa(people, verdicts, 3)
        trust.longer_answer = wilson(*longer.get(judge_id, (0, 0)))
        trust.rank_note = human_note
        if human is not None and trust.counted + trust.inconsistent:
            try:
                board = serve_board(Filters(source=f"judge:{tag}")).board
                trust.spearman, trust.kendall = rank_agreement(human, board)
            except LeaderboardUnavailable as error:
                trust.rank_note = f"this judge's leaderboard is not available now: {error}"
        out.append(trust)
    return out
