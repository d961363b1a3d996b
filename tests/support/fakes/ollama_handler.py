"""The fake Ollama's request handler: routes, validation like the real server (status codes
and error texts of /work/shared/OLLAMA_API.md section 4), loads and streamed generation."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tests.support.fakes.base import FakeHandler, Fault, HTTPError
from tests.support.fakes.ollama_api import (
    FLOAT_OPTIONS,
    GENERATION_PATHS,
    INT_OPTIONS,
    go_decode_error,
    json_type,
    model_key,
    parse_go_duration,
    rfc3339,
    split_pieces,
)

if TYPE_CHECKING:
    from tests.support.fakes.ollama import FakeOllama

__all__ = ["OllamaHandler"]


class OllamaHandler(FakeHandler):
    """Answers one connection to a :class:`~tests.support.fakes.ollama.FakeOllama`."""

    server_version = "FakeOllama/1.0"
    garbage_page = b"<html><body><h1>It works!</h1><p>This is not Ollama.</p></body></html>\n"

    @property
    def fake(self) -> FakeOllama:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def respond(self, path: str, raw: bytes) -> None:
        fake = self.fake
        if fake.require_token and self.headers.get("Authorization") != (
            f"Bearer {fake.require_token}"
        ):
            raise HTTPError(401, "unauthorized")
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

    def _write_line(self, obj: dict[str, Any]) -> None:
        self._write_chunk(self._json_bytes(obj) + b"\n")

    def _end_stream(self) -> None:
        self._write_chunk(b"")

    def _parse(self, raw: bytes, type_name: str) -> dict[str, Any]:
        """Decode a request body the way gin's ShouldBindJSON does."""
        if not raw.strip():
            raise HTTPError(400, "missing request body")
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise HTTPError(400, go_decode_error(exc)) from None
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise HTTPError(
                400,
                f"json: cannot unmarshal {json_type(body)} into Go value of type api.{type_name}",
            )
        return body

    @staticmethod
    def _check_field(body: dict[str, Any], name: str, kind: type, go_type: str, owner: str) -> None:
        value = body.get(name)
        if value is not None and not isinstance(value, kind):
            raise HTTPError(
                400,
                f"json: cannot unmarshal {json_type(value)} into Go struct field "
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
            raise HTTPError(400, f"Unsupported type: '{go_name.get(type(value), 'unknown')}'")
        if isinstance(value, str):
            try:
                return parse_go_duration(value)
            except ValueError as exc:
                raise HTTPError(400, str(exc)) from None
        return float(value)

    def _lookup(self, name: str) -> str:
        key = model_key(name)
        with self.fake._lock:
            if key not in self.fake._models:
                raise HTTPError(404, f"model '{name}' not found")
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
                    "size": model.memory,
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
            raise HTTPError(400, "model is required")
        model = self.fake._models[self._lookup(str(name))]
        family = model.family
        info: dict[str, Any] = {"general.architecture": family}
        if model.param_count is not None:
            info["general.parameter_count"] = model.param_count
        info[f"{family}.context_length"] = model.context_length
        shown = {
            "license": "Fake license",
            "modelfile": f'# Modelfile generated by "ollama show"\nFROM {model.tag}\n',
            "parameters": 'stop "<|end|>"',
            "template": "{{ .Prompt }}",
            "details": model.details(),
            "model_info": info,
            "capabilities": list(model.capabilities),
            "modified_at": model.modified_at,
        }
        if self.fake.legacy_show:  # servers before 0.6.4 report no capabilities
            del shown["capabilities"]
        self._send_json(200, shown)

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
                    raise HTTPError(
                        400,
                        f"json: cannot unmarshal {json_type(message)} into "
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
                raise HTTPError(400, "raw mode does not support template, system, or context")
            prompt = body.get("prompt") or ""
            prompt_words = len(prompt.split()) + len(str(body.get("system") or "").split()) + 4
            generating = bool(prompt)
        name = body.get("model") or ""
        if not name and kind == "chat":
            raise HTTPError(400, "model is required")
        key = self._lookup(name)
        think = body.get("think")
        if think not in (None, False) and "thinking" not in fake._models[key].capabilities:
            raise HTTPError(400, f'"{name}" does not support thinking')
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
        with fake._generation_slot(key, options.get("num_ctx")) as (loaded, started):
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
            if key in INT_OPTIONS and not number:
                raise HTTPError(500, f'option "{key}" must be of type integer')
            if key in FLOAT_OPTIONS and not number:
                raise HTTPError(500, f'option "{key}" must be of type float32')
            if key == "use_mmap" and not isinstance(value, bool):
                raise HTTPError(500, f'option "{key}" must be of type boolean')
            if key == "stop":
                if not isinstance(value, list):
                    raise HTTPError(500, f'option "{key}" must be of type array')
                if not all(isinstance(item, str) for item in value):
                    raise HTTPError(500, f'option "{key}" must be of an array of strings')

    @staticmethod
    def _reply_stub(kind: str, name: str, done_reason: str) -> dict[str, Any]:
        reply: dict[str, Any] = {"model": name, "created_at": rfc3339()}
        if kind == "chat":
            reply["message"] = {"role": "assistant", "content": ""}
        else:
            reply["response"] = ""
        return reply | {"done": True, "done_reason": done_reason}

    def _chunk(self, kind: str, name: str, text: str, thinking: str = "") -> dict[str, Any]:
        chunk: dict[str, Any] = {"model": name, "created_at": rfc3339()}
        if kind == "chat":
            chunk["message"] = {"role": "assistant", "content": text}
            if thinking:
                chunk["message"]["thinking"] = thinking
        else:
            chunk["response"] = text
            if thinking:
                chunk["thinking"] = thinking
        chunk["done"] = False
        return chunk

    def _thinking(self, key: str, body: dict[str, Any], prompt: str) -> str:
        """The model's thinking on this request ("" when it does not think)."""
        model = self.fake._models[key]
        thinks = "thinking" in model.capabilities and body.get("think") is not False
        if not (model.inline_think or thinks):
            return ""
        return model.thinking or f"Let me think. The user asks: {prompt}"

    def _generate(
        self,
        kind: str,
        body: dict[str, Any],
        name: str,
        key: str,
        prompt: str,
        prompt_words: int,
        load_ns: int,
        fault: Fault | None,
        keep_alive_s: float | None,
    ) -> None:
        fake = self.fake
        prompt_start = time.monotonic_ns()
        answer, thought = fake._answer_text(key, body, prompt), self._thinking(key, body, prompt)
        if thought and fake._models[key].inline_think:
            answer, thought = f"<think>{thought}</think>\n\n{answer}", ""
        thinking = split_pieces(thought)  # streamed first; they count as generated tokens
        pieces = thinking + split_pieces(answer)
        options = body.get("options") or {}
        limit = options.get("num_predict")
        done_reason = "stop"
        if isinstance(limit, int | float) and 0 <= limit < len(pieces):
            pieces, done_reason = pieces[: int(limit)], "length"
        thinking = thinking[: len(pieces)]
        eval_start = time.monotonic_ns()
        stream = body.get("stream") is not False
        if stream:
            self._start_stream("application/x-ndjson")
        final_text = ""
        if fake.text_in_final_chunk and len(pieces) > len(thinking):
            pieces, final_text = pieces[:-1], pieces[-1]
        for index in range(len(pieces) + 1):
            if fault is not None and fault.after_chunks == index:
                if fault.kind == "hang":
                    fake._sleep(fault.seconds)
                elif fault.kind == "mid_stream":
                    if not stream:
                        raise HTTPError(500, fault.message)
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
            if stream and index < len(thinking):
                self._write_line(self._chunk(kind, name, "", pieces[index]))
            elif stream:
                self._write_line(self._chunk(kind, name, pieces[index]))
        if final_text:
            fake._sleep(fake.token_delay)
        eval_count = len(pieces) + bool(final_text)
        end = time.monotonic_ns()
        whole = "".join(pieces[len(thinking) :]) + final_text
        final: dict[str, Any] = self._chunk(
            kind, name, final_text if stream else whole, "" if stream else "".join(thinking)
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
