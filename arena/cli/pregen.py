"""``flask --app arena pregenerate``: answer prompts ahead of time, grouped by model.

``scripts/pregenerate.py`` (for cron) runs this very command, with the same exit statuses.
"""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import with_appcontext

from arena import pregen
from arena.cli.common import (
    check_budget,
    check_until,
    print_summary,
    stop_on_signals,
    with_database,
)
from arena.cli.progress import ProgressBar
from arena.pregen.clock import format_seconds

#: Exit statuses beyond 0 (done, nothing to do, or stopped between answers as asked),
#: 1 (could not start: another run holds the lock, a bad model) and 2 (usage, click's).
EXIT_SOME_FAILED = 3
EXIT_NOTHING_STORED = 4
EXIT_STATUS = {"ok": 0, "some_failed": EXIT_SOME_FAILED, "nothing_stored": EXIT_NOTHING_STORED}
EXIT_HELP = (
    "Exit status: 0 when the plan was done, there was nothing to do, or --budget/--until "
    "(or a signal) stopped it between answers; 1 when it could not start (another run holds "
    "the lock, an unknown model); 2 for a usage error; 3 when some planned answers failed "
    "(the others were stored); 4 when nothing could be stored (every answer failed, every "
    "backend was given up)."
)


@click.command("pregenerate", epilog=EXIT_HELP)
@with_appcontext
@click.option(
    "--prompts",
    "n_prompts",
    type=click.IntRange(min=1),
    default=None,
    help="At most this many prompts, each answered by every model "
    "(default: as many as the pool target needs).",
)
@click.option("--models", "tags", help="Comma-separated tags (default: every enabled model).")
@click.option(
    "--budget", callback=check_budget, help="Start no answer after this long: 4h, 90m, 1h30m."
)
@click.option(
    "--until",
    callback=check_until,
    help="Start no answer after this local time (HH:MM; one that passed under 12 h ago "
    "means now) or ISO date and time.",
)
@click.option(
    "--dry-run", is_flag=True, help="Print the plan and its estimated time; generate nothing."
)
@click.option("--trigger", type=click.Choice(["cli", "cron"]), default="cli", hidden=True)
@with_database
def pregenerate_command(
    n_prompts: int | None,
    tags: str | None,
    budget: str | None,
    until: str | None,
    dry_run: bool,
    trigger: str,
) -> None:
    """Keep the battle pool full: answer the missing prompts, one model at a time."""
    selected = [t.strip() for t in tags.split(",") if t.strip()] if tags else None
    request = pregen.BatchRequest(n_prompts, selected, budget, until, dry_run, trigger)
    bar = ProgressBar()
    try:
        with stop_on_signals() as control:
            result = pregen.run_batch(
                request, control=control, progress=bar, on_plan=_print_plan if not dry_run else None
            )
    except (pregen.LockBusy, pregen.PlanError) as error:
        raise click.ClickException(
            f"{error}: wait for it to finish" if isinstance(error, pregen.LockBusy) else str(error)
        ) from None
    finally:
        bar.close()
    if dry_run:
        _print_plan(result)
        return
    if result.summary is None:
        return
    summary = result.summary
    print_summary(pregen.summary_lines(summary.to_json()), EXIT_STATUS[summary.result])


def _print_plan(result: pregen.BatchResult) -> None:
    plan, estimate = result.plan, result.estimate
    if result.interrupted_runs:
        click.echo(f"{result.interrupted_runs} earlier run(s) had been killed; resuming their work")
    if plan.capped:
        click.echo(f"over the battle cap, no new answers: {', '.join(plan.capped)}")
    if not plan.work:
        click.echo(
            f"Nothing to do: every pair of models has {plan.target} fresh battles "
            "(or every selected model has answered the chosen prompts)."
        )
        return
    click.echo(
        f"Plan: {plan.total} answers from {len(plan.work)} models over {len(plan.prompts)} "
        f"prompts ({plan.pairs_short} of {plan.pairs} pairs below {plan.target} fresh battles)"
    )
    click.echo(f"  {'model':<36} {'answers':>7} {'tokens/s':>9} {'est. time':>10}")
    for row in estimate.models:
        rate = f"{row.tokens_per_second:.1f}" if row.tokens_per_second else "?"
        seconds = format_seconds(row.seconds) + ("*" if row.guessed and row.seconds else "")
        click.echo(f"  {row.tag:<36} {row.answers:>7} {rate:>9} {seconds:>10}")
    total = estimate.seconds
    note = "" if estimate.complete else " (models never measured are not counted)"
    guessed = any(row.guessed and row.seconds for row in estimate.models)
    click.echo(
        f"  {'total':<36} {plan.total:>7} {'':>9} {format_seconds(total):>10}{note}"
        + ("\n  * no answer measured yet: the other models' median speed" if guessed else "")
    )
    if result.deadline is not None:
        left = (result.deadline.at - pregen.SYSTEM_CLOCK.now()) / timedelta(seconds=1)
        click.echo(f"stops starting answers at {result.deadline.label} ({format_seconds(left)})")
