"""CSV that spreadsheets open safely: no cell runs as a formula, no row is split by a CR.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
``'`` (OWASP's recommendation for CSV injection); numbers are written as numbers, a negative
one too. Python 3.11's csv module quotes a field only for the line terminator's characters,
so a lone carriage return inside a text is quoted here too: a reader would otherwise end the
row there, and what follows (a formula) would start a line of its own.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

#: A text cell starting with one of these is a formula to a spreadsheet (OWASP's list).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Text columns written as they are: identifiers of a fixed alphabet (``battle_id`` is a
#: URL-safe token, letters, digits, ``-`` and ``_``), which cannot hold a formula that does
#: anything and must stay joinable with the JSON export and the database.
CSV_RAW_FIELDS = frozenset({"battle_id"})


def csv_cell(value: Any) -> Any:
    """A cell as CSV writes it: text a spreadsheet would run as a formula gets a leading
    ``'`` (OWASP); anything else (numbers, negative ones too; None) as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_text(rows: Sequence[Sequence[Any]]) -> str:
    """Rows as CSV lines ending in ``\\n``, a cell holding a carriage return quoted too.

    Python 3.11's csv module quotes the line terminator's characters only, so a lone ``\\r``
    in a text would end the row for a reader (and could start a formula cell): the few rows
    holding one are written again, each by a writer that ends lines in ``\\r\\n``.
    """
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    text = buffer.getvalue()
    if "\r" not in text:
        return text
    lines = []
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        csv.writer(buffer, lineterminator="\r\n").writerow(row)
        lines.append(buffer.getvalue()[:-2] + "\n")
    return "".join(lines)


def csv_lines(
    rows: Iterable[Sequence[Any]], fields: Sequence[str], chunk_rows: int = 2000
) -> Iterator[str]:
    """Rows as CSV text chunks: the header first (even without rows), text cells safe but
    those of :data:`CSV_RAW_FIELDS`."""
    raw = [i for i, name in enumerate(fields) if name in CSV_RAW_FIELDS]
    yield csv_text([fields])
    for chunk in _chunks(rows, chunk_rows):
        lines: list[Sequence[Any]] = []
        for row in chunk:
            # csv_cell, inlined: this runs for every cell of a million-row log.
            cells = [
                "'" + c if isinstance(c, str) and c.startswith(FORMULA_PREFIXES) else c for c in row
            ]
            for i in raw:
                cells[i] = row[i]
            lines.append(cells)
        yield csv_text(lines)


def _chunks(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    chunk: list[Sequence[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
