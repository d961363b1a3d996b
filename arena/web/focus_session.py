"""The picker's "settle it" focus, kept in the visitor's signed session cookie.

Following a "settle it" link (``/pick/settle?focus=TOKEN``) stores the focus models and how
many battles remain under focus (:data:`arena.play.focus.FOCUS_BATTLES`); each battle served
spends one, and the focus ends when none remain. The battle page itself carries nothing of it.
"""

from __future__ import annotations

from flask import session

from arena.play.focus import FOCUS_BATTLES, MAX_FOCUS_MODELS

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
