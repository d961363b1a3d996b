"""HTTP client for Ollama's native API (``/api/chat``, ``/api/tags``, ``/api/version``)."""

from __future__ import annotations

import ipaddress
import json
import math
import re
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import requests
from urllib3.exceptions import ReadTimeoutError

from arena.backends._http import snippet, why
from arena.backends.base import (
    BackendBusy,
    BackendError,
    BackendHTTPError,
    BackendModel,
    BackendTimeout,
    BackendUnreachable,
    ChatResult,
    GenerationOptions,
    MalformedReply,
    ModelNotFound,
    StreamError,
)

__all__ = ["OllamaClient", "normalize_keep_alive", "parse_ollama_host"]

DEFAULT_PORT = 11434
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_GO_DURATION = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+")
_METRICS = (  # the final chunk's stats, copied into ChatResult
    "eval_count",
    "eval_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "load_duration",
    "total_duration",
)


def parse_ollama_host(value: str | None) -> str:
    """Turn an ``OLLAMA_HOST``-style value into a base URL, as Ollama's own clients do.

    Empty means ``http://127.0.0.1:11434``; a missing port is 11434 without a scheme, but
    80 for ``http://`` and 443 for ``https://``; paths are kept, trailing slashes dropped.
    """
    value = (value or "").strip()
    scheme, sep, hostport = value.partition("://")
    port = DEFAULT_PORT
    if not sep:
        scheme, hostport = "http", value
    elif scheme == "http":
        port = 80
    elif scheme == "https":
        port = 443
    split = urllib.parse.urlsplit(f"{scheme}://{hostport}")
    host = split.hostname or "127.0.0.1"
    port = split.port or port  # raises ValueError on a non-numeric or out-of-range port
    try:
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            host = f"[{host}]"
    except ValueError:
        pass
    path = split.path.strip("/")
    return f"{scheme}://{host}:{port}/{path}" if path else f"{scheme}://{host}:{port}"


def normalize_keep_alive(value: float | str | None) -> int | float | str | None:
    """Validate ``keep_alive`` for the wire: numbers are seconds, strings Go durations.

    A bare numeric string such as ``"-1"`` becomes the number -1, because Ollama rejects
    it (``time: missing unit in duration "-1"``). Anything else raises ValueError.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"keep_alive must be seconds or a duration like '5m', not {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text):
            return float(text) if "." in text else int(text)
        if _GO_DURATION.fullmatch(text):
            return text
        raise ValueError(
            f"invalid keep_alive {value!r}: use seconds (300, -1) or a Go duration ('5m', '-1m')"
        )
    if not math.isfinite(value):
        raise ValueError(f"invalid keep_alive {value!r}: must be a finite number of seconds")
    return value


def _int_or_none(value: Any) -> int | None:
    """A metric as an int; None when absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


