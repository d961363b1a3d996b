"""The embedded backend's facts and memory (a mixin of
:class:`~arena.backends.embedded.EmbeddedBackend`).

Facts come from the model's spec and its GGUF header (:mod:`arena.backends.gguf`): the
parameter count (every tensor's elements), ``<arch>.context_length``, the architecture as
family, the file's size as disk bytes. A GGUF with ``<arch>.pooling_type`` is an embedding
model (BERT-like encoders such as nomic-embed-text carry it); any other is a chat model.

Resident memory is *measured*: this process's resident set (``/proc/self/statm``) just before
the model is loaded, and after each of its generations; the largest growth over that load is
the model's figure (weights, KV cache and buffers). It is approximate: pages of the
memory-mapped file count once touched, the allocator may keep memory another model freed,
and other threads of the process allocate too. Where there is no ``/proc`` it is unknown.
"""

from __future__ import annotations

from pathlib import Path

from arena.backends.base import BackendError
from arena.backends.embedded_support import resident_set_bytes
from arena.backends.facts import CHAT_CAPABILITY, ModelFacts, ResidentMemory
from arena.backends.gguf import GGUFError, read_header
from arena.backends.packaged import EmbeddedModelSpec

__all__ = ["EmbeddedFacts", "spec_facts"]


def spec_facts(spec: EmbeddedModelSpec, path: Path) -> ModelFacts:
    """The facts of ``spec``, whose GGUF file is at ``path``."""
    try:
        header = read_header(path)
        disk = path.stat().st_size
    except (OSError, GGUFError) as error:
        raise BackendError(
            f"cannot read the GGUF header of {spec.tag!r} ({path}): {error}"
        ) from error
    context = header.arch_value("context_length")
    embedding = header.arch_value("pooling_type") is not None
    return ModelFacts(
        tag=spec.tag,
        capabilities=("embedding",) if embedding else (CHAT_CAPABILITY,),
        param_count=header.parameter_count or None,
        context_length=context if isinstance(context, int) and context > 0 else None,
        family=spec.family or header.architecture,
        quantization=spec.quantization,
        parameter_size=spec.parameter_size,
        disk_bytes=disk,
    )


class EmbeddedFacts:
    """``show()`` and ``resident_memory()`` for the embedded backend, and the two hooks it
    calls to measure a load: :meth:`_load_starting` and :meth:`_generated`."""

    _rss_before_load: int | None = None
    _load_growth: dict[str, int] | None = None

    def _spec(self, model: str) -> EmbeddedModelSpec:
        raise NotImplementedError

    def _path(self, spec: EmbeddedModelSpec) -> Path:
        raise NotImplementedError

    def show(self, tag: str) -> ModelFacts:
        """The model's facts from its spec and GGUF header (reads no tensor data)."""
        spec = self._spec(tag)
        return spec_facts(spec, self._path(spec))

    def resident_memory(self, tag: str) -> ResidentMemory | None:
        """The growth of this process's memory measured over ``tag``'s last load; None
        before it has generated once."""
        growth = (self._load_growth or {}).get(tag)
        return ResidentMemory(growth, "measured") if growth else None

    def _load_starting(self, tag: str) -> None:
        """Called just before a model is loaded: the baseline of the measure."""
        self._rss_before_load = resident_set_bytes()
        if self._load_growth is None:
            self._load_growth = {}
        self._load_growth.pop(tag, None)  # a new load is measured afresh

    def _generated(self, tag: str) -> None:
        """Called after a generation of the loaded model ``tag``: keep the largest growth."""
        before, now = self._rss_before_load, resident_set_bytes()
        if before is None or now is None or self._load_growth is None:
            return
        growth = now - before
        if growth > self._load_growth.get(tag, 0):
            self._load_growth[tag] = growth
