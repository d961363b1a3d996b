"""Everything on the leaderboard in one immutable result: :func:`compute_leaderboard`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from arena.ratings.bradley_terry import DEFAULT_RIDGE, BTResult, bt_from_counts
from arena.ratings.elo import EloHistory, online_elo, size_aware_elo
from arena.ratings.score import HeadToHead, head_to_head_from_counts, scores_from_counts
from arena.ratings.style_control import StyleResult, style_controlled_bt
from arena.ratings.votelog import VoteLog

PROVISIONAL_VOTES = 20
"""A model rated from fewer battles than this is marked ``provisional``."""


@dataclass(frozen=True)
class LeaderboardRow:
    """One model's line; plain values only, ready for ``dataclasses.asdict`` / CSV / JSON.

    ``bt``, ``bt_lower`` and ``bt_upper`` are None when undefined (no games, or no bootstrap
    for the bounds). ``rank`` is the confidence-aware Bradley-Terry rank *within the model's
    group*.

    Honest-interval fields (all plain bools / ints / None, so JSON and CSV need nothing new):

    - ``group``: the model's group, 0 for the largest; None without games. Models of
      different groups never met, directly or through others: their ratings are each
      normalised on their own group and are not comparable, and ranks restart per group.
    - ``bt_lower_open`` / ``bt_upper_open``: the data do not bound the rating on that side
      (it never lost, or never won, against the rest of its group, or too few votes to rule
      that out). The matching ``bt_lower`` / ``bt_upper`` then holds ``bt`` itself, so code
      that subtracts bounds keeps working; show the bound as open-ended ("≥ lower", "≤
      upper", or an arrow), never as a number.
    - ``provisional``: rated from fewer than ``provisional_votes`` battles (default
      :data:`PROVISIONAL_VOTES`); False for a model without games (it has no rating).
    - ``bt_style``, ``bt_style_lower``, ``bt_style_upper``, ``bt_style_rank``, and the two
      ``bt_style_*_open`` flags: the same for the style-controlled rating
      (:mod:`arena.ratings.style_control`), None / False unless it was asked for.
    """

    model: str
    battles: int
    wins: int
    losses: int
    ties: int
    both_bad: int
    win_rate: float
    score: float
    elo: float
    online_elo: float
    bt: float | None
    bt_lower: float | None
    bt_upper: float | None
    rank: int
    both_bad_rate: float
    group: int | None = None
    bt_lower_open: bool = False
    bt_upper_open: bool = False
    provisional: bool = False
    bt_style: float | None = None
    bt_style_lower: float | None = None
    bt_style_upper: float | None = None
    bt_style_rank: int | None = None
    bt_style_lower_open: bool = False
    bt_style_upper_open: bool = False


@dataclass(frozen=True, eq=False)
class Leaderboard:
    """All ratings for one vote log.

    Attributes:
        rows: one per model, in ``models`` order (see :meth:`by_score`, :meth:`by_rank`).
        head_to_head: win-rate and battle-count matrices (indexed like ``models``).
        elo_history: size-aware Elo sampled over time.
        bradley_terry: the BT arrays (ratings, bounds, ranks) and how they were computed.
        votes: number of votes used (after ``exclude_ties``).
        exclude_ties: whether ties and "both bad" votes were dropped first.
        groups: the models of each group (group 0 first), see ``LeaderboardRow.group``.
        anchor: the anchor actually used (None: each group's mean is 1000).
        provisional_votes: the battle count below which a row is ``provisional``.
        style: the style-controlled fit, when asked for (``style=True``).
        notes: plain-English caveats a page should show next to the board (several groups,
            open-ended bounds, provisional models, an anchor that could not be used).
    """

    models: tuple[str, ...]
    rows: tuple[LeaderboardRow, ...]
    head_to_head: HeadToHead
    elo_history: EloHistory | None
    bradley_terry: BTResult
    votes: int
    exclude_ties: bool
    groups: tuple[tuple[str, ...], ...] = ()
    anchor: str | None = None
    provisional_votes: int = PROVISIONAL_VOTES
    style: StyleResult | None = None
    notes: tuple[str, ...] = ()

    def row(self, model: str) -> LeaderboardRow:
        return self.rows[self.models.index(model)]

    def by_score(self) -> list[LeaderboardRow]:
        """The original arena's order: score, then battles, descending."""
        return sorted(self.rows, key=lambda r: (-r.score, -r.battles, r.model))

    def by_rank(self) -> list[LeaderboardRow]:
        """Group (0 first, models without games last), then confidence-aware rank within it,
        then BT rating descending (rounded, so ratings equal but for rounding noise, such as
        the two sides of a single vote, are not ordered by it), then score and battles."""
        return sorted(
            self.rows,
            key=lambda r: (
                r.group is None,
                r.group or 0,
                r.rank,
                r.bt is None,
                -round(r.bt or 0.0, 6),
                -r.score,
                -r.battles,
                r.model,
            ),
        )


def _opt(value: float) -> float | None:
    return None if math.isnan(value) else value


def _notes(
    bt: BTResult,
    rows: tuple[LeaderboardRow, ...],
    asked_anchor: str | None,
    provisional_votes: int,
) -> tuple[str, ...]:
    notes = []
    if bt.n_groups > 1:
        notes.append(
            f"The models fall into {bt.n_groups} groups that never met, directly or through "
            "other models: each group is rated on its own scale and ranked on its own."
        )
    if asked_anchor is not None and bt.anchor is None:
        notes.append(
            f"The anchor {asked_anchor} has no counted votes here (only ties, when ties are "
            "excluded, or none at all): each group's mean is 1000 instead."
        )
    open_ended = [r.model for r in rows if r.bt_lower_open or r.bt_upper_open]
    if open_ended:
        notes.append(
            "Open-ended bounds (the votes do not bound the rating on that side, e.g. a model "
            "that never lost or never won): " + ", ".join(open_ended) + "."
        )
    provisional = [r.model for r in rows if r.provisional]
    if provisional:
        notes.append(
            f"Provisional (fewer than {provisional_votes} battles): " + ", ".join(provisional) + "."
        )
    return tuple(notes)


def compute_leaderboard(
    log: VoteLog,
    sizes: Mapping[str, float | None],
    *,
    max_size: float | None = None,
    anchor: str | None = None,
    bootstrap_rounds: int = 200,
    seed: int | None = 0,
    exclude_ties: bool = False,
    history_points: int = 100,
    ridge: float = DEFAULT_RIDGE,
    provisional_votes: int = PROVISIONAL_VOTES,
    style: bool = False,
) -> Leaderboard:
    """Arena score, size-aware Elo (+ history), online Elo, Bradley-Terry with bootstrap
    intervals and ranks, and head-to-head matrices, from one vote log.

    ``sizes`` maps model tag -> size in billions (None or missing = unknown, treated as 1.0);
    ``exclude_ties`` applies the "ties excluded" filter to everything. The pair table is built
    once and shared; the two Elo replays are the only per-vote work. An ``anchor`` without
    counted votes (e.g. a model with only ties under ``exclude_ties``) is ignored, with a
    note. ``style=True`` adds the style-controlled fit (the log must carry features; it costs
    a vote-level regression, see :mod:`arena.ratings.style_control`).
    """
    if provisional_votes < 0:
        raise ValueError("provisional_votes must be >= 0")
    if style and not log.has_features:
        raise ValueError("style=True needs a vote log with features (VoteLog.with_features)")
    if exclude_ties:
        log = log.exclude_ties()
    log = log.sorted_by_time()
    counts = log.pair_counts()
    scores = scores_from_counts(log.models, counts)
    h2h = head_to_head_from_counts(log.models, counts)
    elo = size_aware_elo(log, sizes, max_size=max_size, history_points=history_points)
    online = online_elo(log)
    bt = bt_from_counts(
        log.models,
        counts,
        anchor=anchor,
        bootstrap_rounds=bootstrap_rounds,
        seed=seed,
        ridge=ridge,
        strict_anchor=False,
    )
    sc = (
        style_controlled_bt(
            log, anchor=bt.anchor, bootstrap_rounds=bootstrap_rounds, seed=seed, ridge=ridge
        )
        if style
        else None
    )
    elo_list, online_list = elo.ratings.tolist(), online.ratings.tolist()
    bt_list, lo_list, up_list = bt.rating.tolist(), bt.lower.tolist(), bt.upper.tolist()
    rank_list, bb_list = bt.rank.tolist(), h2h.both_bad_rate.tolist()
    group_list = bt.group.tolist()
    lo_open, up_open = bt.lower_open.tolist(), bt.upper_open.tolist()
    rows = tuple(
        LeaderboardRow(
            model=s.model,
            battles=s.battles,
            wins=s.wins,
            losses=s.losses,
            ties=s.ties,
            both_bad=s.both_bad,
            win_rate=s.win_rate,
            score=s.score,
            elo=elo_list[i],
            online_elo=online_list[i],
            bt=_opt(bt_list[i]),
            bt_lower=_opt(lo_list[i]),
            bt_upper=_opt(up_list[i]),
            rank=rank_list[i],
            both_bad_rate=bb_list[i],
            group=None if group_list[i] < 0 else group_list[i],
            bt_lower_open=bool(lo_open[i]),
            bt_upper_open=bool(up_open[i]),
            provisional=bool(group_list[i] >= 0 and s.battles < provisional_votes),
        )
        for i, s in enumerate(scores)
    )
    if sc is not None:
        rows = tuple(_with_style(row, sc, i) for i, row in enumerate(rows))
    return Leaderboard(
        models=log.models,
        rows=rows,
        head_to_head=h2h,
        elo_history=elo.history,
        bradley_terry=bt,
        votes=len(log),
        exclude_ties=exclude_ties,
        groups=tuple(
            tuple(log.models[i] for i in range(log.n_models) if group_list[i] == g)
            for g in range(bt.n_groups)
        ),
        anchor=bt.anchor,
        provisional_votes=provisional_votes,
        style=sc,
        notes=_notes(bt, rows, anchor, provisional_votes),
    )


def _with_style(row: LeaderboardRow, sc: StyleResult, i: int) -> LeaderboardRow:
    """``row`` with the style-controlled rating of model ``i`` (unchanged if it has none)."""
    if math.isnan(sc.rating[i]):
        return row
    return replace(
        row,
        bt_style=float(sc.rating[i]),
        bt_style_lower=_opt(float(sc.lower[i])),
        bt_style_upper=_opt(float(sc.upper[i])),
        bt_style_rank=int(sc.rank[i]),
        bt_style_lower_open=bool(sc.lower_open[i]),
        bt_style_upper_open=bool(sc.upper_open[i]),
    )
