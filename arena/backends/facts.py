"""What a backend says about a model, apart from generating with it: its capabilities, exact
size and context length (:class:`ModelFacts`), and the memory it holds while loaded
(:class:`ResidentMemory`).

Backends that can tell implement :class:`FactsSource` (``show(tag)``) and
:class:`MemoryProbe` (``resident_memory(tag)``); :func:`model_facts` and
:func:`resident_memory` ask any backend, answering None for one that cannot tell (a wrapper,
an OpenAI-compatible server). Ollama's answers are read here (:func:`facts_from_show`,
:func:`memory_from_ps`) so that the client stays small.

How memory is known (``ResidentMemory.source``, stored as ``Model.memory_source``):
``"ps"`` Ollama's ``/api/ps`` ``size`` of the loaded model (weights, KV cache and compute
buffers, as Ollama accounts them); ``"measured"`` the embedded backend's growth of this
process's resident set from before the load to after a generation (approximate: the
allocator may keep freed memory, and pages of the memory-mapped file count once touched);
``"configured"`` the operator's figure (``memory`` of an OpenAI-compatible backend's
``BACKENDS`` entry), since such servers have no way to say.

This module is a leaf: it imports nothing from the rest of ``arena``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "CHAT_CAPABILITY",
    "FactsSource",
    "MemoryProbe",
    "ModelFacts",
    "ResidentMemory",
    "facts_from_show",
    "memory_from_ps",
    "model_facts",
    "parse_memory",
    "resident_memory",
]

#: The capability a model needs to answer chat requests (Ollama's name for it).
CHAT_CAPABILITY = "completion"
MEMORY_SOURCES = ("ps", "measured", "configured")
_MEMORY = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*([KMGT]i?B?|B)?\s*", re.IGNORECASE)


@dataclass(frozen=True)
class ModelFacts:
    """What a backend says about one model; a field is None when it did not say.

    ``capabilities`` is None when the server does not report them (Ollama before 0.6.4):
    such a model is taken to be a chat model (``capabilities_known`` is False).
    """

    tag: str
    capabilities: tuple[str, ...] | None = None
    param_count: int | None = None
    context_length: int | None = None
    family: str | None = None
    quantization: str | None = None
    parameter_size: str | None = None  # the server's rounded string, e.g. "494.03M"
    disk_bytes: int | None = None

    @property
    def capabilities_known(self) -> bool:
        return self.capabilities is not None

    @property
    def chat_capable(self) -> bool:
        """True unless the server says the model cannot complete a chat (an embedding model)."""
        return self.capabilities is None or CHAT_CAPABILITY in self.capabilities

    def why_not_chat(self) -> str:
        """Why the model cannot be a contestant (for a model that is not ``chat_capable``)."""
        what = ", ".join(self.capabilities or ()) or "none"
        kind = (
            "an embedding model" if "embedding" in (self.capabilities or ()) else "not a chat model"
        )
        return (
            f"{self.tag!r} is {kind} (its capabilities: {what}; a contestant needs "
            f"{CHAT_CAPABILITY!r}): it cannot answer a prompt, so it cannot compete"
        )


@dataclass(frozen=True)
class ResidentMemory:
    """The memory a model holds while loaded, in bytes, and how it was known (``ps``,
    ``measured`` or ``configured``: see the module's docstring)."""

    bytes: int
    source: str


@runtime_checkable
class FactsSource(Protocol):
    """A backend that describes its models."""

    def show(self, tag: str) -> ModelFacts:
        """The facts of ``tag``; raises ModelNotFound when the backend has no such model."""
        ...


@runtime_checkable
class MemoryProbe(Protocol):
    """A backend that can say how much memory a model holds while loaded."""

    def resident_memory(self, tag: str) -> ResidentMemory | None:
        """The memory ``tag`` holds now (or held when last loaded); None when not known."""
        ...


def model_facts(backend: object, tag: str) -> ModelFacts | None:
    """``backend``'s facts of ``tag``, or None when it cannot describe models."""
    if isinstance(backend, FactsSource):
        return backend.show(tag)
    return None


def resident_memory(backend: object, tag: str) -> ResidentMemory | None:
    """``backend``'s figure for ``tag``'s resident memory, or None when it cannot tell."""
    if isinstance(backend, MemoryProbe):
        return backend.resident_memory(tag)
    return None


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return int(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def facts_from_show(tag: str, body: Mapping[str, Any]) -> ModelFacts:
    """Ollama's ``POST /api/show`` answer as facts: ``capabilities``, ``model_info``'s
    ``general.parameter_count`` and ``<arch>.context_length`` (``arch`` from
    ``general.architecture``), ``details``' family, quantisation and parameter size."""
    info = body.get("model_info")
    info = info if isinstance(info, Mapping) else {}
    details = body.get("details")
    details = details if isinstance(details, Mapping) else {}
    raw = body.get("capabilities")
    capabilities = (
        tuple(str(item) for item in raw if isinstance(item, str)) if isinstance(raw, list) else None
    )
    arch = _text(info.get("general.architecture"))
    context = info.get(f"{arch}.context_length") if arch else None
    return ModelFacts(
        tag=tag,
        capabilities=capabilities,
        param_count=_positive_int(info.get("general.parameter_count")),
        context_length=_positive_int(context),
        family=_text(details.get("family")) or arch,
        quantization=_text(details.get("quantization_level")),
        parameter_size=_text(details.get("parameter_size")),
    )


def _same_model(name: str, tag: str) -> bool:
    return name == tag or name == f"{tag}:latest" or f"{name}:latest" == tag


def memory_from_ps(tag: str, body: Mapping[str, Any]) -> ResidentMemory | None:
    """``tag``'s ``size`` in Ollama's ``GET /api/ps`` answer; None when it is not loaded."""
    entries = body.get("models")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping):
            continue
        names = [_text(entry.get("model")), _text(entry.get("name"))]
        if any(name is not None and _same_model(name, tag) for name in names):
            size = _positive_int(entry.get("size"))
            return ResidentMemory(size, "ps") if size is not None else None
    return None


def parse_memory(value: Any) -> int:
    """Bytes from an operator's figure: a number of bytes, or ``"1.2GB"``, ``"800 MB"``,
    ``"2GiB"`` (K, M, G, T: powers of 1000; KiB, MiB...: of 1024). Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"a memory size is bytes or a string like '1.2GB', not {value!r}")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError(f"a memory size must be positive, not {value!r}")
        return int(value)
    match = _MEMORY.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"a memory size is bytes or a string like '1.2GB', not {value!r}")
    number, unit = float(match.group(1)), (match.group(2) or "").upper()
    base = 1024 if "I" in unit else 1000
    exponent = "BKMGT".index(unit[0]) if unit else 0
    size = int(number * base**exponent)
    if size <= 0:
        raise ValueError(f"a memory size must be positive, not {value!r}")
    return size
