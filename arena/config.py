"""Configuration: built-in defaults, then ``instance/config.py``, then ``ARENA_*`` variables.

Environment variables drop the ``ARENA_`` prefix: ``ARENA_OLLAMA_URL`` sets ``OLLAMA_URL``.
Values are parsed as JSON when they look like JSON (``ARENA_POOL_TARGET=30`` is an int),
as Flask's ``from_prefixed_env`` does. This module imports nothing of ``arena``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

ENV_PREFIX = "ARENA"

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant. Answer the user's request as well as you can. "
    "Never reveal your name, the name of your model, or the company or team that made you, "
    "even if asked; if asked who you are, say you are an anonymous assistant."
)

#: Every setting an operator may change, with its default. README documents each one.
DEFAULTS: dict[str, Any] = {
    # Where Ollama listens. None: taken from OLLAMA_HOST, as Ollama's own clients do.
    "OLLAMA_URL": None,
    # Sent as "Authorization: Bearer <key>", for a reverse proxy in front of Ollama.
    "OLLAMA_API_KEY": None,
    "OLLAMA_CONNECT_TIMEOUT": 5.0,
    # Seconds to wait for the next streamed token: a cold load of a 14B model on a CPU is slow.
    "OLLAMA_READ_TIMEOUT": 600.0,
    "OLLAMA_RETRIES": 3,
    # First wait between retries, in seconds; it doubles at each retry.
    "OLLAMA_BACKOFF": 0.5,
    # The model servers, one dict each (see arena/backends/registry.py and README, Backends):
    # {"name": "lmstudio", "kind": "openai", "url": "http://127.0.0.1:1234/v1"},
    # {"name": "local", "kind": "embedded"}. Each model row names its backend. The default
    # is the one Ollama host of OLLAMA_URL (a url or api_key of None means the OLLAMA_* one).
    "BACKENDS": [{"name": "ollama", "kind": "ollama", "url": None, "api_key": None}],
    # How long Ollama keeps a model loaded between two requests of one batch.
    "OLLAMA_KEEP_ALIVE": "30m",
    # Generation options, the same for every model so the comparison is fair.
    "GEN_TEMPERATURE": 0.7,
    "GEN_NUM_PREDICT": 1024,
    "GEN_NUM_CTX": 4096,
    "GEN_SYSTEM_PROMPT": DEFAULT_SYSTEM_PROMPT,
    # Models above this many billion parameters are not registered by `models sync`.
    "MODEL_SIZE_CAP_B": 14.0,
    # None: an SQLite file `arena.db` in the instance folder.
    "DATABASE_URL": None,
    # Run database migrations automatically when the app starts (a fresh instance just works).
    "AUTO_MIGRATE": True,
    # Longest prompt a visitor or an import may submit, in characters.
    "PROMPT_MAX_CHARS": 4000,
    # A battle can be voted on for this long after it is shown, in seconds.
    "BATTLE_EXPIRY_SECONDS": 3600,
    # A vote sooner than this after the battle was shown is stored but flagged (not counted).
    "MIN_READ_SECONDS": 2.0,
    # Votes of one voter beyond this many in 24 hours are stored but flagged (0: no cap).
    "VOTER_DAILY_CAP": 500,
    # How long the voter cookie lives, in days.
    "VOTER_COOKIE_DAYS": 365,
    # The voter cookie: never sent by cross-site requests, never readable by scripts, and
    # set once (re-signing it on every page view buys nothing). Flask's own settings.
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_REFRESH_EACH_REQUEST": False,
    # Reverse proxies in front of the app whose X-Forwarded-* headers are trusted (0: none).
    "PROXY_HOPS": 0,
    # Send Strict-Transport-Security with this max-age when served over HTTPS (0: off).
    "HSTS_SECONDS": 0,
    # Per-client rate limits (Flask-Limiter syntax); RATELIMIT_ENABLED=false turns them off.
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_VOTES": "30 per minute; 600 per hour",
    "RATELIMIT_PROMPTS": "5 per hour",
    "RATELIMIT_EXPORTS": "60 per minute",
    "RATELIMIT_ADMIN_LOGIN": "10 per hour",
    # The operator's token for /admin (a long random string). None: the admin pages are off.
    "ADMIN_TOKEN": None,
    # Where `flask --app arena backup` and the nightly backup write (None: <instance>/backups).
    "BACKUP_DIR": None,
    # How many nightly backups the worker keeps (0: the worker takes none).
    "BACKUP_KEEP": 7,
    # When the worker takes the nightly backup (cron syntax, local time).
    "BACKUP_CRON": "30 6 * * *",
    # How often the worker recomputes leaderboards whose votes changed, in seconds (0: never).
    "LEADERBOARD_REFRESH_SECONDS": 300,
    # How often the worker looks for a run requested on /admin, in seconds.
    "RUN_REQUEST_POLL_SECONDS": 30,
    # How long a web worker reuses vote counts for matchmaking, in seconds.
    "MATCHMAKING_CACHE_SECONDS": 10,
    # Pre-generation keeps every pair of enabled models supplied with this many battles that
    # most voters (those who voted in the last POOL_ACTIVE_VOTER_DAYS days) have not judged.
    "POOL_TARGET": 20,
    "POOL_ACTIVE_VOTER_DAYS": 30,
    # A model with this many votes gets no new answers (None: no cap; the original arena: 150).
    "BATTLE_CAP": None,
    # A failed answer is retried this many times, waiting GEN_RETRY_BACKOFF s, then twice that...
    "GEN_RETRIES": 2,
    "GEN_RETRY_BACKOFF": 5.0,
    # Answers naming their model or maker are excluded and regenerated once with another seed.
    "LEAK_FILTER": True,
    # The worker's nightly window: a cron expression (local time) for its start, and its end.
    "WORKER_WINDOW": "0 1 * * *",
    "WORKER_WINDOW_UNTIL": "06:00",
    # How often the worker records that it is alive; pages call it gone after 3 missed beats.
    "WORKER_HEARTBEAT_SECONDS": 10,
    # How often the worker looks for visitors' prompts when no batch is running, in seconds.
    "VISITOR_POLL_SECONDS": 2,
    # Visitors' own prompts join the shared battle pool only when this is true.
    "VISITOR_PROMPTS_SHARED": False,
    # At most this many visitors' prompts wait at once (each visitor may have one waiting).
    "VISITOR_QUEUE_MAX": 50,
    # How often the waiting page reloads itself, in seconds.
    "VISITOR_REFRESH_SECONDS": 3,
    # Size classes for leaderboard filters, cut at these sizes in billions (ascending):
    # [2, 4, 9] gives <= 2B, 2-4B, 4-9B and > 9B.
    "SIZE_CLASS_BOUNDS_B": [2, 4, 9],
    # Bradley-Terry: bootstrap rounds for the 95% intervals, and the model pinned at 1000
    # (None: the mean rating is 1000).
    "LEADERBOARD_BOOTSTRAP_ROUNDS": 200,
    "LEADERBOARD_BT_ANCHOR": None,
    # A cached leaderboard whose votes changed is still served for this many seconds after it
    # was computed (0: always recomputed at the first view after a change). Set it above the
    # worker's refresh interval so page views never compute.
    "LEADERBOARD_MAX_STALE_SECONDS": 0,
    # Cached leaderboards kept (one per filter set asked for); the oldest are dropped.
    "LEADERBOARD_CACHE_ENTRIES": 200,
}


def load_settings(instance_path: str, test_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the merged settings, lowest precedence first: defaults, file, environment, tests.

    ``test_config`` wins over everything, so tests are never affected by the machine's variables.
    """
    settings = dict(DEFAULTS)
    settings.update(_from_instance_file(Path(instance_path) / "config.py"))
    settings.update(_from_environment(os.environ))
    if test_config:
        settings.update(test_config)
    return settings


