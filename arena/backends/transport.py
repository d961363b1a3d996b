"""The HTTP transport every HTTP backend uses: retries, timeouts, ``Retry-After``, typed errors.

:class:`HTTPTransport` sends one request with connect and read timeouts, retrying connection
errors and the ``retry_statuses`` (429 and 503 by default) with exponential backoff, or after
the wait a ``Retry-After`` header asks for (capped). It maps what ``requests`` raises to the
typed errors of :mod:`arena.backends.base` and leaves non-2xx answers to the backend's
``error_for``, which knows its server's error bodies.

What differs between backends is only wording, given as an :class:`Advice`: how messages name
the server, which setting an operator fixes, what to check when nothing answers. The helpers
that build errors (:meth:`HTTPTransport.timeout`, :meth:`~HTTPTransport.malformed`,
:meth:`~HTTPTransport.busy`, :meth:`~HTTPTransport.cut`, ...) use it, so a backend states its
advice once and every message follows.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from requests.auth import HTTPBasicAuth
from urllib3.exceptions import ReadTimeoutError

from arena.backends.base import (
    BackendBusy,
    BackendError,
    BackendTimeout,
    BackendUnreachable,
    MalformedReply,
    StreamError,
)
from arena.backends.redact import redact, redact_error, redact_url

__all__ = [
    "Advice",
    "ErrorFor",
    "HTTPTransport",
    "error_body",
    "is_read_timeout",
    "iter_raw_lines",
    "retry_after_seconds",
    "snippet",
    "why",
]

ErrorFor = Callable[[requests.Response, str | None, int], BackendError]
"""``error_for(response, model, attempts)``: the error for a non-2xx answer (body unread)."""

_SECONDS = re.compile(r"\d+(?:\.\d+)?")


def why(exc: Exception) -> str:
    """The useful part of a requests error, e.g. "Connection refused"."""
    text = str(exc)
    if match := re.search(r"\[Errno -?\d+\] ([^'\")]+)", text):
        return match.group(1).strip()
    if "RemoteDisconnected" in text:
        return "the server closed the connection without answering"
    return snippet(text, 150)


def snippet(data: bytes | str, limit: int = 200) -> str:
    """``data`` as one line of at most ``limit`` characters, for error messages."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def is_read_timeout(exc: requests.RequestException) -> bool:
    """True for a read timeout, also when requests wraps it in a ConnectionError (it does
    so for timeouts while iterating over a streamed body)."""
    if isinstance(exc, requests.ReadTimeout):
        return True
    return isinstance(exc, requests.ConnectionError) and any(
        isinstance(arg, ReadTimeoutError) for arg in exc.args
    )


def iter_raw_lines(resp: requests.Response) -> Iterator[bytes]:
    """The body's lines as they arrive, without their ``\\n`` or ``\\r\\n``.

    Unlike ``Response.iter_lines`` this never invents an empty line when ``\\r\\n`` is split
    across two network reads, which matters for Server-Sent Events (a blank line ends an event).
    """
    pending = b""
    # chunk_size=None: hand over data as it arrives instead of waiting for a full block
    for data in resp.iter_content(chunk_size=None):
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line[:-1] if line.endswith(b"\r") else line
    if pending:
        yield pending[:-1] if pending.endswith(b"\r") else pending


