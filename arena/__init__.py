"""GPU-Poor Arena: small local language models answer side by side, people vote."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Application factory: configuration, database, blueprints and CLI commands.

    Creating the app touches no database: the web prepares it before its first request and
    each command that needs it before it runs (``arena.ops.setup``).
    """
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get(
        "ARENA_INSTANCE_PATH"
    )
    app = Flask(
        __name__,
        instance_path=str(instance_path) if instance_path else None,
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    os.makedirs(app.instance_path, exist_ok=True)

    from arena import config

    settings = config.load_settings(app.instance_path, test_config)
    app.config.update(settings)
    app.config["SQLALCHEMY_DATABASE_URI"] = config.database_url(settings, app.instance_path)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = config.ensure_secret_key(app.instance_path)
    if not app.config.get("OLLAMA_URL"):
        from arena.backends.ollama import parse_ollama_host

        app.config["OLLAMA_URL"] = parse_ollama_host(os.environ.get("OLLAMA_HOST"))
    from arena.backends.registry import parse_backends

    parse_backends(app.config)  # a malformed BACKENDS stops the start with a clear message
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=int(app.config["VOTER_COOKIE_DAYS"]))

    from arena import database, rendering, web
    from arena.cli import init_app as init_cli

    database.init_app(app)
    rendering.init_app(app)
    web.init_app(app)
    init_cli(app)
    return app
