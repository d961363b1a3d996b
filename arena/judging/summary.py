"""A judging run's summary: per judge what was planned and judged, failures, timings; and its
lines for a terminal or a log, in pre-generation's format."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from arena.backends import ChatResult
from arena.pregen.clock import format_seconds
from arena.pregen.generate import FailureNote

STATUSES = ("counted", "inconsistent", "unparsed")


@dataclass
class JudgeSummary:
    planned: dict[str, int] = field(default_factory=dict)
    judged: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys(STATUSES, 0))
    )
    tokens: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    eval_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    failures: list[FailureNote] = field(default_factory=list)
    attempted: int = 0  # planned pairs tried
    unjudged: int = 0  # planned pairs that failed or were given up (not stopped before)
    model_loads: int = 0
    wall_seconds: float = 0.0
    backend_seconds: float = 0.0
    stop_kind: str | None = None
    stop_message: str | None = None

    def count(self, tag: str, status: str, *results: ChatResult) -> None:
        self.judged[tag][status] += 1
        for result in results:
            if result.eval_count and result.eval_duration:
                self.tokens[tag] += result.eval_count
                self.eval_seconds[tag] += result.eval_duration / 1e9

    @property
    def total_judged(self) -> int:
        return sum(sum(row.values()) for row in self.judged.values())

    @property
    def result(self) -> str:
        """ok (no planned pair failed), some_failed, nothing_stored (as pre-generation's)."""
        if not self.failures:
            return "ok"
        return "some_failed" if self.total_judged else "nothing_stored"

    @property
    def backend_share(self) -> float:
        return self.backend_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def tokens_per_second(self, tag: str) -> float | None:
        seconds = self.eval_seconds.get(tag, 0.0)
        return self.tokens[tag] / seconds if seconds > 0 and self.tokens.get(tag) else None

    def to_json(self) -> dict[str, Any]:
        tags = sorted(set(self.planned) | set(self.judged))
        judges = {}
        for tag in tags:
            row = dict(self.judged.get(tag, dict.fromkeys(STATUSES, 0)))
            rate = self.tokens_per_second(tag)
            judges[tag] = {
                "planned": self.planned.get(tag, 0),
                "judged": sum(row.values()),
                **row,
                "tokens_per_second": round(rate, 2) if rate else None,
            }
        return {
            "judges": judges,
            "judged": self.total_judged,
            "attempted": self.attempted,
            "unjudged": self.unjudged,
            "result": self.result,
            "failures": [note.to_json() for note in self.failures],
            "model_loads": self.model_loads,
            "wall_seconds": round(self.wall_seconds, 3),
            "backend_seconds": round(self.backend_seconds, 3),
            "backend_share": round(self.backend_share, 4),
            "stop": self.stop_kind,
            "stop_message": self.stop_message,
        }


def summary_lines(data: dict[str, Any]) -> list[str]:
    """A judging summary (``JudgeSummary.to_json()``) as lines of text."""
    lines = []
    for tag, row in data["judges"].items():
        rate = row.get("tokens_per_second")
        speed = f"{rate:7.1f} tok/s" if rate else "      ? tok/s"
        lines.append(
            f"judged {row['judged']:>4}/{row['planned']:<4} {speed}  {tag}: "
            f"{row['counted']} counted, {row['inconsistent']} position-inconsistent, "
            f"{row['unparsed']} unparsed"
        )
    lines.extend(FailureNote.line(note) for note in data["failures"])
    wall = data["wall_seconds"]
    lines.append(
        f"{data['judged']} pairs judged (both orders) in {format_seconds(wall)} ({wall:.1f} s); "
        f"model loads: {data['model_loads']}; waiting on the backend: "
        f"{100 * data['backend_share']:.1f}% of the time"
    )
    if data.get("stop"):
        lines.append(f"stopped between pairs: {data['stop_message']}; the next run resumes")
    planned = sum(row["planned"] for row in data["judges"].values())
    missed = f"{data['unjudged']} of {planned} planned pairs failed or were given up"
    texts = {
        "ok": "no pair failed" if data.get("stop") else "every planned pair judged",
        "some_failed": f"some pairs failed: {missed}; {data['judged']} judged",
        "nothing_stored": f"nothing could be judged: {missed}",
    }
    lines.append(f"outcome: {texts[data['result']]}")
    return lines
