"""A backend wrapper that meters generation: time spent, model loads, and the requests
under way on the same backend client at once (the concurrency a speed was measured under)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from arena.backends import Backend, BackendError, ChatResult, GenerationOptions
from arena.pregen.clock import SYSTEM_CLOCK, Clock

__all__ = ["IN_FLIGHT", "InFlight", "MeteredBackend"]


class InFlight:
    """Generation requests under way in this process, per backend client: the concurrency
    a speed figure was measured under (the batch and the visitors' queue may overlap)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[int, int] = {}

    def enter(self, backend: object) -> int:
        """Count one more request on ``backend``; the number now under way."""
        with self._lock:
            count = self._counts[id(backend)] = self._counts.get(id(backend), 0) + 1
        return count

    def leave(self, backend: object) -> int:
        """Count one request less; the number under way just before it ended."""
        with self._lock:
            count = self._counts.get(id(backend), 1)
            if count <= 1:
                self._counts.pop(id(backend), None)
            else:
                self._counts[id(backend)] = count - 1
        return count


IN_FLIGHT = InFlight()


class MeteredBackend:
    """A backend wrapper that counts time spent inside generation calls and model loads.

    A load is counted whenever an answer comes from another model than the previous one,
    or follows a request that unloaded its model (``keep_alive=0``). ``concurrency`` is the
    most requests this process had under way on the same backend client at the start or
    the end of the last call (1: it ran alone).
    """

    def __init__(self, backend: Backend, clock: Clock = SYSTEM_CLOCK) -> None:
        self.backend = backend
        self.clock = clock
        self.seconds = 0.0
        self.loads = 0
        self.concurrency = 1
        self._warm: str | None = None

    def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        options: GenerationOptions,
        *,
        keep_alive: int | str | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> ChatResult:
        started = self.clock.monotonic()
        at_start = IN_FLIGHT.enter(self.backend)
        try:
            result = self.backend.chat(
                model, messages, options, keep_alive=keep_alive, on_token=on_token
            )
        finally:
            self.seconds += self.clock.monotonic() - started
            self.concurrency = max(at_start, IN_FLIGHT.leave(self.backend))
        if self._warm != model:
            self.loads += 1
        self._warm = None if keep_alive == 0 else model
        return result

    def unload(self, model: str) -> None:
        """Free the model's memory now; never raises (it is only a courtesy to RAM)."""
        started = self.clock.monotonic()
        try:
            self.backend.unload(model)
        except BackendError:
            pass
        finally:
            self.seconds += self.clock.monotonic() - started
        if self._warm == model:
            self._warm = None

    @property
    def warm_model(self) -> str | None:
        return self._warm
