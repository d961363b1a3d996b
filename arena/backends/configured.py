"""The backends this app is configured with (``BACKENDS``): checked, and one client each,
created on first use and cached per app.

Only processes that generate (the worker, the CLI) call :func:`get_backend`: an embedded
backend runs llama.cpp in the calling process, so it must never be created in a web worker.
:func:`probe_backends` tries each backend once, with short timeouts (``doctor``). Pages use
:func:`probe_cached` (or :func:`probe_backend`), which never contacts a backend per view: the
last check is kept in the instance folder for ``BACKEND_PROBE_CACHE_SECONDS``, shared by every
process of the machine; only one process checks at a time (a lock file), in a thread of its
own. The page that started the check waits for it at most ``PROBE_WAIT_SECONDS``, the others
not at all: they show the last result marked "checking" (or only "checking" before the first
check ends), so a hung backend never holds a web worker.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from flask import current_app

from arena.backends.base import Backend
from arena.backends.registry import (
    BackendSpec,
    UnknownBackend,
    make_client,
    parse_backends,
    probe_spec,
)
from arena.filelocks import try_flock, unflock

__all__ = [
    "ProbeResult",
    "backend_specs",
    "get_backend",
    "probe_backend",
    "probe_backends",
    "probe_cached",
]

_CLIENTS_LOCK = threading.Lock()
#: The last check, in the instance folder, and the lock file of the process checking.
PROBE_FILE = "backend-probe.json"
PROBE_LOCK = ".backend-probe.lock"
#: The longest a page waits for a check it started, in seconds (the others do not wait).
PROBE_WAIT_SECONDS = 1.0
NOT_CHECKED = "not checked yet: the model servers are being checked, reload in a moment"


def backend_specs() -> list[BackendSpec]:
    """The current app's configured backends (``BACKENDS``), checked."""
    return parse_backends(current_app.config)


def get_backend(name: str = "ollama") -> Backend:
    """The client of the backend called ``name`` in ``BACKENDS``; raises UnknownBackend (a
    BackendError) for a name not configured."""
    clients: dict[str, Backend] = current_app.extensions.setdefault("arena_backends", {})
    client = clients.get(name)
    if client is not None:
        return client
    with _CLIENTS_LOCK:
        client = clients.get(name)
        if client is None:
            specs = {spec.name: spec for spec in backend_specs()}
            spec = specs.get(name)
            if spec is None:
                raise UnknownBackend(name, list(specs))
            client = make_client(spec, current_app.config, instance_path=current_app.instance_path)
            clients[name] = client
    return client


def probe_backends() -> dict[str, str | None]:
    """Each configured backend's problem, or None when it answers at once (one try each,
    short timeouts; an embedded backend is only checked for its package). Contacts every
    backend now: pages use :func:`probe_cached`."""
    config, instance = current_app.config, current_app.instance_path
    return {spec.name: probe_spec(spec, config, instance) for spec in backend_specs()}


@dataclass(frozen=True)
class ProbeResult:
    """The last check of the backends: each one's problem (None: it answered), when it was
    made (unix time; None: never yet), and whether a check is under way now."""

    problems: dict[str, str | None] | None
    checked_at: float | None
    checking: bool = False

    @property
    def problem(self) -> str | None:
        """None when every backend answered, else what is wrong (one backend: its message)."""
        if self.problems is None:
            return NOT_CHECKED
        problems = [problem for problem in self.problems.values() if problem]
        if not problems:
            return None
        if len(self.problems) == 1:
            return problems[0].split(": ", 1)[-1]
        return "; ".join(problems)

    def age_seconds(self, now: float | None = None) -> float | None:
        if self.checked_at is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.checked_at)

    def to_json(self) -> dict[str, Any]:
        age = self.age_seconds()
        return {
            "checked_at": self.checked_at,
            "age_seconds": None if age is None else round(age, 1),
            "checking": self.checking,
        }


def probe_backend() -> str | None:
    """None when every backend answered the last check, else what is wrong (see
    :func:`probe_cached`; never waits long, never contacts a backend on every call)."""
    return probe_cached().problem


def probe_cached() -> ProbeResult:
    """The last check of the backends, made again when older than
    ``BACKEND_PROBE_CACHE_SECONDS`` by one process of the machine at a time (see the module's
    docstring). Needs an app context."""
    specs = backend_specs()
    config, instance = current_app.config, current_app.instance_path
    key = _specs_key(specs, config)
    path = Path(instance) / PROBE_FILE
    last = _read(path, key)
    age = last.age_seconds() if last is not None else None
    if last is not None and age is not None and age < float(config["BACKEND_PROBE_CACHE_SECONDS"]):
        return last
    lock = try_flock(Path(instance) / PROBE_LOCK)
    if lock is None:  # another process (or thread) is checking: no wait here
        return replace(last, checking=True) if last else ProbeResult(None, None, checking=True)
    snapshot = dict(config)  # the thread reads no app state
    done: list[ProbeResult] = []
    thread = threading.Thread(
        target=_check,
        args=(specs, snapshot, instance, key, path, lock, done),
        name="backend-probe",
        daemon=True,
    )
    thread.start()
    thread.join(PROBE_WAIT_SECONDS)
    if done:
        return done[0]
    if last is not None:
        return replace(last, checking=True)
    return ProbeResult(None, None, checking=True)


def _check(
    specs: list[BackendSpec],
    config: Mapping[str, Any],
    instance: str,
    key: str,
    path: Path,
    lock: IO[str],
    done: list[ProbeResult],
) -> None:
    """Check every backend, store the result, then release the lock."""
    try:
        problems: dict[str, str | None] = {}
        for spec in specs:
            try:
                problems[spec.name] = probe_spec(spec, config, instance)
            except Exception as error:  # a check must never end without a result
                problems[spec.name] = f"{spec.name}: {type(error).__name__}: {error}"
        result = ProbeResult(problems, time.time())
        _write(path, key, result)
        done.append(result)
    finally:
        unflock(lock)


def _specs_key(specs: list[BackendSpec], config: Mapping[str, Any]) -> str:
    """Which configuration a stored check belongs to (a hash: no credential is stored)."""
    raw = [
        [spec.name, spec.kind, spec.url, spec.api_key, sorted(spec.options.items())]
        for spec in specs
    ]
    raw.append([config.get("OLLAMA_URL"), config.get("OLLAMA_API_KEY")])
    return hashlib.sha256(json.dumps(raw, default=str).encode()).hexdigest()[:32]


def _read(path: Path, key: str) -> ProbeResult | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("key") != key:
            return None
        return ProbeResult(dict(data["problems"]), float(data["checked_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(path: Path, key: str, result: ProbeResult) -> None:
    """Atomically (a readers sees the old file or the new one, never half of one)."""
    data = {"key": key, "checked_at": result.checked_at, "problems": result.problems}
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)  # the check is still shown this once
