"""How many blind battles the pool can still give the active voters, per voter and per prompt.

By the blindness rule (:mod:`arena.play.blindness`) a voter sees each answer once and never a
model already revealed to them on the same prompt, so a battle uses up two answers of one
prompt for that voter: a prompt answered by k models gives a voter who has seen none of it
k // 2 battles, and one on which they may still see b answers gives b // 2. A voter's supply
is the sum over the shared prompts; the planner keeps the least-supplied active voter (one
who voted in the last ``POOL_ACTIVE_VOTER_DAYS``) at ``POOL_TARGET`` battles or more.

Why more prompts and not more answers per (prompt, model) with other seeds: two seeds of one
small model are far more alike than two models (``scripts/bench/seed_similarity.py``), so
another seed of a model revealed on a prompt would still name it, and the rule forbids it.

The active voters' battles are read once, in (voter, prompt) order from one index, and summed
up here: one pass, one row per battle. A vote reveals the answers its battle showed, which are
in that pass; votes without a battle (none come from the battle page) are read apart. An
answer taken out of use by hand after it was shown is not followed (matchmaking itself always
applies the rule in full).
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from arena.extensions import db
from arena.models import Vote
from arena.play.blindness import revealed_without_battle, shown_statement

Answer = tuple[int, int]  # (prompt, model)


@dataclass(frozen=True)
class PromptSupply:
    """One prompt of the pool, for the active voters."""

    prompt_id: int
    category: str
    answers: int  # usable answers by the models counted
    per_voter: int  # blind battles it gives a voter who has seen none of it: answers // 2
    left: int  # blind battles it can still give the active voters, all together
    spent: int  # active voters it can give no battle any more


@dataclass
class BlindSupply:
    """Blind battles left: per active voter (anonymous: only the numbers) and per prompt."""

    active_voters: int = 0
    per_new_voter: int = 0  # what a voter who has seen nothing can get
    voters: list[int] = field(default_factory=list)  # per active voter, ascending
    prompts: dict[int, PromptSupply] = field(default_factory=dict)
    # Active voters who may no longer be shown a (prompt, model)'s answer, and a
    # (prompt, model, model)'s two answers together (models in ascending order).
    seen: dict[Answer, int] = field(default_factory=dict)
    seen_together: dict[tuple[int, int, int], int] = field(default_factory=dict)

    @property
    def least(self) -> int | None:
        """The least-supplied active voter's blind battles left (None: no active voter)."""
        return self.voters[0] if self.voters else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.voters) if self.voters else None

    def below(self, target: int) -> int:
        """Active voters with fewer than ``target`` blind battles left."""
        return sum(1 for n in self.voters if n < target)

    def lost(self, prompt_id: int, a: int, b: int) -> int:
        """Active voters who may no longer be shown a's or b's answer to this prompt."""
        lo, hi = min(a, b), max(a, b)
        both = self.seen_together.get((prompt_id, lo, hi), 0)
        return self.seen.get((prompt_id, a), 0) + self.seen.get((prompt_id, b), 0) - both


class _Tally:
    """The pass over the active voters' histories, one (voter, prompt) at a time (the hot
    loop of /status and of the planner: one call per prompt a voter has met)."""

    def __init__(self, sizes: Mapping[int, int]) -> None:
        self.sizes = sizes
        self.lost: dict[str, int] = defaultdict(int)  # voter -> blind battles gone
        self.gone: dict[int, int] = defaultdict(int)  # prompt -> blind battles gone
        self.spent: dict[int, int] = defaultdict(int)  # prompt -> voters with none left
        self.seen: dict[Answer, int] = defaultdict(int)
        self.together: dict[tuple[int, int, int], int] = defaultdict(int)

    def add(self, voter: str, prompt_id: int, models: set[int]) -> None:
        """This voter may no longer be shown these models' answers to this prompt."""
        size = self.sizes.get(prompt_id, 0)
        if not size:
            return
        loss = size // 2 - (size - len(models)) // 2
        self.lost[voter] += loss
        self.gone[prompt_id] += loss
        if size - len(models) < 2:
            self.spent[prompt_id] += 1
        ordered = sorted(models)
        for model in ordered:
            self.seen[(prompt_id, model)] += 1
        if len(ordered) == 2:  # one battle on this prompt: by far the most common case
            self.together[(prompt_id, ordered[0], ordered[1])] += 1
        else:
            for a, b in itertools.combinations(ordered, 2):
                self.together[(prompt_id, a, b)] += 1


def blind_supply(
    answers: Mapping[int, Answer],
    categories: Mapping[int, str],
    since: datetime,
) -> BlindSupply:
    """The supply of blind battles among ``answers`` (usable answer id -> (prompt, model), for
    the models counted) to the shared prompts (``categories``), for voters active ``since``."""
    sizes: dict[int, int] = defaultdict(int)
    for prompt_id, _ in answers.values():
        if prompt_id in categories:
            sizes[prompt_id] += 1
    recent = (Vote.created_at >= since, Vote.voter.is_not(None))
    active = db.session.scalar(select(func.count(func.distinct(Vote.voter))).where(*recent)) or 0
    tally = _Tally(sizes)
    if active:
        _read_histories(tally, answers, select(Vote.voter).where(*recent).distinct())
    base = sum(k // 2 for k in sizes.values())
    lost = list(tally.lost.values())
    prompts = {}
    for prompt_id, size in sorted(sizes.items()):
        if size >= 2:
            left = active * (size // 2) - tally.gone.get(prompt_id, 0)
            spent = tally.spent.get(prompt_id, 0)
            prompts[prompt_id] = PromptSupply(
                prompt_id, categories[prompt_id], size, size // 2, left, spent
            )
    return BlindSupply(
        active_voters=active,
        per_new_voter=base,
        voters=sorted([base - n for n in lost] + [base] * (active - len(lost))),
        prompts=prompts,
        seen=dict(tally.seen),
        seen_together=dict(tally.together),
    )


def _read_histories(tally: _Tally, answers: Mapping[int, Answer], voters: Select[Any]) -> None:
    """Feed ``tally`` every (voter, prompt) of these voters with the models they may no
    longer be shown there: the battles' answers, and the votes that have no battle."""
    model_of = {answer: model for answer, (_, model) in answers.items()}
    answered = set(answers.values())
    extra: dict[tuple[str, int], set[int]] = defaultdict(set)
    for who, where, a, b in db.session.execute(revealed_without_battle(voters)):
        if who is not None and where is not None:
            extra[(who, where)].update(m for m in (a, b) if (where, m) in answered)
    voter: str | None = None
    prompt_id = 0
    models: set[int] = set()
    for row_voter, row_prompt, left, right in db.session.execute(shown_statement(voters)):
        if row_prompt != prompt_id or row_voter != voter:
            if voter is not None:
                if extra:
                    models |= extra.pop((voter, prompt_id), set())
                if models:
                    tally.add(voter, prompt_id, models)
            voter, prompt_id, models = row_voter, row_prompt, set()
        if (model := model_of.get(left)) is not None:
            models.add(model)
        if (model := model_of.get(right)) is not None:
            models.add(model)
    if voter is not None:
        models |= extra.pop((voter, prompt_id), set())
        if models:
            tally.add(voter, prompt_id, models)
    for (who, where), revealed in extra.items():
        if revealed:
            tally.add(who, where, revealed)
