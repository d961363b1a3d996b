"""``flask --app arena db copy --to URL``: move every row to another database (e.g. PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate.cli import db as db_group
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from arena.database import MIGRATIONS_DIR
from arena.extensions import db
from arena.ops import dbcopy


@click.command("copy")
@click.option(
    "--to",
    "target_url",
    required=True,
    metavar="URL",
    help="The target's SQLAlchemy URL, e.g. postgresql+psycopg://arena@db-host/arena; its "
    "password from --password-file, or from PGPASSWORD or ~/.pgpass (libpq reads them).",
)
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    metavar="FILE",
    help="Read the target's password from the first line of FILE ('-': standard input) "
    "rather than from the URL, where `ps` and the shell's history show it.",
)
@click.option("--force", is_flag=True, help="Empty a target that already holds rows, then copy.")
@click.option(
    "--batch-size", default=dbcopy.BATCH_SIZE, show_default=True, help="Rows per INSERT batch."
)
@with_appcontext
def copy_command(target_url: str, password_file: Path | None, force: bool, batch_size: int) -> None:
    """Copy every row of this app's database into the database at URL.

    The target is migrated to the newest schema first and must be empty (or --force). The copy
    runs in one transaction on the target and is checked table by table before it commits.
    Stop the web and the worker first, so no vote is cast after the copy; then point
    ARENA_DATABASE_URL at the target.
    """
    url = _target(target_url, password_file)
    secrets = [url.password, db.engine.url.password]  # hidden in every message below
    try:
        target = create_engine(url)
    except (ArgumentError, ImportError) as error:
        message = dbcopy.redact(str(error), secrets)
        raise click.ClickException(f"cannot use {dbcopy.safe_url(url)}: {message}") from None
    try:
        report = _copy(target, force, batch_size)
    except dbcopy.CopyError as error:
        raise click.ClickException(dbcopy.redact(str(error), secrets)) from None
    except SQLAlchemyError as error:
        message = dbcopy.redact(str(error), secrets)
        raise click.ClickException(f"the copy failed, no row was kept: {message}") from None
    finally:
        target.dispose()
    for table in report.tables:
        click.echo(f"  {table.name:<20} {table.rows:>10,} rows")
    click.echo(
        f"copied {report.rows:,} rows in {len(report.tables)} tables in {report.seconds:.1f} s; "
        f"row counts match; schema at {report.revision}"
        + (
            f"; {len(report.sequences)} sequences moved past the copied ids"
            if report.sequences
            else ""
        )
    )
    where = (
        " (its password in the URL, or left out: libpq reads PGPASSWORD or ~/.pgpass)"
        if url.get_backend_name() == "postgresql"
        else ""
    )
    click.echo(f"Now set ARENA_DATABASE_URL={dbcopy.safe_url(url)}{where}.")


def _target(target_url: str, password_file: Path | None) -> URL:
    """The target's URL with the password of ``password_file`` set; usage errors (status 2)
    for a file that cannot be read, a password given twice or one SQLite cannot take."""
    password = None
    if password_file is not None:
        try:
            password = dbcopy.read_password_file(password_file)
        except dbcopy.CopyError as error:
            raise click.BadParameter(str(error), param_hint="'--password-file'") from None
        if dbcopy.loosely_protected(password_file):
            click.echo(
                f"warning: others may read {password_file}: `chmod 600 {password_file}`",
                err=True,
            )
    try:
        url = dbcopy.target_url(target_url, password)
    except dbcopy.CopyError as error:
        raise click.BadParameter(str(error), param_hint="'--to'") from None
    if password is None and url.password is not None:
        click.echo(
            "warning: the password in --to shows in `ps` and the shell's history: leave it out "
            "and use --password-file FILE, or PGPASSWORD or ~/.pgpass (PostgreSQL)",
            err=True,
        )
    return url


def _copy(target: Engine, force: bool, batch_size: int) -> dbcopy.CopyReport:
    config = current_app.extensions["migrate"].migrate.get_config(str(MIGRATIONS_DIR))
    shown: dict[str, int] = {}

    def progress(table: str, rows: int) -> None:
        if rows - shown.get(table, 0) >= 50_000:
            shown[table] = rows
            click.echo(f"  {table}: {rows:,} rows...", err=True)

    click.echo(f"copying {dbcopy.safe_url(db.engine.url)} -> {dbcopy.safe_url(target.url)}")
    return dbcopy.copy_database(
        db.engine, target, config, force=force, batch_size=batch_size, progress=progress
    )


def init_app() -> None:
    """Add ``copy`` to Flask-Migrate's ``db`` command group."""
    db_group.add_command(copy_command)
