"""A registered model's facts from its backend (``show``: capabilities, exact parameter count,
context length, family, quantisation; ``/api/tags``: the file's size) and its resident memory,
stored on :class:`~arena.models.Model`.

Only chat models can be contestants: a model whose backend reports capabilities without
``completion`` (an embedding model such as ``nomic-embed-text``) is skipped by ``models sync``
and refused by ``models add``. A backend that reports no capabilities (Ollama before 0.6.4,
OpenAI-compatible servers, the embedded backend's own GGUF files) is taken at its word that its
models chat.
"""

from __future__ import annotations

from dataclasses import dataclass

from arena.backends import BackendError, BackendModel
from arena.backends.facts import ModelFacts, ResidentMemory, model_facts
from arena.models import Model

__all__ = ["FactsLookup", "configured_memory", "fetch_facts", "store_facts", "store_memory"]


@dataclass
class FactsLookup:
    """The facts of one model, or why they could not be read (the model is then registered
    from its list entry alone)."""

    facts: ModelFacts | None
    error: str | None = None


def fetch_facts(backend: object, tag: str) -> FactsLookup:
    """``backend``'s facts of ``tag``; a backend error leaves them out and says why."""
    try:
        return FactsLookup(model_facts(backend, tag))
    except BackendError as error:
        return FactsLookup(None, str(error))


def configured_memory(backend_name: str, tag: str) -> ResidentMemory | None:
    """The operator's figure for ``tag`` (``memory`` of its ``BACKENDS`` entry), if any.
    Needs an application context."""
    from arena.backends.configured import backend_specs

    for spec in backend_specs():
        if spec.name == backend_name:
            size = (spec.options.get("memory") or {}).get(tag)
            return ResidentMemory(int(size), "configured") if size else None
    return None


def store_facts(model: Model, entry: BackendModel, facts: ModelFacts | None) -> None:
    """Copy what is known onto ``model``: the exact figures of ``facts`` where present, the
    list entry's size (disk) always; ``params_b`` becomes exact when the count is known."""
    model.disk_bytes = entry.size_bytes or (facts.disk_bytes if facts else None)
    if model.memory_source in (None, "configured"):
        store_memory(model, configured_memory(model.backend, entry.tag))
    if facts is None:
        return
    model.capabilities = list(facts.capabilities) if facts.capabilities is not None else None
    model.param_count = facts.param_count
    model.context_length = facts.context_length
    if facts.param_count:
        model.params_b = round(facts.param_count / 1e9, 6)
    model.family = facts.family or model.family
    model.quantization = facts.quantization or model.quantization


def store_memory(model: Model, memory: ResidentMemory | None) -> None:
    """Record ``memory`` on ``model`` (nothing when None)."""
    if memory is not None:
        model.memory_bytes = memory.bytes
        model.memory_source = memory.source
