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

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flask import current_app
from sqlalchemy import Integer, and_, case, cast, func, select, true
from sqlalchemy.orm import aliased

from arena.extensions import db
from arena.leaderboard.board import Board
from arena.leaderboard.bounds import LeaderboardUnavailable
from arena.leaderboard.cache import data_version, serve_board
from arena.leaderboard.filters import RATED_STATUSES, Filters
from arena.models import Battle, Judge, Judgement, Model, Response, Vote
from arena.ratings.agreement import Z95, Estimate, cohen_kappa, kendall_tau_b, spearman, wilson

__all__ = ["Z95", "JudgeTrust", "judge_trust", "known_judges", "matched_battles", "rank_agreement"]

#: ``app.extensions`` key of the figures last computed in this process, with their version.
MEMO_KEY = "arena_judge_trust"

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


def _codes(outcome: np.ndarray, model_a: np.ndarray, model_b: np.ndarray) -> np.ndarray:
    """Verdicts or votes (outcome codes 0 = a, 1 = b, else neither, on their own sides) as
    kappa categories: who won by model id, not by side."""
    winner = np.where(outcome == 0, model_a, np.where(outcome == 1, model_b, -1))
    lower = np.minimum(model_a, model_b)
    return np.where(winner < 0, NEITHER, np.where(winner == lower, LOWER, HIGHER))


def _outcome_code(column: Any) -> Any:
    return case({"a": 0, "b": 1}, value=column, else_=2)


_ROWS = np.dtype(
    [("x", np.int64), ("y", np.int64), ("o", np.int64), ("a", np.int64), ("b", np.int64)]
)


def _array(stmt: Any) -> np.ndarray:
    """Five integer columns of ``stmt`` straight into a numpy structured array."""
    result = db.session.connection().execute(stmt)
    # The raw DBAPI cursor: plain numbers, no Row objects (as arena.leaderboard.board does).
    data: np.ndarray = np.fromiter(result.cursor, dtype=_ROWS)  # type: ignore[call-overload]
    result.close()
    return data


def _pair_keys(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One integer per unordered pair of response ids."""
    keys: np.ndarray = np.minimum(x, y) * (1 << 31) + np.maximum(x, y)
    return keys


def matched_battles(judge_ids: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per judge: kappa codes (people, judge) of every unflagged human vote on a battle
    showing the same two answers as one of the judge's parsed judgements.

    Two plain reads (votes with their battle's answers, on prompts some judge judged; each
    judge's parsed verdicts) matched in numpy on the unordered pair of response ids: no join
    on an OR of columns that no index serves.
    """
    judged_prompts = select(Judgement.prompt_id).where(Judgement.judge_id.in_(judge_ids))
    votes = _array(
        select(
            Battle.left_response_id,
            Battle.right_response_id,
            _outcome_code(Vote.outcome),
            Vote.model_a_id,
            Vote.model_b_id,
        )
        .join(Battle, Battle.id == Vote.battle_id)
        .where(Vote.excluded.is_not(true()), Battle.prompt_id.in_(judged_prompts))
        .order_by(Vote.id)
    )
    vote_keys = _pair_keys(votes["x"], votes["y"])
    people = _codes(votes["o"], votes["a"], votes["b"])
    out = {}
    for judge_id in judge_ids:
        verdicts = _array(
            select(
                Judgement.response_a_id,
                Judgement.response_b_id,
                _outcome_code(Judgement.outcome),
                Judgement.model_a_id,
                Judgement.model_b_id,
            ).where(Judgement.judge_id == judge_id, Judgement.status.in_(RATED_STATUSES))
        )
        keys = _pair_keys(verdicts["x"], verdicts["y"])
        order = np.argsort(keys, kind="stable")  # a pair is judged once per judge
        keys, codes = keys[order], _codes(verdicts["o"], verdicts["a"], verdicts["b"])[order]
        where = np.searchsorted(keys, vote_keys)
        found = where < len(keys)
        found[found] = keys[where[found]] == vote_keys[found]
        out[judge_id] = (people[found], codes[where[found]])
    return out


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


def trust_version() -> str:
    """A signature of everything the figures depend on: the human board's data (votes,
    flags, answers, models), every judgement (written once, never changed) and the judges."""
    with db.engine.connect() as conn:
        human = data_version(conn)
        judgements = list(conn.execute(select(func.count(), func.max(Judgement.id))).one())
        judges = conn.execute(
            select(Judge.id, Judge.enabled, Model.tag, Model.display_name)
            .join(Model, Judge.model_id == Model.id)
            .order_by(Judge.id)
        ).all()
    raw = json.dumps([human, judgements, [list(j) for j in judges]], default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def judge_trust(only: str | None = None) -> list[JudgeTrust]:
    """The figures of every registered judge (or of the judge ``only``), by tag.

    Kept in the process (``app.extensions``) until :func:`trust_version` changes, so views
    of unchanged data cost a few counts; with ``LEADERBOARD_MAX_STALE_SECONDS`` above 0 (the
    leaderboards' own tolerance) figures that young are shown even after the data changed, so
    a busy arena's every new vote does not recompute them (about 1 s per 100,000 votes).
    Reads the human leaderboard and each judge's (cached; in a request a board being computed
    leaves the rank correlation out with a note saying so, and such figures are not kept).
    """
    version = trust_version()
    kept = current_app.extensions.get(MEMO_KEY)
    max_stale = float(current_app.config.get("LEADERBOARD_MAX_STALE_SECONDS") or 0)
    if kept is not None and (kept[0] == version or time.monotonic() - kept[2] < max_stale):
        figures: list[JudgeTrust] = kept[1]
    else:
        figures = _compute()
        if not any(trust.rank_note for trust in figures):
            current_app.extensions[MEMO_KEY] = (version, figures, time.monotonic())
    return [trust for trust in figures if only is None or trust.judge == only]


def _compute() -> list[JudgeTrust]:
    judges = known_judges()
    statuses = _status_counts()
    longer = _longer_answer()
    human: Board | None = None
    human_note: str | None = None
    try:
        human = serve_board(Filters()).board
    except LeaderboardUnavailable as error:
        human_note = f"the human leaderboard is not available now: {error}"
    matched = matched_battles([judge_id for judge_id, _, _, _ in judges])
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
        people, verdicts = matched[judge_id]
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
