"""A fake Ollama server: a real HTTP server speaking Ollama's native API, for tests and benches.

It behaves like ``ollama serve`` on a CPU with room for one model and OLLAMA_NUM_PARALLEL=1:
generations run one at a time, and switching models (or changing ``num_ctx``) pays
``load_delay``. Answers are deterministic (``"Answer from <model> to: <prompt>"``) unless set
with :meth:`FakeOllama.set_answer`. Faults are queued and consumed one request at a time.

    with FakeOllama(["llama3.2:1b"], token_delay=0.01) as fake:
        requests.post(fake.url + "/api/chat", json={...})

Command line (prints the URL, then serves until interrupted)::

    python -m tests.support.fake_ollama --port 11434 --token-delay 0.01 --models a:1b,b:3b

It validates requests like the real server (status codes and error texts of
/work/shared/OLLAMA_API.md section 4). Not simulated: the 403 Host-header check, pulls,
embeddings, the OpenAI-compatible endpoints, several loaded models at once.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

__all__ = ["DEFAULT_MODELS", "FakeModel", "FakeOllama", "RecordedRequest", "fake_ollama"]

AnswerSource = str | Callable[[dict[str, Any]], str]

GENERATION_PATHS = ("/api/chat", "/api/generate")
BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
RUNNER_DIED = (
    "model runner has unexpectedly stopped, this may be due to resource limitations or an "
    "internal error, check ollama server logs for details"
)
_FOREVER_S = 292 * 365 * 24 * 3600.0  # Go's MaxInt64 nanoseconds, roughly
_BITS_PER_WEIGHT = {"Q4_0": 4.5, "Q4_K_M": 4.85, "Q5_K_M": 5.7, "Q6_K": 6.6, "Q8_0": 8.5}
_INT_OPTIONS = frozenset(
    [
        "num_keep",
        "seed",
        "num_predict",
        "top_k",
        "repeat_last_n",
        "num_ctx",
        "num_batch",
        "num_gpu",
        "main_gpu",
        "num_thread",
    ]
)
_FLOAT_OPTIONS = frozenset(
    [
        "temperature",
        "top_p",
        "min_p",
        "typical_p",
        "repeat_penalty",
        "presence_penalty",
        "frequency_penalty",
    ]
)
_GO_UNITS_NS = {
    "ns": 1,
    "us": 1e3,
    "µs": 1e3,
    "μs": 1e3,
    "ms": 1e6,
    "s": 1e9,
    "m": 6e10,
    "h": 3.6e12,
}
_PROMPT_ECHO_WORDS = 40


def model_key(name: str) -> str:
    """How the server matches names: case-insensitive, a bare name means ``:latest``."""
    name = name.strip().lower()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _rfc3339(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def _parameter_count(parameter_size: str) -> int:
    """``"1.2B"`` → 1_200_000_000, ``"494.03M"`` → 494_030_000 (1e9 when unparseable)."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMBT]?)\s*", parameter_size.upper())
    if not match:
        return 1_000_000_000
    scale = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}[match.group(2)]
    return int(float(match.group(1)) * scale)


def _guess_parameter_size(tag: str) -> str:
    """``"qwen2.5:0.5b-instruct"`` → ``"0.5B"``; ``"1B"`` when the tag does not say."""
    match = re.search(r"(?:^|[:\-_])(\d+(?:\.\d+)?)([bm])(?![a-z])", tag.lower())
    return f"{match.group(1)}{match.group(2).upper()}" if match else "1B"


def parse_go_duration(text: str) -> float:
    """Go's ``time.ParseDuration``, returning seconds; ValueError with Go's message."""
    quoted = json.dumps(text, ensure_ascii=False)
    rest, negative = text, False
    if rest[:1] in ("+", "-"):
        negative, rest = rest[0] == "-", rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f"time: invalid duration {quoted}")
    total_ns = 0.0
    while rest:
        number = re.match(r"(\d*)(?:\.(\d*))?", rest)
        assert number is not None
        if not number.group(1) and not number.group(2):
            raise ValueError(f"time: invalid duration {quoted}")
        rest = rest[number.end() :]
        unit = re.match(r"[^\d.]*", rest).group(0)  # type: ignore[union-attr]
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _GO_UNITS_NS:
            raise ValueError(f"time: unknown unit {json.dumps(unit)} in duration {quoted}")
        rest = rest[len(unit) :]
        total_ns += float(f"{number.group(1) or 0}.{number.group(2) or 0}") * _GO_UNITS_NS[unit]
    return (-total_ns if negative else total_ns) / 1e9


