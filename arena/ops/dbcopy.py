"""Copy every row of the arena's database into another database (SQLite to PostgreSQL, say).

What ``flask --app arena db copy --to URL`` runs: the target is migrated to the newest
revision, refused if it holds any row (unless ``force``: then emptied first), filled table by
table in dependency order and in batches, inside one transaction on the target (a failure
leaves it as it was, schema included), its PostgreSQL sequences moved past the copied ids,
and its row counts checked against the source's before the transaction commits.

The source is read in one snapshot (a read transaction on SQLite, REPEATABLE READ on
PostgreSQL), so the copy is consistent even while the app writes; stop the app before the
switch anyway, or the votes cast between the copy and the switch stay behind.

The target's password need not be in its URL, where ``ps`` and the shell's history would show
it: :func:`read_password_file` reads it from a file, and for ``postgresql+psycopg://`` URLs
libpq itself reads ``PGPASSWORD`` and ``~/.pgpass`` when the URL has none. Messages show URLs
through :func:`safe_url` and errors through :func:`redact`, so no password is printed.
"""

from __future__ import annotations

import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Integer, Table, func, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from arena.backends.redact import redact as redact_text
from arena.backends.redact import redact_url
from arena.database import MIGRATIONS_DIR
from arena.extensions import db

BATCH_SIZE = 2000


class CopyError(RuntimeError):
    """A copy that cannot be done or did not check out; the message says why."""


@dataclass(frozen=True)
class TableCopy:
    name: str
    rows: int


@dataclass(frozen=True)
class CopyReport:
    source: str
    target: str
    revision: str
    tables: tuple[TableCopy, ...]
    sequences: tuple[str, ...]
    seconds: float

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables)


def safe_url(url: str | URL) -> str:
    """The URL without its password (also a ``?password=`` parameter), for messages; also one
    SQLAlchemy cannot parse."""
    try:
        return redact_url(make_url(url).render_as_string(hide_password=True))
    except ArgumentError:
        return redact_url(str(url))


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with each secret (as it is, and as it is written in a URL) and every URL's
    password shown as ``***`` (:func:`arena.backends.redact.redact`)."""
    return redact_text(text, secrets)


def read_password_file(path: str | Path) -> str:
    """The password in the first line of ``path`` (``-``: standard input), without its line
    ending, as PostgreSQL's tools read a password file (``initdb --pwfile``); raises
    CopyError when it cannot be read or that line is empty. The password is never shown."""
    try:
        if str(path) == "-":
            line = sys.stdin.readline()
        else:
            with open(path, encoding="utf-8") as handle:
                line = handle.readline()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise CopyError(f"cannot read the password file {str(path)!r}: {reason}") from None
    password = line.rstrip("\r\n")
    if not password:
        raise CopyError(f"the first line of the password file {str(path)!r} is empty")
    return password


def loosely_protected(path: str | Path) -> bool:
    """True when others than the owner may read ``path`` (libpq refuses such a ~/.pgpass)."""
    if str(path) == "-":
        return False
    try:
        return bool(Path(path).stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False


def target_url(url: str, password: str | None = None) -> URL:
    """The target's URL, with ``password`` (from a file, say) set on it, never written into a
    string. Raises CopyError for a URL SQLAlchemy cannot parse (shown without its password),
    a password given twice, or one given for SQLite (which has none)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CopyError(f"cannot read the URL {safe_url(url)!r}") from None
    if password is None:
        return parsed
    if parsed.password is not None:
        raise CopyError(
            f"{safe_url(parsed)} already holds a password: give it once (leave it out of the "
            "URL, where `ps` and the shell's history show it)"
        )
    if parsed.get_backend_name() == "sqlite":
        raise CopyError(f"{safe_url(parsed)} is SQLite, which takes no password")
    return parsed.set(password=password)


def tables() -> list[Table]:
    """Every table of the arena, parents before children (foreign keys point backwards)."""
    return list(db.metadata.sorted_tables)


def head_revision() -> str:
    heads = ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()
    if len(heads) != 1:
        raise CopyError(f"the migrations have {len(heads)} heads; merge them first")
    return heads[0]


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(conn: Connection, alembic_config: Config) -> None:
    """Migrate the database behind ``conn`` to the newest revision, in its transaction."""
    alembic_config.attributes["connection"] = conn
    try:
        command.upgrade(alembic_config, "head")
    finally:
        alembic_config.attributes.pop("connection", None)


