"""Serve a battle, record a vote, reveal who was who."""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import CompoundSelect, bindparam, func, insert, literal, select, union_all
from sqlalchemy.exc import IntegrityError

from arena.extensions import db
from arena.models import OUTCOMES, Battle, Model, Prompt, Response, Vote, is_token_id, utcnow
from arena.play.matchmaking import choose_matchup, note_vote
from arena.play.slugs import model_slugs
from arena.rendering import RENDER_VERSION, render_markdown


class BattleError(Exception):
    """A vote or a battle request that cannot be honoured; ``status`` is the HTTP status."""

    status = 400


class BattleNotFound(BattleError):
    status = 404


class NotYourBattle(BattleError):
    status = 403


class AlreadyVoted(BattleError):
    status = 409


class InvalidOutcome(BattleError):
    status = 400


class BattleExpired(BattleError):
    status = 410


@dataclass(frozen=True)
class VoteRules:
    """What makes a vote acceptable, and what makes it count.

    A battle older than ``expiry_seconds`` can no longer be voted on. A vote cast sooner than
    ``min_read_seconds`` after the battle was served, or beyond the voter's ``daily_cap``
    votes in 24 hours, is stored but flagged, and flagged votes never count in a rating.
    """

    expiry_seconds: float = 3600.0
    min_read_seconds: float = 2.0
    daily_cap: int = 0  # 0: no cap

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> VoteRules:
        return cls(
            expiry_seconds=float(config.get("BATTLE_EXPIRY_SECONDS") or 0),
            min_read_seconds=float(config.get("MIN_READ_SECONDS") or 0),
            daily_cap=int(config.get("VOTER_DAILY_CAP") or 0),
        )


@dataclass(frozen=True)
class EmptyPool:
    """Why no battle can be served, and the command that fixes it."""

    reason: str
    message: str
    fix: str | None


def new_voter_id() -> str:
    return secrets.token_urlsafe(16)


@dataclass(frozen=True)
class Side:
    """One answer as the page shows it; ``model`` is filled only after the vote. ``note``
    says the answer was cut ("…stopped at 160 tokens"): worded alike for every model."""

    html: str
    model: Reveal | None = None
    note: str | None = None


@dataclass(frozen=True)
class Reveal:
    """What the reveal shows of a model and its answer: speed is generation only (tokens
    over generation time, model load excluded), measured with ``concurrency`` requests
    under way on its server (None: not recorded); ``seconds`` excludes the load too.
    ``slug`` names the model's page (``/models/<slug>``). A thinking model's
    ``thinking_tokens`` and ``thinking_seconds`` say how long it thought (the thinking
    itself is never shown)."""

    display_name: str
    params_b: float | None
    quantization: str | None
    tokens_per_second: float | None
    seconds: float | None
    concurrency: int | None = None
    slug: str | None = None
    thinking_tokens: int | None = None
    thinking_seconds: float | None = None


def answer_note(done_reason: str | None, reason: str | None, eval_count: int | None) -> str | None:
    """The note under a cut answer: cut by the degenerate-answer filter (its reason starts
    with ``cut:``), or stopped at the token limit; None for an answer that ended itself."""
    if reason and reason.startswith("cut: loop"):
        return "…cut here: the rest repeated itself"
    if reason and reason.startswith("cut:"):
        return "…cut here: what followed was not part of the answer"
    if done_reason == "length":
        return f"…stopped at {eval_count} tokens" if eval_count else "…stopped at the token limit"
    return None


def _concurrency(response: Response) -> int | None:
    value = (response.options or {}).get("concurrency")
    return int(value) if isinstance(value, int) and value > 0 else None


@dataclass(frozen=True)
class BattleView:
    """What the battle page needs, and nothing that names a model before the vote."""

    id: str
    prompt_html: str
    left: Side
    right: Side
    outcome: str | None = None


