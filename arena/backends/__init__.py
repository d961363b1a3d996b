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
    ModelNotFound,
    StreamError,
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
    "ModelNotFound",
    "OllamaClient",
    "StreamError",
    "normalize_keep_alive",
    "parse_ollama_host",
]