def row_counts(conn: Connection, only_existing: bool = False) -> dict[str, int]:
    """Rows per arena table (with ``only_existing``, tables missing from the database are 0)."""
    present = set(inspect(conn).get_table_names()) if only_existing else None
    return {
        table.name: (
            int(conn.scalar(select(func.count()).select_from(table)) or 0)
            if present is None or table.name in present
            else 0
        )
        for table in tables()
    }


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection that sees one consistent state of the database for all its reads."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn
        return
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # pysqlite begins transactions only before writes: start one by hand so that
            # every SELECT reads the same snapshot (WAL keeps it while writers go on).
            conn.exec_driver_sql("BEGIN")
        try:
            yield conn
        finally:
            conn.rollback()


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction for everything, DDL included, committed only if the block succeeds."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # pysqlite would run the migrations' DDL outside any transaction: begin by hand,
            # so a failed copy leaves no half-made schema behind either.
            conn.exec_driver_sql("BEGIN")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def copy_database(
    source: Engine,
    target: Engine,
    alembic_config: Config,
    *,
    force: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy every row of ``source`` into ``target`` (see the module's docstring).

    ``progress(table, rows_so_far)`` is called after each batch.
    """
    if source.url == target.url:
        raise CopyError("the source and the target are the same database")
    started = time.perf_counter()
    revision = head_revision()
    with snapshot(source) as src:
        found = current_revision(src)
        if found != revision:
            raise CopyError(
                f"the source database is at revision {found or 'none'}, not {revision}: "
                "run `flask --app arena db upgrade` on it first"
            )
        expected = row_counts(src)
        with _transaction(target) as dst:
            existing = {name: n for name, n in row_counts(dst, only_existing=True).items() if n}
            if existing and not force:
                listing = ", ".join(f"{name} ({n})" for name, n in existing.items())
                raise CopyError(
                    f"the target already holds rows: {listing}; use --force to replace them"
                )
            upgrade(dst, alembic_config)
            if existing:
                _empty(dst)
            for table in tables():
                _copy_table(src, dst, table, batch_size, progress)
            sequences = _fix_sequences(dst)
            copied = row_counts(dst)
            wrong = {name: (expected[name], n) for name, n in copied.items() if n != expected[name]}
            if wrong:
                detail = ", ".join(
                    f"{k}: {a} in the source, {b} copied" for k, (a, b) in wrong.items()
                )
                raise CopyError(f"row counts differ, nothing was kept: {detail}")
    return CopyReport(
        source=safe_url(source.url.render_as_string(hide_password=False)),
        target=safe_url(target.url.render_as_string(hide_password=False)),
        revision=revision,
        tables=tuple(TableCopy(name, expected[name]) for name in expected),
        sequences=tuple(sequences),
        seconds=time.perf_counter() - started,
    )


def _empty(conn: Connection) -> None:
    for table in reversed(tables()):
        conn.execute(table.delete())


def _copy_table(
    src: Connection,
    dst: Connection,
    table: Table,
    batch_size: int,
    progress: Callable[[str, int], None] | None,
) -> None:
    order = list(table.primary_key.columns) or list(table.columns)
    result = src.execution_options(stream_results=True, yield_per=batch_size).execute(
        select(table).order_by(*order)
    )
    done = 0
    for batch in result.mappings().partitions(batch_size):
        dst.execute(table.insert(), [dict(row) for row in batch])
        done += len(batch)
        if progress is not None:
            progress(table.name, done)
    result.close()


def _fix_sequences(conn: Connection) -> list[str]:
    """Move each PostgreSQL id sequence past the highest copied id; return their names.

    Rows were inserted with their ids, so the sequences never advanced: the next insert
    would otherwise reuse id 1.
    """
    if conn.dialect.name != "postgresql":
        return []
    fixed = []
    for table in tables():
        for column in table.primary_key.columns:
            if not isinstance(column.type, Integer) or column.autoincrement is False:
                continue
            sequence = conn.scalar(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table.name, "column": column.name},
            )
            if sequence is None:
                continue
            quoted = conn.dialect.identifier_preparer.quote
            conn.execute(
                text(
                    f"SELECT setval(:sequence, COALESCE(MAX({quoted(column.name)}), 1), "
                    f"MAX({quoted(column.name)}) IS NOT NULL) FROM {quoted(table.name)}"
                ),
                {"sequence": sequence},
            )
            fixed.append(sequence)
    return fixed
