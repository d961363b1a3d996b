"""The web side: blueprints (thin views over the services), error pages that answer JSON on
JSON routes, security headers, rate limits and versioned static files."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from arena.ops import nodes
    from arena.ops.setup import ensure_database
    from arena.web import assets, errors, limits, security
    from arena.web.admin import bp as admin_bp
    from arena.web.api import bp as api_bp
    from arena.web.ask import bp as ask_bp
    from arena.web.battle import bp as battle_bp
    from arena.web.judges import bp as judges_bp
    from arena.web.leaderboard import bp as leaderboard_bp
    from arena.web.models import bp as models_bp
    from arena.web.pick import bp as pick_bp
    from arena.web.status import bp as status_bp

    assets.init_app(app)  # /static/... URLs carry a hash of the file: cacheable for long
    security.init_app(app)
    errors.init_app(app)
    app.register_blueprint(battle_bp)
    app.register_blueprint(leaderboard_bp)
    app.register_blueprint(judges_bp)
    app.register_blueprint(models_bp)
    app.register_blueprint(pick_bp)
    app.register_blueprint(ask_bp)
    app.register_blueprint(status_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(admin_bp)
    limits.init_app(app)  # wraps the views, so after the blueprints

    @app.before_request
    def _database_ready() -> None:
        ensure_database(app)
        nodes.beat(app)  # at most once a minute: this node is alive (arena.ops.nodes)
