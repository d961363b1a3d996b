"""Configuration: every setting with its default and what it accepts, merged from the
defaults, ``instance/config.py``, ``ARENA_*`` variables and the tests' overrides, and checked
once at start-up. ``table`` holds the table, ``settings`` the loading, ``rules`` what each kind of
setting accepts. Nothing here imports the rest of ``arena``."""

from arena.config.settings import (
    Origin,
    SettingError,
    database_url,
    ensure_secret_key,
    load_settings,
    read_secret_key,
)
from arena.config.table import (
    ALIASES,
    DEFAULT_SYSTEM_PROMPT,
    DEFAULTS,
    ENV_PREFIX,
    SETTINGS,
    Setting,
)

__all__ = [
    "ALIASES",
    "DEFAULTS",
    "DEFAULT_SYSTEM_PROMPT",
    "ENV_PREFIX",
    "SETTINGS",
    "Origin",
    "Setting",
    "SettingError",
    "database_url",
    "ensure_secret_key",
    "load_settings",
    "read_secret_key",
]
