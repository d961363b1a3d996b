"""The settings table: every setting an operator may change, its default and its rule, by
concern. :mod:`arena.config.settings` merges and checks them; README documents each. A new
setting goes into the section of its concern (a new concern gets a section of its own)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arena.config.rules import (
    BOUNDS,
    CRON,
    DATABASE_URL,
    DICT_LIST,
    FLAG,
    FOLDER,
    HH_MM,
    KEEP_ALIVE,
    RATE_LIMIT,
    TEXT,
    URL,
    Rule,
    number,
    one_of,
    optional,
    whole,
)

ENV_PREFIX = "ARENA"

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant. Answer the user's request as well as you can. "
    "Never reveal your name, the name of your model, or the company or team that made you, "
    "even if asked; if asked who you are, say you are an anonymous assistant."
)


@dataclass(frozen=True)
class Setting:
    """One row of the table: the default and what may replace it."""

    default: Any
    rule: Rule


#: Every setting an operator may change: its default and what it accepts. README documents each.
SETTINGS: dict[str, Setting] = {
    # Where Ollama listens. None: taken from OLLAMA_HOST, as Ollama's own clients do.
    "OLLAMA_URL": Setting(None, optional(URL, "none (from OLLAMA_HOST)")),
    # Sent as "Authorization: Bearer <key>", for a reverse proxy in front of Ollama.
    "OLLAMA_API_KEY": Setting(None, optional(TEXT)),
    # The model servers, one dict each (see arena/backends/registry.py and README, Backends):
    # {"name": "lmstudio", "kind": "openai", "url": "http://127.0.0.1:1234/v1"},
    # {"name": "local", "kind": "embedded"}. Each model row names its backend. The default
    # is the one Ollama host of OLLAMA_URL (a url or api_key of None means the OLLAMA_* one).
    "BACKENDS": Setting(
        [{"name": "ollama", "kind": "ollama", "url": None, "api_key": None}], DICT_LIST
    ),
    # Every backend's defaults (each BACKENDS entry may set its own): seconds to connect, to
    # wait for the next streamed token (a cold load of a 14B model on a CPU is slow), retries,
    # and the first wait between retries in seconds (it doubles at each retry).
    "BACKEND_CONNECT_TIMEOUT": Setting(5.0, number(0, above=True)),
    "BACKEND_READ_TIMEOUT": Setting(600.0, number(0, above=True)),
    "BACKEND_RETRIES": Setting(3, whole(0)),
    "BACKEND_BACKOFF": Setting(0.5, number(0)),
    # How long a backend keeps a model loaded between two requests of one batch.
    "BACKEND_KEEP_ALIVE": Setting("30m", optional(KEEP_ALIVE, "none (the server's default)")),
    # Pages that say whether the backends answer (/status, /admin, the empty battle page) reuse
    # the last check for this many seconds (shared by the machine's processes; 0: every view).
    "BACKEND_PROBE_CACHE_SECONDS": Setting(30.0, number(0)),
    # Generation options, the same for every model so the comparison is fair.
    "GEN_TEMPERATURE": Setting(0.7, number(0)),
    "GEN_NUM_PREDICT": Setting(1024, whole(1)),
    # Thinking models: "model" lets each model think as it would for its users (or as set
    # with `models think`); "off" sends think:false for every model (Ollama).
    "THINK_DEFAULT": Setting("model", one_of("model", "off")),
    # Tokens allowed for thinking on top of GEN_NUM_PREDICT when a model thinks.
    "GEN_THINK_TOKENS": Setting(1024, whole(0)),
    "GEN_NUM_CTX": Setting(4096, optional(whole(1), "none (the server's default)")),
    "GEN_SYSTEM_PROMPT": Setting(DEFAULT_SYSTEM_PROMPT, optional(TEXT)),
    # Models above this many billion parameters are not registered by `models sync`.
    "MODEL_SIZE_CAP_B": Setting(14.0, number(0, above=True)),
    # None: an SQLite file `arena.db` in the instance folder.
    "DATABASE_URL": Setting(None, optional(DATABASE_URL, "none (SQLite in the instance)")),
    # Run database migrations automatically when the app starts (a fresh instance just works).
    "AUTO_MIGRATE": Setting(True, FLAG),
    # Signs the voter cookie. None: generated once into <instance>/secret_key.
    "SECRET_KEY": Setting(None, optional(TEXT, "none (generated into the instance)")),
    # A file holding the secret key (a mounted secret, one file copied to every web node),
    # read at start-up when SECRET_KEY is unset. None: SECRET_KEY, or <instance>/secret_key.
    "SECRET_KEY_FILE": Setting(None, optional(TEXT, "none (SECRET_KEY, or generated)")),
    # Longest prompt a visitor or an import may submit, in characters.
    "PROMPT_MAX_CHARS": Setting(4000, whole(1)),
    # Largest request body, in bytes (Flask's own setting): a larger one gets a 413 before it
    # is read. Forms are small; a prompt of PROMPT_MAX_CHARS takes up to 12 bytes a character.
    "MAX_CONTENT_LENGTH": Setting(64 * 1024, whole(1024)),
    # A battle can be voted on for this long after it is shown, in seconds (0: for ever).
    "BATTLE_EXPIRY_SECONDS": Setting(3600, whole(0)),
    # A vote sooner than this after the battle was shown is stored but flagged (not counted).
    "MIN_READ_SECONDS": Setting(2.0, number(0)),
    # Votes of one voter beyond this many in 24 hours are stored but flagged (0: no cap).
    "VOTER_DAILY_CAP": Setting(500, whole(0)),
    # How long the voter cookie lives, in days.
    "VOTER_COOKIE_DAYS": Setting(365, whole(1)),
    # The voter cookie: never sent by cross-site requests, never readable by scripts, and
    # set once (re-signing it on every page view buys nothing); over HTTPS only when SECURE.
    # Flask's own settings.
    "SESSION_COOKIE_SAMESITE": Setting("Lax", optional(one_of("Lax", "Strict", "None"))),
    "SESSION_COOKIE_HTTPONLY": Setting(True, FLAG),
    "SESSION_COOKIE_SECURE": Setting(False, FLAG),
    "SESSION_REFRESH_EACH_REQUEST": Setting(False, FLAG),
    # Reverse proxies in front of the app whose X-Forwarded-* headers are trusted (0: none).
    "PROXY_HOPS": Setting(0, whole(0)),
    # Send Strict-Transport-Security with this max-age when served over HTTPS (0: off).
    "HSTS_SECONDS": Setting(0, whole(0)),
    # Per-client rate limits (Flask-Limiter syntax); RATELIMIT_ENABLED=false turns them off.
    "RATELIMIT_ENABLED": Setting(True, FLAG),
    "RATELIMIT_VOTES": Setting("30 per minute; 600 per hour", RATE_LIMIT),
    "RATELIMIT_PROMPTS": Setting("5 per hour", RATE_LIMIT),
    "RATELIMIT_EXPORTS": Setting("60 per minute", RATE_LIMIT),
    "RATELIMIT_ADMIN_LOGIN": Setting("10 per hour", RATE_LIMIT),
    # Leaderboard computations one address may start (cached boards do not count).
    "RATELIMIT_LEADERBOARD_COMPUTE": Setting("20 per hour", RATE_LIMIT),
    # Where the counters live: a limits storage URI (redis://... for several machines). None:
    # an SQLite file in the instance folder, shared by every process of the machine.
    "RATELIMIT_STORAGE_URI": Setting(None, optional(TEXT, "none (<instance>/ratelimits.db)")),
    # The operator's token for /admin (a long random string). None: the admin pages are off.
    "ADMIN_TOKEN": Setting(None, optional(TEXT, "none (the admin pages are off)")),
    # An operator's sign-in on /admin ends after this many hours (and at sign-out, and when
    # ADMIN_TOKEN changes), whatever the voter cookie's lifetime.
    "ADMIN_SESSION_HOURS": Setting(8.0, number(0, above=True)),
    # Where `flask --app arena backup` and the nightly backup write (None: <instance>/backups).
    "BACKUP_DIR": Setting(None, optional(FOLDER, "none (<instance>/backups)")),
    # How many nightly backups the worker keeps (0: the worker takes none).
    "BACKUP_KEEP": Setting(7, whole(0)),
    # When the worker takes the nightly backup (cron syntax, local time).
    "BACKUP_CRON": Setting("30 6 * * *", CRON),
    # How often the worker recomputes leaderboards whose votes changed, in seconds (0: never).
    "LEADERBOARD_REFRESH_SECONDS": Setting(300, number(0)),
    # How often the worker looks for a run requested on /admin, in seconds.
    "RUN_REQUEST_POLL_SECONDS": Setting(30, number(0, above=True)),
    # How long a web worker reuses vote counts for matchmaking, in seconds.
    "MATCHMAKING_CACHE_SECONDS": Setting(10, number(0)),
    # How the battle page picks the two models (arena/ratings/matchmaking.py): "active" (the
    # pair whose vote shrinks the leaderboard's uncertainty most, with some exploration),
    # "classic" (the original arena: fewest votes first, opponent weighted 1/(votes + 1)) or
    # "uniform" (every pair alike).
    "MATCHMAKING": Setting("classic", one_of("active", "classic", "uniform")),
    # Pre-generation keeps every pair of enabled models supplied with this many battles that
    # most voters (those who voted in the last POOL_ACTIVE_VOTER_DAYS days) have not judged.
    "POOL_TARGET": Setting(20, whole(1)),
    "POOL_ACTIVE_VOTER_DAYS": Setting(30, whole(1)),
    # /status and /admin show the battle pool report computed at most this many seconds ago
    # (kept in the instance folder, shared by the machine's processes; 0: every view computes).
    "STATUS_POOL_CACHE_SECONDS": Setting(60.0, number(0)),
    # /status shows where each worker and web node runs (host, pid, folder, limit storage);
    # off, it names them by a hash (/admin always shows everything).
    "STATUS_SHOW_MACHINES": Setting(False, FLAG),
    # A model with this many votes gets no new answers (None: no cap; the original arena: 150).
    "BATTLE_CAP": Setting(None, optional(whole(1), "none (no cap)")),
    # A failed answer is retried this many times, waiting GEN_RETRY_BACKOFF s, then twice that...
    "GEN_RETRIES": Setting(2, whole(0)),
    "GEN_RETRY_BACKOFF": Setting(5.0, number(0)),
    # Answers naming their model or maker are excluded and regenerated once with another seed.
    "LEAK_FILTER": Setting(True, FLAG),
    # Degenerate answers (system prompt echoed, chat-template debris, loops) are cut where they
    # degenerate when a fair answer comes before, else excluded and regenerated once.
    "DEGENERATE_FILTER": Setting(True, FLAG),
    # The worker's nightly window: a cron expression (local time) for its start, and its end.
    "WORKER_WINDOW": Setting("0 1 * * *", CRON),
    "WORKER_WINDOW_UNTIL": Setting("06:00", HH_MM),
    # How often the worker records that it is alive; pages call it gone after 3 missed beats.
    "WORKER_HEARTBEAT_SECONDS": Setting(10, number(0, above=True)),
    # How often a standby worker tries to take the lease (and the active one checks it holds
    # it); the standby takes over within about this long after the active worker dies.
    "WORKER_LEASE_POLL_SECONDS": Setting(5.0, number(0, above=True)),
    # How often the worker looks for visitors' prompts when no batch is running, in seconds.
    "VISITOR_POLL_SECONDS": Setting(2, number(0, above=True)),
    # Visitors' own prompts join the shared battle pool only when this is true.
    "VISITOR_PROMPTS_SHARED": Setting(False, FLAG),
    # At most this many visitors' prompts wait at once (each visitor may have one waiting).
    "VISITOR_QUEUE_MAX": Setting(50, whole(0)),
    # At most this many of them from one client address (0: no limit per address).
    "VISITOR_QUEUE_PER_ADDRESS": Setting(3, whole(0)),
    # How often the waiting page reloads itself, in seconds.
    "VISITOR_REFRESH_SECONDS": Setting(3, whole(1)),
    # Judges (batch evaluation, README "Judges"): the worker judges stored answer pairs after
    # pre-generation in its nightly window when JUDGE_IN_WINDOW is true; a judge never judges
    # a pair holding its own answer unless JUDGE_ALLOW_SELF; the judge prompt file (None:
    # <instance>/judge_prompt.txt, copied there from the package's default on first use); the
    # judge's context (None: GEN_NUM_CTX), longest verdict, fixed seed; a judge whose requests
    # fail this many pairs in a row, or that gives no verdict this many times in a row, is
    # skipped for the rest of the run.
    "JUDGE_IN_WINDOW": Setting(False, FLAG),
    "JUDGE_ALLOW_SELF": Setting(False, FLAG),
    "JUDGE_PROMPT_FILE": Setting(None, optional(TEXT, "none (<instance>/judge_prompt.txt)")),
    "JUDGE_NUM_CTX": Setting(None, optional(whole(256), "none (GEN_NUM_CTX)")),
    "JUDGE_NUM_PREDICT": Setting(512, whole(1)),
    "JUDGE_SEED": Setting(42, whole(0)),
    "JUDGE_MAX_FAILURES": Setting(3, whole(1)),
    "JUDGE_MAX_UNPARSED": Setting(20, whole(1)),
    # Size classes for leaderboard filters, cut at these sizes in billions (ascending):
    # [2, 4, 9] gives <= 2B, 2-4B, 4-9B and > 9B.
    "SIZE_CLASS_BOUNDS_B": Setting([2, 4, 9], BOUNDS),
    # Bradley-Terry: bootstrap rounds for the 95% intervals, and the model pinned at 1000
    # (None: the mean rating is 1000).
    "LEADERBOARD_BOOTSTRAP_ROUNDS": Setting(200, whole(0)),
    "LEADERBOARD_BT_ANCHOR": Setting(None, optional(TEXT, "none (the mean is 1000)")),
    # A cached leaderboard whose votes changed is still served for this many seconds after it
    # was computed (0: always recomputed at the first view after a change). Set it above the
    # worker's refresh interval so page views never compute.
    "LEADERBOARD_MAX_STALE_SECONDS": Setting(0, number(0)),
    # Cached leaderboards kept (one per filter set asked for); the oldest are dropped.
    "LEADERBOARD_CACHE_ENTRIES": Setting(200, whole(1)),
    # A request with no board to show waits at most this long for its computation (then 503),
    # and at most this many such requests wait at once per machine (the others get a 503).
    "LEADERBOARD_WAIT_SECONDS": Setting(10.0, number(0)),
    "LEADERBOARD_MAX_WAITING": Setting(1, whole(0)),
    # A vote log download of more votes than this is built once into a file of
    # <instance>/exports (202 and Retry-After meanwhile) and served from it; smaller ones stream.
    "EXPORTS_STREAM_MAX_ROWS": Setting(100_000, whole(0)),
    # An export file is served this long after it was built, even if votes came in since.
    "EXPORTS_MAX_STALE_SECONDS": Setting(300, number(0)),
    # Export files built at once on the machine, each by a process of its own (more wait).
    "EXPORTS_MAX_BUILDS": Setting(2, whole(1)),
    # Export files kept, in MB: beyond it the least recently served are deleted.
    "EXPORTS_KEEP_MB": Setting(2000, number(0)),
    # Behind nginx: the URL prefix of its internal location for <instance>/exports/
    # (deploy/nginx-arena.conf), so nginx sends the files itself. None: the app sends them.
    "EXPORTS_ACCEL_REDIRECT": Setting(None, optional(TEXT, "none (the app sends the files)")),
}

#: Every setting's default.
DEFAULTS: dict[str, Any] = {name: setting.default for name, setting in SETTINGS.items()}

#: Old setting names that still work: old name -> the name it now has.
ALIASES: dict[str, str] = {
    "OLLAMA_CONNECT_TIMEOUT": "BACKEND_CONNECT_TIMEOUT",
    "OLLAMA_READ_TIMEOUT": "BACKEND_READ_TIMEOUT",
    "OLLAMA_RETRIES": "BACKEND_RETRIES",
    "OLLAMA_BACKOFF": "BACKEND_BACKOFF",
    "OLLAMA_KEEP_ALIVE": "BACKEND_KEEP_ALIVE",
}