def _json_type(value: Any) -> str:
    """The JSON type name Go's decoder uses in its error messages."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "null")


def _go_decode_error(exc: json.JSONDecodeError) -> str:
    """An approximation of the message of Go's encoding/json for a syntax error."""
    if exc.pos >= len(exc.doc.rstrip()):
        return "unexpected EOF"
    char = exc.doc[exc.pos]
    if exc.msg.startswith("Expecting property name"):
        return f"invalid character '{char}' looking for beginning of object key string"
    if exc.msg.startswith("Expecting value"):
        return f"invalid character '{char}' looking for beginning of value"
    return f"invalid character '{char}' after top-level value"


@dataclass
class FakeModel:
    """One installed model. ``size`` and ``digest`` are derived from the tag when left out."""

    tag: str
    parameter_size: str = "1B"
    quantization: str = "Q4_K_M"
    family: str = "llama"
    size: int = 0
    digest: str = ""
    capabilities: tuple[str, ...] = ("completion",)
    modified_at: str = field(default_factory=lambda: datetime.now(UTC).astimezone().isoformat())

    def __post_init__(self) -> None:
        if ":" not in self.tag.rsplit("/", 1)[-1]:
            self.tag += ":latest"
        if not self.size:
            bits = _BITS_PER_WEIGHT.get(self.quantization.upper(), 16.0)
            self.size = int(_parameter_count(self.parameter_size) * bits / 8)
        if not self.digest:
            self.digest = hashlib.sha256(self.tag.encode()).hexdigest()

    def details(self) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization,
        }


DEFAULT_MODELS: tuple[FakeModel, ...] = (
    FakeModel("llama3.2:1b", "1.2B", "Q8_0", "llama"),
    FakeModel("qwen2.5:0.5b-instruct-q8_0", "494.03M", "Q8_0", "qwen2"),
    FakeModel("gemma3:4b", "4.3B", "Q4_K_M", "gemma3"),
)


@dataclass
class RecordedRequest:
    """One request as the fake received it.

    ``body`` is the parsed JSON (None when empty or unparseable; ``raw_body`` has the bytes);
    ``headers`` is case-insensitive. ``status`` is the status sent (None when the connection
    was dropped) and ``outcome`` one of: ok, error, load, unload, client_gone, dropped,
    garbage, mid_stream_error, truncated.
    """

    method: str
    path: str
    body: Any
    headers: Mapping[str, str]
    time: float
    raw_body: bytes = b""
    status: int | None = None
    outcome: str | None = None


@dataclass
class _Fault:
    kind: str  # status | garbage | hang | mid_stream | truncate
    times: int
    model: str | None = None  # model_key, None = any model
    path: str | None = None  # None = the generation endpoints
    status: int = 500
    message: str = ""
    json_body: bool = True
    after_chunks: int | None = None
    seconds: float = 0.0
    abrupt: bool = False
    headers: dict[str, str] | None = None

    def matches(self, path: str, key: str | None, generating: bool) -> bool:
        wanted_path = path == self.path if self.path else path in GENERATION_PATHS
        if not wanted_path:
            return False
        if self.model is not None and self.model != key:
            return False
        streaming_fault = self.kind in ("mid_stream", "truncate") or (
            self.kind == "hang" and self.after_chunks is not None
        )
        return generating or not streaming_fault


