"""Thinking kept apart from the answer, the same way for every backend.

Thinking models reason before they answer, and servers hand that reasoning over in one of
two ways:

- in a field of its own: Ollama's ``message.thinking``, OpenAI-compatible servers'
  ``reasoning_content`` (llama.cpp, vLLM, DeepSeek) or ``reasoning`` (Ollama's ``/v1``)
  deltas: fed to :meth:`ThinkingSplitter.thinking`;
- inline in the text, as ``<think>…</think>`` blocks (a server that does not parse them,
  the embedded backend): the text goes to :meth:`ThinkingSplitter.content`, which takes the
  blocks out as it streams, a tag split across pieces included. A ``</think>`` with no
  ``<think>`` before it (a chat template that opens the block in the prompt itself, as
  DeepSeek-R1's does) makes everything before it thinking, once the reply is complete.

An unclosed ``<think>`` (the token limit came while the model was thinking) leaves all of it
as thinking and no answer: the caller treats an empty answer after thinking as a failed one
(``arena.pregen.think``).

Figures: ``first_token_ns`` runs from the request being sent (the caller's ``started``) to
the first generated piece, thinking or answer, on the client's clock. ``thinking_duration``
runs from the first thinking piece to the first answer piece (to the last thinking piece
when no answer came). ``thinking_tokens`` is an estimate, the number of pieces that carried
thinking or a tag (servers stream about one token a piece), since Ollama's ``eval_count`` does not
split thinking from answer; a server that counts them (``reasoning_tokens`` in an
OpenAI-compatible usage) is believed instead. The reasoning tokens stay part of
``eval_count``: speed counts every generated token.

``on_token`` (the caller's progress callback) is called once per piece with the answer
text the piece carried, ``""`` for a piece of thinking, so that it can count progress or
stop a generation while the model thinks and never sees the thinking itself.

This module is a leaf: it imports nothing from the rest of ``arena``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["THINK_CHOICES", "Split", "ThinkingSplitter", "think_wire_value"]

OPEN, CLOSE = "<think>", "</think>"
#: A model's think setting (Model.think), besides None (send nothing: the model's default).
THINK_CHOICES = ("off", "on", "low", "medium", "high")


def think_wire_value(setting: str | None) -> bool | str | None:
    """Ollama's ``think`` for a setting: None (omit it), ``"off"`` → false, ``"on"`` → true,
    a level (``"low"``, ``"medium"``, ``"high"``) as it is."""
    if setting is None:
        return None
    if setting not in THINK_CHOICES:
        raise ValueError(f"think must be one of {', '.join(THINK_CHOICES)}, not {setting!r}")
    return {"off": False, "on": True}.get(setting, setting)


def _held(text: str, tag: str) -> int:
    """How many characters at the end of ``text`` may be the start of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


@dataclass(frozen=True)
class Split:
    """A complete reply, its answer apart from its thinking, with the timings."""

    text: str
    thinking: str | None
    thinking_tokens: int | None
    thinking_duration: int | None
    first_token_ns: int | None

    def fields(self) -> dict[str, Any]:
        """The :class:`~arena.backends.base.ChatResult` fields this fills."""
        return {
            "text": self.text,
            "thinking": self.thinking,
            "thinking_tokens": self.thinking_tokens,
            "thinking_duration": self.thinking_duration,
            "first_token_ns": self.first_token_ns,
        }


