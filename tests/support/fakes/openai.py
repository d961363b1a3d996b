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

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from tests.support.fakes.base import FakeHandler, FakeServer
from tests.support.fakes.openai_handler import CHAT, MODELS, OpenAIFault, OpenAIHandler

__all__ = ["CHAT", "MODELS", "FakeOpenAI", "OpenAIFault"]


class FakeOpenAI(FakeServer):
    """A fake OpenAI-compatible server in a daemon thread; ``url`` is the root, ``base_url``
    the ``/v1`` API root.

    A request's ``outcome`` is one of: ok, error, cut, error_chunk, garbage, dropped.
    """

    handler_class: ClassVar[type[FakeHandler]] = OpenAIHandler
    name: ClassVar[str] = "fake-openai"

    def __init__(
        self,
        models: Iterable[str] = ("llama3.2:1b", "qwen2.5:0.5b-instruct"),
        *,
        token_delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, token_delay=token_delay)
        self.send_usage = True
        self.send_timings = False
        self.null_when_empty = False
        self.require_key: str | None = None
        self._models = list(models)
        self._answers: dict[str | None, str] = {}
        self._reasoning: dict[str, tuple[str, str]] = {}

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    # -- models, answers --------------------------------------------------------------------

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

    def set_reasoning(self, model: str, text: str, field: str = "reasoning_content") -> None:
        """Make ``model`` a thinking model: ``text`` streams as ``field`` deltas
        (``reasoning_content`` like llama.cpp and vLLM, ``reasoning`` like Ollama's /v1)
        before its answer, counted in ``completion_tokens`` and ``max_tokens``."""
        with self._lock:
            self._reasoning[model] = (text, field)

    def _thought(self, model: str) -> tuple[str, str]:
        with self._lock:
            return self._reasoning.get(model, ("", "reasoning_content"))

    def _answer(self, model: str, body: Mapping[str, Any]) -> str:
        with self._lock:
            answer = self._answers.get(model, self._answers.get(None))
        if answer is not None:
            return answer
        users = [m.get("content", "") for m in body["messages"] if m.get("role") == "user"]
        seed = f" (seed {body['seed']})" if body.get("seed") is not None else ""
        return f"Answer from {model} to: {users[-1] if users else ''}{seed}"

    # -- faults -----------------------------------------------------------------------------

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
        self._queue(
            OpenAIFault(
                "status",
                times,
                path,
                status,
                message,
                json_body,
                headers=dict(headers or {}),
                error_type=error_type,
            )
        )

    def cut_next(self, after_chunks: int = 0, *, abrupt: bool = False, times: int = 1) -> None:
        """End the stream after ``after_chunks`` word chunks without ``[DONE]``; ``abrupt``
        cuts the TCP connection instead of ending the HTTP body cleanly."""
        self._queue(OpenAIFault("cut", times, after_chunks=after_chunks, abrupt=abrupt))

    def error_chunk_next(
        self, after_chunks: int, message: str, *, top_level: bool = False, times: int = 1
    ) -> None:
        """Send ``data: {"error": ...}`` after ``after_chunks`` chunks, then end (no [DONE]);
        ``top_level`` sends older vLLM's ``{"object": "error", "message": ...}`` instead."""
        self._queue(
            OpenAIFault(
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
        self._queue(OpenAIFault("garbage", times, path, html=html))

    def hang_next(
        self,
        seconds: float,
        *,
        after_chunks: int | None = None,
        path: str = CHAT,
        times: int = 1,
    ) -> None:
        """Sleep ``seconds`` before the first byte (or after ``after_chunks`` chunks)."""
        self._queue(OpenAIFault("hang", times, path, seconds=seconds, after_chunks=after_chunks))
