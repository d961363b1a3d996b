"""Backend-neutral types: model entries, generation options, results, errors and the protocol.

This module is a leaf: it imports nothing from the rest of ``arena``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from arena.backends.redact import redact

__all__ = [
    "Backend",
    "BackendBusy",
    "BackendError",
    "BackendHTTPError",
    "BackendModel",
    "BackendTimeout",
    "BackendUnreachable",
    "ChatResult",
    "GenerationOptions",
    "MalformedReply",
    "MissingModelAdvice",
    "ModelNotFound",
    "StreamError",
    "ThinkRefused",
    "missing_model_hint",
]

DEFAULT_MISSING_MODEL_HINT = (
    "load it on the backend, or run `flask --app arena models sync` to update the catalogue"
)
GENERIC_OBTAIN_HINT = "load it on the backend first"


@dataclass(frozen=True)
class BackendModel:
    """One entry of a backend's model list."""

    tag: str  # exactly as the backend names it, e.g. "qwen2.5:0.5b-instruct-q8_0"
    family: str | None
    parameter_size: str | None  # raw string from the details, e.g. "7.6B", "360M"
    quantization: str | None  # e.g. "Q4_K_M"
    size_bytes: int | None
    digest: str | None


@dataclass(frozen=True)
class GenerationOptions:
    """Sampling and runner options for one generation.

    ``num_ctx`` is a runner option: keep it constant across calls, because a request
    that changes it (or leaves out a value an earlier request set) forces a model reload.
    ``think`` is Ollama's top-level ``think`` (None: left out, the model thinks as it would
    for its users; False, True or a level such as ``"low"``), not one of its ``options``.
    """

    temperature: float = 0.7
    num_predict: int = 1024
    seed: int | None = None
    top_p: float | None = None
    num_ctx: int | None = None
    # Further sampling options (a contestant variant's overrides); None: the backend's default.
    top_k: int | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None
    repeat_last_n: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: tuple[str, ...] | None = None
    think: bool | str | None = None

    def to_ollama(self) -> dict[str, Any]:
        """The Ollama ``options`` object, leaving out options that are None."""
        values: dict[str, Any] = {
            "temperature": self.temperature,
            "num_predict": self.num_predict,
            "seed": self.seed,
            "top_p": self.top_p,
            "num_ctx": self.num_ctx,
        }
        values.update(self.sampling_extras())
        return {key: value for key, value in values.items() if value is not None}

    def sampling_extras(self) -> dict[str, Any]:
        """The further sampling options that are set, by the names Ollama's ``options`` and
        llama.cpp's server (and the embedded backend, which is llama.cpp's server in-process)
        use for them; ``stop`` as a list."""
        values: dict[str, Any] = {
            "top_k": self.top_k,
            "min_p": self.min_p,
            "repeat_penalty": self.repeat_penalty,
            "repeat_last_n": self.repeat_last_n,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
            "stop": list(self.stop) if self.stop is not None else None,
        }
        return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True)
class ChatResult:
    """The complete answer of one chat generation, with the backend's timing stats.

    Durations are nanoseconds, counts are tokens; a metric is None when the backend left
    it out (Ollama omits zero metrics).
    """

    text: str
    model: str
    done_reason: str | None
    eval_count: int | None
    eval_duration: int | None
    prompt_eval_count: int | None
    prompt_eval_duration: int | None
    load_duration: int | None
    total_duration: int | None
    # From the request to the first generated token (thinking included), as the client saw it.
    first_token_ns: int | None = None
    # A thinking model's reasoning, apart from ``text``; its tokens are part of eval_count.
    thinking: str | None = None
    thinking_tokens: int | None = None
    thinking_duration: int | None = None

    @property
    def tokens_per_second(self) -> float | None:
        """Generation speed (eval_count / eval_duration), or None when unknown."""
        if not self.eval_count or not self.eval_duration or self.eval_duration <= 0:
            return None
        return self.eval_count / (self.eval_duration / 1e9)


class BackendError(Exception):
    """Base class of backend failures; ``str(exc)`` tells an operator what to do.

    Its message never holds a credential: URLs lose their ``user:password@`` and key
    parameters, ``Bearer`` tokens are hidden (:func:`arena.backends.redact.redact`).
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(arg) if isinstance(arg, str) else arg for arg in args))


class BackendUnreachable(BackendError):
    """The backend could not be connected to (after retries)."""


class BackendTimeout(BackendError):
    """A connect or read timeout."""


class ModelNotFound(BackendError):
    """The backend does not have the requested model.

    ``url`` says where it was looked for (None when the backend has no URL); ``hint`` is the
    backend's advice on getting the model (see :func:`missing_model_hint`).
    """

    def __init__(self, model: str, url: str | None = None, hint: str = "") -> None:
        self.model = model
        self.url = redact(url) if url else url
        self.hint = hint or DEFAULT_MISSING_MODEL_HINT
        where = f" on {self.url}" if self.url else ""
        super().__init__(f"model {model!r} not found{where}: {self.hint}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.model, self.url, self.hint))


class BackendBusy(BackendError):
    """The backend kept answering 503 (queue full) after retries."""


class StreamError(BackendError):
    """An error line arrived mid-stream, or the stream ended without its final chunk."""


class MalformedReply(BackendError):
    """The backend answered something that is not JSON or does not have the expected shape."""


class BackendHTTPError(BackendError):
    """Any other non-2xx answer; ``status`` is the HTTP status, ``message`` the server's text."""

    def __init__(self, status: int, message: str, url: str | None = None, hint: str = "") -> None:
        self.status = status
        self.message = redact(message)
        self.url = redact(url) if url else url
        self.hint = hint
        where = self.url or "the backend"
        text = f"{where} answered HTTP {status}: {message}"
        super().__init__(f"{text}: {hint}" if hint else text)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.status, self.message, self.url, self.hint))


class ThinkRefused(BackendHTTPError):
    """The request asked a model that cannot think to think (Ollama's 400 ``"NAME" does not
    support thinking``): the same request without ``think`` will do."""


@runtime_checkable
class Backend(Protocol):
    """What the arena needs from a model server."""

    name: str
    #: How many requests to the same loaded model may run at once (BACKENDS' ``parallel``).
    parallel: int

    def list_models(self) -> list[BackendModel]:
        """The models installed on the backend."""
        ...

    def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        options: GenerationOptions,
        *,
        keep_alive: int | str | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> ChatResult:
        """Generate a reply; ``on_token`` receives each piece's answer text as it streams
        (``""`` for a piece of thinking, which is kept apart in ``ChatResult.thinking``)."""
        ...

    def version(self) -> str:
        """The backend's version string."""
        ...

    def unload(self, model: str) -> None:
        """Free the model's memory now."""
        ...


@runtime_checkable
class MissingModelAdvice(Protocol):
    """A backend that can say how an operator gets a model it does not have."""

    def missing_model_hint(self, tag: str) -> str:
        """How to make ``tag`` available, e.g. "pull it with `ollama pull llama3.2:1b`"."""
        ...


def missing_model_hint(backend: object, tag: str) -> str:
    """``backend``'s advice on getting ``tag``, or a generic one when it has none (a wrapper
    such as a router or a meter)."""
    if isinstance(backend, MissingModelAdvice):
        return backend.missing_model_hint(tag)
    return GENERIC_OBTAIN_HINT
