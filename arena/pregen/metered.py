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
    the end of the calling thread's last call (1: it ran alone). Several threads may call
    at once (a slate's parallel requests): ``seconds`` is then the time at least one call
    was under way, not the sum of the calls' times.
    """

    def __init__(self, backend: Backend, clock: Clock = SYSTEM_CLOCK) -> None:
        self.backend = backend
        self.clock = clock
        self.seconds = 0.0
        self.loads = 0
        self._warm: str | None = None
        self._lock = threading.Lock()
        self._active = 0
        self._busy_since = 0.0
        self._local = threading.local()

    @property
    def parallel(self) -> int:
        """The wrapped backend's ``parallel`` (requests to one loaded model at once)."""
        return max(1, int(getattr(self.backend, "parallel", 1) or 1))

    @property
    def concurrency(self) -> int:
        return int(getattr(self._local, "concurrency", 1))

    @property
    def under_way(self) -> int:
        """Calls through this meter under way now (from every thread)."""
        with self._lock:
            return self._active

    def _enter(self) -> None:
        with self._lock:
            if not self._active:
                self._busy_since = self.clock.monotonic()
            self._active += 1

    def _leave(self) -> None:
        with self._lock:
            self._active -= 1
            if not self._active:
                self.seconds += self.clock.monotonic() - self._busy_since

    def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        options: GenerationOptions,
        *,
        keep_alive: int | str | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> ChatResult:
        self._enter()
        at_start = IN_FLIGHT.enter(self.backend)
        try:
            result = self.backend.chat(
                model, messages, options, keep_alive=keep_alive, on_token=on_token
            )
        finally:
            self._leave()
            self._local.concurrency = max(at_start, IN_FLIGHT.leave(self.backend))
        with self._lock:
            if self._warm != model:
                self.loads += 1
            self._warm = None if keep_alive == 0 else model
        return result

    def unload(self, model: str) -> None:
        """Free the model's memory now; never raises (it is only a courtesy to RAM)."""
        self._enter()
        try:
            self.backend.unload(model)
        except BackendError:
            pass
        finally:
            self._leave()
        with self._lock:
            if self._warm == model:
                self._warm = None

    @property
    def warm_model(self) -> str | None:
        return self._warm