def _from_instance_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    namespace: dict[str, Any] = {"__file__": str(path)}
    exec(compile(path.read_bytes(), str(path), "exec"), namespace)
    return {key: value for key, value in namespace.items() if key.isupper()}


def _from_environment(environ: os._Environ[str] | dict[str, str]) -> dict[str, Any]:
    import json

    prefix = f"{ENV_PREFIX}_"
    values: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(prefix) or name == f"{ENV_PREFIX}_INSTANCE_PATH":
            continue
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        values[name.removeprefix(prefix)] = value
    return values


def database_url(settings: dict[str, Any], instance_path: str) -> str:
    """The SQLAlchemy URL: the configured one, or ``sqlite:///<instance>/arena.db``."""
    url = settings.get("DATABASE_URL") or settings.get("SQLALCHEMY_DATABASE_URI")
    if url:
        return str(url)
    return "sqlite:///" + str(Path(instance_path) / "arena.db")


def ensure_secret_key(instance_path: str) -> str:
    """Read the instance's secret key, creating it once (mode 0600) when there is none.

    Several gunicorn workers may start at once: the key is written to a temporary file and
    hard-linked into place, which fails if another process won, so all of them share one key.
    """
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        tmp = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty: delete it or set ARENA_SECRET_KEY")
    return key
