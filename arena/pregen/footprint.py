"""A model's resident memory, recorded during pre-generation right after the first answer of
its slate, while it is loaded: Ollama's ``/api/ps`` size, the embedded backend's measured
growth of the process, or the operator's figure for an OpenAI-compatible server (see
:mod:`arena.backends.facts`). Stored on the model and on every contestant served by the same
backend model (its variants share its load).

Reading the memory never fails a run: a backend error leaves the figure as it was. A slate
whose first answer is also its last keeps the model loaded for the reading (the long
``keep_alive``) and unloads it right after, instead of unloading it with the answer.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from arena.backends import BackendError
from arena.backends.facts import MemoryProbe, ResidentMemory, resident_memory
from arena.extensions import db
from arena.models import Model
from arena.play.model_facts import configured_memory, store_memory

__all__ = ["record_memory"]

log = logging.getLogger(__name__)


def _client(backend: object, model: Model) -> object:
    """The client that serves ``model``: unwrapped from a meter, or the configured one
    behind a router (which sends each model to its own backend)."""
    inner = getattr(backend, "backend", None)  # a MeteredBackend
    backend = inner if inner is not None else backend
    if not isinstance(backend, MemoryProbe) and getattr(backend, "name", None) == "router":
        from arena.backends.configured import get_backend

        return get_backend(model.backend)
    return backend


def record_memory(backend: object, model_id: int) -> ResidentMemory | None:
    """Ask ``backend`` (the run's, possibly metered or a router) how much memory the model
    ``model_id`` holds now and store it; returns what was stored, None when nothing was
    known. Never raises for a backend's failure."""
    model = db.session.get(Model, model_id)
    if model is None:
        return None
    served = model.served_tag
    try:
        memory = resident_memory(_client(backend, model), served)
    except (BackendError, OSError) as error:
        log.warning("could not read the memory %s holds: %s", served, error)
        memory = None
    if memory is None:
        memory = configured_memory(model.backend, served)
    if memory is None:
        return None
    same_load = select(Model).where(
        Model.backend == model.backend, func.coalesce(Model.backend_tag, Model.tag) == served
    )
    for row in db.session.scalars(same_load):
        store_memory(row, memory)
    db.session.commit()
    return memory