def serve_battle(
    voter: str,
    *,
    prompt_id: int | None = None,
    rng: random.Random | None = None,
    focus: Sequence[int] = (),
) -> BattleView | None:
    """Create a battle for this voter from stored answers, or None if there is none.

    Left and right are shuffled so a model's position tells nothing. A battle served under
    ``focus`` (:mod:`arena.play.focus`) is stored as targeted, whichever pair it drew; its
    view is like any other's.
    """
    rng = rng or random.Random()
    matchup = choose_matchup(voter, prompt_id=prompt_id, rng=rng, focus=focus)
    if matchup is None:
        return None
    left, right = matchup.first_response_id, matchup.second_response_id
    if rng.random() < 0.5:
        left, right = right, left
    battle_id = secrets.token_urlsafe(16)
    db.session.connection().execute(
        insert(Battle),
        {
            "id": battle_id,
            "prompt_id": matchup.prompt_id,
            "left_response_id": left,
            "right_response_id": right,
            "voter": voter,
            "served_at": utcnow(),
            "targeted": bool(focus),
        },
    )
    db.session.commit()
    params = {"prompt": matchup.prompt_id, "left": left, "right": right}
    rows = db.session.connection().execute(_html_statement(), params).all()
    # The three parts' HTML if stored and of this renderer version (ensure_rendered's test).
    current = {row[0]: row[1] for row in rows if row[1] is not None and row[2] == RENDER_VERSION}
    if len(current) != 3:
        return battle_view(db.session.get_one(Battle, battle_id))  # stored HTML is out of date
    notes = {row[0]: answer_note(row[3], row[4], row[5]) for row in rows}
    return BattleView(
        battle_id,
        current[0],
        Side(current[1], note=notes.get(1)),
        Side(current[2], note=notes.get(2)),
    )


@cache
def _html_statement() -> CompoundSelect[Any]:
    """The stored HTML of the prompt (0), the left (1) and the right (2) answer, in one go,
    with each answer's done_reason, status_reason and eval_count (for its note)."""
    answer = (Response.html, Response.html_version, Response.done_reason)
    answer_rest = (Response.status_reason, Response.eval_count)
    return union_all(
        select(
            literal(0).label("part"),
            Prompt.html,
            Prompt.html_version,
            literal(None, Response.done_reason.type),
            literal(None, Response.status_reason.type),
            literal(None, Response.eval_count.type),
        ).where(Prompt.id == bindparam("prompt")),
        select(literal(1), *answer, *answer_rest).where(Response.id == bindparam("left")),
        select(literal(2), *answer, *answer_rest).where(Response.id == bindparam("right")),
    )


def battle_view(battle: Battle) -> BattleView:
    """The page's view of a stored battle; models are revealed once it has a vote."""
    ensure_rendered(battle)
    outcome = battle.vote.outcome if battle.vote is not None else None
    slugs = model_slugs() if outcome is not None else {}

    def side(response: Response) -> Side:
        note = answer_note(response.done_reason, response.status_reason, response.eval_count)
        if outcome is None:
            return Side(response.html or "", note=note)
        model = response.model
        reveal = Reveal(
            model.display_name,
            model.params_b,
            model.quantization,
            response.tokens_per_second,
            response.seconds,
            _concurrency(response),
            slugs.get(model.id),
            response.thinking_tokens,
            response.thinking_ns / 1e9 if response.thinking_ns else None,
        )
        return Side(response.html or "", reveal, note)

    return BattleView(
        battle.id, battle.prompt.html or "", side(battle.left), side(battle.right), outcome
    )


def ensure_rendered(battle: Battle) -> None:
    """Render (once, then stored) the prompt and both answers to safe HTML."""
    changed = False
    for item in (battle.prompt, battle.left, battle.right):
        if item.html is None or item.html_version != RENDER_VERSION:
            item.html = str(render_markdown(item.text))
            item.html_version = RENDER_VERSION
            changed = True
    if changed:
        db.session.commit()


