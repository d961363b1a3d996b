"""What the fake model servers share: a threaded HTTP server on 127.0.0.1 and its lifecycle,
the request log, the fault queue, latency, "down" mode and the handler plumbing.

A fake is a :class:`FakeServer` subclass naming its :class:`FakeHandler` subclass; the
handler implements :meth:`FakeHandler.respond` for its protocol. No pytest here: the
benchmarks in scripts/bench import the fakes too.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

__all__ = ["ClientGone", "FakeHandler", "FakeServer", "Fault", "HTTPError", "RecordedRequest"]


@dataclass
class RecordedRequest:
    """One request as the fake received it.

    ``body`` is the parsed JSON (None when empty or unparseable; ``raw_body`` has the bytes);
    ``headers`` is case-insensitive. ``status`` is the status sent (None when the connection
    was dropped) and ``outcome`` what happened (ok, error, dropped, garbage, ... as each fake
    documents).
    """

    method: str
    path: str
    body: Any
    headers: Message
    time: float
    raw_body: bytes = b""
    status: int | None = None
    outcome: str | None = None


@dataclass
class Fault:
    """A queued fault: ``kind`` is status, garbage or hang here, plus each fake's own stream
    faults. It applies to ``times`` requests; :meth:`matches` says to which."""

    kind: str
    times: int = 1
    path: str | None = None
    status: int = 500
    message: str = ""
    json_body: bool = True
    headers: dict[str, str] | None = None
    after_chunks: int | None = None
    seconds: float = 0.0
    abrupt: bool = False
    html: bool = True

    def matches(self, path: str, model: str | None = None, generating: bool = True) -> bool:
        """Whether this fault applies to a request to ``path`` (for ``model``, generating
        text or not); here: to its own path only."""
        return path == self.path


class HTTPError(Exception):
    """Answer ``status`` with an error body in the fake's format (and ``headers``)."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


class ClientGone(Exception):
    """The client closed the connection while we were writing."""


class FakeServer:
    """A fake HTTP server on ``host`` (free port by default), serving in a daemon thread.

    Plain attributes you may change at any time: ``token_delay`` (seconds per streamed
    chunk), ``verbose`` (log each request to stderr).
    """

    handler_class: ClassVar[type[FakeHandler]]
    name: ClassVar[str] = "fake-server"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token_delay: float = 0.0,
        verbose: bool = False,
    ) -> None:
        self.token_delay = token_delay
        self.verbose = verbose
        self._address = (host, port)
        self._lock = threading.RLock()  # shared state
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._faults: list[Fault] = []
        self._log: list[RecordedRequest] = []
        self._down = False

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = ThreadingHTTPServer(self._address, self.handler_class)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.name = f"{self.name}-{self.port}"
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        return f"http://{self._address[0]}:{self.port}"

    # -- faults, down mode ------------------------------------------------------------------
    # Each request consumes at most one queued fault: the first that matches it.

    def set_down(self, down: bool = True) -> None:
        """While down, every request is recorded, then its connection is closed unanswered."""
        with self._lock:
            self._down = down

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _queue(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(
        self, path: str, model: str | None = None, generating: bool = True
    ) -> Fault | None:
        """Consume one use of the first queued fault matching this request (a copy of it)."""
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.matches(path, model, generating):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return replace(fault)
        return None

    # -- recording --------------------------------------------------------------------------

    @property
    def requests_log(self) -> list[RecordedRequest]:
        """Every request received, in arrival order (a copy)."""
        with self._lock:
            return list(self._log)

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests_log if r.path == path and method in (None, r.method)]

    def reset(self) -> None:
        """Forget requests and faults and come back up."""
        with self._lock:
            self._log.clear()
            self._faults.clear()
            self._down = False

    def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)


class FakeHandler(BaseHTTPRequestHandler):
    """One connection to a fake: records each request, honours down mode, then calls
    :meth:`respond`; an :class:`HTTPError` raised there becomes an error reply."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeServer/1.0"
    #: the outcome recorded when the client went away mid-answer
    client_gone_outcome: ClassVar[str] = "client_gone"
    json_content_type: ClassVar[str] = "application/json; charset=utf-8"
    json_ascii: ClassVar[bool] = False
    garbage_page: ClassVar[bytes] = b"<html><body><h1>It works!</h1></body></html>\n"

    _record: RecordedRequest
    _arrival: int  # time.monotonic_ns() when the request arrived

    def version_string(self) -> str:
        return self.server_version

    @property
    def fake(self) -> FakeServer:
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

    def do_POST(self) -> None:
        self._dispatch()

    # -- to implement -----------------------------------------------------------------------

    def respond(self, path: str, raw: bytes) -> None:
        """Answer the request (``raw`` is its body); the protocol's part."""
        raise NotImplementedError

    def error_body(self, error: HTTPError) -> Any:
        """The JSON body of an error reply."""
        return {"error": error.message}

    def fault_error(self, fault: Fault) -> HTTPError:
        """The error a ``status`` fault with a JSON body answers."""
        return HTTPError(fault.status, fault.message, fault.headers)

    # -- plumbing ---------------------------------------------------------------------------

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
            try:
                self.respond(path, raw)
            except HTTPError as exc:
                self._send_json(
                    exc.status, self.error_body(exc), outcome="error", headers=exc.headers
                )
        except (ClientGone, OSError):
            self._record.outcome = self.client_gone_outcome
            self.close_connection = True

    def _simple_fault(self, fault: Fault | None) -> bool:
        """Apply a fault that acts before any answer (a status, an HTML page instead of the
        API, a hang before the first byte); True when the request has been answered."""
        if fault is None:
            return False
        if fault.kind == "hang" and fault.after_chunks is None:
            self.fake._sleep(fault.seconds)
            return False
        if fault.kind == "status":
            if fault.json_body:
                raise self.fault_error(fault)
            body = fault.message.encode()
            self._send(fault.status, body, "text/html", outcome="error", headers=fault.headers)
            return True
        if fault.kind == "garbage" and fault.html:
            self._send(200, self.garbage_page, "text/html; charset=utf-8", outcome="garbage")
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
        """A whole reply with ``Content-Length`` (no body on HEAD)."""
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
            raise ClientGone from exc

    def _json_bytes(self, obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=self.json_ascii).encode()

    def _send_json(
        self,
        status: int,
        obj: Any,
        *,
        outcome: str = "ok",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        body = self._json_bytes(obj)
        self._send(status, body, self.json_content_type, outcome=outcome, headers=headers)

    def _start_stream(self, content_type: str) -> None:
        """Send a 200 whose body follows in chunks (:meth:`_write_chunk`)."""
        self._record.status, self._record.outcome = 200, "ok"
        try:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
        except OSError as exc:
            raise ClientGone from exc

    def _write_chunk(self, data: bytes) -> None:
        """One HTTP chunk; empty data ends the body."""
        try:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        except OSError as exc:
            raise ClientGone from exc

    def _drop(self, outcome: str) -> None:
        """Close the connection without (finishing) an answer."""
        self._record.outcome = outcome
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
