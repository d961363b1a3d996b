"""``flask --app arena models ...``: the model registry."""

from __future__ import annotations

from typing import TextIO

import click
from flask import current_app

from arena.backends import BackendError
from arena.backends.configured import backend_specs, get_backend
from arena.backends.registry import BackendConfigError, BackendSpec, UnknownBackend
from arena.cli.common import DatabaseGroup
from arena.play import catalogue, variants

models_group = DatabaseGroup("models", help="Register, list, enable and disable models.")


def _specs() -> list[BackendSpec]:
    try:
        return backend_specs()
    except BackendConfigError as error:
        raise click.ClickException(str(error)) from None


def _backend_names() -> list[str]:
    return [spec.name for spec in _specs()]


def _backend_spec(name: str | None) -> BackendSpec:
    """The configured backend ``--backend`` names (default: the first); an unknown name is a
    usage error listing the configured ones. Reads the settings only: contacts nothing."""
    specs = _specs()
    if name is None:
        return specs[0]
    for spec in specs:
        if spec.name == name:
            return spec
    known = [spec.name for spec in specs]
    raise click.BadParameter(str(UnknownBackend(name, known)), param_hint="'--backend'")


def _checked_tag(tag: str, kind: str | None = None) -> str:
    """``tag`` if a backend (of ``kind``) could list it, else a usage error (status 2)."""
    try:
        return catalogue.validate_tag(tag, kind)
    except catalogue.InvalidTag as error:
        raise click.BadParameter(str(error), param_hint="'TAG'") from None


@models_group.command("sync")
@click.option("--backend", "name", help="Only this backend (default: every configured one).")
def sync(name: str | None) -> None:
    """Register every model the backends list, up to the size cap (MODEL_SIZE_CAP_B)."""
    cap = current_app.config.get("MODEL_SIZE_CAP_B")
    names = [_backend_spec(name).name] if name is not None else _backend_names()
    failed = []
    for backend_name in names:
        prefix = f"[{backend_name}] " if len(names) > 1 else ""
        try:
            report = catalogue.sync_models(
                get_backend(backend_name), float(cap) if cap is not None else None
            )
        except BackendError as error:
            if len(names) == 1:
                raise click.ClickException(str(error)) from None
            click.echo(f"{prefix}failed: {error}", err=True)
            failed.append(backend_name)
            continue
        _sync_report(report, cap, prefix)
    if failed:
        raise click.ClickException(f"could not sync {', '.join(failed)} (see above)")


def _sync_report(report: catalogue.SyncReport, cap: float | None, prefix: str) -> None:
    for tag in report.added:
        click.echo(f"{prefix}added     {tag}")
    for tag in report.updated:
        click.echo(f"{prefix}available {tag} (listed again; enable it with `models enable`)")
    for tag in report.disabled:
        click.echo(f"{prefix}disabled  {tag} (no longer listed by the backend; its votes are kept)")
    for tag, size in report.too_large:
        click.echo(
            f"{prefix}skipped   {tag} ({size:g}B is over the {cap:g}B cap; `models add` forces it)"
        )
    for _tag, why in report.not_chat:
        click.echo(f"{prefix}skipped   {why}")
    for tag, error in report.no_facts:
        click.echo(f"{prefix}facts     {tag}: not read ({error}); registered from its list entry")
    if report.capabilities_unknown:
        click.echo(
            f"{prefix}note      the server does not report capabilities (Ollama before 0.6.4) "
            f"for {len(report.capabilities_unknown)} models: taken as chat models"
        )
    for tag, other in report.elsewhere:
        click.echo(
            f"{prefix}skipped   {tag} (registered from backend {other!r}; "
            f"`models add {tag} --backend NAME` moves it)"
        )
    click.echo(
        f"{prefix}{len(report.added)} added, {len(report.disabled)} disabled, "
        f"{len(report.too_large)} over the size cap, {len(report.not_chat)} not chat models"
    )


@models_group.command("add")
@click.argument("tag")
@click.option("--name", help="Display name shown after a vote (default: the tag).")
@click.option(
    "--backend",
    "backend_name",
    default=None,
    help="The backend that serves TAG (a name in BACKENDS; default: the first one).",
)
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A variant's sampling option (repeatable): " + variants.accepted_list() + ".",
)
@click.option(
    "--system",
    "system_file",
    type=click.File("r", encoding="utf-8"),
    help="A variant's system prompt, from this file (replaces GEN_SYSTEM_PROMPT for it).",
)
def add(
    tag: str,
    name: str | None,
    backend_name: str | None,
    options: tuple[str, ...],
    system_file: TextIO | None,
) -> None:
    """Register one model by its exact backend TAG, whatever its size.

    With --option or --system, a contestant variant of TAG: it competes as a model of its
    own, named --name, with these sampling options and system prompt.
    """
    spec = _backend_spec(backend_name)
    _checked_tag(tag, spec.kind)  # before anything is asked of the backend
    variant = bool(options) or system_file is not None
    try:
        overrides = variants.parse_options(options)
        system = system_file.read() if system_file is not None else None
        if system is not None:
            system = variants.check_system_prompt(system)
        if variant and not name:
            raise variants.VariantError("a variant needs --name, the name shown after a vote")
        if variant:
            variants.variant_key(tag, name or "")  # a bad name before the backend is asked
    except variants.VariantError as error:
        raise click.UsageError(str(error)) from None
    try:
        backend = get_backend(spec.name)
        if variant:
            model = catalogue.add_variant(backend, tag, name or "", overrides, system)
        else:
            model = catalogue.add_model(backend, tag, name)
    except (BackendError, catalogue.CatalogueError, variants.VariantError) as error:
        raise click.ClickException(str(error)) from None
    what = f"variant {model.display_name!r} of {model.served_tag}" if variant else model.tag
    click.echo(
        f"added {what} ({_size(model.params_b)}, {model.quantization or '?'}) on {model.backend}"
    )
    if variant:
        click.echo(f"  key: {model.tag}")


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
    _checked_tag(tag)
    try:
        model = catalogue.set_enabled(tag, enabled)
    except catalogue.CatalogueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{'enabled' if enabled else 'disabled'} {tag}")
    if not enabled:
        for variant in catalogue.variants_of(model):
            click.echo(f"disabled {variant.tag} (a variant of {tag})")


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
            _count(m.param_count),
            _count(m.context_length),
            m.backend,
            "yes" if m.enabled else "no",
            "yes" if m.available else "no",
        )
        for m in models
    ]
    header = (
        "TAG",
        "NAME",
        "SIZE",
        "QUANT",
        "FAMILY",
        "PARAMS",
        "CONTEXT",
        "BACKEND",
        "ENABLED",
        "LISTED",
    )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        )


def _size(params_b: float | None) -> str:
    if params_b is None:
        return "?"
    return f"{params_b * 1000:g}M" if params_b < 1 else f"{params_b:g}B"


def _count(number: int | None) -> str:
    """An exact count from the backend (parameters, context tokens), or "-" when unknown."""
    return f"{number:,}" if number else "-"
