"""HTTP client for Ollama's native API (``/api/chat``, ``/api/tags``, ``/api/version``)."""

from __future__ import annotations

import ipaddress
import json
import math
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

import requests

from arena.backends.base import (
    BackendError,
    BackendHTTPError,
    BackendModel,
    ChatResult,
    GenerationOptions,
    ModelNotFound,
    ThinkRefused,
)
from arena.backends.facts import ModelFacts, ResidentMemory, facts_from_show, memory_from_ps
from arena.backends.redact import redact_url
from arena.backends.thinking import ThinkingSplitter
from arena.backends.transport import Advice, HTTPTransport, error_body, iter_raw_lines, snippet

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
ADVICE = Advice(
    label="Ollama",
    url_setting="ARENA_OLLAMA_URL",
    unreachable_hint="is `ollama serve` running?",
    connect_timeout_setting="ARENA_BACKEND_CONNECT_TIMEOUT",
    read_timeout_setting="ARENA_BACKEND_READ_TIMEOUT, or the read_timeout of its BACKENDS entry",
    log="the Ollama server log",
)
_HINTS = {  # what to do about a non-2xx answer, by status
    401: "a proxy in front of Ollama rejected the API key: check ARENA_OLLAMA_API_KEY",
    403: "a proxy must send `Host: localhost:11434`, or set OLLAMA_ORIGINS/OLLAMA_HOST",
    500: "check the Ollama server log (out of memory? try a smaller model or quantization)",
    502: "a proxy could not reach Ollama behind it: is `ollama serve` running there?",
    504: "a proxy timed out waiting for Ollama: raise the proxy's read timeout",
}
_BUSY_HINTS = {
    503: "retry later, send fewer requests at once, or raise OLLAMA_MAX_QUEUE on the server",
    429: "a proxy in front of Ollama limits the request rate: retry later or send fewer "
    "requests at once",
}


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

    Requests go through an :class:`~arena.backends.transport.HTTPTransport` (``transport``):
    ``retries`` extra attempts after the first, with exponential backoff (``backoff``,
    ``2*backoff``, ...) on connection errors, HTTP 503 and 429 (a rate-limiting proxy), or
    the wait their ``Retry-After`` asks for, at most ``max_retry_after`` seconds. Other 4xx
    answers are never retried, and neither is a read timeout during a generation.
    """

    name = "ollama"
    parallel = 1  # requests to one loaded model at once (BACKENDS' `parallel`)

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 600.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_retry_after: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        self.transport = HTTPTransport(
            base_url,
            advice=ADVICE,
            error_for=self._error_for,
            api_key=api_key,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries=retries,
            backoff=backoff,
            max_retry_after=max_retry_after,
            retry_statuses=(429, 503),
            session=session,
        )
        self.base_url = self.transport.base_url

    def __repr__(self) -> str:
        return f"OllamaClient({self.transport.shown_url!r})"

    # -- public API -------------------------------------------------------------------------

    def list_models(self) -> list[BackendModel]:
        """GET /api/tags."""
        data = self._get_object("/api/tags")
        entries = data.get("models") or []
        if not isinstance(entries, list):
            raise self.transport.malformed("/api/tags", "'models' is not a list")
        models = []
        for entry in entries:
            tag = (entry.get("model") or entry.get("name")) if isinstance(entry, dict) else None
            if not isinstance(tag, str):
                raise self.transport.malformed(
                    "/api/tags", f"model entry without a name: {entry!r}"
                )
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
        version = self._get_object("/api/version").get("version")
        if not isinstance(version, str):
            raise self.transport.malformed("/api/version", "no 'version' string")
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
        """POST /api/chat, streaming; ``on_token`` gets each piece's answer text (it may
        raise to stop). ``options.think`` goes as ``think`` when set; the thinking (the
        ``message.thinking`` chunks, or inline ``<think>`` blocks) is kept apart from the
        answer (:mod:`arena.backends.thinking`)."""
        body: dict[str, Any] = {
            "model": model,
            "messages": list(messages),
            "stream": True,
            "options": options.to_ollama(),
        }
        if options.think is not None:
            body["think"] = options.think
        wire_keep_alive = normalize_keep_alive(keep_alive)
        if wire_keep_alive is not None:
            body["keep_alive"] = wire_keep_alive
        splitter = ThinkingSplitter(on_token)
        resp = self.transport.send("POST", "/api/chat", body, model=model, generation=True)
        with resp:
            final = self._read_stream(resp, model, splitter)
        echoed = final.get("model")
        metrics: dict[str, Any] = {name: _int_or_none(final.get(name)) for name in _METRICS}
        return ChatResult(
            model=echoed if isinstance(echoed, str) else model,
            done_reason=final.get("done_reason") or None,
            **metrics,
            **splitter.finish().fields(),
        )

    def show(self, tag: str) -> ModelFacts:
        """POST /api/show: capabilities, exact size and context length (see backends.facts)."""
        data = self.transport.request_json("POST", "/api/show", {"model": tag}, model=tag)
        return facts_from_show(tag, self._object(data, "/api/show"))

    def resident_memory(self, tag: str) -> ResidentMemory | None:
        """GET /api/ps: the memory ``tag`` holds while loaded; None when it is not loaded."""
        return memory_from_ps(tag, self._get_object("/api/ps"))

    def unload(self, model: str) -> None:
        """Ask Ollama to free the model now (empty chat with ``keep_alive: 0``)."""
        body = {"model": model, "messages": [], "keep_alive": 0, "stream": False}
        self._object(
            self.transport.request_json("POST", "/api/chat", body, model=model), "/api/chat"
        )

    def missing_model_hint(self, tag: str) -> str:
        """How an operator gets ``tag`` onto this server."""
        return f"pull it with `ollama pull {tag}`"

    # -- plumbing ---------------------------------------------------------------------------

    def _read_stream(
        self,
        resp: requests.Response,
        model: str,
        splitter: ThinkingSplitter,
    ) -> dict[str, Any]:
        """Read NDJSON chunks up to ``done: true``; returns that final chunk.

        The body is read to its end (normally right after the final chunk) so that the
        connection can go back to the pool.
        """
        final: dict[str, Any] | None = None
        try:
            for line in iter_raw_lines(resp):
                if final is not None or not line.strip():
                    continue
                try:
                    chunk = json.loads(line)
                except ValueError:
                    raise self.transport.malformed(
                        "/api/chat", f"not JSON: {snippet(line)!r}"
                    ) from None
                if not isinstance(chunk, dict):
                    raise self.transport.malformed(
                        "/api/chat", f"line is not an object: {snippet(line)!r}"
                    )
                if "error" in chunk:
                    raise self.transport.stream_failed(model, splitter.pieces, str(chunk["error"]))
                message = chunk.get("message")
                if isinstance(message, dict):
                    for name, take in (
                        ("thinking", splitter.thinking),
                        ("content", splitter.content),
                    ):
                        if isinstance(piece := message.get(name), str):
                            take(piece)
                if chunk.get("done") is True:
                    final = chunk
        except requests.RequestException as exc:
            if final is None:
                raise self.transport.body_failure(exc, model, splitter.pieces) from exc
        if final is None:
            raise self.transport.cut(model, splitter.pieces, "no done:true chunk")
        return final

    def _error_for(self, resp: requests.Response, model: str | None, attempts: int) -> BackendError:
        """Map a non-2xx answer (body ``{"error": "..."}``) to a BackendError."""
        raw = error_body(resp)
        try:
            message = json.loads(raw)["error"]
            if not isinstance(message, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            message = snippet(raw) or resp.reason or "(empty body)"
        status = resp.status_code
        if status == 404 and model is not None and re.search(r"model .*not found", message):
            hint = f"{self.missing_model_hint(model)}, or run `flask --app arena models sync`"
            return ModelNotFound(model, self.transport.shown_url, hint)
        if status == 400 and "does not support thinking" in message:
            hint = "the arena sends this model's requests without think from now on"
            return ThinkRefused(status, message, redact_url(resp.url), hint)
        if status in _BUSY_HINTS:
            return self.transport.busy(status, attempts, message, _BUSY_HINTS[status])
        hint = _HINTS.get(status, "check the Ollama server log")
        return BackendHTTPError(status, message, redact_url(resp.url), hint)

    def _get_object(self, path: str) -> dict[str, Any]:
        return self._object(self.transport.get_json(path), path)

    def _object(self, data: Any, path: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.transport.malformed(
                path, f"not a JSON object: {snippet(json.dumps(data))!r}"
            )
        return data
