"""A one-line progress bar for batch runs: count, percentage, model, tokens/s and ETA.

On a terminal the line is redrawn in place; in a log (cron, a pipe) one line per answer.
"""

from __future__ import annotations

import sys
from typing import TextIO

from arena.pregen import ProgressEvent
from arena.pregen.clock import format_seconds


class ProgressBar:
    def __init__(self, stream: TextIO | None = None, width: int = 24) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._drawn = False

    def line(self, event: ProgressEvent) -> str:
        total = max(event.total, 1)
        filled = min(self.width, round(self.width * event.done / total))
        bar = "#" * filled + "-" * (self.width - filled)
        rate = (
            f"{event.tokens_per_second:6.1f} tok/s" if event.tokens_per_second else "     ? tok/s"
        )
        eta = format_seconds(event.eta_seconds) if event.done < event.total else "0s"
        mark = "" if event.outcome == "stored" else f"  ({event.outcome})"
        return (
            f"[{bar}] {event.done:>4}/{event.total:<4} {100 * event.done / total:3.0f}%  "
            f"{rate}  ETA {eta:>7}  {event.tag}{mark}"
        )

    def __call__(self, event: ProgressEvent) -> None:
        text = self.line(event)
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
            self._drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
