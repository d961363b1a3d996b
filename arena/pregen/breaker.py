"""The circuit breaker of one backend during a run: give up on a server that does not work.

A model that fails is skipped after a few failed answers (the runner's own rule), but a
server that is down, or is not the server we think (a 501 or an HTML page where Ollama's API
should be), would make every one of its models fail the same way, each after its retries and
their waits. The breaker counts the failed answers that blame the server
(:func:`arena.pregen.generate.blames_server`) across the backend's models: an answer stored
resets the count; a failure that blames one model or prompt (a missing model, a read timeout,
a stream cut, an identity leak) neither adds to it nor resets it. At ``threshold`` failures
in a row spread over at least two models, the backend gets no more work this run. One model
failing alone (out of memory on a big model, a model the server names in an odd 404) is only
that model's problem: the runner skips it, and the next model's answer decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Failed answers in a row, blaming the server and spread over at least two models, after
#: which a backend gets no more work this run.
BREAKER_THRESHOLD = 3


@dataclass
class Breaker:
    """Counts one backend's failures that blame the server; ``open`` once it gives up."""

    backend: str
    threshold: int = BREAKER_THRESHOLD
    streak: list[str] = field(default_factory=list)  # the tags of the failed answers in a row
    reason: str | None = None  # why it opened; None while closed

    @property
    def open(self) -> bool:
        return self.reason is not None

    def succeeded(self) -> None:
        """An answer was stored (or found stored): the server works."""
        if not self.open:
            self.streak.clear()

    def failed(self, tag: str, blames_server: bool, reason: str) -> bool:
        """Count a failed answer of model ``tag``; True when the breaker opens on it."""
        if self.open or not blames_server:
            return False
        self.streak.append(tag)
        models = sorted(set(self.streak))
        if len(self.streak) < self.threshold or len(models) < 2:
            return False
        self.reason = (
            f"gave up on backend {self.backend!r} for this run after {len(self.streak)} failed "
            f"answers in a row ({', '.join(models)}); the last: {reason}"
        )
        return True
