"""``flask --app arena demo``: a zero-setup arena with real models, no Ollama needed.

It registers the two PyPI-packaged GGUF models (SmolLM2 135M and Gemma 3 270M) on an
embedded backend (llama.cpp in this process), written into the instance's BACKENDS
(:mod:`arena.ops.demo`) so that later commands and pages know it, then serves the arena on
127.0.0.1 at once with the werkzeug server while a thread fills the pool, one prompt at a time
at first (:mod:`arena.pregen.filling`): the first battle is ready as soon as both models have
answered one prompt, later ones as they are generated, and the battle page says what is
coming. A worker thread answers visitors' prompts between two answers of the pool.
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
from arena.ops.demo import configure_embedded_backend
from arena.ops.worker import Worker, WorkerAlreadyRunning
from arena.play import catalogue
from arena.play.battles import new_voter_id
from arena.play.ready import battles_ready
from arena.pregen.filling import PoolFiller, Timings, about, next_battle_seconds

INSTALL = (
    "the demo needs the optional embedded backend and its packaged models: install them "
    "with `scripts/install-local.sh` (xllamacpp, SmolLM2 135M and Gemma 3 270M from PyPI, "
    "about 370 MB), then run `flask --app arena demo` again"
)
DISPLAY_NAMES = {SMOLLM2_TAG: "SmolLM2 135M Instruct", GEMMA3_TAG: "Gemma 3 270M (base)"}
#: Prompts in the demo's pool: each gives a visitor one battle (two models).
DEMO_PROMPTS = 30


def register_packaged_models(app: Flask) -> tuple[str, list[str]]:
    """Register the installed packaged models on the embedded backend (kept in the instance's
    BACKENDS); (backend, tags). Raises ClickException with the install command when something
    is missing."""
    if importlib.util.find_spec("xllamacpp") is None or not packaged_models():
        raise click.ClickException(INSTALL)
    setup = configure_embedded_backend(app)
    if setup.action != "configured":
        click.echo(setup.message)
    backend = get_backend(setup.name)
    tags = []
    for entry in backend.list_models():
        model = catalogue.add_model(backend, entry.tag, DISPLAY_NAMES.get(entry.tag))
        tags.append(model.tag)
        click.echo(f"registered {model.display_name} ({model.tag}) on the {setup.name!r} backend")
    return setup.name, tags


def plan_line(tags: list[str]) -> str:
    """What the start will do, from the plan itself (so it never contradicts what follows)."""
    plan = pregen.plan_batch(None, tags)
    have = battles_ready(new_voter_id())
    pool = f"the pool has {have} battle{'s' if have != 1 else ''} for a new visitor"
    if not plan.work:
        return (
            f"{pool} (target {plan.target}): nothing to generate now; more are generated "
            "in the background as visitors use them up"
        )
    first = next_battle_seconds(
        [(tag, 1) for tag in plan.per_model()], {}, Timings.from_database(tags)
    )
    when = f": the next battle in {about(first)}" if first is not None else ""
    why = f"(target {plan.target})"
    if plan.voter_short:
        least = plan.target - plan.voter_short
        why = f"(target {plan.target}; a recent voter has {least} left)"
    return (
        f"{pool} {why}; generating {len(plan.prompts)} more prompts x {len(plan.work)} models "
        f"in the background while the arena is served, one prompt at a time at first{when}"
    )


@click.command("demo")
@with_appcontext
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option(
    "--prompts",
    "n_prompts",
    type=click.IntRange(min=1),
    default=DEMO_PROMPTS,
    show_default=True,
    help="Battles kept ready for each visitor: prompts answered by both packaged models.",
)
@click.option(
    "--num-predict",
    type=click.IntRange(min=1),
    default=320,
    show_default=True,
    help="At most this many tokens per answer.",
)
@click.option("--no-serve", is_flag=True, help="Fill the pool, then exit (serve nothing).")
@with_database
def demo_command(port: int, n_prompts: int, num_predict: int, no_serve: bool) -> None:
    """Register the packaged models and serve the arena on 127.0.0.1:PORT at once, filling
    the pool in the background. Needs `scripts/install-local.sh`; no Ollama needed."""
    # The app behind the proxy (Flask types current_app as Flask, without this method).
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    app.config["GEN_NUM_PREDICT"] = num_predict
    app.config["POOL_TARGET"] = n_prompts  # the pool is full once the demo's slate is answered
    try:
        name, tags = register_packaged_models(app)
    except (BackendError, catalogue.CatalogueError) as error:
        raise click.ClickException(f"{error}: {INSTALL}") from None
    click.echo(plan_line(tags))
    try:
        if no_serve:
            fill(app, tags)
        else:
            serve(app, port, tags)
    finally:
        backend: Any = get_backend(name)
        if hasattr(backend, "close"):
            backend.close()  # free the models' memory


def fill(app: Flask, tags: list[str]) -> None:
    """Fill the pool in the foreground until it is full (``--no-serve``)."""
    filler = PoolFiller(app, tags=tags, say=click.echo, until_full=True)
    try:
        filler.run()
    except pregen.LockBusy as error:
        raise click.ClickException(f"{error}: wait for it to finish") from None
    click.echo(f"the pool is full: {filler.state.battles_made} battles generated by this run")


def serve(app: Flask, port: int, tags: list[str]) -> None:
    """The werkzeug server on 127.0.0.1:PORT at once; a thread fills the pool, a worker
    thread answers visitors' prompts (between two of the pool's answers while it fills)."""
    from werkzeug.serving import run_simple

    worker = Worker(app, say=lambda line: click.echo(f"worker: {line}"))
    filler = PoolFiller(
        app,
        tags=tags,
        guard=worker.generating,
        between_answers=worker.serve_visitors,
        say=lambda line: click.echo(f"pool: {line}"),
    )

    def work() -> None:
        try:
            worker.run()
        except WorkerAlreadyRunning as error:
            click.echo(f"worker: {error}")

    def fill_pool() -> None:
        try:
            filler.run()
        except Exception as error:  # e.g. another run holds the pool: serve what there is
            click.echo(f"pool: not filled further: {type(error).__name__}: {error}")

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the server like Ctrl-C

    signal.signal(signal.SIGTERM, interrupt)
    threads = [
        threading.Thread(target=work, name="demo-worker", daemon=True),
        threading.Thread(target=fill_pool, name="demo-pool", daemon=True),
    ]
    for thread in threads:
        thread.start()
    click.echo(f"the arena is at http://127.0.0.1:{port}/  (Ctrl-C stops it)")
    try:
        run_simple("127.0.0.1", port, app, threaded=True, use_reloader=False)
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop()  # first: its batch waiting for the filler's guard then does nothing
        filler.stop()
        for thread in threads:
            thread.join(timeout=30)
