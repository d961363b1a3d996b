"""``flask --app arena db copy --to URL``: move every row to another database (e.g. PostgreSQL)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate.cli import db as db_group
from sqlalchemy import create_engine
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
    help="The target's SQLAlchemy URL, e.g. postgresql+psycopg://arena:secret@db-host/arena.",
)
@click.option("--force", is_flag=True, help="Empty a target that already holds rows, then copy.")
@click.option(
    "--batch-size", default=dbcopy.BATCH_SIZE, show_default=True, help="Rows per INSERT batch."
)
@with_appcontext
def copy_command(target_url: str, force: bool, batch_size: int) -> None:
    """Copy every row of this app's database into the database at URL.

    The target is migrated to the newest schema first and must be empty (or --force). The copy
    runs in one transaction on the target and is checked table by table before it commits.
    Stop the web and the worker first, so no vote is cast after the copy; then point
    ARENA_DATABASE_URL at the target.
    """
    try:
        target = create_engine(target_url)
    except (ArgumentError, ImportError) as error:
        raise click.ClickException(f"cannot use {target_url!r}: {error}") from None
    config = current_app.extensions["migrate"].migrate.get_config(str(MIGRATIONS_DIR))
    shown: dict[str, int] = {}

    def progress(table: str, rows: int) -> None:
        if rows - shown.get(table, 0) >= 50_000:
            shown[table] = rows
            click.echo(f"  {table}: {rows:,} rows...", err=True)

    click.echo(f"copying {dbcopy.safe_url(str(db.engine.url))} -> {dbcopy.safe_url(target_url)}")
    try:
        report = dbcopy.copy_database(
            db.engine, target, config, force=force, batch_size=batch_size, progress=progress
        )
    except dbcopy.CopyError as error:
        raise click.ClickException(str(error)) from None
    except SQLAlchemyError as error:
        raise click.ClickException(f"the copy failed, no row was kept: {error}") from None
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
    click.echo(f"Now set ARENA_DATABASE_URL={dbcopy.safe_url(target_url)} (with its password).")


def init_app() -> None:
    """Add ``copy`` to Flask-Migrate's ``db`` command group."""
    db_group.add_command(copy_command)
