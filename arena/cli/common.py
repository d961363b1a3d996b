"""What several commands share: the database made ready before they run, and option checks."""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from arena.ops.setup import ensure_database
from arena.pregen import RunControl
from arena.pregen.clock import SYSTEM_CLOCK, LimitError, parse_duration, resolve_until


def with_database(command: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``command`` with the database ready (migrated, prompt bank loaded): put it under
    ``with_appcontext``. ``--help`` never gets here, so it touches no database."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # The app behind the proxy (Flask types current_app as Flask, without this method).
        ensure_database(current_app._get_current_object())  # type: ignore[attr-defined]
        return command(*args, **kwargs)

    return wrapper


class DatabaseGroup(AppGroup):
    """A command group whose commands run with the database ready (:func:`with_database`)."""

    # The signature of Flask's AppGroup.command, which narrows click's Group.command (no bare
    # @group.command) and has the same ignore.
    def command(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], click.Command]:
        def decorator(f: Callable[..., Any]) -> click.Command:
            return AppGroup.command(self, *args, **kwargs)(with_database(f))

        return decorator


def check_budget(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A ``--budget`` option: a duration such as ``4h``, ``90m`` or ``1h30m``."""
    if value is not None:
        try:
            parse_duration(value)
        except LimitError as error:
            raise click.BadParameter(str(error)) from None
    return value


def check_until(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """An ``--until`` option: a local time ``HH:MM`` or an ISO date and time (without an
    offset, local too), read in the machine's zone with its daylight-saving rules."""
    if value is not None:
        try:
            resolve_until(value, SYSTEM_CLOCK.now())
        except LimitError as error:
            raise click.BadParameter(str(error)) from None
    return value


@contextmanager
def stop_on_signals(work: str = "answer") -> Iterator[RunControl]:
    """SIGINT/SIGTERM: finish the ``work`` in progress (an answer, a pair), then stop; a
    second SIGINT aborts. A batch command runs its service under the control it yields."""
    asked: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        if asked and signum == signal.SIGINT:
            raise KeyboardInterrupt
        asked.append(signum)
        print(f"\nstopping after the {work} in progress (Ctrl-C again to abort)", file=sys.stderr)

    control = RunControl(stop_requested=lambda: bool(asked))
    try:
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread (e.g. called from a worker thread): no handlers
        yield control
        return
    try:
        yield control
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def print_summary(lines: Iterable[str], status: int) -> None:
    """Print a run's summary (its failures on stderr), then exit with ``status`` unless 0."""
    for line in lines:
        click.echo(line, err=line.startswith("failed"))
    if status:
        click.echo(f"exit status {status}", err=True)
        raise click.exceptions.Exit(status)
