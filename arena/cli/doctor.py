"""``flask --app arena doctor``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from arena.ops.doctor import FAIL, OK, WARN, run_checks

MARKS = {OK: "ok  ", WARN: "warn", FAIL: "FAIL"}


@click.command("doctor")
@with_appcontext
def doctor_command() -> None:
    """Check the configuration, database, backends, models, pool and worker; say what to fix.

    Exits with status 1 when something must be fixed (warnings alone exit 0).
    """
    checks = run_checks()
    for check in checks:
        click.echo(f"[{MARKS[check.level]}] {check.what}")
        if check.fix and check.level != OK:
            click.echo(f"       fix: {check.fix}")
    failures = sum(check.level == FAIL for check in checks)
    warnings = sum(check.level == WARN for check in checks)
    click.echo(f"{len(checks)} checks: {failures} to fix, {warnings} warnings")
    if failures:
        raise SystemExit(1)