class _ClientGone(Exception):
    """The client closed the connection while we were writing."""


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class FakeOllama:
    """A fake ``ollama serve`` on 127.0.0.1 (free port by default), in a daemon thread.

    Plain attributes you may change at any time: ``token_delay`` (seconds per streamed
    chunk), ``load_delay`` (seconds per model load), ``version``, ``text_in_final_chunk``
    (put the last piece of text in the ``done`` chunk, as Ollama sometimes does),
    ``legacy_tags`` (list models with ``name`` only, like old servers), ``require_token``
    (answer 401 unless ``Authorization: Bearer <token>``, like a reverse proxy).
    """

    def __init__(
        self,
        models: Iterable[str | FakeModel] | None = None,
        *,
        token_delay: float = 0.0,
        load_delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        version: str = "0.12.6",
        verbose: bool = False,
    ) -> None:
        self.token_delay = token_delay
        self.load_delay = load_delay
        self.version = version
        self.verbose = verbose
        self.text_in_final_chunk = False
        self.legacy_tags = False
        self.require_token: str | None = None
        self._address = (host, port)
        self._lock = threading.RLock()  # shared state
        self._gen_lock = threading.Lock()  # the single generation slot
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._models: dict[str, FakeModel] = {}
        self._answers: dict[str | None, AnswerSource] = {}
        self._faults: list[_Fault] = []
        self._log: list[RecordedRequest] = []
        self._down = False
        self._loads = 0
        self._load_history: list[str] = []
        self._loaded: str | None = None  # model_key
        self._loaded_ctx: int | None = None
        self._expires_at = 0.0  # time.time() when the loaded model will be unloaded
        for model in DEFAULT_MODELS if models is None else models:
            if isinstance(model, FakeModel):
                self._models[model_key(model.tag)] = replace(model)
            else:
                self.add_model(model, _guess_parameter_size(model))

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeOllama:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = ThreadingHTTPServer(self._address, _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.name = f"fake-ollama-{self.port}"
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open connections (idempotent)."""
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

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeOllama is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        return f"http://{self._address[0]}:{self.port}"

    # -- models and answers -----------------------------------------------------------------

    def add_model(
        self,
        tag: str,
        parameter_size: str = "1B",
        quantization: str = "Q4_K_M",
        family: str = "llama",
        **extra: Any,
    ) -> FakeModel:
        """Install a model (``extra``: size, digest, capabilities, modified_at)."""
        model = FakeModel(tag, parameter_size, quantization, family, **extra)
        with self._lock:
            self._models[model_key(tag)] = model
        return model

    def remove_model(self, tag: str) -> None:
        with self._lock:
            self._models.pop(model_key(tag), None)
            if self._loaded == model_key(tag):
                self._loaded = None

    @property
    def models(self) -> list[FakeModel]:
        with self._lock:
            return list(self._models.values())

    def set_answer(self, model: str | None, answer: AnswerSource) -> None:
        """Fix the answer text of ``model`` (None: every model without its own answer).

        A callable receives the request JSON and returns the text.
        """
        with self._lock:
            self._answers[None if model is None else model_key(model)] = answer

    # -- faults ---------------------------------------------------------------------------
    # Each request consumes at most one queued fault: the first that matches it. Without
    # ``path``, faults apply to /api/chat and /api/generate; ``model`` restricts them to one
    # model. Stream faults (mid-stream error, truncation, a hang after N chunks) only match
    # requests that generate text, not load/unload requests.

    def fail_next(
        self,
        status: int,
        error_message: str = BUSY_MESSAGE,
        times: int = 1,
        model: str | None = None,
        *,
        path: str | None = None,
        json_body: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer ``status`` with ``{"error": error_message}`` (plain text if not json_body),
        adding ``headers`` to the reply (e.g. ``{"Retry-After": "1"}``)."""
        fault = _Fault("status", times, model, path, status, error_message, json_body=json_body)
        fault.headers = dict(headers or {})
        self._queue(fault)

    def fail_mid_stream(
        self,
        after_chunks: int,
        message: str = RUNNER_DIED,
        times: int = 1,
        model: str | None = None,
    ) -> None:
        """Send ``after_chunks`` chunks, then an ``{"error": message}`` line, and end."""
        self._queue(_Fault("mid_stream", times, model, message=message, after_chunks=after_chunks))

    def garbage_next(
        self, times: int = 1, *, model: str | None = None, path: str | None = None
    ) -> None:
        """Answer 200 with an HTML page instead of JSON."""
        self._queue(_Fault("garbage", times, model, path))

    def truncate_next(
        self,
        after_chunks: int = 0,
        times: int = 1,
        *,
        model: str | None = None,
        abrupt: bool = False,
    ) -> None:
        """End the stream after ``after_chunks`` chunks without ``done: true``.

        ``abrupt`` cuts the TCP connection mid-body instead of ending the HTTP body cleanly.
        """
        self._queue(_Fault("truncate", times, model, after_chunks=after_chunks, abrupt=abrupt))

    def hang_next(
        self,
        seconds: float,
        times: int = 1,
        *,
        model: str | None = None,
        path: str | None = None,
        after_chunks: int | None = None,
    ) -> None:
        """Sleep ``seconds`` before the first byte (or after ``after_chunks`` chunks)."""
        self._queue(_Fault("hang", times, model, path, seconds=seconds, after_chunks=after_chunks))

    def set_down(self, down: bool = True) -> None:
        """While down, every request is recorded, then its connection is closed unanswered."""
        with self._lock:
            self._down = down

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _queue(self, fault: _Fault) -> None:
        if fault.model is not None:
            fault.model = model_key(fault.model)
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, path: str, key: str | None, generating: bool) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.matches(path, key, generating):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return replace(fault)
        return None

    # -- recording ------------------------------------------------------------------------

    @property
    def requests_log(self) -> list[RecordedRequest]:
        """Every request received, in arrival order (a copy)."""
        with self._lock:
            return list(self._log)

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests_log if r.path == path and method in (None, r.method)]

    def chat_models_in_order(self) -> list[str]:
        """The ``model`` of each /api/chat request with messages, as sent, in arrival order."""
        return [
            r.body["model"]
            for r in self.requests_to("/api/chat")
            if isinstance(r.body, dict) and r.body.get("messages") and "model" in r.body
        ]

    @property
    def loads(self) -> int:
        """How many times a model was loaded."""
        with self._lock:
            return self._loads

    @property
    def load_history(self) -> list[str]:
        """The tag of each model load, in order."""
        with self._lock:
            return list(self._load_history)

    @property
    def loaded_model(self) -> str | None:
        """The tag of the model in memory, if any."""
        with self._lock:
            key = self._current_loaded()
            return self._models[key].tag if key in self._models else key

    def reset(self) -> None:
        """Forget requests, loads and faults, unload, and come back up; keep models/answers."""
        with self._lock:
            self._log.clear()
            self._faults.clear()
            self._loads = 0
            self._load_history.clear()
            self._loaded = self._loaded_ctx = None
            self._down = False

    # -- internals used by the handler ------------------------------------------------------

    def _current_loaded(self) -> str | None:
        if self._loaded is not None and time.time() >= self._expires_at:
            self._loaded = self._loaded_ctx = None  # keep_alive expired
        return self._loaded

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _answer_text(self, key: str, request: dict[str, Any], prompt: str) -> str:
        with self._lock:
            answer = self._answers.get(key, self._answers.get(None))
            tag = self._models[key].tag if key in self._models else key
        if callable(answer):
            return str(answer(request))
        if answer is not None:
            return answer
        words = prompt.split()
        echo = " ".join(words[:_PROMPT_ECHO_WORDS]) + (
            "..." if len(words) > _PROMPT_ECHO_WORDS else ""
        )
        options = request.get("options") or {}
        seed = f" (seed {options['seed']})" if options.get("seed") is not None else ""
        return f"Answer from {tag} to: {echo}{seed}"

    def _ensure_loaded(self, key: str, num_ctx: int | None) -> bool:
        """Load ``key`` unless it is already in memory with the same num_ctx (caller holds
        the generation slot). Returns whether a load happened."""
        with self._lock:
            warm = self._current_loaded() == key and self._loaded_ctx == num_ctx
        if warm:
            return False
        self._sleep(self.load_delay)
        with self._lock:
            self._loads += 1
            self._load_history.append(self._models[key].tag if key in self._models else key)
            self._loaded, self._loaded_ctx = key, num_ctx
            self._expires_at = time.time() + 300
        return True

    def _after_request(self, key: str, keep_alive_s: float | None) -> None:
        with self._lock:
            if self._loaded != key:
                return
            if keep_alive_s == 0:
                self._loaded = self._loaded_ctx = None
            else:
                ttl = 300.0 if keep_alive_s is None else keep_alive_s
                self._expires_at = time.time() + (_FOREVER_S if ttl < 0 else ttl)


