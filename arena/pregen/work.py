"""The work of one contestant in a run, and the order that lets variants share a load.

A contestant variant (:mod:`arena.play.variants`) is served by its backend model: the runner
answers the contestants of one backend model back to back, keeping it loaded between them,
so the model is loaded once for itself and all its variants.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from arena.models import Model
from arena.pregen.generate import ModelRef


@dataclass
class ModelWork:
    """The prompts one model answers in a run, in order."""

    model_id: int
    tag: str
    prompt_ids: list[int]
    family: str | None = None
    backend: str = "ollama"  # the name of the backend that serves it (Model.backend)
    # A contestant variant's backend model, option overrides and system prompt (ModelRef).
    served: str | None = None
    options: dict[str, Any] | None = None
    system: str | None = None
    # The next work item is served by the same loaded model (a variant of it): keep it loaded.
    keep_warm: bool = False

    @property
    def served_tag(self) -> str:
        return self.served or self.tag

    def ref(self) -> ModelRef:
        """The contestant as generation needs it."""
        return ModelRef(
            self.model_id, self.tag, self.family, self.served, self.options, self.system
        )

    @classmethod
    def of(cls, model: Model, prompt_ids: list[int]) -> ModelWork:
        return cls(
            model.id,
            model.tag,
            prompt_ids,
            model.family,
            model.backend,
            model.backend_tag,
            model.variant_options or None,
            model.system_prompt or None,
        )


def share_loads(work: list[ModelWork]) -> list[ModelWork]:
    """``work`` with the contestants of one backend model (itself and its variants) back to
    back, where the first of them stood, each but the last told to keep the model loaded:
    they share one load."""
    groups: dict[tuple[str, str], list[ModelWork]] = {}
    for item in work:
        groups.setdefault((item.backend, item.served_tag), []).append(item)
    ordered = [item for group in groups.values() for item in group]
    for item, following in itertools.pairwise(ordered):
        same = (item.backend, item.served_tag) == (following.backend, following.served_tag)
        item.keep_warm = same
    if ordered:
        ordered[-1].keep_warm = False
    return ordered
