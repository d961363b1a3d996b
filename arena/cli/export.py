"""``flask --app arena export leaderboard|votes``: the same files as the HTTP downloads."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click
from flask import current_app

from arena import leaderboard
from arena.cli.common import DatabaseGroup
from arena.leaderboard import exports
from arena.leaderboard.filters import FilterError, Filters, parse_filters, parse_sort

export_group = DatabaseGroup("export", help="Write the leaderboard or the vote log as CSV or JSON.")


def filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The filter options shared by every command that reads the vote log."""
    options = [
        click.option("--category", help="Only votes on prompts of this category."),
        click.option("--size", help="Only votes where both models are in this size class."),
        click.option("--from", "date_from", metavar="YYYY-MM-DD", help="First day (UTC)."),
        click.option("--to", "date_to", metavar="YYYY-MM-DD", help="Last day (UTC), inclusive."),
        click.option("--exclude-ties", is_flag=True, help="Drop tie and 'both bad' votes."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def filters_from_options(
    category: str | None,
    size: str | None,
    date_from: str | None,
    date_to: str | None,
    exclude_ties: bool,
) -> Filters:
    """The options as query parameters, validated exactly as the web requests are."""
    args = {"category": category, "size": size, "from": date_from, "to": date_to}
    params = {name: value for name, value in args.items() if value}
    if exclude_ties:
        params["exclude_ties"] = "1"
    try:
        return parse_filters(params, current_app.config["SIZE_CLASS_BOUNDS_B"])
    except FilterError as error:
        raise click.UsageError(str(error)) from None


def _write(chunks: Iterable[str], out: Path | None) -> None:
    if out is None:
        for chunk in chunks:
            sys.stdout.write(chunk)
        sys.stdout.flush()
        return
    with out.open("w", encoding="utf-8", newline="") as handle:
        for chunk in chunks:
            handle.write(chunk)
    click.echo(f"wrote {out}", err=True)


_FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
_OUT = click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout."
)


@export_group.command("leaderboard")
@_FORMAT
@_OUT
@click.option("--sort", type=click.Choice(["bt", "elo", "score"]), default="bt", show_default=True)
@filter_options
def export_leaderboard(fmt: str, out: Path | None, sort: str, **options: Any) -> None:
    """One row per model: tallies, arena score, size-aware Elo, Bradley-Terry with interval."""
    filters = filters_from_options(**options)
    board = leaderboard.get_board(filters)
    _write([exports.leaderboard_export(board, parse_sort(sort), fmt)], out)


@export_group.command("votes")
@_FORMAT
@_OUT
@filter_options
def export_votes(fmt: str, out: Path | None, **options: Any) -> None:
    """The anonymised vote log (no voter ids); --format json writes JSON Lines."""
    filters = filters_from_options(**options)
    _write(exports.votes_export(filters, "jsonl" if fmt == "json" else fmt), out)