def _split_pieces(text: str) -> list[str]:
    """Words with their leading whitespace: the streamed chunks."""
    return re.findall(r"\s*\S+|\s+$", text)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOllama/1.0"

    def version_string(self) -> str:
        return self.server_version

    @property
    def fake(self) -> FakeOllama:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def setup(self) -> None:
        super().setup()
        with self.fake._lock:
            self.fake._connections.add(self.connection)

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):  # the client reset a kept-alive connection
            super().handle()

    def finish(self) -> None:
        with self.fake._lock:
            self.fake._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        if self.fake.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # -- plumbing -------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        self._arrival = time.monotonic_ns()
        path = urlsplit(self.path).path
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            body = None
        self._record = RecordedRequest(self.command, path, body, self.headers, time.time(), raw)
        fake = self.fake
        with fake._lock:
            fake._log.append(self._record)
            down = fake._down
        if down:
            self._drop("dropped")
            return
        try:
            if fake.require_token and self.headers.get("Authorization") != (
                f"Bearer {fake.require_token}"
            ):
                raise _HTTPError(401, "unauthorized")
            self._route(path, raw)
        except _HTTPError as exc:
            self._send_json(exc.status, {"error": exc.message}, outcome="error")
        except _ClientGone:
            self._record.outcome = "client_gone"
            self.close_connection = True

    def _route(self, path: str, raw: bytes) -> None:
        routes: dict[tuple[str, str], Callable[[], None]] = {
            ("GET", "/"): self._root,
            ("HEAD", "/"): self._root,
            ("GET", "/api/version"): lambda: self._send_json(200, {"version": self.fake.version}),
            ("GET", "/api/tags"): self._tags,
            ("GET", "/api/ps"): self._ps,
            ("POST", "/api/show"): lambda: self._show(raw),
            ("POST", "/api/chat"): lambda: self._generation("chat", raw),
            ("POST", "/api/generate"): lambda: self._generation("generate", raw),
        }
        handler = routes.get((self.command, path))
        if handler is None:
            self._send(404, b"404 page not found", "text/plain", outcome="error")
            return
        if path not in GENERATION_PATHS and self._simple_fault(
            self.fake._take_fault(path, None, False)
        ):
            return
        handler()

    def _simple_fault(self, fault: _Fault | None) -> bool:
        """Apply a status/garbage/hang fault; True when the request has been answered."""
        if fault is None:
            return False
        if fault.kind == "hang" and fault.after_chunks is None:
            self.fake._sleep(fault.seconds)
            return False
        if fault.kind == "status":
            if fault.json_body:
                error = {"error": fault.message}
                self._send_json(fault.status, error, outcome="error", headers=fault.headers)
            else:
                body = fault.message.encode()
                self._send(fault.status, body, "text/html", outcome="error", headers=fault.headers)
            return True
        if fault.kind == "garbage":
            page = b"<html><body><h1>It works!</h1><p>This is not Ollama.</p></body></html>\n"
            self._send(200, page, "text/html; charset=utf-8", outcome="garbage")
            return True
        return False

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        outcome: str = "ok",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._record.status, self._record.outcome = status, outcome
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError as exc:
            raise _ClientGone from exc

    def _send_json(
        self,
        status: int,
        obj: Any,
        *,
        outcome: str = "ok",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
        content_type = "application/json; charset=utf-8"
        self._send(status, body, content_type, outcome=outcome, headers=headers)

    def _start_stream(self) -> None:
        self._record.status, self._record.outcome = 200, "ok"
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
        except OSError as exc:
            raise _ClientGone from exc

    def _write_line(self, obj: dict[str, Any]) -> None:
        data = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        try:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        except OSError as exc:
            raise _ClientGone from exc

    def _end_stream(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
        except OSError as exc:
            raise _ClientGone from exc

    def _drop(self, outcome: str) -> None:
        """Close the connection without (finishing) an answer."""
        self._record.outcome = outcome
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _parse(self, raw: bytes, type_name: str) -> dict[str, Any]:
        """Decode a request body the way gin's ShouldBindJSON does."""
        if not raw.strip():
            raise _HTTPError(400, "missing request body")
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _HTTPError(400, _go_decode_error(exc)) from None
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise _HTTPError(
                400,
                f"json: cannot unmarshal {_json_type(body)} into Go value of type api.{type_name}",
            )
        return body

    @staticmethod
    def _check_field(body: dict[str, Any], name: str, kind: type, go_type: str, owner: str) -> None:
        value = body.get(name)
        if value is not None and not isinstance(value, kind):
            raise _HTTPError(
                400,
                f"json: cannot unmarshal {_json_type(value)} into Go struct field "
                f"{owner}.{name} of type {go_type}",
            )

    @staticmethod
    def _keep_alive(body: dict[str, Any]) -> float | None:
        """``keep_alive`` in seconds (negative = forever), or None when absent."""
        value = body.get("keep_alive")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            go_name = {bool: "bool", list: "[]interface {}", dict: "map[string]interface {}"}
            raise _HTTPError(400, f"Unsupported type: '{go_name.get(type(value), 'unknown')}'")
        if isinstance(value, str):
            try:
                return parse_go_duration(value)
            except ValueError as exc:
                raise _HTTPError(400, str(exc)) from None
        return float(value)

    def _lookup(self, name: str) -> str:
        key = model_key(name)
        with self.fake._lock:
            if key not in self.fake._models:
                raise _HTTPError(404, f"model '{name}' not found")
        return key

    # -- endpoints ------------------------------------------------------------------------

    def _root(self) -> None:
        self._send(200, b"Ollama is running", "text/plain; charset=utf-8")

    def _tags(self) -> None:
        entries = []
        for model in self.fake.models:
            entry: dict[str, Any] = {"name": model.tag, "model": model.tag}
            if self.fake.legacy_tags:
                del entry["model"]
            entry |= {
                "modified_at": model.modified_at,
                "size": model.size,
                "digest": model.digest,
                "details": model.details(),
            }
            entries.append(entry)
        self._send_json(200, {"models": entries})

    def _ps(self) -> None:
        fake = self.fake
        with fake._lock:
            key = fake._current_loaded()
            model = fake._models.get(key) if key else None
            expires, ctx = fake._expires_at, fake._loaded_ctx
        entries = []
        if model is not None:
            expires_at = datetime.now(UTC) + timedelta(seconds=min(expires - time.time(), 9e9))
            entries.append(
                {
                    "name": model.tag,
                    "model": model.tag,
                    "size": model.size,
                    "digest": model.digest,
                    "details": model.details(),
                    "expires_at": expires_at.astimezone().isoformat(),
                    "size_vram": 0,
                    "context_length": ctx or 4096,
                }
            )
        self._send_json(200, {"models": entries})

    def _show(self, raw: bytes) -> None:
        body = self._parse(raw, "ShowRequest")
        name = body.get("model") or body.get("name")
        if not name:
            raise _HTTPError(400, "model is required")
        model = self.fake._models[self._lookup(str(name))]
        family = model.family
        self._send_json(
            200,
            {
                "license": "Fake license",
                "modelfile": f'# Modelfile generated by "ollama show"\nFROM {model.tag}\n',
                "parameters": 'stop "<|end|>"',
                "template": "{{ .Prompt }}",
                "details": model.details(),
                "model_info": {
                    "general.architecture": family,
                    "general.parameter_count": _parameter_count(model.parameter_size),
                    f"{family}.context_length": 131072,
                },
                "capabilities": list(model.capabilities),
                "modified_at": model.modified_at,
            },
        )

    def _generation(self, kind: str, raw: bytes) -> None:
        """/api/chat and /api/generate: validate, apply faults, load, then generate."""
        fake = self.fake
        owner = "ChatRequest" if kind == "chat" else "GenerateRequest"
        body = self._parse(raw, owner)
        self._check_field(body, "model", str, "string", owner)
        self._check_field(body, "stream", bool, "bool", owner)
        self._check_field(body, "options", dict, "map[string]interface {}", owner)
        keep_alive = self._keep_alive(body)
        if kind == "chat":
            self._check_field(body, "messages", list, "[]api.Message", owner)
            messages = body.get("messages") or []
            for message in messages:
                if not isinstance(message, dict):
                    raise _HTTPError(
                        400,
                        f"json: cannot unmarshal {_json_type(message)} into "
                        f"Go struct field {owner}.messages of type api.Message",
                    )
                for name in ("role", "content"):
                    self._check_field(message, name, str, "string", f"{owner}.messages")
            users = [m.get("content") or "" for m in messages if m.get("role") == "user"]
            prompt = users[-1] if users else ""
            prompt_words = sum(len(str(m.get("content") or "").split()) + 4 for m in messages)
            generating = bool(messages)
        else:
            for name in ("prompt", "system", "template", "suffix"):
                self._check_field(body, name, str, "string", owner)
            if body.get("raw") and (
                body.get("template") or body.get("system") or body.get("context")
            ):
                raise _HTTPError(400, "raw mode does not support template, system, or context")
            prompt = body.get("prompt") or ""
            prompt_words = len(prompt.split()) + len(str(body.get("system") or "").split()) + 4
            generating = bool(prompt)
        name = body.get("model") or ""
        if not name and kind == "chat":
            raise _HTTPError(400, "model is required")
        key = self._lookup(name)
        think = body.get("think")
        if think not in (None, False) and "thinking" not in fake._models[key].capabilities:
            raise _HTTPError(400, f'"{name}" does not support thinking')
        options = body.get("options") or {}
        self._check_options(options)

        fault = fake._take_fault(self._record.path, key, generating)
        if self._simple_fault(fault):
            return
        if not generating and keep_alive == 0:  # unload without loading
            with fake._lock:
                if fake._loaded == key:
                    fake._loaded = fake._loaded_ctx = None
            self._send_json(200, self._reply_stub(kind, name, "unload"), outcome="unload")
            return
        with fake._gen_lock:
            started = time.monotonic_ns()
            loaded = fake._ensure_loaded(key, options.get("num_ctx"))
            # a load counts from arrival (waiting behind other work included); warm is quick
            load_ns = time.monotonic_ns() - (self._arrival if loaded else started)
            if not generating:
                fake._after_request(key, keep_alive)
                self._send_json(200, self._reply_stub(kind, name, "load"), outcome="load")
                return
            try:
                self._generate(
                    kind, body, name, key, prompt, prompt_words, load_ns, fault, keep_alive
                )
            finally:  # again for the error paths; the normal path did it before its last byte
                fake._after_request(key, keep_alive)

    @staticmethod
    def _check_options(options: dict[str, Any]) -> None:
        for key, value in options.items():
            if value is None:
                continue
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if key in _INT_OPTIONS and not number:
                raise _HTTPError(500, f'option "{key}" must be of type integer')
            if key in _FLOAT_OPTIONS and not number:
                raise _HTTPError(500, f'option "{key}" must be of type float32')
            if key == "use_mmap" and not isinstance(value, bool):
                raise _HTTPError(500, f'option "{key}" must be of type boolean')
            if key == "stop":
                if not isinstance(value, list):
                    raise _HTTPError(500, f'option "{key}" must be of type array')
                if not all(isinstance(item, str) for item in value):
                    raise _HTTPError(500, f'option "{key}" must be of an array of strings')

    @staticmethod
    def _reply_stub(kind: str, name: str, done_reason: str) -> dict[str, Any]:
        reply: dict[str, Any] = {"model": name, "created_at": _rfc3339()}
        if kind == "chat":
            reply["message"] = {"role": "assistant", "content": ""}
        else:
            reply["response"] = ""
        return reply | {"done": True, "done_reason": done_reason}

    def _chunk(self, kind: str, name: str, text: str) -> dict[str, Any]:
        chunk: dict[str, Any] = {"model": name, "created_at": _rfc3339()}
        if kind == "chat":
            chunk["message"] = {"role": "assistant", "content": text}
        else:
            chunk["response"] = text
        chunk["done"] = False
        return chunk

    def _generate(
        self,
        kind: str,
        body: dict[str, Any],
        name: str,
        key: str,
        prompt: str,
        prompt_words: int,
        load_ns: int,
        fault: _Fault | None,
        keep_alive_s: float | None,
    ) -> None:
        fake = self.fake
        prompt_start = time.monotonic_ns()
        pieces = _split_pieces(fake._answer_text(key, body, prompt))
        options = body.get("options") or {}
        limit = options.get("num_predict")
        done_reason = "stop"
        if isinstance(limit, int | float) and 0 <= limit < len(pieces):
            pieces, done_reason = pieces[: int(limit)], "length"
        eval_start = time.monotonic_ns()
        stream = body.get("stream") is not False
        if stream:
            self._start_stream()
        final_text = ""
        if fake.text_in_final_chunk and pieces:
            pieces, final_text = pieces[:-1], pieces[-1]
        for index in range(len(pieces) + 1):
            if fault is not None and fault.after_chunks == index:
                if fault.kind == "hang":
                    fake._sleep(fault.seconds)
                elif fault.kind == "mid_stream":
                    if not stream:
                        raise _HTTPError(500, fault.message)
                    self._record.outcome = "mid_stream_error"
                    self._write_line({"error": fault.message})
                    self._end_stream()
                    return
                elif fault.kind == "truncate":
                    self._record.outcome = "truncated"
                    if stream and not fault.abrupt:
                        self._end_stream()
                    else:
                        self._drop("truncated")
                    return
            if index == len(pieces):
                break
            fake._sleep(fake.token_delay)
            if stream:
                self._write_line(self._chunk(kind, name, pieces[index]))
        if final_text:
            fake._sleep(fake.token_delay)
        eval_count = len(pieces) + bool(final_text)
        end = time.monotonic_ns()
        final: dict[str, Any] = self._chunk(
            kind, name, final_text if stream else "".join(pieces) + final_text
        )
        final |= {"done": True, "done_reason": done_reason}
        if kind == "generate" and not body.get("raw"):
            final["context"] = list(range(1, prompt_words + eval_count + 1))
        metrics = {
            "total_duration": end - self._arrival,
            "load_duration": max(load_ns, 1),
            "prompt_eval_count": prompt_words,
            "prompt_eval_duration": max(eval_start - prompt_start, 1),
            "eval_count": eval_count,
            "eval_duration": max(end - eval_start, 1),
        }
        final |= {k: v for k, v in metrics.items() if v}  # omitempty
        # update the loaded state before the last byte, so a client sees it once answered
        fake._after_request(key, keep_alive_s)
        if stream:
            self._write_line(final)
            self._end_stream()
        else:
            self._send_json(200, final)


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    """A started FakeOllama with the three DEFAULT_MODELS and no delays."""
    with FakeOllama() as fake:
        yield fake


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a fake Ollama server in the foreground.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds per chunk")
    parser.add_argument("--load-delay", type=float, default=0.0, help="seconds per model load")
    parser.add_argument("--models", default=None, help="comma-separated tags (default: 3 small)")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)
    tags = [t.strip() for t in args.models.split(",") if t.strip()] if args.models else None
    fake = FakeOllama(
        tags,
        token_delay=args.token_delay,
        load_delay=args.load_delay,
        host=args.host,
        port=args.port,
        verbose=args.verbose,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with fake:
        print(fake.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
