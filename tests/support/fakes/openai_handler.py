"""The fake OpenAI-compatible server's request handler: the model list and chat completions,
whole or streamed as Server-Sent Events, with OpenAI's error bodies."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from tests.support.fakes.base import FakeHandler, Fault, HTTPError

if TYPE_CHECKING:
    from tests.support.fakes.openai import FakeOpenAI

__all__ = ["CHAT", "ERROR_TYPES", "MODELS", "OpenAIError", "OpenAIFault", "OpenAIHandler"]

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
class OpenAIFault(Fault):
    """A fault of the fake OpenAI server; ``kind`` also cut or error_chunk. It applies to
    requests to its ``path`` (the chat completions by default)."""

    path: str | None = CHAT
    error_type: str | None = None
    top_level: bool = False


class OpenAIError(HTTPError):
    """An error reply with OpenAI's ``type`` (by default the one usual for the status)."""

    def __init__(
        self,
        status: int,
        message: str,
        error_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, message, headers)
        self.error_type = error_type or ERROR_TYPES.get(status, "api_error")


class OpenAIHandler(FakeHandler):
    """Answers one connection to a :class:`~tests.support.fakes.openai.FakeOpenAI`."""

    server_version = "FakeOpenAI/1.0"
    client_gone_outcome: ClassVar[str] = "dropped"
    json_content_type: ClassVar[str] = "application/json"
    json_ascii: ClassVar[bool] = True
    garbage_page = b"<html><body><h1>It works!</h1><p>Not an API.</p></body></html>\n"

    @property
    def fake(self) -> FakeOpenAI:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def error_body(self, error: HTTPError) -> Any:
        if isinstance(error, OpenAIError):
            error_type = error.error_type
        else:
            error_type = ERROR_TYPES.get(error.status, "api_error")
        return {
            "error": {"message": error.message, "type": error_type, "param": None, "code": None}
        }

    def fault_error(self, fault: Fault) -> HTTPError:
        error_type = fault.error_type if isinstance(fault, OpenAIFault) else None
        return OpenAIError(fault.status, fault.message, error_type, fault.headers)

    def respond(self, path: str, raw: bytes) -> None:
        fake = self.fake
        body = self._record.body
        key = fake.require_key
        if key and self.headers.get("Authorization") != f"Bearer {key}":
            raise OpenAIError(401, "Incorrect API key provided")
        fault = fake._take_fault(path)
        if fault is not None and self._simple_fault(fault):
            return
        if (self.command, path) == ("GET", MODELS):
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in fake.models
            ]
            empty: list[Any] | None = None if fake.null_when_empty else []
            self._send_json(200, {"object": "list", "data": data or empty})
        elif (self.command, path) == ("POST", CHAT):
            self._chat(body, fault)
        else:
            self._send(404, b"404 page not found", "text/plain", outcome="error")

    def _chat(self, body: Any, fault: Fault | None) -> None:
        if not isinstance(body, dict):
            raise OpenAIError(400, "invalid JSON body")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise OpenAIError(400, "model is required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise OpenAIError(400, "[] is too short - 'messages'")
        if model not in self.fake.models:
            raise OpenAIError(404, f"model '{model}' not found")
        limit = body.get("max_tokens")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
            raise OpenAIError(400, "max_tokens must be an integer")
        thought, field = self.fake._thought(model)
        thinking = re.findall(r"\s*\S+", thought)  # streamed first, as `field` deltas
        words = thinking + re.findall(r"\s*\S+", self.fake._answer(model, body))
        finish = "stop"
        if isinstance(limit, int) and 0 <= limit < len(words):
            words, finish = words[:limit], "length"
        self._reasoning = (field, len(thinking))
        usage = {"prompt_tokens": 12, "completion_tokens": len(words)}
        usage["total_tokens"] = usage["prompt_tokens"] + len(words)
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(words[len(thinking) :])}
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
        fault: Fault | None,
    ) -> None:
        self._start_stream("text/event-stream")
        if fault is not None and fault.kind == "garbage":
            self._record.outcome = "garbage"
            self._event(b"<<this is not json>>")
            self._event(b"[DONE]")
            self._write_chunk(b"")
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
            field, thought = self._reasoning
            piece = {field if index < thought else "content": words[index]}
            self._event_json(chunk | {"choices": [self._choice(piece, None)]})
        last = chunk | {"choices": [self._choice({}, finish)]}
        if self.fake.send_timings:
            last["timings"] = {"prompt_n": 12, "prompt_ms": 30.0, "predicted_n": len(words)}
            last["timings"]["predicted_ms"] = 10.0 * len(words)
        self._event_json(last)
        options = body.get("stream_options") or {}
        if self.fake.send_usage and options.get("include_usage"):
            self._event_json(chunk | {"choices": [], "usage": usage})
        self._event(b"[DONE]")
        self._write_chunk(b"")

    def _stream_fault(self, fault: Fault) -> bool:
        """Apply a fault in the middle of a stream; True when the answer is over."""
        if fault.kind == "hang":
            self.fake._sleep(fault.seconds)
            return False
        if fault.kind == "error_chunk":
            self._record.outcome = "error_chunk"
            error = {"message": fault.message, "type": "api_error", "param": None, "code": None}
            top_level = isinstance(fault, OpenAIFault) and fault.top_level
            self._event_json({"object": "error"} | error if top_level else {"error": error})
            self._write_chunk(b"")
        elif fault.abrupt:
            self._drop("cut")
        else:
            self._record.outcome = "cut"
            self._write_chunk(b"")
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
        self._event(self._json_bytes(obj))

    def _event(self, data: bytes) -> None:
        self._write_chunk(b"data: " + data + b"\n\n")
