"""``flask --app arena pregenerate``: answer prompts ahead of time, grouped by model."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from arena import pregen
from arena.extensions import get_backend


@click.command("pregenerate")
@with_appcontext
@click.option(
    "--prompts",
    "n_prompts",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many prompts every enabled model answers.",
)
@click.option("--models", "tags", help="Comma-separated tags (default: every enabled model).")
def pregenerate_command(n_prompts: int, tags: str | None) -> None:
    """Answer N prompts with every enabled model, one model at a time."""
    selected = [t.strip() for t in tags.split(",") if t.strip()] if tags else None
    plan = pregen.plan_batch(n_prompts, selected)
    if not plan.work:
        click.echo("Nothing to do: every selected model has answered the chosen prompts.")
        return
    click.echo(f"{plan.total} answers to generate from {len(plan.work)} models")

    def progress(item: pregen.ModelWork, index: int, stored: object) -> None:
        click.echo(f"  {item.tag}: {index + 1}/{len(item.prompt_ids)}")

    summary = pregen.run_plan(plan, get_backend(), current_app.config, progress=progress)
    for tag, count in sorted(summary.stored.items()):
        click.echo(f"stored {count:>4}  {tag}")
    for tag, prompt_id, reason in summary.failures:
        where = f" prompt {prompt_id}" if prompt_id is not None else ""
        click.echo(f"failed {tag}{where}: {reason}", err=True)
    click.echo(f"{summary.total_stored} answers stored in {summary.wall_seconds:.1f} s")
