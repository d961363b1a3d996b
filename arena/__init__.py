"""GPU-Poor Arena: small local language models answer side by side, people vote."""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

from flask import Flask

#: The repository's top level in a checkout (in an installed package: site-packages).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: The package's own folder: an installed package carries templates/ and static/ in it.
PACKAGE_DIR = Path(__file__).resolve().parent

#: Exit status of a start stopped by a wrong setting (as for a command-line usage error).
BAD_SETTING_STATUS = 2


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Application factory: configuration, database, blueprints and CLI commands.

    Creating the app touches no database: the web prepares it before its first request and
    each command that needs it before it runs (``arena.ops.setup``). A wrong setting stops
    here: one line on stderr naming it, and ``SystemExit(2)`` (which Flask's CLI, gunicorn and
    scripts let through, where an ordinary exception would print a traceback).
    """
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get(
        "ARENA_INSTANCE_PATH"
    )
    app = Flask(
        __name__,
        instance_path=str(instance_path) if instance_path else None,
        instance_relative_config=True,
        template_folder=str(pages_folder("templates")),
        static_folder=str(pages_folder("static")),
    )
    try:
        os.makedirs(app.instance_path, exist_ok=True)
    except OSError as error:
        _stop(f"cannot create the instance folder {app.instance_path}: {error.strerror}")
    _configure(app, test_config)

    from arena import database, rendering, web
    from arena.cli import init_app as init_cli

    database.init_app(app)
    rendering.init_app(app)
    web.init_app(app)
    init_cli(app)
    return app


def pages_folder(name: str, root: Path = PROJECT_ROOT, package: Path = PACKAGE_DIR) -> Path:
    """``templates`` or ``static``: the checkout's, at the top of the repository, else the copy
    an installed package carries (``pip install .`` puts them in ``arena/``, pyproject.toml).

    A checkout is told by its ``pyproject.toml``, so a stray top-level ``templates`` folder in
    site-packages (some other distribution's) is never taken for ours.
    """
    checkout = root / name
    if (root / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    return package / name


def _configure(app: Flask, test_config: dict[str, Any] | None) -> None:
    """``app.config`` from the checked settings (``arena.config``), or stop the start."""
    from arena import config
    from arena.backends.registry import parse_backends

    try:
        settings = config.load_settings(
            app.instance_path, test_config, checks={"BACKENDS": parse_backends}
        )
        app.config.update(settings)
        app.config["SQLALCHEMY_DATABASE_URI"] = config.database_url(settings, app.instance_path)
        if not app.config.get("SECRET_KEY") and settings.get("SECRET_KEY_FILE"):
            app.config["SECRET_KEY"] = config.read_secret_key(settings["SECRET_KEY_FILE"])
        if not app.config.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = config.ensure_secret_key(app.instance_path)
    except config.SettingError as error:
        _stop(str(error))
    if not app.config.get("OLLAMA_URL"):
        from arena.backends.ollama import parse_ollama_host

        host = os.environ.get("OLLAMA_HOST")
        try:
            app.config["OLLAMA_URL"] = parse_ollama_host(host)
        except ValueError as error:
            _stop(f"OLLAMA_HOST is {host!r}: {error} (or set ARENA_OLLAMA_URL)")
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=app.config["VOTER_COOKIE_DAYS"])


def _stop(message: str) -> NoReturn:
    """End the start: ``arena: <message>`` on stderr, exit status 2, no traceback."""
    print("arena: " + " ".join(message.splitlines()), file=sys.stderr, flush=True)
    raise SystemExit(BAD_SETTING_STATUS)
