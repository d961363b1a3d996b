"""``flask --app arena worker``: the background worker (nightly window, visitors' prompts)."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import click
from flask import current_app
from flask.cli import with_appcontext

from arena.cli.common import check_budget, with_database
from arena.ops.worker import Worker, WorkerAlreadyRunning


@click.command("worker")
@with_appcontext
@click.option(
    "--run-now",
    is_flag=True,
    help="Start a pre-generation run at once instead of waiting for the window.",
)
@click.option(
    "--budget", callback=check_budget, help="With --run-now: start no answer after this long."
)
@with_database
def worker_command(run_now: bool, budget: str | None) -> None:
    """Run the scheduler until SIGTERM or Ctrl-C; only one worker runs per instance."""
    # The app behind the proxy (Flask types current_app as Flask, without this method).
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    worker = Worker(app, say=lambda line: click.echo(line))

    def stop(_signum: int, _frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        worker.run(run_now=run_now, budget=budget)
    except WorkerAlreadyRunning as error:
        click.echo(str(error), err=True)
        sys.exit(1)
