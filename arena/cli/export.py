"""``flask --app arena export leaderboard|votes|preferences``: the same files as the HTTP
downloads."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click
from flask import current_app

from arena import leaderboard
from arena.cli.common import DatabaseGroup
from arena.leaderboard import exports, preferences
from arena.leaderboard.filters import (
    FilterError,
    Filters,
    parse_filters,
    parse_sort,
    size_classes,
)
from arena.play.prompts import CATEGORIES, DEFAULT_CATEGORY

export_group = DatabaseGroup(
    "export", help="Write the leaderboard, the vote log or preference data as CSV or JSON."
)

# The accepted values, from constants only: --help never touches the database.
_SIZE_HELP = (
    "Only votes where both models are in this size class: "
    + ", ".join(size_class.id for size_class in size_classes())
    + " (with the default SIZE_CLASS_BOUNDS_B)."
)
_CATEGORY_HELP = (
    "Only votes on prompts of this category: "
    + ", ".join((*CATEGORIES, DEFAULT_CATEGORY))
    + ", or any imported one."
)


def _choice_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The filters that choose votes by their prompt, models and day."""
    options = [
        click.option("--category", help=_CATEGORY_HELP),
        click.option("--size", help=_SIZE_HELP),
        click.option("--from", "date_from", metavar="YYYY-MM-DD", help="First day (UTC)."),
        click.option("--to", "date_to", metavar="YYYY-MM-DD", help="Last day (UTC), inclusive."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The filter options shared by every command that reads the vote log."""
    ties = click.option("--exclude-ties", is_flag=True, help="Drop tie and 'both bad' votes.")
    targeted = click.option(
        "--exclude-targeted",
        is_flag=True,
        help="Drop the votes of the picker's 'settle it' battles (targeted=exclude).",
    )
    return _choice_options(ties(targeted(command)))


def filters_from_options(
    category: str | None,
    size: str | None,
    date_from: str | None,
    date_to: str | None,
    exclude_ties: bool = False,
    source: str | None = None,
    exclude_targeted: bool = False,
) -> Filters:
    """The options as query parameters, validated exactly as the web requests are
    (``source`` only for the leaderboard)."""
    args = {"category": category, "size": size, "from": date_from, "to": date_to}
    params = {name: value for name, value in args.items() if value}
    if exclude_ties:
        params["exclude_ties"] = "1"
    if exclude_targeted:
        params["targeted"] = "exclude"
    if source:
        params["source"] = source
    try:
        bounds = current_app.config["SIZE_CLASS_BOUNDS_B"]
        return parse_filters(params, bounds, sources=source is not None)
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
@click.option(
    "--source",
    default="human",
    show_default=True,
    help="human (people's votes), judge (every enabled judge's verdicts) or judge:TAG.",
)
@filter_options
def export_leaderboard(fmt: str, out: Path | None, sort: str, **options: Any) -> None:
    """One row per model: tallies, arena score, size-aware Elo, Bradley-Terry with interval."""
    filters = filters_from_options(**options)
    board = leaderboard.get_board(filters)
    _write([exports.leaderboard_export(board, parse_sort(sort), fmt)], out)


@export_group.command("votes")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl", "json"]),
    default="csv",
    show_default=True,
    help="json is JSON Lines too.",
)
@_OUT
@click.option(
    "--limit",
    type=click.IntRange(1, exports.MAX_PAGE_ROWS),
    help="At most this many votes (a page); all of them by default.",
)
@click.option(
    "--after",
    type=click.IntRange(min=0),
    default=0,
    metavar="VOTE_ID",
    help="Only votes after this one: the last vote_id of the previous page.",
)
@click.option(
    "--answers",
    is_flag=True,
    help="Add answer_a and answer_b: the texts the battle showed as model_a and model_b "
    "(empty for imported votes and visitors' private prompts).",
)
@filter_options
def export_votes(
    fmt: str, out: Path | None, limit: int | None, after: int, answers: bool, **options: Any
) -> None:
    """The anonymised vote log (no voter ids), in vote id order.

    With --limit, says on stderr where the next page starts when more votes follow.
    """
    filters = filters_from_options(**options)
    page = exports.VotePage(limit, after, answers)
    upto = exports.next_after(filters, page)
    _write(exports.votes_export(filters, "jsonl" if fmt == "json" else fmt, page, upto), out)
    if upto is not None:
        click.echo(f"more votes follow: the next page is --after {upto}", err=True)


@export_group.command("preferences")
@_OUT
@click.option(
    "--include",
    multiple=True,
    metavar="ties,both_bad",
    help="Add tie and/or both-bad votes (their sides A and B as chosen and rejected) and an "
    "outcome field on every line; comma-separated or repeated.",
)
@click.option(
    "--limit",
    type=click.IntRange(1, preferences.MAX_ROWS),
    help="At most this many records (a page); all of them by default.",
)
@click.option(
    "--after",
    type=click.IntRange(min=0),
    default=0,
    metavar="VOTE_ID",
    help="Only votes after this one: where the previous page ended (printed on stderr).",
)
@_choice_options
def export_preferences(
    out: Path | None, include: tuple[str, ...], limit: int | None, after: int, **options: Any
) -> None:
    """Preference pairs as JSON Lines, for DPO and other preference tuning.

    One line per decisive human vote: prompt, chosen, rejected, chosen_model,
    rejected_model, category. Never a flagged vote, a visitor's prompt that was not shared,
    or an imported vote (no battle, so no answers). With --limit, says on stderr where the
    next page starts when more records follow.
    """
    filters = filters_from_options(**options)
    try:
        outcomes = preferences.parse_include(",".join(include))
    except FilterError as error:
        raise click.BadParameter(str(error), param_hint="'--include'") from None
    page = preferences.PreferencePage(limit, after, outcomes)
    upto = preferences.next_after(filters, page)
    _write(preferences.preferences_export(filters, page, upto), out)
    if upto is not None:
        click.echo(f"more records follow: the next page is --after {upto}", err=True)
