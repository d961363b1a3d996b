"""A fake Ollama server: a real HTTP server speaking Ollama's native API, for tests and benches.

It behaves like ``ollama serve`` on a CPU with room for one model and OLLAMA_NUM_PARALLEL=1:
generations run one at a time, and switching models (or changing ``num_ctx``) pays
``load_delay``. Answers are deterministic (``"Answer from <model> to: <prompt>"``) unless set
with :meth:`FakeOllama.set_answer`. Faults are queued and consumed one request at a time.

    with FakeOllama(["llama3.2:1b"], token_delay=0.01) as fake:
        requests.post(fake.url + "/api/chat", json={...})

It validates requests like the real server (status codes and error texts of
/work/shared/OLLAMA_API.md section 4; see :mod:`tests.support.fakes.ollama_handler`). Not
simulated: the 403 Host-header check, pulls, embeddings, the OpenAI-compatible endpoints,
several loaded models at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, ClassVar

from tests.support.fakes.base import FakeHandler, FakeServer, Fault
from tests.support.fakes.ollama_api import (
    BUSY_MESSAGE,
    DEFAULT_MODELS,
    FOREVER_S,
    PROMPT_ECHO_WORDS,
    RUNNER_DIED,
    AnswerSource,
    FakeModel,
    OllamaFault,
    guess_parameter_size,
    model_key,
)
from tests.support.fakes.ollama_handler import OllamaHandler

__all__ = ["FakeOllama"]


class FakeOllama(FakeServer):
    """A fake ``ollama serve`` on 127.0.0.1 (free port by default), in a daemon thread.

    Plain attributes you may change at any time: ``token_delay`` (seconds per streamed
    chunk), ``load_delay`` (seconds per model load), ``version``, ``text_in_final_chunk``
    (put the last piece of text in the ``done`` chunk, as Ollama sometimes does),
    ``legacy_tags`` (list models with ``name`` only, like old servers), ``legacy_show``
    (``/api/show`` without ``capabilities``, like servers before 0.6.4), ``require_token``
    (answer 401 unless ``Authorization: Bearer <token>``, like a reverse proxy),
    ``num_parallel`` (generation slots of the loaded model, like ``OLLAMA_NUM_PARALLEL``;
    default 1). ``max_in_flight`` and ``max_models_at_once`` record the most generations,
    and the most distinct models, that were ever under way at once.

    A request's ``outcome`` is one of: ok, error, load, unload, client_gone, dropped,
    garbage, mid_stream_error, truncated.
    """

    handler_class: ClassVar[type[FakeHandler]] = OllamaHandler
    name: ClassVar[str] = "fake-ollama"

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
        super().__init__(host=host, port=port, token_delay=token_delay, verbose=verbose)
        self.load_delay = load_delay
        self.version = version
        self.text_in_final_chunk = False
        self.legacy_tags = False
        self.legacy_show = False
        self.require_token: str | None = None
        self.num_parallel = 1
        self._slots = threading.Condition()  # the generation slots, all of one model
        self._in_flight: dict[str, int] = {}  # model_key -> generations under way
        self._loading = False
        self.max_in_flight = 0
        self.max_models_at_once = 0
        self._models: dict[str, FakeModel] = {}
        self._answers: dict[str | None, AnswerSource] = {}
        self._loads = 0
        self._load_history: list[str] = []
        self._loaded: str | None = None  # model_key
        self._loaded_ctx: int | None = None
        self._expires_at = 0.0  # time.time() when the loaded model will be unloaded
        for model in DEFAULT_MODELS if models is None else models:
            if isinstance(model, FakeModel):
                self._models[model_key(model.tag)] = replace(model)
            else:
                self.add_model(model, guess_parameter_size(model))

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
        self._queue(
            OllamaFault(
                "status",
                times,
                path,
                status,
                error_message,
                json_body=json_body,
                headers=dict(headers or {}),
                model=model,
            )
        )

    def fail_mid_stream(
        self,
        after_chunks: int,
        message: str = RUNNER_DIED,
        times: int = 1,
        model: str | None = None,
    ) -> None:
        """Send ``after_chunks`` chunks, then an ``{"error": message}`` line, and end."""
        self._queue(
            OllamaFault(
                "mid_stream", times, message=message, after_chunks=after_chunks, model=model
            )
        )

    def garbage_next(
        self, times: int = 1, *, model: str | None = None, path: str | None = None
    ) -> None:
        """Answer 200 with an HTML page instead of JSON."""
        self._queue(OllamaFault("garbage", times, path, model=model))

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
        self._queue(
            OllamaFault("truncate", times, after_chunks=after_chunks, abrupt=abrupt, model=model)
        )

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
        self._queue(
            OllamaFault(
                "hang", times, path, seconds=seconds, after_chunks=after_chunks, model=model
            )
        )

    def _queue(self, fault: Fault) -> None:
        if isinstance(fault, OllamaFault) and fault.model is not None:
            fault.model = model_key(fault.model)
        super()._queue(fault)

    # -- recording ------------------------------------------------------------------------

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
            super().reset()
            self._loads = 0
            self._load_history.clear()
            self._loaded = self._loaded_ctx = None
        with self._slots:
            self.max_in_flight = self.max_models_at_once = 0

    # -- internals used by the handler ------------------------------------------------------

    def _current_loaded(self) -> str | None:
        if self._loaded is not None and time.time() >= self._expires_at:
            self._loaded = self._loaded_ctx = None  # keep_alive expired
        return self._loaded

    def _answer_text(self, key: str, request: dict[str, Any], prompt: str) -> str:
        with self._lock:
            answer = self._answers.get(key, self._answers.get(None))
            tag = self._models[key].tag if key in self._models else key
        if callable(answer):
            return str(answer(request))
        if answer is not None:
            return answer
        words = prompt.split()
        echo = " ".join(words[:PROMPT_ECHO_WORDS]) + (
            "..." if len(words) > PROMPT_ECHO_WORDS else ""
        )
        options = request.get("options") or {}
        seed = f" (seed {options['seed']})" if options.get("seed") is not None else ""
        return f"Answer from {tag} to: {echo}{seed}"

    @contextmanager
    def _generation_slot(self, key: str, num_ctx: int | None) -> Iterator[tuple[bool, int]]:
        """Wait for a slot, loading ``key`` if needed; yields whether a load happened and
        when (``time.monotonic_ns``) the slot was had. Like
        Ollama, a model shares its ``num_parallel`` slots; another model (or num_ctx) waits
        until no generation is under way."""
        with self._slots:
            while True:
                busy = sum(self._in_flight.values())
                if not busy:
                    break
                with self._lock:
                    warm = self._current_loaded() == key and self._loaded_ctx == num_ctx
                if warm and not self._loading and busy < max(1, self.num_parallel):
                    break
                self._slots.wait()
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            self.max_in_flight = max(self.max_in_flight, sum(self._in_flight.values()))
            self.max_models_at_once = max(self.max_models_at_once, len(self._in_flight))
            self._loading = True  # the others wait until this request has its model
        started = time.monotonic_ns()
        try:
            try:
                loaded = self._ensure_loaded(key, num_ctx)
            finally:
                with self._slots:
                    self._loading = False
                    self._slots.notify_all()
            yield loaded, started
        finally:
            with self._slots:
                self._in_flight[key] -= 1
                if not self._in_flight[key]:
                    del self._in_flight[key]
                self._slots.notify_all()

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
                self._expires_at = time.time() + (FOREVER_S if ttl < 0 else ttl)