class ThinkingSplitter:
    """Collects one streamed reply's pieces into answer and thinking (see the module)."""

    def __init__(
        self,
        on_token: Callable[[str], None] | None,
        *,
        started_ns: int | None = None,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.on_token = on_token
        self.clock = clock
        self.started_ns = clock() if started_ns is None else started_ns
        self.pieces = 0  # every piece, thinking or answer
        self._answer: list[str] = []
        self._answer_ends: list[tuple[int, int, int]] = []  # (text length, ns, piece number)
        self._answer_len = 0
        self._thinking: list[str] = []
        self._thinking_pieces = 0
        self._first_ns: int | None = None
        self._first_thinking_ns: int | None = None
        self._last_thinking_ns: int | None = None
        self._first_answer_ns: int | None = None
        self._buffer = ""
        self._inside = False  # within an inline <think> block
        self._opened = False  # an inline <think> was seen
        self._after_close = False  # the answer's leading blank after </think> is dropped

    def thinking(self, piece: str) -> None:
        """A piece from a separate thinking field."""
        if not piece:
            return
        now = self._tick()
        self._add_thinking(piece, now)
        self._thinking_pieces += 1
        self._emit("")

    def content(self, piece: str) -> None:
        """A piece of the reply's text, which may hold inline ``<think>`` blocks."""
        if not piece:
            return
        now = self._tick()
        self._buffer += piece
        answered: list[str] = []
        thought = False
        while self._buffer:
            tag = CLOSE if self._inside else OPEN
            index = self._buffer.find(tag)
            end = index if index >= 0 else len(self._buffer) - _held(self._buffer, tag)
            part, self._buffer = self._buffer[:end], self._buffer[end:]
            if self._inside and part:
                self._add_thinking(part, now)
                thought = True
            elif part:
                answered.append(self._add_answer(part, now))
            if index < 0:
                break
            self._buffer = self._buffer[len(tag) :]
            thought = True  # the tags are tokens of the thinking too
            self._inside = not self._inside
            self._opened = True
            self._after_close = not self._inside
        self._thinking_pieces += thought
        text = "".join(answered)
        if text:
            self._answer_ends.append((self._answer_len, now, self.pieces))
        self._emit(text)

    def finish(self) -> Split:
        """The reply once complete (an unclosed block is all thinking)."""
        if self._buffer:
            if self._inside:
                self._add_thinking(self._buffer, self._last_thinking_ns or self.clock())
            else:
                self._add_answer(self._buffer, self._first_answer_ns or self.clock())
            self._buffer = ""
        text = "".join(self._answer)
        thinking = "".join(self._thinking)
        thinking_tokens = self._thinking_pieces
        first_answer, last_thinking = self._first_answer_ns, self._last_thinking_ns
        first_thinking = self._first_thinking_ns
        if not self._opened and not thinking and CLOSE in text:  # the prompt opened the block
            before, _, text = text.partition(CLOSE)
            thinking, first_thinking = before, self._first_ns
            cut = len(before) + len(CLOSE)
            ends = [end for end in self._answer_ends if end[0] > cut]
            if ends:
                first_answer, thinking_tokens = ends[0][1], ends[0][2] - 1
            else:
                first_answer, thinking_tokens = None, self.pieces
                last_thinking = self._answer_ends[-1][1] if self._answer_ends else None
        thinking = thinking.strip()
        if thinking:
            text = text.lstrip()
        duration = None
        if thinking and first_thinking is not None:
            until = first_answer if first_answer is not None and text else last_thinking
            duration = max((until or first_thinking) - first_thinking, 0) or None
        return Split(
            text=text,
            thinking=thinking or None,
            thinking_tokens=(thinking_tokens or None) if thinking else None,
            thinking_duration=duration,
            first_token_ns=(
                max(self._first_ns - self.started_ns, 1) if self._first_ns is not None else None
            ),
        )

    # -- plumbing ---------------------------------------------------------------------------

    def _tick(self) -> int:
        now = self.clock()
        self.pieces += 1
        if self._first_ns is None:
            self._first_ns = now
        return now

    def _add_thinking(self, text: str, now: int) -> None:
        self._thinking.append(text)
        if self._first_thinking_ns is None:
            self._first_thinking_ns = now
        self._last_thinking_ns = now

    def _add_answer(self, text: str, now: int) -> str:
        if self._after_close:
            text = text.lstrip()
            if not text:
                return ""
            self._after_close = False
        self._answer.append(text)
        self._answer_len += len(text)
        if self._first_answer_ns is None and text.strip():
            self._first_answer_ns = now
        return text

    def _emit(self, text: str) -> None:
        if self.on_token is not None:
            self.on_token(text)
