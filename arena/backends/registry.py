"""Several backends at once: the ``BACKENDS`` setting, parsed, checked and turned into clients.

``BACKENDS`` is a list of dicts, one per model server::

    BACKENDS = [
        {"name": "ollama", "kind": "ollama", "url": None, "api_key": None},
        {"name": "lmstudio", "kind": "openai", "url": "http://127.0.0.1:1234/v1"},
        {"name": "local", "kind": "embedded", "threads": 2},
    ]

``name`` is what ``Model.backend`` stores (at most 40 characters). ``kind`` is ``ollama``,
``openai`` (any OpenAI-compatible server) or ``embedded`` (llama.cpp in the generating
process). For ``ollama`` a ``url``/``api_key`` of None means ``OLLAMA_URL``/``OLLAMA_API_KEY``;
``openai`` needs a ``url``. ``embedded`` takes ``threads`` (default 2), ``cache_dir`` (where
Gemma's GGUF is assembled; None: ``<instance>/models``), ``files`` (``{tag: path}`` of more
GGUF files) and ``packaged`` (serve the PyPI-packaged models, default true). Every kind takes
``connect_timeout``, ``read_timeout``, ``retries`` and ``backoff`` (default: the BACKEND_*
settings of the same name, whose old names OLLAMA_* still work), and ``parallel``: how many
requests to the same loaded model pre-generation sends at once (1 to ``MAX_PARALLEL``; default
1, and 2 for ``embedded``: ``scripts/bench/real_model.py --parallel``, README).
For Ollama, start the server with ``OLLAMA_NUM_PARALLEL`` at least as large; for llama.cpp's
server, ``-np``; the embedded backend runs that many sequences of one model at once.
``openai`` also takes ``memory``, ``{tag: bytes or "1.2GB"}``: the memory each model holds
while loaded, which such servers cannot report (``Model.memory_source`` "configured").

This module is a leaf: it imports nothing from the rest of ``arena``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.backends.base import Backend, BackendError
from arena.backends.facts import parse_memory
from arena.backends.redact import redact, redact_url

__all__ = [
    "KINDS",
    "BackendConfigError",
    "BackendSpec",
    "UnknownBackend",
    "default_parallel",
    "make_client",
    "parse_backends",
    "probe_spec",
]

KINDS = ("ollama", "openai", "embedded")
_COMMON = {
    "name",
    "kind",
    "url",
    "api_key",
    "connect_timeout",
    "read_timeout",
    "retries",
    "backoff",
    "parallel",
}
#: The most requests a backend entry may run at once on its loaded model (``parallel``).
MAX_PARALLEL = 16
_EMBEDDED = {"threads", "cache_dir", "files", "packaged", "num_ctx", "keep_alive"}
_OPENAI = {"memory"}  # {tag: bytes or "1.2GB"}: such servers cannot say what a model holds
INSTALL_HINT = "install it with `scripts/install-local.sh`"


class BackendConfigError(ValueError):
    """``BACKENDS`` is malformed; the message says which entry and what to write (never a
    credential the entry holds)."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class UnknownBackend(BackendError):
    """A backend name that ``BACKENDS`` does not define."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(
            f"no backend named {name!r} is configured (BACKENDS has: "
            f"{', '.join(known) or 'none'}): add it to BACKENDS in instance/config.py or "
            "ARENA_BACKENDS, or use one of those names"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.name, self.known))


@dataclass(frozen=True)
class BackendSpec:
    """One checked entry of ``BACKENDS``; ``options`` holds the kind-specific keys."""

    name: str
    kind: str
    url: str | None = None
    api_key: str | None = None
    options: dict[str, Any] = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        url = redact_url(self.url) if self.url else None
        key = "'***'" if self.api_key else None
        return f"BackendSpec(name={self.name!r}, kind={self.kind!r}, url={url!r}, api_key={key})"


def parse_backends(config: Mapping[str, Any]) -> list[BackendSpec]:
    """The configured backends, checked; raises BackendConfigError saying what is wrong."""
    raw = config.get("BACKENDS")
    if raw is None:
        raw = [{"name": "ollama", "kind": "ollama"}]
    if not isinstance(raw, list | tuple) or not raw:
        raise BackendConfigError(
            f"BACKENDS must be a non-empty list of dicts like "
            f'[{{"name": "ollama", "kind": "ollama"}}], not {raw!r}'
        )
    specs: list[BackendSpec] = []
    for index, entry in enumerate(raw):
        specs.append(_parse_entry(index, entry))
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise BackendConfigError(f"BACKENDS names must be unique: {', '.join(duplicates)} twice")
    return specs


def _parse_entry(index: int, entry: Any) -> BackendSpec:
    where = f"BACKENDS[{index}]"
    if not isinstance(entry, Mapping):
        raise BackendConfigError(f"{where} must be a dict with a name and a kind, not {entry!r}")
    name, kind = entry.get("name"), entry.get("kind", "ollama")
    if not isinstance(name, str) or not name.strip() or len(name) > 40:
        raise BackendConfigError(f"{where} needs a 'name' of 1 to 40 characters, not {name!r}")
    if kind not in KINDS:
        raise BackendConfigError(f"{where} ({name}): 'kind' must be one of {KINDS}, not {kind!r}")
    allowed = _COMMON | {"embedded": _EMBEDDED, "openai": _OPENAI}.get(kind, set())
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise BackendConfigError(
            f"{where} ({name}): unknown keys {', '.join(unknown)} for a {kind} backend "
            f"(allowed: {', '.join(sorted(allowed))})"
        )
    url = entry.get("url")
    if kind == "openai" and not url:
        raise BackendConfigError(f"{where} ({name}): an openai backend needs a 'url'")
    if url is not None and not isinstance(url, str):
        raise BackendConfigError(f"{where} ({name}): 'url' must be a string, not {url!r}")
    files = entry.get("files") or {}
    if not isinstance(files, Mapping):
        raise BackendConfigError(f"{where} ({name}): 'files' must be a dict of tag to GGUF path")
    parallel = entry.get("parallel", default_parallel(kind))
    if (
        isinstance(parallel, bool)
        or not isinstance(parallel, int)
        or not (1 <= parallel <= MAX_PARALLEL)
    ):
        raise BackendConfigError(
            f"{where} ({name}): 'parallel' must be a whole number from 1 to {MAX_PARALLEL} "
            f"(requests to the loaded model at once), not {parallel!r}"
        )
    options = {key: value for key, value in entry.items() if key not in ("name", "kind", "url")}
    options["parallel"] = parallel
    options.pop("api_key", None)
    if "memory" in options:
        options["memory"] = _memory(f"{where} ({name})", options["memory"])
    return BackendSpec(name.strip(), kind, url, entry.get("api_key") or None, options)


def _memory(where: str, value: Any) -> dict[str, int]:
    """The ``memory`` of an openai entry, ``{tag: bytes or "1.2GB"}``, as bytes per tag."""
    if not isinstance(value, Mapping):
        raise BackendConfigError(f"{where}: 'memory' must be a dict of tag to size, not {value!r}")
    sizes = {}
    for tag, size in value.items():
        try:
            sizes[str(tag)] = parse_memory(size)
        except ValueError as error:
            raise BackendConfigError(f"{where}: memory of {tag!r}: {error}") from None
    return sizes


def default_parallel(kind: str) -> int:
    """``parallel`` when an entry leaves it out: 1 for a server (its slots are its own
    setting: more requests than slots would only queue there), 2 for the embedded backend
    (on 2 cores it never lost to 1 in the benchmark's runs; 4 often gained more but varied
    from run to run and holds twice the context memory: README, Backends)."""
    return 2 if kind == "embedded" else 1


def make_client(
    spec: BackendSpec, config: Mapping[str, Any], *, instance_path: str, quick: bool = False
) -> Backend:
    """A client for ``spec``; its ``name`` is the spec's. ``quick``: one try, short timeouts
    (for pages that must answer at once). Never loads a model."""
    opts = spec.options

    def setting(key: str, cast: type, quick_value: float | int) -> Any:
        return quick_value if quick else cast(opts.get(key, config[f"BACKEND_{key.upper()}"]))

    timeouts = {
        "connect_timeout": setting("connect_timeout", float, 1.0),
        "read_timeout": setting("read_timeout", float, 2.0),
        "retries": setting("retries", int, 0),
        "backoff": float(opts.get("backoff", config["BACKEND_BACKOFF"])),
    }
    client: Backend
    if spec.kind == "ollama":
        from arena.backends.ollama import OllamaClient

        key = spec.api_key or config.get("OLLAMA_API_KEY") or None
        client = OllamaClient(spec.url or config["OLLAMA_URL"], api_key=key, **timeouts)
    elif spec.kind == "openai":
        from arena.backends.openai_compat import OpenAICompatClient

        client = OpenAICompatClient(str(spec.url), api_key=spec.api_key, **timeouts)
    else:
        client = _embedded(spec, config, instance_path)
    client.name = spec.name
    client.parallel = int(opts.get("parallel", default_parallel(spec.kind)))
    return client


def _embedded(spec: BackendSpec, config: Mapping[str, Any], instance_path: str) -> Backend:
    from arena.backends.embedded import EmbeddedBackend
    from arena.backends.packaged import gguf_file, packaged_models

    opts = spec.options
    cache_dir = Path(opts.get("cache_dir") or Path(instance_path) / "models")
    models = packaged_models(cache_dir) if opts.get("packaged", True) else []
    models += [gguf_file(tag, path) for tag, path in (opts.get("files") or {}).items()]
    num_ctx = opts.get("num_ctx") or config.get("GEN_NUM_CTX") or 4096
    return EmbeddedBackend(
        models,
        threads=int(opts.get("threads", 2)),
        num_ctx=int(num_ctx),
        keep_alive=opts.get("keep_alive"),
        parallel=int(opts.get("parallel", default_parallel(spec.kind))),
    )


def probe_spec(spec: BackendSpec, config: Mapping[str, Any], instance_path: str) -> str | None:
    """None when the backend answers at once, else what is wrong (one try, short timeouts).

    An embedded backend is not created here (that would be in a web worker): it is enough
    that xllamacpp is installed.
    """
    if spec.kind == "embedded":
        if importlib.util.find_spec("xllamacpp") is None:
            return f"{spec.name}: the embedded backend needs the package xllamacpp: {INSTALL_HINT}"
        return None
    client = make_client(spec, config, instance_path=instance_path, quick=True)
    try:
        client.version()
    except BackendError as error:
        return f"{spec.name}: {error}"
    return None
