"""Model-server backends. A leaf package: it imports nothing from the rest of ``arena``."""

from arena.backends.base import (
    Backend,
    BackendBusy,
    BackendError,
    BackendHTTPError,
    BackendModel,
    BackendTimeout,
    BackendUnreachable,
    ChatResult,
    GenerationOptions,
    MalformedReply,
    MissingModelAdvice,
    ModelNotFound,
    StreamError,
    ThinkRefused,
    missing_model_hint,
)
from arena.backends.ollama import OllamaClient, normalize_keep_alive, parse_ollama_host

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
    "OllamaClient",
    "StreamError",
    "ThinkRefused",
    "missing_model_hint",
    "normalize_keep_alive",
    "parse_ollama_host",
]

# More backends: an OpenAI-compatible HTTP client and llama.cpp in-process (xllamacpp, optional).
from arena.backends.embedded import EmbeddedBackend, EmbeddedModelSpec, packaged_models
from arena.backends.openai_compat import OpenAICompatClient

__all__ += ["EmbeddedBackend", "EmbeddedModelSpec", "OpenAICompatClient", "packaged_models"]