def error_body(resp: requests.Response) -> bytes:
    """The body of an error answer; empty when even that cannot be read."""
    try:
        return resp.content
    except requests.RequestException:
        return b""


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """How long a ``Retry-After`` header asks to wait, in seconds, never negative.

    ``value`` is a number of seconds (``"120"``; fractions are accepted) or an HTTP date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``, compared with ``now``, by default the current
    time; a date in the past means 0). None when the header is absent or unreadable.
    """
    text = (value or "").strip()
    if not text:
        return None
    if _SECONDS.fullmatch(text):
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its ``user:password@``, and that user and password (decoded, as
    requests reads them), or None when it has none."""
    split = urllib.parse.urlsplit(url)
    if "@" not in split.netloc:
        return url, None
    userinfo, _, host = split.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    bare = urllib.parse.urlunsplit(split._replace(netloc=host))
    return bare, (urllib.parse.unquote(user), urllib.parse.unquote(password))


@dataclass(frozen=True)
class Advice:
    """The per-backend wording of the transport's messages.

    ``label`` names the server ("Ollama", "the OpenAI-compatible server"); ``url_setting``
    is what an operator fixes when the URL is wrong ("ARENA_OLLAMA_URL");
    ``unreachable_hint`` is the question to ask when nothing answers ("is `ollama serve`
    running?"); ``connect_timeout_setting`` and ``read_timeout_setting`` name the timeout
    settings when they have a name; ``log`` is where the server tells what went wrong.
    """

    label: str
    url_setting: str
    unreachable_hint: str = "is the server running?"
    connect_timeout_setting: str | None = None
    read_timeout_setting: str | None = None
    log: str = "the server's log"


class HTTPTransport:
    """Requests to one server with timeouts, retries and typed errors.

    ``retries`` is the number of extra attempts after the first; the waits are ``backoff``,
    ``2*backoff``, ..., or what a retried answer's ``Retry-After`` asks for, at most
    ``max_retry_after`` seconds. Only connection errors, read timeouts outside generations
    and the ``retry_statuses`` are retried; a read timeout during a generation is not (the
    server may still be working on it), nor is any other non-2xx answer. ``error_for`` turns
    a non-2xx answer into the error to raise.

    Credentials never reach a message: a ``user:password@`` in ``base_url`` is taken out of
    it (``base_url`` is the URL without it) and sent as HTTP basic auth, as requests would;
    every error raised carries neither it nor ``api_key`` (sent as ``Authorization: Bearer``).
    """

    def __init__(
        self,
        base_url: str,
        *,
        advice: Advice,
        error_for: ErrorFor,
        api_key: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 600.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_retry_after: float = 30.0,
        retry_statuses: tuple[int, ...] = (429, 503),
        session: requests.Session | None = None,
    ) -> None:
        self.base_url, self.auth = _split_credentials(base_url.rstrip("/"))
        #: ``base_url`` as messages show it (key-like query parameters hidden too)
        self.shown_url = redact_url(self.base_url)
        self.advice = advice
        self.error_for = error_for
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_retry_after = max(0.0, max_retry_after)
        self.retry_statuses = retry_statuses
        self.session = session or requests.Session()
        self.headers = {"Accept": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        # the password (or a user name standing alone, as some proxies take a key)
        self._secrets = (api_key, self.auth and (self.auth[1] or self.auth[0]))

    def __repr__(self) -> str:
        return f"HTTPTransport({self.shown_url!r}, label={self.advice.label!r})"

    @property
    def where(self) -> str:
        """The server in messages, e.g. "Ollama at http://127.0.0.1:11434"."""
        return f"{self.advice.label} at {self.shown_url}"

    # -- requests ---------------------------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        model: str | None = None,
        generation: bool = False,
    ) -> requests.Response:
        """Send with retries; returns a 2xx streaming response or raises a BackendError."""
        try:
            return self._send(method, path, body, model=model, generation=generation)
        except BackendError as error:
            self.scrub(error)
            raise

    def _clean(self, text: str) -> str:
        """Text from the server or from requests, without credentials."""
        return redact(text, self._secrets)

    def scrub(self, error: BackendError) -> BackendError:
        """``error`` without this server's credentials and API key (in case its error body
        echoed them), redacted in place."""
        return redact_error(error, self._secrets)

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        model: str | None,
        generation: bool,
    ) -> requests.Response:
        url = self.base_url + path
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            wait = self.backoff * 2 ** (attempt - 1)
            try:
                resp = self.session.request(
                    method,
                    url,
                    json=body,
                    headers=self.headers,
                    auth=self.auth and HTTPBasicAuth(*self.auth),
                    stream=True,
                    timeout=(self.connect_timeout, self.read_timeout),
                )
            except requests.ConnectTimeout as exc:
                if last:
                    raise self._connect_timeout(attempts) from exc
            except requests.ReadTimeout as exc:
                if last or generation:
                    raise self.timeout(model) from exc
            except requests.ConnectionError as exc:
                if last:
                    raise self._unreachable(attempts, exc) from exc
            except requests.RequestException as exc:
                raise BackendError(
                    f"request to {self.where}{path} failed: {self._clean(str(exc))}: check "
                    f"{self.advice.url_setting}"
                ) from exc
            else:
                if resp.ok:
                    return resp
                if resp.status_code not in self.retry_statuses or last:
                    with resp:
                        raise self.error_for(resp, model, attempts)
                wait = self._retry_wait(resp, wait)
                resp.close()
            time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def request_json(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        model: str | None = None,
    ) -> Any:
        """Send (with retries) and parse the JSON body (any JSON value)."""
        with self.send(method, path, body, model=model) as resp:
            try:
                raw = resp.content
            except requests.RequestException as exc:
                if is_read_timeout(exc):
                    raise self.timeout(model) from exc
                raise self.scrub(
                    BackendUnreachable(
                        f"{self.where} dropped the connection while answering {path}: {why(exc)}"
                    )
                ) from exc
        try:
            return json.loads(raw)
        except ValueError:
            raise self.malformed(path, f"not JSON: {snippet(raw)!r}") from None

    def get_json(self, path: str) -> Any:
        """GET ``path`` and parse its JSON body (any JSON value)."""
        return self.request_json("GET", path)

    def _retry_wait(self, resp: requests.Response, backoff: float) -> float:
        """The wait before the next attempt: ``Retry-After`` (capped) if sent, else backoff."""
        asked = retry_after_seconds(resp.headers.get("Retry-After"))
        if asked is None:
            return backoff
        return min(asked, self.max_retry_after)

    # -- errors -----------------------------------------------------------------------------

    def _connect_timeout(self, attempts: int) -> BackendTimeout:
        settings = self.advice.url_setting
        if self.advice.connect_timeout_setting:
            settings += f" or {self.advice.connect_timeout_setting}"
        return BackendTimeout(
            f"connecting to {self.where} timed out ({self.connect_timeout:g}s, {attempts} "
            f"attempts): is the host up and the port open? check {settings}"
        )

    def _unreachable(self, attempts: int, exc: Exception) -> BackendUnreachable:
        return BackendUnreachable(
            f"cannot reach {self.where} ({attempts} attempts: {self._clean(why(exc))}): "
            f"{self.advice.unreachable_hint} check {self.advice.url_setting}"
        )

    def timeout(self, model: str | None) -> BackendTimeout:
        """Nothing arrived for ``read_timeout`` seconds."""
        setting = self.advice.read_timeout_setting
        return BackendTimeout(
            f"{self.where} sent nothing for {self.read_timeout:g}s"
            + (f" while loading or running {model!r}" if model else "")
            + ": a cold model load on a slow CPU can take minutes; raise the read timeout"
            + (f" ({setting})" if setting else "")
            + ", preload the model, or use a smaller one"
        )

    def malformed(self, path: str, what: str) -> MalformedReply:
        """The answer to ``path`` is not what this server sends (``what`` says how)."""
        return MalformedReply(
            f"unexpected reply from {self.shown_url}{path} ({self._clean(what)}): does "
            f"{self.advice.url_setting} point at {self.advice.label} itself and not at another "
            "server or a proxy's error page?"
        )

    def busy(self, status: int, attempts: int, message: str, hint: str) -> BackendBusy:
        """A retried status (503, 429) still came back on the last attempt."""
        return BackendBusy(
            f"{self.where} is busy (HTTP {status} after {attempts} attempts: "
            f"{self._clean(message)}): {hint}"
        )

    def stream_failed(self, model: str, pieces: int, error: str) -> StreamError:
        """The server reported an error in the middle of a streamed answer."""
        return StreamError(
            f"{self.where} failed while {model!r} was generating (after {pieces} pieces): "
            f"{self._clean(error)}: check {self.advice.log}; the partial answer was discarded"
        )

    def cut(self, model: str | None, pieces: int, reason: str) -> StreamError:
        """A streamed answer ended before its end marker (``reason`` says how)."""
        who = f" for {model!r}" if model else ""
        return StreamError(
            f"the reply from {self.where}{who} ended early after {pieces} pieces "
            f"({self._clean(reason)}): "
            f"the server may have crashed or a proxy cut the connection; check {self.advice.log} "
            "and retry"
        )

    def body_failure(
        self, exc: requests.RequestException, model: str | None, pieces: int
    ) -> BackendError:
        """A failure while reading a streamed body: a read timeout or a dropped connection."""
        if is_read_timeout(exc):
            return self.timeout(model)
        return self.cut(model, pieces, f"connection dropped: {why(exc)}")
