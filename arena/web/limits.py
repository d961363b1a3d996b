"""Per-client rate limits (Flask-Limiter) on votes, visitors' prompts, exports and the
leaderboard computations a request may start.

The limits live in one table here rather than on each view, so an operator reads them in one
place. Clients are told apart by address (:func:`client_address`): behind a reverse proxy,
set PROXY_HOPS so the address is the visitor's, not the proxy's.

Counters live where ``RATELIMIT_STORAGE_URI`` says; unset, in an SQLite file of the instance
folder (``ratelimits.db``, :mod:`arena.web.limit_storage`), which every gunicorn worker of the
machine shares and which outlives worker recycles and restarts. Several web machines need a
storage they all reach: ``redis://...`` (or ``memcached://...``). Should the storage fail, each
process counts in its own memory until it answers again (Flask-Limiter's in-memory fallback),
rather than refusing every request.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many
from limits.errors import ConfigurationError

from arena.leaderboard.bounds import COMPUTE_GATE
from arena.web.limit_storage import SCHEME, path_of, sqlite_uri

log = logging.getLogger(__name__)

#: endpoint pattern -> the setting that holds its limit
LIMITS = {
    "battle.vote": "RATELIMIT_VOTES",
    "ask.submit": "RATELIMIT_PROMPTS",
    "api.*": "RATELIMIT_EXPORTS",
    "leaderboard.*": "RATELIMIT_EXPORTS",
    "models.*": "RATELIMIT_EXPORTS",  # a model page may compute category boards
    "pick.*": "RATELIMIT_EXPORTS",  # a pick may compute a category's board
    "admin.login": "RATELIMIT_ADMIN_LOGIN",
}
#: The counters file in the instance folder, when RATELIMIT_STORAGE_URI is unset.
STORAGE_FILE = "ratelimits.db"


def client_address() -> str:
    """The address limits count a request against (the visitor's, with PROXY_HOPS)."""
    return get_remote_address()


def _limit_of(setting: str) -> Callable[[], str]:
    return lambda: str(current_app.config[setting])


def storage_uri(app: Flask) -> str:
    """``RATELIMIT_STORAGE_URI``, or the instance's counters file."""
    configured = app.config.get("RATELIMIT_STORAGE_URI")
    if configured:
        return str(configured)
    return sqlite_uri(os.path.join(app.instance_path, STORAGE_FILE))


def describe_storage(uri: str) -> str:
    """Where the counters live, for the start-up log (never a password)."""
    scheme = uri.partition(":")[0]
    if scheme == SCHEME:
        return f"the SQLite file {path_of(uri)} (shared by this machine's processes)"
    if scheme == "memory":
        return "each process's memory (not shared by gunicorn's workers, lost on restart)"
    host = urlsplit(uri).netloc.rpartition("@")[2]
    return f"{scheme}://{host}" if host else f"{scheme}://"


def _startup_log() -> logging.Logger:
    """gunicorn's error log when serving under gunicorn (it shows INFO), else ours."""
    gunicorn = logging.getLogger("gunicorn.error")
    return gunicorn if gunicorn.handlers else log


def init_app(app: Flask) -> Limiter:
    """A limiter of this app's own, wrapped around the limited views (blueprints must exist)."""
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    uri = storage_uri(app)
    app.config["RATELIMIT_STORAGE_URI"] = uri
    try:
        limiter = Limiter(key_func=client_address, app=app)
    except (ConfigurationError, OSError, sqlite3.Error) as error:
        # As a wrong setting stops the start (arena.create_app): one line, exit status 2.
        message = f"arena: RATELIMIT_STORAGE_URI is {describe_storage(uri)!r}: {error}"
        print(" ".join(message.splitlines()), file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    app.extensions["arena_limiter"] = limiter  # the wrapped views only hold a weak reference
    for endpoint, view in list(app.view_functions.items()):
        for pattern, setting in LIMITS.items():
            if fnmatch.fnmatchcase(endpoint, pattern):
                # The wrapper returns what the view returns; mypy merges a sync view's and an
                # async view's return types into one, so the wrapper is held as returning Any.
                limited: Callable[..., Any] = limiter.limit(_limit_of(setting))(view)
                app.view_functions[endpoint] = limited
                break
    app.extensions[COMPUTE_GATE] = _compute_gate(limiter)
    if app.config.get("RATELIMIT_ENABLED", True):
        _startup_log().info("arena: rate-limit counters in %s", describe_storage(uri))
    return limiter


def _compute_gate(limiter: Limiter) -> Callable[[], int | None]:
    """The leaderboard's gate (``arena.leaderboard.bounds``): called in a request that is
    about to start a computation (only then, so cached boards cost nothing), it counts one
    against ``RATELIMIT_LEADERBOARD_COMPUTE`` for the client's address. None: go ahead; else
    the seconds until the client may start another."""

    def gate() -> int | None:
        config = current_app.config
        if not config.get("RATELIMIT_ENABLED", True):
            return None
        items = parse_many(str(config["RATELIMIT_LEADERBOARD_COMPUTE"]))
        address = client_address()
        strategy = limiter.limiter
        try:
            for item in items:
                if not strategy.test(item, "leaderboard-compute", address):
                    reset, _ = strategy.get_window_stats(item, "leaderboard-compute", address)
                    return max(1, math.ceil(reset - time.time()))
            for item in items:
                strategy.hit(item, "leaderboard-compute", address)
        except Exception as error:  # a storage fault must not hide the board
            log.warning("leaderboard computation limit not counted: %s", error)
        return None

    return gate
