"""The backends this app is configured with (``BACKENDS``): checked, and one client each,
created on first use and cached per app.

Only processes that generate (the worker, the CLI) call :func:`get_backend`: an embedded
backend runs llama.cpp in the calling process, so it must never be created in a web worker.
Pages that must answer at once use :func:`probe_backends` (one try, short timeouts).
"""

from __future__ import annotations

import threading

from flask import current_app

from arena.backends.base import Backend
from arena.backends.registry import (
    BackendSpec,
    UnknownBackend,
    make_client,
    parse_backends,
    probe_spec,
)

__all__ = ["backend_specs", "get_backend", "probe_backend", "probe_backends"]

_CLIENTS_LOCK = threading.Lock()


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
    short timeouts; an embedded backend is only checked for its package)."""
    config, instance = current_app.config, current_app.instance_path
    return {spec.name: probe_spec(spec, config, instance) for spec in backend_specs()}


def probe_backend() -> str | None:
    """None when every backend answers at once, else what is wrong (for pages that must
    answer quickly: the regular clients retry with backoff)."""
    problems = [problem for problem in probe_backends().values() if problem]
    if not problems:
        return None
    if len(backend_specs()) == 1:  # one backend: its message as it is
        return problems[0].split(": ", 1)[1]
    return "; ".join(problems)
