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
