"""``flask --app arena models ...``: the model registry."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from arena import catalogue
from arena.backends import BackendError
from arena.extensions import get_backend

models_group = AppGroup("models", help="Register, list, enable and disable models.")


@models_group.command("sync")
def sync() -> None:
    """Register every model the backend lists, up to the size cap (MODEL_SIZE_CAP_B)."""
    cap = current_app.config.get("MODEL_SIZE_CAP_B")
    try:
        report = catalogue.sync_models(get_backend(), float(cap) if cap is not None else None)
    except BackendError as error:
        raise click.ClickException(str(error)) from None
    for tag in report.added:
        click.echo(f"added     {tag}")
    for tag in report.updated:
        click.echo(f"available {tag} (listed again; enable it with `models enable`)")
    for tag in report.disabled:
        click.echo(f"disabled  {tag} (no longer listed by the backend; its votes are kept)")
    for tag, size in report.too_large:
        click.echo(f"skipped   {tag} ({size:g}B is over the {cap:g}B cap; `models add` forces it)")
    click.echo(
        f"{len(report.added)} added, {len(report.disabled)} disabled, "
        f"{len(report.too_large)} over the size cap"
    )


@models_group.command("add")
@click.argument("tag")
@click.option("--name", help="Display name shown after a vote (default: the tag).")
def add(tag: str, name: str | None) -> None:
    """Register one model by its exact backend TAG, whatever its size."""
    try:
        model = catalogue.add_model(get_backend(), tag, name)
    except (BackendError, catalogue.CatalogueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"added {model.tag} ({_size(model.params_b)}, {model.quantization or '?'})")


@models_group.command("enable")
@click.argument("tag")
def enable(tag: str) -> None:
    """Let TAG take part in new battles and pre-generation."""
    _set(tag, True)


@models_group.command("disable")
@click.argument("tag")
def disable(tag: str) -> None:
    """Keep TAG and its votes, but stop using it in new battles and pre-generation."""
    _set(tag, False)


def _set(tag: str, enabled: bool) -> None:
    try:
        catalogue.set_enabled(tag, enabled)
    except catalogue.CatalogueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{'enabled' if enabled else 'disabled'} {tag}")


@models_group.command("list")
def list_() -> None:
    """Show every registered model as a table."""
    models = catalogue.list_models()
    if not models:
        click.echo("No models registered. Run `flask --app arena models sync`.")
        return
    rows = [
        (
            m.tag,
            m.display_name,
            _size(m.params_b),
            m.quantization or "-",
            m.family or "-",
            "yes" if m.enabled else "no",
            "yes" if m.available else "no",
        )
        for m in models
    ]
    header = ("TAG", "NAME", "SIZE", "QUANT", "FAMILY", "ENABLED", "LISTED")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        )


def _size(params_b: float | None) -> str:
    if params_b is None:
        return "?"
    return f"{params_b * 1000:g}M" if params_b < 1 else f"{params_b:g}B"
