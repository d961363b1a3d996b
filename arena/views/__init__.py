"""Blueprints and error pages."""

from __future__ import annotations

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException


def init_app(app: Flask) -> None:
    from arena.views.admin import bp as admin_bp
    from arena.views.api import bp as api_bp
    from arena.views.ask import bp as ask_bp
    from arena.views.battle import bp as battle_bp
    from arena.views.leaderboard import bp as leaderboard_bp
    from arena.views.status import bp as status_bp

    app.register_blueprint(battle_bp)
    app.register_blueprint(leaderboard_bp)
    app.register_blueprint(ask_bp)
    app.register_blueprint(status_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(admin_bp)
    app.register_error_handler(HTTPException, _http_error)


def _http_error(error: HTTPException) -> tuple[str, int]:
    return (
        render_template("error.html", code=error.code, name=error.name, message=error.description),
        error.code or 500,
    )
