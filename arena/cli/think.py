"""``flask --app arena models think TAG SETTING``: a thinking model's ``think``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from arena.cli.common import with_database
from arena.play.catalogue import CatalogueError
from arena.pregen.think import THINK_SETTINGS, set_think


@click.command("think")
@click.argument("tag")
@click.argument("setting", type=click.Choice(THINK_SETTINGS))
@with_appcontext
@with_database
def think_command(tag: str, setting: str) -> None:
    """Whether TAG thinks before answering: on, off, low, medium or high (Ollama's think),
    or default (send nothing: the model thinks as it would for its users). THINK_DEFAULT
    "off" turns thinking off for every model whatever this says."""
    try:
        model = set_think(tag, setting)
    except CatalogueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{model.tag}: think {model.think or 'default (not sent)'}")
