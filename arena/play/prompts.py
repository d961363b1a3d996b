"""The prompt bank: built-in prompts, imports from files, validation and listing."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from sqlalchemy import func, select

from arena.extensions import db
from arena.models import Prompt, prompt_hash
from arena.rendering import RENDER_VERSION, render_markdown

CATEGORIES = ("writing", "coding", "reasoning", "knowledge", "advice", "fun", "multilingual")
DEFAULT_CATEGORY = "general"
DEFAULT_MAX_CHARS = 4000


class PromptError(ValueError):
    """A prompt that cannot be accepted; the message says why, for the person who wrote it."""


@dataclass
class ImportReport:
    added: int = 0
    duplicates: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line or row number, reason)

    def summary(self) -> str:
        return (
            f"added {self.added}, skipped {self.duplicates} duplicates, {len(self.invalid)} invalid"
        )


def validate_prompt_text(text: object, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Return the cleaned prompt text, or raise PromptError with a reason a person understands."""
    if not isinstance(text, str):
        raise PromptError("the prompt must be text")
    cleaned = unicodedata.normalize("NFC", text).replace("\r\n", "\n").strip()
    if not cleaned:
        raise PromptError("the prompt is empty")
    if len(cleaned) > max_chars:
        raise PromptError(f"the prompt is {len(cleaned)} characters long; the limit is {max_chars}")
    bad = {
        ch for ch in cleaned if unicodedata.category(ch) in ("Cc", "Cs", "Co") and ch not in "\n\t"
    }
    if bad:
        codes = ", ".join(sorted(f"U+{ord(ch):04X}" for ch in bad))
        raise PromptError(f"the prompt contains control characters ({codes})")
    return cleaned


def add_prompts(
    items: Iterable[tuple[int, object, object]],
    *,
    source: str,
    max_chars: int = DEFAULT_MAX_CHARS,
    shared: bool = True,
    showcase: bool = False,
) -> ImportReport:
    """Insert (position, text, category) items, skipping duplicates and invalid ones; commit.

    Text and category are checked here (a JSON file may hold anything), so an item that is not
    text is reported as invalid like any other.
    """
    report = ImportReport()
    seen: set[str] = set(db.session.scalars(select(Prompt.text_hash)))
    for position, raw_text, raw_category in items:
        try:
            text = validate_prompt_text(raw_text, max_chars)
            category = _clean_category(raw_category)
        except PromptError as error:
            report.invalid.append((position, str(error)))
            continue
        digest = prompt_hash(text)
        if digest in seen:
            report.duplicates += 1
            continue
        seen.add(digest)
        db.session.add(
            Prompt(
                text=text,
                text_hash=digest,
                html=str(render_markdown(text)),
                html_version=RENDER_VERSION,
                category=category,
                source=source,
                shared=shared,
                showcase=showcase,
            )
        )
        report.added += 1
    db.session.commit()
    return report


def _clean_category(category: object) -> str:
    if category is not None and not isinstance(category, str):
        raise PromptError("the category must be text")
    value = (category or "").strip().lower()
    return value[:40] if value else DEFAULT_CATEGORY


def builtin_bank() -> list[tuple[int, object, object]]:
    """The prompts shipped in ``arena/data/prompts.jsonl``."""
    raw = resources.files("arena").joinpath("data/prompts.jsonl").read_text("utf-8")
    return list(_parse_jsonl(raw))


def load_builtin_prompts() -> ImportReport:
    return add_prompts(builtin_bank(), source="bank")


def import_file(
    path: Path,
    *,
    category: str | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    showcase: bool = False,
) -> ImportReport:
    """Import prompts from a text file (one per line), a CSV file, or JSON Lines.

    CSV needs a ``prompt`` or ``text`` column and may have ``category``; JSONL objects use the
    same keys. ``category`` overrides the file's categories when given; ``showcase`` marks
    the new prompts as showcase ones (:func:`set_showcase`).
    """
    raw = path.read_text("utf-8-sig")
    suffix = path.suffix.lower()
    items: list[tuple[int, object, object]]
    if suffix == ".csv":
        items = list(_parse_csv(raw))
    elif suffix in (".jsonl", ".ndjson"):
        items = list(_parse_jsonl(raw))
    else:
        items = [(n, line, None) for n, line in enumerate(raw.splitlines(), 1) if line.strip()]
    if category:
        items = [(n, text, category) for n, text, _ in items]
    return add_prompts(items, source="import", max_chars=max_chars, showcase=showcase)


def _parse_jsonl(raw: str) -> Iterable[tuple[int, object, object]]:
    """(line number, text, category) of each object, unchecked: :func:`add_prompts` checks."""
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise PromptError(f"line {number} is not valid JSON: {error}") from None
        if not isinstance(record, dict):
            raise PromptError(f"line {number} is not a JSON object")
        yield number, record.get("text", record.get("prompt")), record.get("category")


def _parse_csv(raw: str) -> Iterable[tuple[int, str, str | None]]:
    reader = csv.DictReader(io.StringIO(raw))
    columns = {name.strip().lower(): name for name in reader.fieldnames or []}
    text_column = columns.get("prompt") or columns.get("text")
    if text_column is None:
        raise PromptError("the CSV file needs a 'prompt' or 'text' column in its header")
    category_column = columns.get("category")
    for number, row in enumerate(reader, 2):
        category = row.get(category_column) if category_column else None
        yield number, row.get(text_column) or "", category


def list_prompts(category: str | None = None, limit: int | None = None) -> Sequence[Prompt]:
    query = select(Prompt).order_by(Prompt.id)
    if category:
        query = query.where(Prompt.category == category)
    if limit:
        query = query.limit(limit)
    return db.session.scalars(query).all()


def counts_by_category() -> dict[str, int]:
    rows = db.session.execute(
        select(Prompt.category, func.count(Prompt.id)).group_by(Prompt.category)
    )
    return {category: count for category, count in rows}


def set_showcase(prompt_ids: Sequence[int], showcase: bool = True) -> list[Prompt]:
    """Mark these prompts as showcase ones (or, with ``showcase=False``, return them to the
    battle pool); commit. A showcase prompt never enters a battle (matchmaking and the
    pre-generation planner skip it), every model answers it, and model pages show those
    answers to anyone.

    Raises:
        PromptError: an id that is no prompt, or a visitor's private prompt (its text is
            theirs: it is never shown to others).
    """
    ids = list(dict.fromkeys(prompt_ids))
    found = {p.id: p for p in db.session.scalars(select(Prompt).where(Prompt.id.in_(ids)))}
    unknown = [str(i) for i in ids if i not in found]
    if unknown:
        raise PromptError(f"no prompt with id {', '.join(unknown)} (see `prompts list`)")
    private = [str(i) for i in ids if found[i].source == "visitor" and not found[i].shared]
    if showcase and private:
        raise PromptError(
            f"prompt {', '.join(private)} is a visitor's private prompt: it cannot be shown "
            "to everyone"
        )
    for prompt in found.values():
        prompt.showcase = showcase
    db.session.commit()
    return [found[i] for i in ids]
