"""A fake OpenAI-compatible server: real HTTP on 127.0.0.1, for tests of the OpenAI backend.

It serves ``GET /v1/models`` and ``POST /v1/chat/completions`` (streamed as Server-Sent
Events like Ollama's ``/v1`` and llama-server: a first chunk with the role, one chunk per
word, a last chunk with an empty delta and ``finish_reason``, a usage chunk when asked with
``stream_options.include_usage``, then ``data: [DONE]``). Answers are deterministic
(``"Answer from <model> to: <prompt>"``) unless set with :meth:`FakeOpenAI.set_answer`.
Faults are queued and each request consumes at most the first one that matches it.

    with FakeOpenAI(["llama3.2:1b"]) as fake:
        OpenAICompatClient(fake.url).chat(...)

Plain attributes you may change at any time: ``token_delay`` (seconds per chunk),
``send_usage`` (False: ignore ``include_usage``, like older llamafile builds),
``send_timings`` (add llama.cpp's ``timings`` to the last chunk), ``null_when_empty``
(list no models as ``"data": null``, like Ollama), ``require_key`` (answer 401 unless
``Authorization: Bearer <key>``).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

__all__ = ["FakeOpenAI", "RecordedRequest", "fake_openai"]

CHAT = "/v1/chat/completions"
MODELS = "/v1/models"
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    503: "unavailable_error",
}


@dataclass
class RecordedRequest:
    """One request as received: ``body`` is the parsed JSON (None if absent or invalid),
    ``status`` what was sent (None if the connection was cut), ``outcome`` one of ok, error,
    cut, error_chunk, garbage, dropped."""

    method: str
    path: str
    body: Any
    headers: Mapping[str, str]
    time: float
    status: int | None = None
    outcome: str | None = None


@dataclass
class _Fault:
    kind: str  # status | cut | error_chunk | garbage | hang
    times: int = 1
    path: str = CHAT
    status: int = 500
    message: str = ""
    error_type: str | None = None
    json_body: bool = True
    after_chunks: int | None = None
    seconds: float = 0.0
    abrupt: bool = False
    html: bool = True
    top_level: bool = False
    headers: dict[str, str] | None = None


class _HTTPError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        error_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers
        self.error_type = error_type or ERROR_TYPES.get(status, "api_error")


class FakeOpenAI:
    """A fake OpenAI-compatible server in a daemon thread; ``url`` is the root, ``base_url``
    the ``/v1`` API root."""

    def __init__(
        self,
        models: Iterable[str] = ("llama3.2:1b", "qwen2.5:0.5b-instruct"),
        *,
        token_delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token_delay = token_delay
        self.send_usage = True
        self.send_timings = False
        self.null_when_empty = False
        self.require_key: str | None = None
        self._address = (host, port)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._models = list(models)
        self._answers: dict[str | None, str] = {}
        self._faults: list[_Fault] = []
        self._log: list[RecordedRequest] = []

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        if self._server is None:
            self._stopping.clear()
            server = ThreadingHTTPServer(self._address, _Handler)
            server.daemon_threads = True
            server.fake = self  # type: ignore[attr-defined]
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._address[0]}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    # -- models, answers, faults ------------------------------------------------------------

    @property
    def models(self) -> list[str]:
        with self._lock:
            return list(self._models)

    def set_models(self, models: Iterable[str]) -> None:
        with self._lock:
            self._models = list(models)

    def set_answer(self, model: str | None, text: str) -> None:
        """Fix the answer of ``model`` (None: of every model without its own)."""
        with self._lock:
            self._answers[model] = text

    def fail_next(
        self,
        status: int,
        message: str = "server busy",
        *,
        error_type: str | None = None,
        times: int = 1,
        path: str = CHAT,
        json_body: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer ``status`` with an OpenAI error body (plain text if not ``json_body``),
        adding ``headers`` to the reply (e.g. ``{"Retry-After": "1"}``)."""
        fault = _Fault("status", times, path, status, message, error_type, json_body)
        fault.headers = dict(headers or {})
        self._queue(fault)

    def cut_next(self, after_chunks: int = 0, *, abrupt: bool = False, times: int = 1) -> None:
        """End the stream after ``after_chunks`` word chunks without ``[DONE]``; ``abrupt``
        cuts the TCP connection instead of ending the HTTP body cleanly."""
        self._queue(_Fault("cut", times, after_chunks=after_chunks, abrupt=abrupt))

    def error_chunk_next(
        self, after_chunks: int, message: str, *, top_level: bool = False, times: int = 1
    ) -> None:
        """Send ``data: {"error": ...}`` after ``after_chunks`` chunks, then end (no [DONE]);
        ``top_level`` sends older vLLM's ``{"object": "error", "message": ...}`` instead."""
        self._queue(
            _Fault(
                "error_chunk",
                times,
                message=message,
                after_chunks=after_chunks,
                top_level=top_level,
            )
        )

    def garbage_next(self, *, html: bool = True, path: str = CHAT, times: int = 1) -> None:
        """Answer 200 with an HTML page, or (``html=False``) an event stream whose data is
        not JSON."""
        self._queue(_Fault("garbage", times, path, html=html))

    def hang_next(
        self,
        seconds: float,
        *,
        after_chunks: int | None = None,
        path: str = CHAT,
        times: int = 1,
    ) -> None:
        """Sleep ``seconds`` before the first byte (or after ``after_chunks`` chunks)."""
        self._queue(_Fault("hang", times, path, seconds=seconds, after_chunks=after_chunks))

    def _queue(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path == path:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return replace(fault)
        return None

    # -- recording --------------------------------------------------------------------------

    @property
    def requests_log(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests_log if r.path == path]

    def reset(self) -> None:
        with self._lock:
            self._log.clear()
            self._faults.clear()

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _answer(self, model: str, body: dict[str, Any]) -> str:
        with self._lock:
            answer = self._answers.get(model, self._answers.get(None))
        if answer is not None:
            return answer
        users = [m.get("content", "") for m in body["messages"] if m.get("role") == "user"]
        seed = f" (seed {body['seed']})" if body.get("seed") is not None else ""
        return f"Answer from {model} to: {users[-1] if users else ''}{seed}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"

    def version_string(self) -> str:
        return self.server_version

    @property
    def fake(self) -> FakeOpenAI:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def setup(self) -> None:
        super().setup()
        with self.fake._lock:
            self.fake._connections.add(self.connection)

    def finish(self) -> None:
        with self.fake._lock:
            self.fake._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            body = None
        self._record = RecordedRequest(self.command, path, body, self.headers, time.time())
        fake = self.fake
        with fake._lock:
            fake._log.append(self._record)
        try:
            key = fake.require_key
            if key and self.headers.get("Authorization") != f"Bearer {key}":
                raise _HTTPError(401, "Incorrect API key provided")
            fault = fake._take_fault(path)
            if fault is not None and self._simple_fault(fault):
                return
            if (self.command, path) == ("GET", MODELS):
                models = fake.models
                data = [
                    {"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in models
                ]
                empty = None if fake.null_when_empty else []
                self._send_json(200, {"object": "list", "data": data or empty})
            elif (self.command, path) == ("POST", CHAT):
                self._chat(body, fault)
            else:
                self._send(404, b"404 page not found", "text/plain", "error")
        except _HTTPError as exc:
            error = {"message": exc.message, "type": exc.error_type, "param": None, "code": None}
            self._send_json(exc.status, {"error": error}, "error", exc.headers)
        except OSError:
            self._record.outcome = "dropped"
            self.close_connection = True

    def _simple_fault(self, fault: _Fault) -> bool:
        """Apply a fault that acts before any answer; True when the request is answered."""
        if fault.kind == "hang" and fault.after_chunks is None:
            self.fake._sleep(fault.seconds)
        elif fault.kind == "status":
            if not fault.json_body:
                body = fault.message.encode()
                self._send(fault.status, body, "text/html", "error", fault.headers)
                return True
            raise _HTTPError(fault.status, fault.message, fault.error_type, fault.headers)
        elif fault.kind == "garbage" and fault.html:
            page = b"<html><body><h1>It works!</h1><p>Not an API.</p></body></html>\n"
            self._send(200, page, "text/html; charset=utf-8", "garbage")
            return True
        return False

    def _chat(self, body: Any, fault: _Fault | None) -> None:
        if not isinstance(body, dict):
            raise _HTTPError(400, "invalid JSON body")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _HTTPError(400, "model is required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _HTTPError(400, "[] is too short - 'messages'")
        if model not in self.fake.models:
            raise _HTTPError(404, f"model '{model}' not found")
        limit = body.get("max_tokens")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
            raise _HTTPError(400, "max_tokens must be an integer")
        words = re.findall(r"\s*\S+", self.fake._answer(model, body))
        finish = "stop"
        if isinstance(limit, int) and 0 <= limit < len(words):
            words, finish = words[:limit], "length"
        usage = {"prompt_tokens": 12, "completion_tokens": len(words)}
        usage["total_tokens"] = usage["prompt_tokens"] + len(words)
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(words)}
            choice = {"index": 0, "message": message, "finish_reason": finish}
            reply = self._envelope(model, "chat.completion", [choice]) | {"usage": usage}
            self._send_json(200, reply)
            return
        self._stream(model, body, words, finish, usage, fault)

    def _stream(
        self,
        model: str,
        body: dict[str, Any],
        words: list[str],
        finish: str,
        usage: dict[str, int],
        fault: _Fault | None,
    ) -> None:
        self._record.status, self._record.outcome = 200, "ok"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if fault is not None and fault.kind == "garbage":
            self._record.outcome = "garbage"
            self._event(b"<<this is not json>>")
            self._event(b"[DONE]")
            self._write(b"")
            return
        chunk = self._envelope(model, "chat.completion.chunk", [])
        delta: dict[str, Any] = {"role": "assistant", "content": ""}
        self._event_json(chunk | {"choices": [self._choice(delta, None)]})
        for index in range(len(words) + 1):
            if fault is not None and fault.after_chunks == index and self._stream_fault(fault):
                return
            if index == len(words):
                break
            self.fake._sleep(self.fake.token_delay)
            self._event_json(chunk | {"choices": [self._choice({"content": words[index]}, None)]})
        last = chunk | {"choices": [self._choice({}, finish)]}
        if self.fake.send_timings:
            last["timings"] = {"prompt_n": 12, "prompt_ms": 30.0, "predicted_n": len(words)}
            last["timings"]["predicted_ms"] = 10.0 * len(words)
        self._event_json(last)
        options = body.get("stream_options") or {}
        if self.fake.send_usage and options.get("include_usage"):
            self._event_json(chunk | {"choices": [], "usage": usage})
        self._event(b"[DONE]")
        self._write(b"")

    def _stream_fault(self, fault: _Fault) -> bool:
        """Apply a fault in the middle of a stream; True when the answer is over."""
        if fault.kind == "hang":
            self.fake._sleep(fault.seconds)
            return False
        if fault.kind == "error_chunk":
            self._record.outcome = "error_chunk"
            error = {"message": fault.message, "type": "api_error", "param": None, "code": None}
            self._event_json({"object": "error"} | error if fault.top_level else {"error": error})
            self._write(b"")
        elif fault.abrupt:
            self._record.outcome = "cut"
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        else:
            self._record.outcome = "cut"
            self._write(b"")
        return True

    @staticmethod
    def _envelope(model: str, kind: str, choices: list[Any]) -> dict[str, Any]:
        return {
            "id": "chatcmpl-123",
            "object": kind,
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": choices,
        }

    @staticmethod
    def _choice(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "finish_reason": finish}

    def _event_json(self, obj: dict[str, Any]) -> None:
        self._event(json.dumps(obj, separators=(",", ":")).encode())

    def _event(self, data: bytes) -> None:
        self._write(b"data: " + data + b"\n\n")

    def _write(self, data: bytes) -> None:
        """One HTTP chunk; empty data ends the body."""
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        outcome: str = "ok",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._record.status, self._record.outcome = status, outcome
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_json(
        self,
        status: int,
        obj: Any,
        outcome: str = "ok",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        body = json.dumps(obj, separators=(",", ":")).encode()
        self._send(status, body, "application/json", outcome, headers)


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A started FakeOpenAI serving two models, with no delays."""
    with FakeOpenAI() as fake:
        yield fake