def get_battle(battle_id: str, voter: str) -> Battle:
    battle = db.session.get(Battle, battle_id) if is_token_id(battle_id) else None
    if battle is None:
        raise BattleNotFound("this battle does not exist")
    if battle.voter != voter:
        raise NotYourBattle("this battle was served to someone else")
    return battle


def record_vote(battle_id: str, voter: str, outcome: str, rules: VoteRules | None = None) -> Vote:
    """Store this voter's verdict on a battle they were served; once per battle."""
    rules = rules or VoteRules()
    if outcome not in OUTCOMES:
        raise InvalidOutcome(f"unknown vote {outcome!r}: choose one of {', '.join(OUTCOMES)}")
    battle = get_battle(battle_id, voter)
    if battle.vote is not None:
        raise AlreadyVoted("this battle already has your vote")
    now = utcnow()
    waited = (now - battle.served_at).total_seconds()
    if rules.expiry_seconds and waited > rules.expiry_seconds:
        raise BattleExpired(
            f"this battle expired {_duration(waited - rules.expiry_seconds)} ago; "
            "battles can be voted on for "
            f"{_duration(rules.expiry_seconds)} after they are shown; open a new battle"
        )
    flag = _flag_reason(voter, waited, now, rules)
    vote = Vote(
        battle_id=battle.id,
        prompt_id=battle.prompt_id,
        model_a_id=battle.left.model_id,
        model_b_id=battle.right.model_id,
        outcome=outcome,
        voter=voter,
        created_at=now,
        excluded=flag is not None,
        flag_reason=flag,
        targeted=battle.targeted,
    )
    db.session.add(vote)  # its models' vote counters move in the same commit (count_votes)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AlreadyVoted("this battle already has a vote") from None
    note_vote(vote.model_a_id, vote.model_b_id)
    return vote


def _flag_reason(voter: str, waited: float, now: datetime, rules: VoteRules) -> str | None:
    if waited < rules.min_read_seconds:
        minimum = rules.min_read_seconds
        return f"voted {waited:.1f} s after the battle was shown (minimum {minimum:g} s)"
    if rules.daily_cap:
        since = now - timedelta(days=1)
        today = db.session.scalar(
            select(func.count(Vote.id)).where(Vote.voter == voter, Vote.created_at >= since)
        )
        if (today or 0) >= rules.daily_cap:
            return f"over the daily cap of {rules.daily_cap} votes per voter"
    return None


def _duration(seconds: float) -> str:
    if seconds >= 5400:
        return f"{seconds / 3600:.0f} hours"
    if seconds >= 90:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds:.0f} seconds"


def explain_empty_pool(voter: str) -> EmptyPool:
    """Why ``serve_battle`` found nothing, in words for the page."""
    enabled = db.session.scalar(select(func.count(Model.id)).where(Model.enabled.is_(True))) or 0
    if enabled == 0:
        return EmptyPool(
            "no_models",
            "No models are registered and enabled yet.",
            "flask --app arena models sync",
        )
    if enabled == 1:
        return EmptyPool(
            "one_model",
            "Only one model is enabled; a battle needs two.",
            "flask --app arena models enable TAG",
        )
    answered = db.session.scalar(
        select(func.count(func.distinct(Response.model_id)))
        .join(Model, Model.id == Response.model_id)
        .join(Prompt, Prompt.id == Response.prompt_id)
        .where(
            Response.status == "ok",
            Model.enabled.is_(True),
            Prompt.shared.is_(True),
            Prompt.showcase.is_(False),  # never in battles
        )
    )
    if (answered or 0) < 2:
        return EmptyPool(
            "no_answers",
            "No answers have been generated yet, so there is no battle to show.",
            "flask --app arena pregenerate --prompts 20",
        )
    return EmptyPool(
        "voter_done",
        "You have judged every battle in the pool that is still blind to you (an answer is "
        "shown to you once, and never a model already revealed to you on the same prompt). "
        "Thank you! More come with the next pre-generation run.",
        None,
    )
