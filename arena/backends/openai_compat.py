"""Client for OpenAI-compatible servers (``/v1/models``, ``/v1/chat/completions``).

It keeps to the subset that llama.cpp's ``llama-server``, llamafile, LM Studio, vLLM and
Ollama's ``/v1`` all speak: a streamed chat completion (Server-Sent Events) with
``stream_options.include_usage``, and the model list. Quirks it copes with:

- **Ollama** forces ``temperature`` and ``top_p`` to 1.0 when they are omitted, overriding
  the model's defaults, so ``temperature`` is always sent (and ``top_p`` whenever the
  arena sets it). Its model list has ``"data": null`` when no model is installed. It has no
  ``keep_alive`` and no ``num_ctx`` on ``/v1``.
- **llama-server / llamafile** serve the model they were started with, whatever name is
  asked for (unless run as a router), list it by alias or file path, answer 503
  ``Loading model`` while loading (retried like any 503), add llama.cpp ``timings`` to the
  last chunk (used for the eval/prompt durations when present) and ``meta`` (``n_params``,
  ``size``, ``ftype``) to ``/v1/models`` entries (read as parameter size, bytes, quantization).
  Older llamafile builds ignore ``stream_options``: the tokens are then counted as chunks.
- **vLLM** answers an unknown model with 404 ``The model `x` does not exist.``; older
  versions put the error fields at the top level (``{"object": "error", "message": ...}``).
- **LM Studio** loads models on demand (the first answer includes the load time).

Not available through this API, so documented no-ops: ``keep_alive`` is ignored (set the
server's own idle unload, e.g. LM Studio's TTL or Ollama's ``OLLAMA_KEEP_ALIVE``),
``unload`` does nothing, and ``num_ctx`` is ignored (set the server's context size, e.g.
``llama-server -c 4096``).
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, replace
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
from arena.backends.redact import redact_url
from arena.backends.thinking import ThinkingSplitter
from arena.backends.transport import (
    Advice,
    HTTPTransport,
    error_body,
    iter_raw_lines,
    snippet,
)

__all__ = ["OpenAICompatClient", "normalize_openai_base_url"]

_NOT_FOUND = re.compile(r"not found|does not exist|no such model|unknown model|not loaded", re.I)
_SSE_FIELDS = (b"data", b"event", b"id", b"retry")
ADVICE = Advice(
    label="the OpenAI-compatible server",
    url_setting="the url of its BACKENDS entry",
    connect_timeout_setting="ARENA_BACKEND_CONNECT_TIMEOUT",
    read_timeout_setting="ARENA_BACKEND_READ_TIMEOUT, or the read_timeout of its BACKENDS entry",
)
_HINTS = {  # what to do about a non-2xx answer, by status
    400: "the server rejected the request (a prompt longer than its context size?)",
    401: "the server rejected the API key: check the backend's API key",
    403: "the server refused access: check the API key and the server's allowed hosts",
    404: "is the base URL right? it usually ends in /v1",
    500: "check the server's log (out of memory? try a smaller model)",
    502: "a proxy could not reach the server behind it",
    504: "a proxy timed out waiting for the server: raise its read timeout",
}


def normalize_openai_base_url(url: str) -> str:
    """The API root that ``/models`` and ``/chat/completions`` hang from.

    ``localhost:8080`` and ``http://localhost:8080`` become ``http://localhost:8080/v1``; a
    URL that already has a path (``http://host/v1``, ``http://proxy/openai/v1``) is kept as
    it is, without its trailing slash.
    """
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    split = urllib.parse.urlsplit(url)
    path = split.path.rstrip("/") or "/v1"
    return urllib.parse.urlunsplit((split.scheme, split.netloc, path, "", ""))


def _format_parameters(count: Any) -> str | None:
    """``135_000_000`` → ``"135M"``, ``7_615_616_512`` → ``"7.62B"``; None when not a number."""
    if isinstance(count, bool) or not isinstance(count, int | float) or count <= 0:
        return None
    if count >= 1e9:
        return f"{count / 1e9:.3g}B"
    return f"{count / 1e6:.3g}M"


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _error_fields(raw: bytes) -> tuple[str | None, str | None, str | None]:
    """(message, type, code) of an error body in any of the shapes servers use."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None, None, None
    if not isinstance(body, dict):
        return None, None, None
    error = body.get("error")
    if isinstance(error, str):  # {"error": "text"}
        return error, None, None
    fields = error if isinstance(error, dict) else body  # vLLM's older top-level shape
    message = fields.get("message") or fields.get("detail") or body.get("detail")
    kind, code = fields.get("type"), fields.get("code")
    return (
        message if isinstance(message, str) else (json.dumps(message) if message else None),
        kind if isinstance(kind, str) else None,
        str(code) if code is not None else None,
    )


@dataclass
class _Stream:
    """What one streamed completion delivered."""

    splitter: ThinkingSplitter
    first_ns: int | None = None
    last_ns: int | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None
    done: bool = False


class OpenAICompatClient:
    """A :class:`~arena.backends.base.Backend` talking to one OpenAI-compatible server.

    ``base_url`` goes through :func:`normalize_openai_base_url`. ``api_key`` is sent as
    ``Authorization: Bearer``. Requests go through an
    :class:`~arena.backends.transport.HTTPTransport` (``transport``): retries (``retries``
    extra attempts, waits of ``backoff``, ``2*backoff``, ..., or what ``Retry-After`` asks
    for, at most ``max_retry_after`` seconds) cover connection errors, 503 and 429; other 4xx
    are never retried, nor is a read timeout during a generation.
    """

    name = "openai"
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
            normalize_openai_base_url(base_url),
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
        return f"OpenAICompatClient({self.transport.shown_url!r})"

    # -- public API -------------------------------------------------------------------------

    def list_models(self) -> list[BackendModel]:
        """GET /models; ``"data": null`` (Ollama with no model) is an empty list."""
        body = self.transport.get_json("/models")
        if not isinstance(body, dict) or "data" not in body:
            raise self.transport.malformed("/models", "no 'data' list")
        entries = body["data"] or []
        if not isinstance(entries, list):
            raise self.transport.malformed("/models", "'data' is not a list")
        models = []
        for entry in entries:
            tag = entry.get("id") if isinstance(entry, dict) else None
            if not isinstance(tag, str) or not tag:
                raise self.transport.malformed("/models", f"entry without an id: {entry!r}")
            meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
            models.append(
                BackendModel(
                    tag=tag,
                    family=None,
                    parameter_size=_format_parameters(meta.get("n_params")),
                    quantization=meta.get("ftype") if isinstance(meta.get("ftype"), str) else None,
                    size_bytes=_int_or_none(meta.get("size")),
                    digest=None,
                )
            )
        return models

    def version(self) -> str:
        """The API has no version endpoint: GET /models proves the server answers, and the
        ``Server`` header (when sent) says what it is."""
        with self.transport.send("GET", "/models") as resp:
            server = resp.headers.get("Server")
        return f"openai-compatible ({server})" if server else "openai-compatible"

    def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        options: GenerationOptions,
        *,
        keep_alive: int | str | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> ChatResult:
        """POST /chat/completions, streaming; ``on_token`` gets each piece's answer text (it
        may raise). Thinking (``reasoning_content``/``reasoning`` deltas, ``<think>`` blocks) is
        kept apart; ``options.think`` goes as ``reasoning_effort`` (off: ``"none"``, a level).

        ``keep_alive`` and ``options.num_ctx`` are ignored (the API has neither). Timing:
        ``total_duration`` is the wall time from sending the request to ``[DONE]``.
        ``eval_duration`` is llama.cpp's ``timings.predicted_ms`` when the server reports it,
        else the time from the first streamed piece to the last (so it leaves out the
        generation of the first token); ``prompt_eval_duration`` comes only from ``timings``
        and ``load_duration`` is unknown. ``eval_count`` is ``usage.completion_tokens``, or,
        when the server sends no usage, the number of streamed pieces (about one token
        each on llama.cpp and Ollama, possibly more on vLLM).
        """
        del keep_alive  # no such thing in the OpenAI API
        body: dict[str, Any] = {
            "model": model,
            "messages": list(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": options.temperature,  # Ollama's /v1 would force 1.0 if omitted
        }
        if options.num_predict is not None and options.num_predict >= 0:
            body["max_tokens"] = options.num_predict
        if options.top_p is not None:
            body["top_p"] = options.top_p
        if options.seed is not None:
            body["seed"] = options.seed
        body.update(options.sampling_extras())  # llama.cpp's names; others ignore what they lack
        if options.think is False or isinstance(options.think, str):
            body["reasoning_effort"] = options.think or "none"
        started = time.monotonic_ns()
        stream = _Stream(ThinkingSplitter(on_token, started_ns=started))
        resp = self.transport.send("POST", "/chat/completions", body, model=model, generation=True)
        with resp:
            self._read_stream(resp, model, stream)
        ended = time.monotonic_ns()
        return self._result(model, stream, ended - started)

    def unload(self, model: str) -> None:
        """A no-op: the OpenAI API cannot unload a model (the server manages its memory)."""
        del model

    def missing_model_hint(self, tag: str) -> str:
        """How an operator gets ``tag`` onto this server."""
        del tag  # the same advice for any model
        return (
            "load it on the OpenAI-compatible server and use the name exactly as its "
            "`GET /v1/models` list shows it"
        )

    # -- plumbing ---------------------------------------------------------------------------

    def _result(self, model: str, stream: _Stream, total_ns: int) -> ChatResult:
        usage, timings = stream.usage or {}, stream.timings or {}
        pieces, split = stream.splitter.pieces, stream.splitter.finish()
        eval_count = _int_or_none(usage.get("completion_tokens"))
        if eval_count is None:
            eval_count = pieces
        details = usage.get("completion_tokens_details")  # reasoning tokens, when counted
        if split.thinking and isinstance(details, dict) and details.get("reasoning_tokens"):
            split = replace(split, thinking_tokens=_int_or_none(details["reasoning_tokens"]))
        eval_ns = None
        if isinstance(timings.get("predicted_ms"), int | float):
            eval_ns = int(timings["predicted_ms"] * 1e6)
        elif pieces > 1 and stream.first_ns is not None and stream.last_ns:
            eval_ns = stream.last_ns - stream.first_ns
        prompt_ns = None
        if isinstance(timings.get("prompt_ms"), int | float):
            prompt_ns = int(timings["prompt_ms"] * 1e6)
        return ChatResult(
            **split.fields(),
            model=model,
            done_reason=stream.finish_reason,
            eval_count=eval_count,
            eval_duration=eval_ns or None,
            prompt_eval_count=_int_or_none(usage.get("prompt_tokens")),
            prompt_eval_duration=prompt_ns or None,
            load_duration=None,
            total_duration=max(total_ns, 1),
        )

    def _read_stream(self, resp: requests.Response, model: str, stream: _Stream) -> None:
        """Read Server-Sent Events up to ``data: [DONE]``."""
        data: list[bytes] = []
        try:
            for line in iter_raw_lines(resp):
                if line:
                    if line.startswith(b":"):  # a comment, e.g. a keep-alive ping
                        continue
                    name, _, value = line.partition(b":")
                    if name not in _SSE_FIELDS:
                        raise self.transport.malformed(
                            "/chat/completions", f"not an event stream: {snippet(line)!r}"
                        )
                    if name == b"data":
                        data.append(value[1:] if value.startswith(b" ") else value)
                    continue
                if data:
                    self._event(b"\n".join(data), stream, model)
                    data = []
                if stream.done:
                    break
            if data and not stream.done:
                self._event(b"\n".join(data), stream, model)
        except requests.RequestException as exc:
            raise self.transport.body_failure(exc, model, stream.splitter.pieces) from exc
        if not stream.done:
            raise self.transport.cut(model, stream.splitter.pieces, "no data: [DONE]")

    def _event(self, payload: bytes, stream: _Stream, model: str) -> None:
        if payload.strip() == b"[DONE]":
            stream.done = True
            return
        try:
            chunk = json.loads(payload)
        except ValueError:
            raise self.transport.malformed(
                "/chat/completions", f"event is not JSON: {snippet(payload)!r}"
            ) from None
        if not isinstance(chunk, dict):
            raise self.transport.malformed("/chat/completions", f"event: {snippet(payload)!r}")
        if "error" in chunk or chunk.get("object") == "error":  # the latter: older vLLM
            message, _, _ = _error_fields(payload)
            raise self.transport.stream_failed(
                model, stream.splitter.pieces, message or snippet(payload)
            )
        if isinstance(chunk.get("usage"), dict):
            stream.usage = chunk["usage"]
        if isinstance(chunk.get("timings"), dict):
            stream.timings = chunk["timings"]
        choices = chunk.get("choices") or []
        if not isinstance(choices, list):
            raise self.transport.malformed("/chat/completions", "'choices' is not a list")
        for choice in choices[:1]:
            if not isinstance(choice, dict):
                raise self.transport.malformed("/chat/completions", f"choice: {choice!r}")
            if choice.get("finish_reason"):
                stream.finish_reason = str(choice["finish_reason"])
            delta = choice.get("delta")
            for name in ("reasoning_content", "reasoning", "content"):
                piece = delta.get(name) if isinstance(delta, dict) else None
                if isinstance(piece, str) and piece:
                    stream.last_ns = now = time.monotonic_ns()
                    stream.first_ns = stream.first_ns or now
                    splitter = stream.splitter
                    (splitter.content if name == "content" else splitter.thinking)(piece)

    def _error_for(self, resp: requests.Response, model: str | None, attempts: int) -> BackendError:
        """Map a non-2xx answer (``{"error": {"message", "type", "param", "code"}}``)."""
        raw = error_body(resp)
        message, kind, code = _error_fields(raw)
        message = message or snippet(raw) or resp.reason or "(empty body)"
        status = resp.status_code
        if status == 404 and model is not None:
            named = kind in ("not_found_error", "NotFoundError") or code == "model_not_found"
            if named or _NOT_FOUND.search(message):
                hint = f"{self.missing_model_hint(model)}, or run `flask --app arena models sync`"
                return ModelNotFound(model, self.transport.shown_url, hint)
        if status == 400 and "does not support thinking" in message:  # Ollama's /v1
            return ThinkRefused(status, message, redact_url(resp.url), "retried without it")
        if status in (429, 503):
            return self.transport.busy(
                status, attempts, message, "retry later or send fewer requests at once"
            )
        hint = _HINTS.get(status, "check the server's log")
        if kind == "exceed_context_size_error":
            hint = "the prompt is longer than the server's context size: raise it (-c)"
        return BackendHTTPError(status, message, redact_url(resp.url), hint)
