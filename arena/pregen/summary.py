"""A pre-generation run's summary: its counts, figures and outcome, as JSON and as lines."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from arena.pregen.clock import format_seconds
from arena.pregen.generate import FailureNote


@dataclass
class RunSummary:
    planned: dict[str, int] = field(default_factory=dict)
    stored: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    excluded: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tokens: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    eval_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    failures: list[FailureNote] = field(default_factory=list)
    attempted: int = 0  # planned answers tried (stored, failed, leaked, or a duplicate)
    unanswered: int = 0  # planned answers that failed or were given up (not stopped before)
    given_up: dict[str, str] = field(default_factory=dict)  # backend name -> why (breaker)
    model_loads: int = 0
    wall_seconds: float = 0.0
    backend_seconds: float = 0.0
    stop_kind: str | None = None  # budget, until, signal; None when the plan was completed
    stop_message: str | None = None
    # Several backend hosts run in parallel: each one's figures, by backend name.
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def total_stored(self) -> int:
        return sum(self.stored.values())

    @property
    def result(self) -> str:
        """ok (no planned answer failed: the plan was done, or stopped between answers as
        asked), some_failed (some failed or were given up, some stored), nothing_stored."""
        if not self.failures:
            return "ok"
        return "some_failed" if self.total_stored else "nothing_stored"

    @property
    def backend_share(self) -> float:
        """Share of the wall time spent waiting on the backend (with several hosts in
        parallel: of the hosts' summed wall times)."""
        wall = sum(h["wall_seconds"] for h in self.hosts.values()) or self.wall_seconds
        return self.backend_seconds / wall if wall > 0 else 0.0

    def tokens_per_second(self, tag: str) -> float | None:
        seconds = self.eval_seconds.get(tag, 0.0)
        return self.tokens[tag] / seconds if seconds > 0 and self.tokens.get(tag) else None

    def to_json(self) -> dict[str, Any]:
        models = sorted(set(self.planned) | set(self.stored) | set(self.excluded))
        hosts = {"hosts": self.hosts} if self.hosts else {}
        return hosts | {
            "models": {
                tag: {
                    "planned": self.planned.get(tag, 0),
                    "stored": self.stored.get(tag, 0),
                    "excluded": self.excluded.get(tag, 0),
                    "tokens_per_second": _round(self.tokens_per_second(tag)),
                }
                for tag in models
            },
            "stored": self.total_stored,
            "attempted": self.attempted,
            "unanswered": self.unanswered,
            "result": self.result,
            "given_up": dict(self.given_up),
            "failures": [note.to_json() for note in self.failures],
            "model_loads": self.model_loads,
            "wall_seconds": round(self.wall_seconds, 3),
            "backend_seconds": round(self.backend_seconds, 3),
            "backend_share": round(self.backend_share, 4),
            "stop": self.stop_kind,
            "stop_message": self.stop_message,
        }


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def summary_lines(data: dict[str, Any]) -> list[str]:
    """A run summary (``RunSummary.to_json()``) as lines of text for a terminal or a log."""
    lines = []
    for tag, row in data["models"].items():
        rate = row.get("tokens_per_second")
        speed = f"{rate:7.1f} tok/s" if rate else "      ? tok/s"
        extra = f", {row['excluded']} excluded (leak or degenerate)" if row.get("excluded") else ""
        lines.append(f"stored {row['stored']:>4}/{row['planned']:<4} {speed}  {tag}{extra}")
    lines.extend(FailureNote.line(note) for note in data["failures"])
    wall = data["wall_seconds"]
    lines.append(
        f"{data['stored']} answers stored in {format_seconds(wall)} ({wall:.1f} s); "
        f"model loads: {data['model_loads']}; waiting on the backend: "
        f"{100 * data['backend_share']:.1f}% of the time"
    )
    for name, host in (data.get("hosts") or {}).items():
        lines.append(
            f"  backend {name}: {host['stored']} answers in {format_seconds(host['wall_seconds'])}"
            f", {host['model_loads']} model loads, waiting on it "
            f"{100 * host['backend_share']:.1f}% of the time"
            + ("; given up for this run" if host.get("given_up") else "")
        )
    if data.get("stop"):
        lines.append(f"stopped between answers: {data['stop_message']}; the next run resumes")
    outcome = outcome_line(data)
    if outcome is not None:
        lines.append(outcome)
    return lines


def outcome_line(data: dict[str, Any]) -> str | None:
    """The run's outcome in words (None for a summary older than the ``result`` field)."""
    result = data.get("result")
    planned = sum(row["planned"] for row in data["models"].values())
    missed = f"{data.get('unanswered', 0)} of {planned} planned answers failed or were given up"
    texts = {
        "ok": "no answer failed" if data.get("stop") else "every planned answer stored",
        "some_failed": f"some answers failed: {missed}; {data['stored']} stored",
        "nothing_stored": f"nothing could be stored: {missed}",
    }
    return f"outcome: {texts[result]}" if result in texts else None
