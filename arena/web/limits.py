"""Per-client rate limits (Flask-Limiter) on votes, visitors' prompts and exports.

The limits live in one table here rather than on each view, so an operator reads them in one
place. Clients are told apart by address: behind a reverse proxy, set PROXY_HOPS so the
address is the visitor's, not the proxy's. The default storage is each process's memory (a
gunicorn worker counts its own requests); point RATELIMIT_STORAGE_URI at Redis or Memcached
for limits shared by every worker.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

#: endpoint pattern -> the setting that holds its limit
LIMITS = {
    "battle.vote": "RATELIMIT_VOTES",
    "ask.submit": "RATELIMIT_PROMPTS",
    "api.*": "RATELIMIT_EXPORTS",
    "leaderboard.*": "RATELIMIT_EXPORTS",
    "admin.login": "RATELIMIT_ADMIN_LOGIN",
}


def _limit_of(setting: str) -> Callable[[], str]:
    return lambda: str(current_app.config[setting])


def init_app(app: Flask) -> Limiter:
    """A limiter of this app's own, wrapped around the limited views (blueprints must exist)."""
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    limiter = Limiter(key_func=get_remote_address, app=app)
    app.extensions["arena_limiter"] = limiter  # the wrapped views only hold a weak reference
    for endpoint, view in list(app.view_functions.items()):
        for pattern, setting in LIMITS.items():
            if fnmatch.fnmatchcase(endpoint, pattern):
                # The wrapper returns what the view returns; mypy merges a sync view's and an
                # async view's return types into one, so the wrapper is held as returning Any.
                limited: Callable[..., Any] = limiter.limit(_limit_of(setting))(view)
                app.view_functions[endpoint] = limited
                break
    return limiter
