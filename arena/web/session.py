"""Who is asking: the anonymous voter id kept in the signed session cookie, and the picker's
"settle it" focus this visitor is under."""

from __future__ import annotations

from flask import session

from arena.play import battles
from arena.play.focus import FOCUS_BATTLES, MAX_FOCUS_MODELS


def current_voter() -> str:
    """The anonymous voter id, kept in the signed session cookie."""
    voter = session.get("voter")
    if not isinstance(voter, str) or not voter:
        voter = battles.new_voter_id()
        session["voter"] = voter
        session.permanent = True  # lives VOTER_COOKIE_DAYS (PERMANENT_SESSION_LIFETIME)
    return voter


def known_voter() -> str | None:
    """The voter id of the session cookie, if the visitor has one; never makes one (a page
    that only reads, such as a model's, sets no cookie)."""
    voter = session.get("voter")
    return voter if isinstance(voter, str) and voter else None


# The picker's "settle it" focus (arena.play.focus): following its link (/pick/settle) stores
# the focus models and how many battles remain under focus; each battle served spends one, and
# the focus ends when none remain. The battle page itself carries nothing of it.
_KEY = "focus"


def start_focus(models: tuple[int, ...], battles: int = FOCUS_BATTLES) -> None:
    """Serve this visitor's next ``battles`` battles under focus on ``models``."""
    session[_KEY] = {"models": list(models), "left": battles}


def current_focus() -> tuple[int, ...]:
    """The focus models of this visitor, or ``()`` when they are not under focus."""
    data = session.get(_KEY)
    if not isinstance(data, dict):
        return ()
    models, left = data.get("models"), data.get("left")
    if (
        not isinstance(models, list)
        or not all(type(m) is int for m in models)
        or not 2 <= len(models) <= MAX_FOCUS_MODELS
        or type(left) is not int
        or left <= 0
    ):
        session.pop(_KEY, None)
        return ()
    return tuple(models)


def spend_focus() -> None:
    """One battle was served under focus; the focus ends after the last."""
    data = session.get(_KEY)
    if not isinstance(data, dict) or type(data.get("left")) is not int:
        session.pop(_KEY, None)
        return
    left = data["left"] - 1
    if left <= 0:
        session.pop(_KEY, None)
    else:
        session[_KEY] = {**data, "left": left}
