"""What several commands share: the database made ready before they run, and option checks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from arena.ops.setup import ensure_database
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
