"""Thinking models in pre-generation: the ``think`` each request sends, the tokens it may
spend, a refused ``think`` remembered, and a reply that never got past its thinking.

- **What is sent.** ``THINK_DEFAULT = "off"`` sends ``think: false`` for every model.
  Otherwise a model's own setting (``Model.think``, set with ``flask --app arena models
  think TAG on|off|low|medium|high|default``) is sent, and with none ``think`` is left out:
  the model thinks as it would for its users. A model whose backend refused ``think``
  (``Model.think_refused``) is sent none.
- **The token limit.** A model expected to think (its setting asks it to, or it has none
  and its backend lists the ``thinking`` capability) gets ``GEN_THINK_TOKENS`` on top of
  ``GEN_NUM_PREDICT``, so that the thinking leaves room for the answer. Speed still counts
  every generated token, thinking included.
- **Refused.** When the backend answers that the model does not support thinking
  (:class:`~arena.backends.ThinkRefused`), :func:`remember_refused` marks the model (and
  commits) and the same request is sent again without ``think``.
- **No answer.** A reply with thinking and no answer (the token limit came while it was
  thinking, or an unclosed ``<think>`` block) is a degenerate answer: excluded and
  regenerated once with another seed, like other degenerate answers.
- **Leaks.** The identity-leak filter reads the answer, which is all a voter sees; the
  thinking is never shown, before the vote or after it (the reveal shows only how long a
  model thought), so a model that names itself only while thinking is kept.
  :func:`thinking_leak` finds such a naming, which is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select, update

from arena.backends import ChatResult, GenerationOptions
from arena.backends.thinking import THINK_CHOICES, think_wire_value
from arena.extensions import db
from arena.models import Model
from arena.play.catalogue import CatalogueError, get_model
from arena.pregen.leaks import Leak, find_leak

__all__ = [
    "THINK_SETTINGS",
    "ThinkPlan",
    "no_answer_reason",
    "remember_refused",
    "set_think",
    "think_plan",
    "thinking_leak",
]

#: What ``models think TAG ...`` accepts: a think value, or "default" (send none).
THINK_SETTINGS = (*THINK_CHOICES, "default")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThinkPlan:
    """What a model's requests send as ``think`` (None: left out), and whether it is expected
    to think (then it gets the thinking allowance of tokens)."""

    think: bool | str | None = None
    thinks: bool = False

    def apply(self, options: GenerationOptions, config: Mapping[str, Any]) -> GenerationOptions:
        """``options`` with this ``think`` and, when the model thinks, the allowance."""
        allowance = int(config.get("GEN_THINK_TOKENS", 0) or 0) if self.thinks else 0
        return replace(options, think=self.think, num_predict=options.num_predict + allowance)


def think_plan(model_id: int, config: Mapping[str, Any]) -> ThinkPlan:
    """The plan for one model, read afresh (a refusal remembered meanwhile counts)."""
    row = db.session.execute(
        select(Model.think, Model.think_refused, Model.capabilities).where(Model.id == model_id)
    ).one_or_none()
    if row is None or row.think_refused:
        return ThinkPlan()
    if config.get("THINK_DEFAULT", "model") == "off":
        return ThinkPlan(False, False)
    try:
        wire = think_wire_value(row.think)
    except ValueError:  # a value stored by hand: the model's default
        wire = None
    capable = "thinking" in (row.capabilities or [])
    return ThinkPlan(wire, wire not in (None, False) or (wire is None and capable))


def remember_refused(model_id: int, tag: str, message: str) -> None:
    """The backend refused ``think`` for this model: send none from now on (committed)."""
    db.session.execute(update(Model).where(Model.id == model_id).values(think_refused=True))
    db.session.commit()
    log.warning("%s: %s; its requests go without think from now on", tag, message)


def no_answer_reason(result: ChatResult) -> str | None:
    """Why a reply that thought and never answered is excluded; None when it answered."""
    if not result.thinking or result.text.strip():
        return None
    tokens = f"{result.thinking_tokens} thinking tokens" if result.thinking_tokens else "thinking"
    if result.done_reason == "length":
        return f"degenerate answer: no answer, stopped at the token limit after {tokens}"
    return f"degenerate answer: no answer after {tokens}"


def thinking_leak(result: ChatResult, tag: str, family: str | None) -> Leak | None:
    """A naming of itself in the thinking alone (kept: the thinking is never shown)."""
    if not result.thinking:
        return None
    leak = find_leak(result.thinking, tag, family)
    if leak is not None:
        log.info("%s named itself while thinking (%s): kept, the thinking is not shown", tag, leak)
    return leak


def set_think(tag: str, setting: str) -> Model:
    """Set what ``tag``'s requests send as ``think`` (``"default"``: none, the model thinks as
    it would for its users). A refusal remembered before is forgotten, so the backend is
    asked again (a model pulled anew may think now). Raises CatalogueError."""
    if setting not in THINK_SETTINGS:
        raise CatalogueError(f"think must be one of {', '.join(THINK_SETTINGS)}, not {setting!r}")
    model = get_model(tag)
    model.think = None if setting == "default" else setting
    model.think_refused = False
    db.session.commit()
    return model
