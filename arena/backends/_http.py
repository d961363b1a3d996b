"""HTTP plumbing shared by the backends built on ``requests``: retries, timeouts, error texts.

Private to ``arena.backends``. :class:`HTTPTransport` sends one request with connect and read
timeouts, retrying connection errors and the ``retry_statuses`` (503 by default) with
exponential backoff; it maps what ``requests`` raises to the typed errors of
:mod:`arena.backends.base`, and leaves non-2xx answers to the caller's ``error_for``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
from urllib3.exceptions import ReadTimeoutError

from arena.backends.base import BackendError, BackendTimeout, BackendUnreachable, MalformedReply

__all__ = ["HTTPTransport", "is_read_timeout", "iter_raw_lines", "snippet", "why"]

ErrorFor = Callable[[requests.Response, str | None, int], BackendError]


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
    for data in resp.iter_content(chunk_size=None):  # type: ignore[arg-type]
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line[:-1] if line.endswith(b"\r") else line
    if pending:
        yield pending[:-1] if pending.endswith(b"\r") else pending


class HTTPTransport:
    """Requests to one server with timeouts, retries and typed errors.

    ``label`` names the server in messages ("the OpenAI-compatible server"), ``setting`` is
    the configuration an operator would fix ("the backend URL"). ``retries`` is the number of
    extra attempts after the first; the waits are ``backoff``, ``2*backoff``, ... 4xx answers
    are never retried, and neither is a read timeout during a generation (the server may
    still be working on it).
    """

    def __init__(
        self,
        base_url: str,
        *,
        label: str,
        setting: str,
        api_key: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 600.0,
        retries: int = 3,
        backoff: float = 0.5,
        retry_statuses: tuple[int, ...] = (503,),
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.label = label
        self.setting = setting
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.retry_statuses = retry_statuses
        self.session = session or requests.Session()
        self.headers = {"Accept": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"

    @property
    def where(self) -> str:
        return f"{self.label} at {self.base_url}"

    def send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        error_for: ErrorFor,
        model: str | None = None,
        generation: bool = False,
    ) -> requests.Response:
        """Send with retries; returns a 2xx streaming response or raises a BackendError.

        ``error_for(response, model, attempts)`` turns a non-2xx answer into the error to
        raise (called with the body still unread).
        """
        url = self.base_url + path
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                resp = self.session.request(
                    method,
                    url,
                    json=body,
                    headers=self.headers,
                    stream=True,
                    timeout=(self.connect_timeout, self.read_timeout),
                )
            except requests.ConnectTimeout as exc:
                if last:
                    raise BackendTimeout(
                        f"connecting to the {self.where} timed out ({self.connect_timeout:g}s, "
                        f"{attempts} attempts): is the host up and the port open? check "
                        f"{self.setting}"
                    ) from exc
            except requests.ReadTimeout as exc:
                if last or generation:
                    raise self.timeout(model) from exc
            except requests.ConnectionError as exc:
                if last:
                    raise BackendUnreachable(
                        f"cannot reach the {self.where} ({attempts} attempts: {why(exc)}): "
                        f"is the server running? check {self.setting}"
                    ) from exc
            except requests.RequestException as exc:
                raise BackendError(
                    f"request to the {self.label} at {url} failed: {exc}: check {self.setting}"
                ) from exc
            else:
                if resp.ok:
                    return resp
                if resp.status_code not in self.retry_statuses or last:
                    with resp:
                        raise error_for(resp, model, attempts)
                resp.close()
            time.sleep(self.backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def get_json(self, path: str, *, error_for: ErrorFor) -> Any:
        """GET ``path`` and parse its JSON body (any JSON value)."""
        with self.send("GET", path, error_for=error_for) as resp:
            try:
                raw = resp.content
            except requests.RequestException as exc:
                if is_read_timeout(exc):
                    raise self.timeout(None) from exc
                raise BackendUnreachable(
                    f"the {self.where} dropped the connection while answering {path}: {why(exc)}"
                ) from exc
        try:
            return json.loads(raw)
        except ValueError:
            raise self.malformed(path, f"not JSON: {snippet(raw)!r}") from None

    def malformed(self, path: str, what: str) -> MalformedReply:
        return MalformedReply(
            f"unexpected reply from {self.base_url}{path} ({what}): does {self.setting} point "
            f"at the {self.label} itself and not at another server or a proxy's error page?"
        )

    def timeout(self, model: str | None) -> BackendTimeout:
        return BackendTimeout(
            f"the {self.where} sent nothing for {self.read_timeout:g}s"
            + (f" while loading or running {model!r}" if model else "")
            + ": a cold model load on a slow CPU can take minutes; raise the read timeout, "
            "preload the model, or use a smaller one"
        )
