"""Who is asking: the anonymous voter id kept in the signed session cookie."""

from __future__ import annotations

from flask import session

from arena.play import battles


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
