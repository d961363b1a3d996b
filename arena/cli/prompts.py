"""``flask --app arena prompts ...``: the prompt bank."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app

from arena.cli.common import DatabaseGroup
from arena.play import prompts

prompts_group = DatabaseGroup("prompts", help="Import, list and showcase prompts.")


@prompts_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--category", help="Category for every imported prompt (overrides the file's).")
@click.option(
    "--showcase",
    is_flag=True,
    help="Mark the new prompts as showcase ones: kept out of battles, answered by every model, "
    "their answers shown on the model pages to anyone.",
)
def import_(file: Path, category: str | None, showcase: bool) -> None:
    """Import prompts from FILE: text (one per line), CSV (a 'prompt' column) or JSONL."""
    try:
        report = prompts.import_file(
            file,
            category=category,
            max_chars=int(current_app.config["PROMPT_MAX_CHARS"]),
            showcase=showcase,
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
        mark = "[showcase] " if prompt.showcase else ""
        click.echo(f"{prompt.id:>6}  {prompt.category:<12}  {prompt.source:<7}  {mark}{text[:80]}")
    counts = prompts.counts_by_category()
    click.echo(", ".join(f"{name}: {count}" for name, count in sorted(counts.items())))


@prompts_group.command("showcase")
@click.argument("prompt_ids", metavar="ID...", nargs=-1, required=True, type=int)
@click.option("--off", is_flag=True, help="Return the prompts to the battle pool instead.")
def showcase(prompt_ids: tuple[int, ...], off: bool) -> None:
    """Mark prompts (by id, see `prompts list`) as showcase ones: kept out of battles, answered
    by every model at the next pre-generation, their answers shown on the model pages to
    anyone. An answer an open battle still shows waits until that battle has its vote."""
    try:
        marked = prompts.set_showcase(prompt_ids, showcase=not off)
    except prompts.PromptError as error:
        raise click.ClickException(str(error)) from None
    state = "back in the battle pool" if off else "showcase (kept out of battles)"
    click.echo(
        f"{len(marked)} prompt{'' if len(marked) == 1 else 's'} {state}: "
        + ", ".join(str(p.id) for p in marked)
    )
