"""Configuration: the table of settings, merged from four layers and checked once at start-up.

Layers, lowest precedence first: the defaults of :data:`SETTINGS`, ``instance/config.py``
(Python assignments, read by Flask's ``Config.from_pyfile``), ``ARENA_*`` environment variables
(``ARENA_POOL_TARGET`` sets ``POOL_TARGET``), then the tests' overrides. From the environment a
text setting keeps its text (``ARENA_ADMIN_TOKEN=0123`` is ``"0123"``) and the others are read as
JSON (``ARENA_POOL_TARGET=30`` is an int); ``ARENA_*`` names that are not in the table pass
through, parsed as JSON when they look like it (as Flask's ``from_prefixed_env`` does), for
Flask's and its extensions' own settings.

The old names of :data:`ALIASES` still work: an old name set in a layer counts as the new name
in that layer. A setting that its rule (:mod:`arena.config.rules`) does not accept raises
:class:`SettingError`, whose message names the setting, where it was set, what it is and what it
may be; ``create_app`` prints it as one line and exits with status 2.
The table itself is :mod:`arena.config.table`. This module imports nothing of ``arena`` but
the table and its rules.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Config

from arena.config.rules import Invalid, json_or_text
from arena.config.table import (
    ALIASES,
    DEFAULTS,
    ENV_PREFIX,
    SETTINGS,
)

#: A check of the merged settings beyond one value's rule; raises ValueError saying what is wrong.
Check = Callable[[Mapping[str, Any]], object]


class SettingError(ValueError):
    """A setting that cannot be used; the message is one line naming it and where it was set."""


@dataclass(frozen=True)
class Origin:
    """Where a value was set: ``key`` as written there (an old name, ``ARENA_...``), in ``place``
    (a file, the tests' config; empty for the environment, whose key says it), and the value as
    written (the environment's text)."""

    key: str
    place: str
    written: Any

    def describe(self, name: str) -> str:
        """``ARENA_OLLAMA_RETRIES (the old name of ARENA_BACKEND_RETRIES)``, ``X in <file>``."""
        text = self.key
        if self.key.removeprefix(f"{ENV_PREFIX}_") != name:
            prefix = f"{ENV_PREFIX}_" if self.key.startswith(f"{ENV_PREFIX}_") else ""
            text += f" (the old name of {prefix}{name})"
        return f"{text} in {self.place}" if self.place else text


#: A layer: each setting's value and where it was set.
Layer = dict[str, tuple[Any, Origin]]


def load_settings(
    instance_path: str,
    test_config: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    checks: Mapping[str, Check] | None = None,
) -> dict[str, Any]:
    """The merged settings, each checked; raises :class:`SettingError` for a wrong one.

    Lowest precedence first: defaults, ``<instance>/config.py``, the environment (``environ``,
    by default ``os.environ``), ``test_config``, so tests are never affected by the machine's
    variables. ``checks`` are run on the merged settings after the rules (``BACKENDS``).
    """
    layers = [
        _instance_file(Path(instance_path) / "config.py"),
        _environment(os.environ if environ is None else environ),
        _layer(test_config or {}, "the tests' config"),
    ]
    settings = dict(DEFAULTS)
    origins: dict[str, Origin] = {}
    for layer in layers:
        for name, (value, origin) in layer.items():
            settings[name] = value
            origins[name] = origin
    for name, setting in SETTINGS.items():
        try:
            settings[name] = setting.rule.check(settings[name])
        except Invalid as error:
            origin = origins.get(name, Origin(name, "", settings[name]))
            why = f" ({error})" if str(error) else ""
            raise SettingError(
                f"{origin.describe(name)} is {_shown(origin.written)}: "
                f"expected {setting.rule.expected}{why}"
            ) from None
    for name, check in (checks or {}).items():
        try:
            check(settings)
        except ValueError as error:
            where = origins[name].describe(name) if name in origins else name
            raise SettingError(f"{where}: {error}") from None
    return settings


def _shown(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _layer(values: Mapping[str, Any], place: str, prefix: str = "") -> Layer:
    """``values`` by setting name, an old name counting as the new one unless both are set."""
    layer: Layer = {}
    for key, value in values.items():
        name = key.removeprefix(prefix)
        origin = Origin(key, place, value)
        if name in ALIASES:
            layer.setdefault(ALIASES[name], (value, origin))
        else:
            layer[name] = (value, origin)
    return layer


def _instance_file(path: Path) -> Layer:
    """The upper-case names that ``path`` assigns (nothing when there is no such file)."""
    values = Config(str(path.parent))
    try:
        values.from_pyfile(path.name, silent=True)
    except Exception as error:  # anything the operator's Python may raise
        message = " ".join(f"{type(error).__name__}: {error}".split())
        raise SettingError(f"{path} cannot be read: {message}") from None
    return _layer(values, str(path))


def _environment(environ: Mapping[str, str]) -> Layer:
    """The ``ARENA_*`` variables but ``ARENA_INSTANCE_PATH``, each read as its rule says."""
    prefix = f"{ENV_PREFIX}_"
    values: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(prefix) or key == f"{prefix}INSTANCE_PATH":
            continue
        name = key.removeprefix(prefix)
        setting = SETTINGS.get(ALIASES.get(name, name))
        values[key] = setting.rule.from_env(raw) if setting else json_or_text(raw)
    layer = _layer(values, "", prefix)
    return {
        name: (value, Origin(origin.key, "", environ[origin.key]))
        for name, (value, origin) in layer.items()
    }


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings that ``environ`` sets, by setting name (values unchecked)."""
    return {name: value for name, (value, _origin) in _environment(environ).items()}


def database_url(settings: Mapping[str, Any], instance_path: str) -> str:
    """The SQLAlchemy URL: the configured one, or ``sqlite:///<instance>/arena.db``."""
    url = settings.get("DATABASE_URL") or settings.get("SQLALCHEMY_DATABASE_URI")
    if url:
        return str(url)
    return "sqlite:///" + str(Path(instance_path) / "arena.db")


def ensure_secret_key(instance_path: str) -> str:
    """Read the instance's secret key, creating it once (mode 0600) when there is none; a key
    others may read (made by hand, or by an older version) is made 0600.

    Several gunicorn workers may start at once: the key is written to a temporary file and
    hard-linked into place, which fails if another process won, so all of them share one key.
    Raises :class:`SettingError` when the file is empty.
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
    _private(path)
    key = path.read_text().strip()
    if not key:
        raise SettingError(f"{path} is empty: delete it or set ARENA_SECRET_KEY")
    return key


def read_secret_key(path: str) -> str:
    """The key in ``SECRET_KEY_FILE`` (surrounding whitespace dropped): every web node given
    the same file signs and reads the same cookies. Raises :class:`SettingError` when the
    file cannot be read or is empty."""
    try:
        key = Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as error:
        why = error.strerror if isinstance(error, OSError) else "not text"
        raise SettingError(f"SECRET_KEY_FILE {path!r} cannot be read: {why}") from None
    if not key:
        raise SettingError(f"SECRET_KEY_FILE {path!r} is empty: put a long random key in it")
    return key


def _private(path: Path) -> None:
    """``path`` readable by its owner only (left as it is when not ours to change)."""
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
    except OSError:
        pass
