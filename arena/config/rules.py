"""What each setting accepts: the rules of the settings table in :mod:`arena.config.settings`.

A :class:`Rule` says in words what it accepts (``expected``, quoted in the one-line error of a
wrong setting), turns an accepted value into the one stored (an int given for a float setting
becomes a float) and reads the setting's environment variable: text settings keep the text as
it is, others are JSON. This module imports nothing of ``arena``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit


class Invalid(ValueError):
    """A value a rule does not accept; the message, if any, says why (shown after ``expected``)."""


def json_or_text(raw: str) -> Any:
    """An environment variable's value: JSON when it parses as JSON, else the text itself."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _as_is(raw: str) -> Any:
    return raw


@dataclass(frozen=True)
class Rule:
    """What one setting accepts.

    ``convert`` returns the value to store or raises :class:`Invalid`; ``from_env`` reads the
    setting's ``ARENA_*`` variable. An ``optional`` setting also accepts None.
    """

    expected: str
    convert: Callable[[Any], Any]
    from_env: Callable[[str], Any] = field(default=json_or_text)
    optional: bool = False

    def check(self, value: Any) -> Any:
        """The value to store; raises :class:`Invalid` when the rule does not accept it."""
        if value is None and self.optional:
            return None
        return self.convert(value)


def optional(rule: Rule, meaning: str = "none") -> Rule:
    """``rule``, or None. From the environment an empty value is None, and so are ``null`` and
    ``none`` where ``rule`` would not take them as they are (``none`` stays a text)."""

    def from_env(raw: str) -> Any:
        word = raw.strip().lower()
        if not word:
            return None
        value = rule.from_env(raw)
        if word in ("null", "none"):
            try:
                rule.check(value)
            except Invalid:
                return None
        return value

    return replace(
        rule, expected=f"{rule.expected}, or {meaning}", from_env=from_env, optional=True
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def whole(minimum: int) -> Rule:
    """An int of at least ``minimum`` (a bool or a float is not one)."""

    def convert(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise Invalid()
        return value

    return Rule(f"a whole number >= {minimum}", convert)


def number(minimum: float = 0, *, above: bool = False) -> Rule:
    """A finite number >= ``minimum`` (> with ``above``), stored as a float."""

    def convert(value: Any) -> float:
        if not _is_number(value) or not math.isfinite(value):
            raise Invalid()
        if value < minimum or (above and value == minimum):
            raise Invalid()
        return float(value)

    return Rule(f"a number {'>' if above else '>='} {minimum:g}", convert)


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _flag_from_env(raw: str) -> Any:
    word = raw.strip().lower()
    return True if word in _TRUE else False if word in _FALSE else raw


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid()
    return value


FLAG = Rule("true or false", _flag, _flag_from_env)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid()
    return value


TEXT = Rule("a string", _text, _as_is)


def one_of(*options: str) -> Rule:
    """One of ``options``, in any case; stored as spelled in ``options``."""
    spelled = {option.lower(): option for option in options}

    def convert(value: Any) -> str:
        if not isinstance(value, str) or value.lower() not in spelled:
            raise Invalid()
        return spelled[value.lower()]

    return Rule("one of " + ", ".join(repr(option) for option in options), convert, _as_is)


def _url(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid()
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as error:
        raise Invalid(str(error)) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid()
    return value.strip()


URL = Rule("an http(s) URL such as 'http://127.0.0.1:11434'", _url, _as_is)


def _database_url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid()
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(value)
    except (ArgumentError, ValueError) as error:
        raise Invalid(str(error)) from None
    return value


DATABASE_URL = Rule(
    "an SQLAlchemy URL such as 'postgresql+psycopg://user:password@host/arena'",
    _database_url,
    _as_is,
)


def _folder(value: Any) -> str | os.PathLike[str]:
    if isinstance(value, os.PathLike) or (isinstance(value, str) and value.strip()):
        return value
    raise Invalid()


FOLDER = Rule("a folder path", _folder, _as_is)


def _cron(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid()
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value)
    except ValueError as error:
        raise Invalid(str(error)) from None
    return value


CRON = Rule("a cron expression of 5 fields such as '0 1 * * *'", _cron, _as_is)


def _hh_mm(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise Invalid()
    return text


HH_MM = Rule("a local time HH:MM such as '06:00'", _hh_mm, _as_is)


def _bounds(value: Any) -> list[int | float]:
    if not isinstance(value, list | tuple) or not value:
        raise Invalid()
    if not all(_is_number(b) and math.isfinite(b) and b > 0 for b in value):
        raise Invalid()
    if any(upper <= lower for lower, upper in pairwise(value)):
        raise Invalid()
    return list(value)


BOUNDS = Rule("a list of ascending positive numbers such as [2, 4, 9]", _bounds)


def _rate_limit(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid()
    from limits import parse_many

    try:
        parsed = parse_many(value)
    except ValueError as error:
        raise Invalid(str(error)) from None
    if not parsed:
        raise Invalid()
    return value


RATE_LIMIT = Rule("rate limits such as '30 per minute; 600 per hour'", _rate_limit, _as_is)

#: keep_alive as Ollama accepts it (see ``normalize_keep_alive`` in arena/backends/ollama.py).
_SECONDS = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_GO_DURATION = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+")


def _keep_alive(value: Any) -> int | float | str:
    if _is_number(value) and math.isfinite(value):
        return int(value) if isinstance(value, int) else float(value)
    if isinstance(value, str):
        text = value.strip()
        if _SECONDS.fullmatch(text):
            return float(text) if "." in text else int(text)
        if _GO_DURATION.fullmatch(text):
            return text
    raise Invalid()


KEEP_ALIVE = Rule(
    "seconds (such as 300, or -1 for ever) or a Go duration such as '30m' or '1h30m'",
    _keep_alive,
    _as_is,
)


def _dict_list(value: Any) -> list[Any]:
    if not isinstance(value, list | tuple) or not value:
        raise Invalid()
    if not all(isinstance(entry, Mapping) for entry in value):
        raise Invalid()
    return list(value)


DICT_LIST = Rule(
    'a non-empty list of dicts such as [{"name": "ollama", "kind": "ollama"}]', _dict_list
)
