"""``flask --app arena backup PATH`` and ``restore PATH``."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from arena.extensions import db
from arena.ops import backups
from arena.ops.backup import BackupError, backup_dir


@click.command("backup")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@with_appcontext
def backup_command(path: Path | None) -> None:
    """Copy the live database to PATH (a file or a folder; default: the backup folder).

    Safe while the web and the worker run: SQLite's online backup API, or on PostgreSQL
    pg_dump (custom format) checked by a restore into a scratch database.
    """
    try:
        report = backups.backup(current_app.config["SQLALCHEMY_DATABASE_URI"], path or backup_dir())
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"backed up {report.votes} votes ({report.bytes:,} bytes) to {report.path}")
    click.echo(f"checked: {report.checked}")


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def restore_command(path: Path, yes: bool) -> None:
    """Replace the database's content with the backup at PATH.

    The current database is first saved into the backup folder, so a restore can be undone.
    On PostgreSQL PATH is a pg_dump archive (custom format); stop the web and the worker first.
    """
    if not yes:
        click.confirm(f"Replace the current database with {path}?", abort=True)
    db.engine.dispose()  # no pooled connection of ours holds the old file during the copy
    try:
        report = backups.restore(
            current_app.config["SQLALCHEMY_DATABASE_URI"], path, safety_dir=backup_dir()
        )
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"restored {report.votes} votes from {path}; the previous database is in {backup_dir()}"
    )
    click.echo("Run `flask --app arena db upgrade` if the backup came from an older version.")
