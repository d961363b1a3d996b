"""Embedded backend: GGUF models run by llama.cpp inside this process, through ``xllamacpp``.

For machines with no Ollama. ``xllamacpp`` is a prebuilt wheel (no compiler needed) that
wraps llama.cpp's own server: a loaded model is an ``xllamacpp.Server``, and
``Server.handle_chat_completions(request, callback)`` takes an OpenAI-style chat request,
applies the chat template (the GGUF's, or the spec's Jinja ``chat_template``) and calls
``callback`` with each streamed chunk; returning True from the callback stops generation.
The last chunks carry llama.cpp's ``timings`` (tokens and milliseconds of prompt and
generation) and the ``usage``.

One model is loaded at a time, on demand, and up to ``parallel`` generations of it run at
once (llama.cpp's parallel sequences, continuously batched), like Ollama with
``OLLAMA_NUM_PARALLEL=parallel`` and room for one model: a lock guards loading and unloading,
and a request for another model waits until the loaded one has no generation under way.
``keep_alive`` follows Ollama (applied when the last generation under way ends): 0 unloads
right after the reply, a positive number of seconds (or a duration such as ``"30m"``)
unloads after that long idle, a negative one or None keeps the model until another is
needed or :meth:`EmbeddedBackend.unload` is called. Changing ``num_ctx``
reloads the model.

``xllamacpp.Server`` also listens on a random port of 127.0.0.1 (llama-server's HTTP API);
it is locked with a random API key nobody is told, so only this process uses the model.

``xllamacpp`` is optional (``requirements-local.txt``): this module imports it only when a
model is used, and raises :class:`BackendError` saying how to install it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from arena.backends.base import (
    BackendError,
    BackendModel,
    ChatResult,
    GenerationOptions,
    ModelNotFound,
    StreamError,
)
from arena.backends.embedded_facts import EmbeddedFacts
from arena.backends.embedded_support import keep_alive_seconds, xllamacpp_module
from arena.backends.packaged import EmbeddedModelSpec, gguf_file, packaged_models
from arena.backends.thinking import ThinkingSplitter

__all__ = [
    "EmbeddedBackend",
    "EmbeddedModelSpec",
    "gguf_file",
    "keep_alive_seconds",
    "packaged_models",
]


class _Collector:
    """The streaming callback: gathers text (thinking apart), usage and timings; stops on
    any problem."""

    def __init__(self, on_token: Callable[[str], None] | None) -> None:
        self.splitter = ThinkingSplitter(on_token)
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] = {}
        self.timings: dict[str, Any] = {}
        self.error: str | None = None
        self.raised: BaseException | None = None

    def __call__(self, chunk: Any) -> bool:
        """Return True to stop generating. xllamacpp swallows exceptions raised here, so
        they are kept in ``raised`` and re-raised by the caller."""
        try:
            if not isinstance(chunk, dict):
                self.error = f"unexpected chunk {chunk!r}"
                return True
            if "error" in chunk:
                error = chunk["error"]
                self.error = str(error.get("message") if isinstance(error, dict) else error)
                return True
            if isinstance(chunk.get("usage"), dict):
                self.usage = chunk["usage"]
            if isinstance(chunk.get("timings"), dict):
                self.timings = chunk["timings"]
            for choice in (chunk.get("choices") or [])[:1]:
                if choice.get("finish_reason"):
                    self.finish_reason = str(choice["finish_reason"])
                delta = choice.get("delta") or {}
                for name in ("reasoning_content", "content"):  # the former: a parsed <think>
                    if isinstance(piece := delta.get(name), str) and piece:
                        split = self.splitter
                        (split.content if name == "content" else split.thinking)(piece)
        except BaseException as exc:  # includes KeyboardInterrupt from on_token
            self.raised = exc
            return True
        return False


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class EmbeddedBackend(EmbeddedFacts):
    """A :class:`~arena.backends.base.Backend` that runs GGUF models in this process.

    ``models``: the specs it serves (None: :func:`packaged_models` found installed).
    ``threads``: CPU threads for prompt and generation. ``num_ctx``: the context size when
    a request leaves it out. ``keep_alive``: the default when a request passes None
    (None: keep the model loaded). ``parallel``: sequences generated at once (each with a
    context of ``num_ctx``). ``verbose``: let llama.cpp log at info level on stderr
    (else errors only).
    """

    name = "embedded"

    def __init__(
        self,
        models: Iterable[EmbeddedModelSpec] | None = None,
        *,
        threads: int = 2,
        num_ctx: int = 4096,
        keep_alive: float | str | None = None,
        parallel: int = 1,
        verbose: bool = False,
    ) -> None:
        specs = packaged_models() if models is None else list(models)
        self._specs = {spec.tag: spec for spec in specs}
        self.threads = threads
        self.num_ctx = num_ctx
        self.default_keep_alive = keep_alive_seconds(keep_alive)
        self.verbose = verbose
        self.parallel = max(1, int(parallel))
        # Guards the loaded model; generations run outside it, counted in ``_active``.
        self._lock = threading.Condition(threading.RLock())
        self._active = 0
        self._server: Any = None
        self._loaded: str | None = None
        self._loaded_ctx: int | None = None
        self._paths: dict[str, Path] = {}
        self._epoch = 0  # bumped by every request; an idle-unload timer checks it
        self._timer: threading.Timer | None = None

    def __repr__(self) -> str:
        return f"EmbeddedBackend({sorted(self._specs)!r})"

    @property
    def loaded_model(self) -> str | None:
        """The tag of the model in memory, if any."""
        return self._loaded

    # -- public API -------------------------------------------------------------------------

    def list_models(self) -> list[BackendModel]:
        """The registered GGUF models (they need xllamacpp to run, so it must be there)."""
        xllamacpp_module()
        return [
            BackendModel(
                tag=spec.tag,
                family=spec.family,
                parameter_size=spec.parameter_size,
                quantization=spec.quantization,
                size_bytes=spec.size_bytes,
                digest=None,
            )
            for spec in self._specs.values()
        ]

    def version(self) -> str:
        """The xllamacpp version (it pins its llama.cpp); loads no model."""
        return f"xllamacpp {getattr(xllamacpp_module(), '__version__', 'unknown')}"

    def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        options: GenerationOptions,
        *,
        keep_alive: int | str | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> ChatResult:
        """Generate a reply, loading ``model`` first if needed; ``on_token`` gets each piece
        (it may raise to stop). Durations are llama.cpp's own timings, except
        ``load_duration`` (the load, near 0 when warm, plus waiting for the lock) and
        ``total_duration`` (wall time of this call). ``prompt_eval_count`` leaves out the
        prompt tokens reused from llama.cpp's prompt cache (a shared system prompt)."""
        keep = keep_alive_seconds(keep_alive)
        keep = self.default_keep_alive if keep is None else keep
        spec = self._spec(model)
        xlc = xllamacpp_module()
        started = time.monotonic_ns()
        num_ctx = options.num_ctx or self.num_ctx
        with self._lock:
            self._epoch += 1
            self._cancel_timer()
            # Another model (or context size) waits until the generations under way end.
            while self._active and (self._loaded, self._loaded_ctx) != (spec.tag, num_ctx):
                self._lock.wait()
            try:
                self._ensure_loaded(xlc, spec, num_ctx)
            except BaseException:
                self._after_request(spec.tag, keep)
                raise
            self._active += 1
            server = self._server
        loaded = time.monotonic_ns()
        try:
            collector = self._generate(server, spec, messages, options, on_token)
            self._generated(spec.tag)
        finally:
            server = None  # _drop's is the last reference: no teardown while another loads
            with self._lock:
                self._active -= 1
                if not self._active:  # the last one out applies its keep_alive
                    self._after_request(spec.tag, keep)
                self._lock.notify_all()
        timings, usage = collector.timings, collector.usage
        predicted_ms, prompt_ms = (
            _number(timings.get("predicted_ms")),
            _number(timings.get("prompt_ms")),
        )
        eval_count = _number(usage.get("completion_tokens")) or _number(timings.get("predicted_n"))
        split = collector.splitter.finish()
        if split.first_token_ns is not None:  # counted from the call, as other backends do
            split = replace(split, first_token_ns=split.first_token_ns + loaded - started)
        return ChatResult(
            **split.fields(),
            model=spec.tag,
            done_reason=collector.finish_reason,
            eval_count=int(eval_count) if eval_count is not None else collector.splitter.pieces,
            eval_duration=int(predicted_ms * 1e6) if predicted_ms else None,
            prompt_eval_count=int(n) if (n := _number(timings.get("prompt_n"))) else None,
            prompt_eval_duration=int(prompt_ms * 1e6) if prompt_ms else None,
            load_duration=max(loaded - started, 1),
            total_duration=max(time.monotonic_ns() - started, 1),
        )

    def unload(self, model: str) -> None:
        """Free ``model``'s memory now (nothing to do when it is not loaded)."""
        self._spec(model)
        with self._lock:
            while self._active:
                self._lock.wait()
            if self._loaded == model:
                self._drop()

    def missing_model_hint(self, tag: str) -> str:
        """How an operator makes ``tag`` one of this backend's models."""
        return (
            "install the packaged models with `scripts/install-local.sh`, or register the "
            f"GGUF file of {tag!r} (`files` of the embedded entry in BACKENDS)"
        )

    def close(self) -> None:
        """Unload whatever is loaded and stop the idle timer."""
        with self._lock:
            while self._active:
                self._lock.wait()
            self._cancel_timer()
            self._drop()

    # -- plumbing ---------------------------------------------------------------------------

    def _spec(self, model: str) -> EmbeddedModelSpec:
        spec = self._specs.get(model)
        if spec is None:
            known = ", ".join(sorted(self._specs)) or "none"
            advice = self.missing_model_hint(model)
            raise ModelNotFound(model, None, f"the embedded backend has {known}; {advice}")
        return spec

    def _ensure_loaded(self, xlc: ModuleType, spec: EmbeddedModelSpec, num_ctx: int) -> None:
        """Load ``spec`` unless it is in memory with the same context size (lock held)."""
        if self._server is not None and (self._loaded, self._loaded_ctx) == (spec.tag, num_ctx):
            return
        self._drop()
        path = self._path(spec)
        params = xlc.CommonParams()
        params.model.path = str(path)
        # ``parallel`` slots of ``num_ctx`` each, batched together, each caching its prompt
        params.n_ctx, params.n_parallel = num_ctx * self.parallel, self.parallel
        params.kv_unified, params.cont_batching, params.cache_prompt = False, True, True
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.verbosity = 3 if self.verbose else 1
        params.cache_ram_mib = 256  # llama.cpp's prompt cache in RAM (default 8 GiB)
        params.hostnames = ["127.0.0.1"]
        params.port = 0
        params.n_threads_http = 1
        params.api_keys = [secrets.token_urlsafe(24)]  # nobody else may use the HTTP API
        if spec.chat_template:
            params.chat_template = spec.chat_template
        try:
            self._load_starting(spec.tag)  # measures the load's memory
            server = xlc.Server(params)
        except RuntimeError as exc:
            self._paths.pop(spec.tag, None)
            raise BackendError(
                f"llama.cpp could not load {spec.tag!r} from {path} ({exc}): is the file a "
                "complete GGUF, and is there enough free memory? reinstall the model's "
                "package; llama.cpp's log on stderr says more"
            ) from exc
        self._server, self._loaded, self._loaded_ctx = server, spec.tag, num_ctx

    def _path(self, spec: EmbeddedModelSpec) -> Path:
        path = self._paths.get(spec.tag)
        if path is None:
            try:
                path = spec.locate()
            except (OSError, ValueError, ImportError) as exc:
                raise BackendError(
                    f"the GGUF file of {spec.tag!r} ({spec.source or 'no source'}) is not "
                    f"available: {exc}: reinstall it (scripts/install-local.sh)"
                ) from exc
            self._paths[spec.tag] = path
        return path

    def _generate(
        self,
        server: Any,
        spec: EmbeddedModelSpec,
        messages: list[dict[str, str]],
        options: GenerationOptions,
        on_token: Callable[[str], None] | None,
    ) -> _Collector:
        request: dict[str, Any] = {
            **spec.sampling,
            "messages": [dict(message) for message in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": options.temperature,
        }
        if options.num_predict is not None and options.num_predict >= 0:
            request["max_tokens"] = options.num_predict
        if options.seed is not None:
            request["seed"] = options.seed
        if options.top_p is not None:
            request["top_p"] = options.top_p
        request.update(options.sampling_extras())  # a variant's overrides the spec's sampling
        if spec.stop:  # the template's own stops, and a variant's besides
            request["stop"] = [*spec.stop, *request.get("stop", ())]
        collector = _Collector(on_token)
        try:
            server.handle_chat_completions(request, collector)
        except ValueError as exc:  # xllamacpp checks the request's shape before running it
            raise BackendError(f"llama.cpp rejected the request for {spec.tag!r}: {exc}") from exc
        finally:
            del server  # not kept alive by a traceback (see chat)
        if collector.raised is not None:
            raise collector.raised
        if collector.error is not None:
            if collector.splitter.pieces:
                raise StreamError(
                    f"llama.cpp failed while {spec.tag!r} was generating (after "
                    f"{collector.splitter.pieces} pieces): {collector.error}"
                )
            raise BackendError(
                f"llama.cpp refused the request for {spec.tag!r}: {collector.error}"
                + (": raise num_ctx or shorten the prompt" if "context" in collector.error else "")
            )
        if collector.finish_reason is None:
            raise StreamError(
                f"the reply of {spec.tag!r} ended without a finish reason after "
                f"{collector.splitter.pieces} pieces"
            )
        return collector

    def _after_request(self, tag: str, keep: float | None) -> None:
        """Apply keep_alive once a request is over (lock held)."""
        if self._loaded != tag or keep is None or keep < 0:
            return
        if keep == 0:
            self._drop()
            return
        epoch = self._epoch
        self._timer = threading.Timer(keep, self._expire, args=(epoch,))
        self._timer.daemon = True
        self._timer.start()

    def _expire(self, epoch: int) -> None:
        with self._lock:
            if epoch == self._epoch and not self._active:  # no request since the timer was set
                self._drop()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _drop(self) -> None:
        """Free the loaded model (lock held); xllamacpp stops its server on release."""
        server, self._server = self._server, None
        self._loaded = self._loaded_ctx = None
        del server