class OllamaClient:
    """A :class:`~arena.backends.base.Backend` talking to one Ollama server.

    ``retries`` is the number of extra attempts after the first, with exponential backoff
    (``backoff``, ``2*backoff``, ...) on connection errors and HTTP 503. 4xx answers are
    never retried, and neither is a read timeout during a generation.
    """

    name = "ollama"

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 600.0,
        retries: int = 3,
        backoff: float = 0.5,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.session = session or requests.Session()
        self._headers = {"Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    def __repr__(self) -> str:
        return f"OllamaClient({self.base_url!r})"

    # -- public API -------------------------------------------------------------------------

    def list_models(self) -> list[BackendModel]:
        """GET /api/tags."""
        data = self._get_json("/api/tags")
        entries = data.get("models") or []
        if not isinstance(entries, list):
            raise self._malformed("/api/tags", "'models' is not a list")
        models = []
        for entry in entries:
            tag = (entry.get("model") or entry.get("name")) if isinstance(entry, dict) else None
            if not isinstance(tag, str):
                raise self._malformed("/api/tags", f"model entry without a name: {entry!r}")
            details = entry.get("details") if isinstance(entry.get("details"), dict) else {}
            models.append(
                BackendModel(
                    tag=tag,
                    family=details.get("family") or None,
                    parameter_size=details.get("parameter_size") or None,
                    quantization=details.get("quantization_level") or None,
                    size_bytes=_int_or_none(entry.get("size")),
                    digest=entry.get("digest") or None,
                )
            )
        return models

    def version(self) -> str:
        """GET /api/version."""
        version = self._get_json("/api/version").get("version")
        if not isinstance(version, str):
            raise self._malformed("/api/version", "no 'version' string")
        return version

    def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        options: GenerationOptions,
        *,
        keep_alive: int | str | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> ChatResult:
        """POST /api/chat, streaming; ``on_token`` gets each piece (it may raise to stop)."""
        body: dict[str, Any] = {
            "model": model,
            "messages": list(messages),
            "stream": True,
            "options": options.to_ollama(),
        }
        wire_keep_alive = normalize_keep_alive(keep_alive)
        if wire_keep_alive is not None:
            body["keep_alive"] = wire_keep_alive
        resp = self._send("POST", "/api/chat", body, model=model, generation=True)
        with resp:
            pieces: list[str] = []
            final = self._read_stream(resp, model, pieces, on_token)
        return ChatResult(
            text="".join(pieces),
            model=final.get("model") if isinstance(final.get("model"), str) else model,
            done_reason=final.get("done_reason") or None,
            **{name: _int_or_none(final.get(name)) for name in _METRICS},
        )

    def unload(self, model: str) -> None:
        """Ask Ollama to free the model now (empty chat with ``keep_alive: 0``)."""
        body = {"model": model, "messages": [], "keep_alive": 0, "stream": False}
        with self._send("POST", "/api/chat", body, model=model) as resp:
            self._json(resp, "/api/chat")

    # -- plumbing ---------------------------------------------------------------------------

    def _read_stream(
        self,
        resp: requests.Response,
        model: str,
        pieces: list[str],
        on_token: Callable[[str], None] | None,
    ) -> dict[str, Any]:
        """Read NDJSON chunks up to ``done: true``; returns that final chunk.

        The body is read to its end (normally right after the final chunk) so that the
        connection can go back to the pool.
        """
        final: dict[str, Any] | None = None
        try:
            # chunk_size=None: hand over data as it arrives instead of waiting for 512 bytes
            for line in resp.iter_lines(chunk_size=None):  # type: ignore[arg-type]
                if final is not None or not line.strip():
                    continue
                try:
                    chunk = json.loads(line)
                except ValueError:
                    raise self._malformed("/api/chat", f"not JSON: {snippet(line)!r}") from None
                if not isinstance(chunk, dict):
                    raise self._malformed("/api/chat", f"line is not an object: {snippet(line)!r}")
                if "error" in chunk:
                    raise StreamError(
                        f"Ollama at {self.base_url} failed while {model!r} was generating "
                        f"(after {len(pieces)} pieces): {chunk['error']}: check the Ollama "
                        "server log; the partial answer was discarded"
                    )
                message = chunk.get("message")
                piece = message.get("content") if isinstance(message, dict) else None
                if isinstance(piece, str) and piece:
                    pieces.append(piece)
                    if on_token is not None:
                        on_token(piece)
                if chunk.get("done") is True:
                    final = chunk
        except requests.RequestException as exc:
            if final is None:
                raise self._body_failure(exc, model, pieces) from exc
        if final is None:
            raise self._cut(model, pieces, None)
        return final

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        model: str | None = None,
        generation: bool = False,
    ) -> requests.Response:
        """Send with retries; returns a 2xx streaming response or raises a BackendError."""
        url = self.base_url + path
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                timeout = (self.connect_timeout, self.read_timeout)
                resp = self.session.request(
                    method, url, json=body, headers=self._headers, stream=True, timeout=timeout
                )
            except requests.ConnectTimeout as exc:
                if last:
                    raise BackendTimeout(
                        f"connecting to Ollama at {self.base_url} timed out "
                        f"({self.connect_timeout:g}s, {attempts} attempts): is the host up and "
                        "the port open? check ARENA_OLLAMA_URL or ARENA_OLLAMA_CONNECT_TIMEOUT"
                    ) from exc
            except requests.ReadTimeout as exc:
                if last or generation:
                    raise self._timeout(model) from exc
            except requests.ConnectionError as exc:
                if last:
                    raise BackendUnreachable(
                        f"cannot reach Ollama at {self.base_url} ({attempts} attempts: "
                        f"{why(exc)}): is `ollama serve` running? set ARENA_OLLAMA_URL"
                    ) from exc
            except requests.RequestException as exc:
                raise BackendError(
                    f"request to Ollama at {url} failed: {exc}: check ARENA_OLLAMA_URL"
                ) from exc
            else:
                if resp.ok:
                    return resp
                if resp.status_code != 503 or last:
                    with resp:
                        raise self._http_error(resp, model, attempts)
                resp.close()
            time.sleep(self.backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _http_error(
        self, resp: requests.Response, model: str | None, attempts: int
    ) -> BackendError:
        """Map a non-2xx answer (body ``{"error": "..."}``) to a BackendError."""
        try:
            raw = resp.content
        except requests.RequestException:
            raw = b""
        try:
            message = json.loads(raw)["error"]
            if not isinstance(message, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            message = snippet(raw) or resp.reason or "(empty body)"
        status = resp.status_code
        if status == 404 and model is not None and re.search(r"model .*not found", message):
            return ModelNotFound(model, self.base_url)
        if status == 503:
            return BackendBusy(
                f"Ollama at {self.base_url} is busy (HTTP 503 after {attempts} attempts: "
                f"{message}): retry later, send fewer requests at once, or raise "
                "OLLAMA_MAX_QUEUE on the server"
            )
        hint = {
            401: "a proxy in front of Ollama rejected the API key: check ARENA_OLLAMA_API_KEY",
            403: "a proxy must send `Host: localhost:11434`, or set OLLAMA_ORIGINS/OLLAMA_HOST",
            500: "check the Ollama server log (out of memory? try a smaller model or quantization)",
            502: "a proxy could not reach Ollama behind it: is `ollama serve` running there?",
            504: "a proxy timed out waiting for Ollama: raise the proxy's read timeout",
        }.get(status, "check the Ollama server log")
        return BackendHTTPError(status, message, resp.url, hint)

    def _get_json(self, path: str) -> dict[str, Any]:
        with self._send("GET", path) as resp:
            return self._json(resp, path)

    def _json(self, resp: requests.Response, path: str) -> dict[str, Any]:
        try:
            raw = resp.content
        except requests.RequestException as exc:
            raise self._body_failure(exc, None, []) from exc
        try:
            data = json.loads(raw)
        except ValueError:
            raise self._malformed(path, f"not JSON: {snippet(raw)!r}") from None
        if not isinstance(data, dict):
            raise self._malformed(path, f"not a JSON object: {snippet(raw)!r}")
        return data

    def _malformed(self, path: str, what: str) -> MalformedReply:
        return MalformedReply(
            f"unexpected reply from {self.base_url}{path} ({what}): is ARENA_OLLAMA_URL pointing "
            "at Ollama itself and not another server or a proxy error page?"
        )

    def _timeout(self, model: str | None) -> BackendTimeout:
        return BackendTimeout(
            f"Ollama at {self.base_url} sent nothing for {self.read_timeout:g}s"
            + (f" while loading or running {model!r}" if model else "")
            + ": a cold model load on a slow CPU can take minutes; raise the read timeout "
            "(ARENA_OLLAMA_READ_TIMEOUT), preload the model, or use a smaller one"
        )

    def _body_failure(
        self, exc: requests.RequestException, model: str | None, pieces: list[str]
    ) -> BackendError:
        """A failure while reading a body: a read timeout, or a dropped connection."""
        if isinstance(exc, requests.ConnectionError) and any(
            isinstance(arg, ReadTimeoutError) for arg in exc.args
        ):  # requests wraps a read timeout during iter_content in ConnectionError
            return self._timeout(model)
        return self._cut(model, pieces, exc)

    def _cut(self, model: str | None, pieces: list[str], exc: Exception | None) -> StreamError:
        reason = f"connection dropped: {why(exc)}" if exc else "no done:true chunk"
        who = f" for {model!r}" if model else ""
        return StreamError(
            f"the reply from Ollama at {self.base_url}{who} ended early after "
            f"{len(pieces)} pieces ({reason}): the server may have crashed or a proxy cut "
            "the connection; check the server log and retry"
        )
