"""``flask --app arena prompts ...``: the prompt bank."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app

from arena.cli.common import DatabaseGroup
from arena.play import prompts

prompts_group = DatabaseGroup("prompts", help="Import and list prompts.")


@prompts_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--category", help="Category for every imported prompt (overrides the file's).")
def import_(file: Path, category: str | None) -> None:
    """Import prompts from FILE: text (one per line), CSV (a 'prompt' column) or JSONL."""
    try:
        report = prompts.import_file(
            file, category=category, max_chars=int(current_app.config["PROMPT_MAX_CHARS"])
        )
    except (prompts.PromptError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{file}: {error}") from None
    for position, reason in report.invalid:
        click.echo(f"skipped line {position}: {reason}", err=True)
    click.echo(f"{file}: {report.summary()}")


@prompts_group.command("list")
@click.option("--category", help="Only this category.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many.")
def list_(category: str | None, limit: int | None) -> None:
    """List prompts with their id, category and source."""
    for prompt in prompts.list_prompts(category, limit):
        text = " ".join(prompt.text.split())
        click.echo(f"{prompt.id:>6}  {prompt.category:<12}  {prompt.source:<7}  {text[:80]}")
    counts = prompts.counts_by_category()
    click.echo(", ".join(f"{name}: {count}" for name, count in sorted(counts.items())))
