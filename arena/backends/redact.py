"""Credentials out of text: URLs without their ``user:password@`` or key parameters, no tokens.

A backend's URL may carry credentials (``http://user:password@proxy:11434``, or
``...?api_key=...``), and an operator's key is sent as ``Authorization: Bearer``. None of
them may reach a page, a JSON answer, a log line or an error message: every message that
names a URL is built from :func:`redact_url`, and text that comes from elsewhere (a server's
error body, a stored failure reason, a run summary) goes through :func:`redact` (or
:func:`redact_data` for JSON-like values) before it is stored or shown.

The parts of ``arena`` above the backends import it from here (this module is a leaf too:
it imports nothing of ``arena``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

__all__ = ["HIDDEN", "SECRET_PARAMETERS", "redact", "redact_data", "redact_error", "redact_url"]

#: What a hidden credential is shown as.
HIDDEN = "***"

#: Query-string parameters whose values are credentials (compared without case).
SECRET_PARAMETERS = (
    "api_key",
    "api-key",
    "apikey",
    "key",
    "token",
    "access_token",
    "auth",
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "sig",
    "signature",
)

# ``scheme://userinfo@``: the userinfo runs to the last ``@`` before the host's end (a password
# may hold a raw ``@``), never across a slash, a space, a quote or a bracket.
_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/\s?#'\"<>`()\[\]{}]*)@"
)
_DATABASE_SCHEME = re.compile(r"(?:postgres|mysql|mariadb|oracle|mssql|sqlite|cockroach)", re.I)
_PARAMETER = re.compile(
    r"(?P<name>[?&;](?:" + "|".join(re.escape(p) for p in SECRET_PARAMETERS) + r")=)"
    r"[^&;#\s'\"<>`]*",
    re.IGNORECASE,
)
# ``Authorization: Bearer xyz``, ``'Authorization': 'Basic eHl6'``
_SCHEME_TOKEN = re.compile(r"\b(?P<name>Bearer|Basic)\s+(?!\*\*\*)[A-Za-z0-9._~+/=\-]+")
# ``X-Api-Key: xyz``, ``'api_key': 'xyz'``, ``password=xyz`` (a header, a dict's repr, a form)
_KEY_VALUE = re.compile(
    r"(?P<name>\b(?:x-api-key|api[-_]?key|authorization|password|secret)['\"]?\s*[:=]\s*['\"]?)"
    r"(?!Bearer\b|Basic\b|\*\*\*|None\b|null\b)[^\s'\",}]+",
    re.I,
)

E = TypeVar("E", bound=BaseException)


def redact_url(url: str) -> str:
    """``url`` without its password (``user:password@`` becomes ``user:***@``, a user alone
    ``***@``) and with the values of key-like query parameters (``api_key=…``, ``token=…``,
    ``password=…``) hidden."""
    return redact(url)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every URL's credentials, every ``Bearer``/``Basic`` token and each of
    ``secrets`` (as written, and as written in a URL) shown as ``***``."""
    text = _USERINFO.sub(_without_password, text)
    text = _PARAMETER.sub(lambda m: f"{m['name']}{HIDDEN}", text)
    text = _SCHEME_TOKEN.sub(lambda m: f"{m['name']} {HIDDEN}", text)
    text = _KEY_VALUE.sub(lambda m: f"{m['name']}{HIDDEN}", text)
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, HIDDEN)
    return text


def _without_password(match: re.Match[str]) -> str:
    """``scheme://user:***@``. A user alone is a database's user name (``postgresql://arena@``),
    but to an HTTP proxy it may be a key (``http://KEY@``): ``***@``."""
    user, colon, _ = match["userinfo"].partition(":")
    database = _DATABASE_SCHEME.match(match["scheme"]) is not None
    shown = f"{user}:{HIDDEN}" if colon and user else user if database and user else HIDDEN
    return f"{match['scheme']}{shown}@"


def redact_data(value: Any, secrets: Iterable[str | None] = ()) -> Any:
    """A copy of a JSON-like value (dicts, lists, strings, numbers) whose strings, keys
    included, are :func:`redact`-ed."""
    hidden = tuple(secrets)
    if isinstance(value, str):
        return redact(value, hidden)
    if isinstance(value, dict):
        return {
            (redact(k, hidden) if isinstance(k, str) else k): redact_data(v, hidden)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact_data(item, hidden) for item in value)
    return value


def redact_error(error: E, secrets: Iterable[str | None] = ()) -> E:
    """``error`` itself, its message and text attributes (``url``, ``message``, ``hint``, …,
    which ``__reduce__`` may rebuild it from) redacted in place."""
    hidden = tuple(secrets)
    error.args = tuple(redact(a, hidden) if isinstance(a, str) else a for a in error.args)
    for name, value in list(vars(error).items()):
        if isinstance(value, str):
            setattr(error, name, redact(value, hidden))
    return error
