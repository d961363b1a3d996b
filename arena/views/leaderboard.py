"""Leaderboard pages."""

from __future__ import annotations

from flask import Blueprint, render_template

from arena import leaderboard

bp = Blueprint("leaderboard", __name__)


@bp.get("/leaderboard")
def index() -> str:
    return render_template("leaderboard.html", rows=leaderboard.arena_leaderboard())
