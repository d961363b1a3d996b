"""``flask --app arena leaderboard import|refresh``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from arena import leaderboard
from arena.cli.common import DatabaseGroup
from arena.leaderboard import legacy_import
from arena.leaderboard.filters import FilterError

leaderboard_group = DatabaseGroup(
    "leaderboard", help="Import history and refresh cached leaderboards."
)


def _parse_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date or date-time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@leaderboard_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--at",
    metavar="DATETIME",
    help="Date the imported votes (ISO, UTC unless given; default: now).",
)
@click.option("--dry-run", is_flag=True, help="Check the file and report; change nothing.")
def import_(file: Path, at: str | None, dry_run: bool) -> None:
    """Import the original arena's leaderboard.json FILE as votes (one per win).

    Idempotent: battles already imported are not added again.
    """
    try:
        data = legacy_import.load_file(file.read_text(encoding="utf-8"))
        report = legacy_import.import_leaderboard(data, at=_parse_at(at), dry_run=dry_run)
    except (legacy_import.LegacyImportError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{file}: {error}") from None
    for line in report.lines():
        click.echo(line)


@leaderboard_group.command("refresh")
@click.option(
    "--source",
    "sources",
    multiple=True,
    metavar="SOURCE",
    help="Also compute this source's unfiltered board: judge or judge:TAG (repeatable).",
)
def refresh(sources: tuple[str, ...]) -> None:
    """Recompute the cached leaderboards whose votes changed (as the worker does)."""
    try:
        computed = leaderboard.refresh_cache(sources)
    except FilterError as error:
        raise click.UsageError(str(error)) from None
    click.echo(f"{computed} leaderboard{'s' if computed != 1 else ''} recomputed")
