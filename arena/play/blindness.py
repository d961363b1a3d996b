"""The blindness rule: which stored answers a voter may still be shown.

A voter is never served

- an answer (a ``Response``) already served to them in any earlier battle, voted on or not
  (a skipped battle burns its two answers too), nor
- on a prompt P, an answer by a model that was revealed to them on P (they voted on a battle
  on P involving that model), even another answer of that model to P: a second seed of a
  small model reads much like the first (``scripts/bench/seed_similarity.py``), so it would
  name the model.

So on a prompt answered by k models a voter can be given at most k // 2 battles. The rule is
read two ways, both from the indexed columns ``battle (voter, left/right response)`` and
``vote (voter, prompt, model a, model b)``:

- :func:`voter_history`: one small query for one voter, the sets matchmaking filters its
  candidate answers with on every battle page (a few hundred rows for a voter with hundreds
  of votes, whatever the size of the vote log);
- :func:`blind_answer`: the same rule as SQL, for the last-resort search over the whole pool;
- :func:`shown_statement` and :func:`revealed_without_battle`: the histories of many voters
  at once, in order, for the planner's count of blind battles left (``arena.pregen.supply``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    bindparam,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql.expression import BindParameter

from arena.extensions import db
from arena.models import Battle, Response, Vote

SERVED, REVEALED = 0, 1


@dataclass(frozen=True)
class History:
    """What one voter has been shown: answers served, and models named per prompt."""

    served: frozenset[int]  # response ids
    revealed: frozenset[tuple[int, int]]  # (prompt id, model id)

    def allows(self, prompt_id: int, response_id: int, model_id: int) -> bool:
        """Whether this answer may still be shown to this voter."""
        return response_id not in self.served and (prompt_id, model_id) not in self.revealed

    def allows_pair(self, prompt_id: int, first: tuple[int, int], second: tuple[int, int]) -> bool:
        """Whether both answers, each (response id, model id), may be shown together."""
        return self.allows(prompt_id, *first) and self.allows(prompt_id, *second)


def voter_history(voter: str) -> History:
    """The voter's history, in one query over two indexes (none of it is cached)."""
    served: set[int] = set()
    revealed: set[tuple[int, int]] = set()
    rows = db.session.connection().execute(_history_statement(), {"voter": voter})
    for kind, prompt_id, a, b in rows:
        if kind == SERVED:
            served.add(a)
            served.add(b)
        elif prompt_id is not None:
            revealed.add((prompt_id, a))
            revealed.add((prompt_id, b))
    return History(frozenset(served), frozenset(revealed))


@cache
def _history_statement() -> CompoundSelect[int, int | None, int, int]:
    """(0, None, left, right) per battle served to ``:voter``; (1, prompt, model a, model b)
    per vote they cast (read from ``ix_battle_voter_left`` and ``ix_vote_voter_prompt_models``
    alone)."""
    voter: BindParameter[str] = bindparam("voter")
    return union_all(
        select(
            literal(SERVED).label("kind"),
            null().label("prompt_id"),
            Battle.left_response_id,
            Battle.right_response_id,
        ).where(Battle.voter == voter),
        select(literal(REVEALED), Vote.prompt_id, Vote.model_a_id, Vote.model_b_id).where(
            Vote.voter == voter
        ),
    )


def blind_answer(response: type[Response], voter: ColumnElement[str]) -> ColumnElement[bool]:
    """SQL: ``response`` may still be shown to ``voter`` (a bound parameter or a column)."""
    # A battle's answers are answers to its prompt: naming it lets each probe seek its index.
    on = (Battle.voter == voter, Battle.prompt_id == response.prompt_id)
    served = or_(
        select(Battle.id).where(*on, Battle.left_response_id == response.id).exists(),
        select(Battle.id).where(*on, Battle.right_response_id == response.id).exists(),
    )
    revealed = (
        select(Vote.id)
        .where(
            Vote.voter == voter,
            Vote.prompt_id == response.prompt_id,
            or_(Vote.model_a_id == response.model_id, Vote.model_b_id == response.model_id),
        )
        .exists()
    )
    return ~served & ~revealed


def shown_statement(voters: Select[Any]) -> Select[str, int, int, int]:
    """SQL: (voter, prompt, left answer, right answer) of every battle served to one of
    ``voters`` (a one-column query), in voter then prompt order (``ix_battle_voter_left``
    alone: a voter's battles on a prompt come together)."""
    return (
        select(Battle.voter, Battle.prompt_id, Battle.left_response_id, Battle.right_response_id)
        .where(Battle.voter.in_(voters.scalar_subquery()))
        .order_by(Battle.voter, Battle.prompt_id)
    )


def revealed_without_battle(voters: Select[Any]) -> Select[str | None, int | None, int, int]:
    """SQL: (voter, prompt, model a, model b) of the votes of ``voters`` that have no battle
    (a vote with a battle reveals the answers the battle shows, already read above)."""
    return select(Vote.voter, Vote.prompt_id, Vote.model_a_id, Vote.model_b_id).where(
        Vote.battle_id.is_(None),
        Vote.prompt_id.is_not(None),
        Vote.voter.in_(voters.scalar_subquery()),
    )
