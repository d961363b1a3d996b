"""``flask --app arena judge`` (the batch) and ``flask --app arena judges ...`` (who judges).

``scripts/judge.py`` (for cron) runs the same command, with the same exit statuses.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from arena import judging
from arena.backends import BackendError
from arena.backends.configured import backend_specs, get_backend
from arena.backends.registry import BackendConfigError
from arena.cli.common import (
    DatabaseGroup,
    check_budget,
    check_until,
    print_summary,
    stop_on_signals,
    with_database,
)
from arena.cli.progress import ProgressBar
from arena.play import catalogue
from arena.pregen.clock import SYSTEM_CLOCK, format_seconds

EXIT_STATUS = {"ok": 0, "some_failed": 3, "nothing_stored": 4}
EXIT_HELP = (
    "Exit status: 0 when every planned pair was judged, there was nothing to do, or "
    "--budget/--until (or a signal) stopped it between pairs; 1 when another judging run "
    "holds the lock; 2 for bad input (an unknown judge, a judge prompt without its "
    "placeholders); 3 when some pairs failed (the others were stored); 4 when nothing could "
    "be judged."
)

judges_group = DatabaseGroup("judges", help="Register, list and remove the models that judge.")


def _bad_input(message: str) -> click.exceptions.Exit:
    click.echo(f"Error: {message}", err=True)
    return click.exceptions.Exit(2)


@judges_group.command("add")
@click.argument("tag")
@click.option(
    "--backend",
    "backend_name",
    default=None,
    help="Register TAG from this backend first if it is not registered (as a judge only: "
    "disabled as a contestant).",
)
def add(tag: str, backend_name: str | None) -> None:
    """Make the registered model TAG a judge (any backend; it need not be a contestant)."""
    registered = False
    if backend_name is not None and not _registered(tag):
        try:
            names = [spec.name for spec in backend_specs()]
            if backend_name not in names:
                raise _bad_input(f"no backend {backend_name!r} is configured (BACKENDS: {names})")
            catalogue.validate_tag(tag)
            catalogue.add_model(get_backend(backend_name), tag)
            catalogue.set_enabled(tag, False)  # a judge only, never a contestant
            registered = True
        except (BackendError, BackendConfigError, catalogue.CatalogueError) as error:
            raise click.ClickException(str(error)) from None
    try:
        judge, created = judging.add_judge(tag)
    except judging.JudgeError as error:
        raise _bad_input(str(error)) from None
    role = "also a contestant" if judge.model.enabled else "a judge only, not a contestant"
    what = "added judge" if created else "judge enabled again:"
    click.echo(
        f"{'registered ' + tag + ' from ' + str(backend_name) + '; ' if registered else ''}"
        f"{what} {tag} on {judge.model.backend} ({role})"
    )


def _registered(tag: str) -> bool:
    try:
        judging.find_model(tag)
    except judging.JudgeError:
        return False
    return True


@judges_group.command("list")
def list_() -> None:
    """Show every judge with its verdicts."""
    rows = judging.list_judges()
    if not rows:
        click.echo("No judges. Add one with `flask --app arena judges add TAG`.")
        return
    table = [
        (
            r.tag,
            r.backend,
            "yes" if r.enabled else "no (removed)",
            "yes" if r.contestant else "no",
            str(r.verdicts),
            str(r.counted),
            str(r.inconsistent),
            str(r.unparsed),
            r.last.strftime("%Y-%m-%d %H:%M") if r.last else "-",
        )
        for r in rows
    ]
    header = (
        "TAG", "BACKEND", "ENABLED", "CONTESTANT", "VERDICTS", "COUNTED", "INCONSISTENT",
        "UNPARSED", "LAST",
    )  # fmt: skip
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header))]
    for row in [header, *table]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@judges_group.command("remove")
@click.argument("tag")
def remove(tag: str) -> None:
    """Stop TAG judging: deleted without verdicts, else disabled (its verdicts are kept)."""
    try:
        done = judging.remove_judge(tag)
    except judging.JudgeError as error:
        raise _bad_input(str(error)) from None
    if done == "disabled":
        click.echo(f"disabled judge {tag} (its verdicts are kept; `judges add` enables it again)")
    else:
        click.echo(f"removed judge {tag} (it had no verdicts)")


@click.command("judge", epilog=EXIT_HELP)
@with_appcontext
@click.option("--judge", "tags", help="Comma-separated judge tags (default: every enabled judge).")
@click.option(
    "--budget", callback=check_budget, help="Start no pair after this long: 4h, 90m, 1h30m."
)
@click.option(
    "--until",
    callback=check_until,
    help="Start no pair after this local time (HH:MM; one that passed under 12 h ago means "
    "now) or ISO date and time.",
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="At most this many pairs per judge."
)
@click.option("--dry-run", is_flag=True, help="Print the plan and its estimate; judge nothing.")
@with_database
def judge_command(
    tags: str | None, budget: str | None, until: str | None, limit: int | None, dry_run: bool
) -> None:
    """Judge stored pairs of answers with the local judges, both orders, least certain first."""
    selected = [t.strip() for t in tags.split(",") if t.strip()] if tags else None
    request = judging.JudgeRequest(selected, budget, until, limit, dry_run)
    bar = ProgressBar()
    try:
        with stop_on_signals("pair") as control:
            result = judging.run_judging(
                request, control=control, progress=bar, on_plan=None if dry_run else _print_plan
            )
    except (judging.JudgeError, judging.JudgePromptError) as error:
        raise _bad_input(str(error)) from None
    except judging.LockBusy as error:
        raise click.ClickException(f"{error}: wait for it to finish") from None
    finally:
        bar.close()
    if dry_run:
        _print_plan(result)
        return
    if result.summary is None:
        return
    summary = result.summary
    print_summary(judging.summary_lines(summary.to_json()), EXIT_STATUS[summary.result])


def _print_plan(result: judging.JudgeResult) -> None:
    plan = result.plan
    if not plan.work:
        click.echo("No judges. Add one with `flask --app arena judges add TAG`.")
        return
    if not plan.total:
        click.echo(
            f"Nothing to do: each judge has judged every pair it may judge "
            f"({plan.candidates} pairs of answers)."
        )
        return
    click.echo(
        f"Plan: {plan.total} pairs of answers (each judged in both orders) by {len(plan.work)} "
        f"judge(s), out of {plan.candidates} pairs; judge prompt {result.prompt.path}"
    )
    click.echo(f"  {'judge':<36} {'pairs':>7} {'own left out':>12} {'est. time':>10}")
    total: float | None = 0.0
    for item in plan.work:
        seconds = item.seconds_per_pair * len(item.pairs) if item.seconds_per_pair else None
        total = total + seconds if total is not None and seconds is not None else None
        click.echo(
            f"  {item.tag:<36} {len(item.pairs):>7} {item.excluded_self:>12} "
            f"{format_seconds(seconds if item.pairs else 0):>10}"
        )
    click.echo(f"  {'total':<36} {plan.total:>7} {'':>12} {format_seconds(total):>10}")
    if result.deadline is not None:
        left = (result.deadline.at - SYSTEM_CLOCK.now()).total_seconds()
        click.echo(f"stops starting pairs at {result.deadline.label} ({format_seconds(left)})")
