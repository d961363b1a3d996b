"""Focus: the picker's "settle it" battles, drawn mostly from a few chosen models.

When the picker finds the best models too close to call, it offers a link carrying a
*focus*: a token (signed with the app's ``SECRET_KEY``, so nobody can forge one) that
names those models. A visitor who follows it gets their next :data:`FOCUS_BATTLES` battles
under focus: each battle is a pair of focus models with probability :data:`FOCUS_SHARE`,
otherwise a pair chosen by the usual rule (``MATCHMAKING``), so the visitor never knows which
kind a battle is. Everything else is as for any battle: the answers are stored ones, never an
answer already shown to the voter nor a model already revealed to them on that prompt, and
nothing on the page differs.

The visitor knows the focus models, so every battle served under focus is *targeted*
(``Battle.targeted``, copied to ``Vote.targeted``), whichever pair it drew: the leaderboard's
``targeted=exclude`` filter leaves all of them out.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

#: Probability that a battle under focus is a pair of focus models (when one is still blind).
FOCUS_SHARE = 0.7
#: Battles a visitor is served under focus after following a "settle it" link.
FOCUS_BATTLES = 20
#: How long a "settle it" link stays valid (seconds): a week.
TOKEN_MAX_AGE = 7 * 24 * 3600
#: At most this many models in one focus (the best ones first).
MAX_FOCUS_MODELS = 6
_SALT = "arena.focus"


class FocusError(ValueError):
    """A focus token that cannot be used; the message says why, in words for the visitor."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt=_SALT)


def make_token(model_ids: Sequence[int]) -> str:
    """A signed token naming ``model_ids`` (two to ``MAX_FOCUS_MODELS`` distinct ids): it
    cannot be forged or altered, though its ids are only encoded (the visitor who gets it
    has just been shown those models' names)."""
    ids = sorted(set(int(m) for m in model_ids))
    if not 2 <= len(ids) <= MAX_FOCUS_MODELS:
        raise ValueError(f"a focus names 2 to {MAX_FOCUS_MODELS} models, not {len(ids)}")
    return _serializer().dumps(ids)


def read_token(token: str, *, max_age: int = TOKEN_MAX_AGE) -> tuple[int, ...]:
    """The model ids of a token made by :func:`make_token`.

    Raises:
        FocusError: a token that was not made here, was altered, or is older than ``max_age``.
    """
    try:
        data = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise FocusError(
            "this link to settle a close call has expired; ask the picker again"
        ) from None
    except BadSignature:
        raise FocusError("this link to settle a close call is not valid") from None
    if (
        not isinstance(data, list)
        or not all(type(m) is int for m in data)
        or len(set(data)) < 2
        or len(data) > MAX_FOCUS_MODELS
    ):
        raise FocusError("this link to settle a close call is not valid")
    return tuple(sorted(set(data)))


def focus_pairs(
    focus: Sequence[int], available: Sequence[int], rng: random.Random
) -> list[tuple[int, int]]:
    """Every pair of focus models among ``available``, in a random order, seats at random."""
    present = sorted(set(focus) & set(available))
    combinations = itertools.combinations(present, 2)
    pairs = [(a, b) if rng.random() < 0.5 else (b, a) for a, b in combinations]
    rng.shuffle(pairs)
    return pairs
