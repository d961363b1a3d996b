"""A fake judge for :class:`~tests.support.fakes.ollama.FakeOllama`: an answer source that
reads the two answers of a judge prompt and gives a verdict with a known preference.

    fake.set_answer("judge:1b", FakeJudge(prefers="llama3.2:1b", p=0.8, seed=1))

Each answer's model is read from the fake's default answers (``Answer from <tag> to: ...``).
For a pair of answers, one draw (seeded, from the pair's two texts whatever their order)
decides: with probability ``p`` the judge names the side holding ``prefers``'s answer, else
the other side; a pair without ``prefers`` is a tie. Both orders of a pair therefore agree,
unless ``position_bias`` (the probability, drawn per order, of answering ``[[A]]``
whatever the answers) or ``garbage`` (the probability, per order, of an answer without a
verdict) say otherwise. ``calls`` records (model shown first, model shown second, verdict).
"""

from __future__ import annotations

import hashlib
import re
import threading
from typing import Any

SECTION = re.compile(
    r"\[The Start of Assistant (?P<side>[AB])'s Answer\]\n(?P<text>.*?)\n"
    r"\[The End of Assistant (?P=side)'s Answer\]",
    re.S,
)
AUTHOR = re.compile(r"Answer from (\S+) to:")
GARBAGE = "Both assistants wrote something. I would rather not say which is better."


class FakeJudge:
    def __init__(
        self,
        prefers: str | None,
        p: float = 1.0,
        *,
        seed: int = 0,
        position_bias: float = 0.0,
        garbage: float = 0.0,
    ) -> None:
        self.prefers = prefers
        self.p = p
        self.seed = seed
        self.position_bias = position_bias
        self.garbage = garbage
        self.calls: list[tuple[str | None, str | None, str]] = []
        self._lock = threading.Lock()

    def _draw(self, *parts: str) -> float:
        digest = hashlib.sha256("\x00".join([str(self.seed), *parts]).encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def verdict(self, first: str, second: str) -> str:
        """``A``, ``B``, ``C`` or ``garbage`` for answers ``first`` (shown as A) and ``second``."""
        if self._draw("garbage", first, second) < self.garbage:
            return "garbage"
        if self._draw("position", first, second) < self.position_bias:
            return "A"
        authors = [_author(first), _author(second)]
        if self.prefers not in authors or authors[0] == authors[1]:
            return "C"
        pair = sorted([first, second])
        right = self._draw("pair", *pair) < self.p
        side = "A" if authors[0] == self.prefers else "B"
        return side if right else ("B" if side == "A" else "A")

    def __call__(self, request: dict[str, Any]) -> str:
        user = str(request["messages"][-1]["content"])
        sections = {m.group("side"): m.group("text") for m in SECTION.finditer(user)}
        if set(sections) != {"A", "B"}:
            verdict = "garbage"
            first = second = ""
        else:
            first, second = sections["A"], sections["B"]
            verdict = self.verdict(first, second)
        with self._lock:
            self.calls.append((_author(first), _author(second), verdict))
        if verdict == "garbage":
            return GARBAGE
        return (
            "Assistant A's answer and Assistant B's answer both address the question. "
            f"Weighing helpfulness and accuracy, my final verdict is: [[{verdict}]]"
        )


def _author(text: str) -> str | None:
    match = AUTHOR.search(text)
    return match.group(1) if match else None
