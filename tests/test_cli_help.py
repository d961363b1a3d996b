"""``flask --app arena --help`` and every command's ``--help`` print help and nothing else.

Every command and subcommand, enumerated from the same click group as ``flask`` (Flask's own,
the extensions' and the arena's, so a new command is covered without a change here), runs
with ``--help`` on an empty instance folder: exit status 0, help printed, the database never
prepared and no database file created. A few run as real ``flask`` processes too, where log
lines of a migration would show.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import FlaskGroup, ScriptInfo
from flask_limiter.commands import CLI_DEPS_AVAILABLE

from arena import PROJECT_ROOT, create_app
from arena.ops.setup import READY

FLASK = Path(sys.executable).parent / "flask"
#: A log line (``INFO  [alembic.runtime.migration] ...``) or anything of alembic's.
LOG_LINE = re.compile(r"^\s*(INFO|WARNING|ERROR|DEBUG)\b|alembic\.", re.MULTILINE)


def command_paths(instance: Path) -> list[tuple[str, ...]]:
    """Every visible command and subcommand of ``flask --app arena``, the group itself first."""
    info = ScriptInfo(create_app=lambda: create_app({"INSTANCE_PATH": str(instance)}))
    group = FlaskGroup(create_app=info.create_app)
    paths: list[tuple[str, ...]] = []

    def walk(command: click.Command, path: tuple[str, ...], ctx: click.Context) -> None:
        paths.append(path)
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    with click.Context(sub, ctx, name, obj=info) as sub_ctx:
                        walk(sub, (*path, name), sub_ctx)

    # Flask's group pushes an app context onto the click context it loads the app in; closing
    # the contexts pops it, so no app stays current for the tests that run after this one.
    with click.Context(group, info_name="flask", obj=info) as ctx:
        walk(group, (), ctx)
    return paths


def runnable(path: tuple[str, ...]) -> bool:
    """False for Flask-Limiter's subcommands without its ``cli`` extra: they exit 1 at once
    (its group callback asks for ``pip install flask-limiter[cli]``), arena or not."""
    return CLI_DEPS_AVAILABLE or path[:1] != ("limiter",) or len(path) == 1


def help_in_process(path: tuple[str, ...], instance: Path) -> tuple[Any, list[Flask]]:
    """``flask --app arena PATH --help`` through Flask's own group, in this process."""
    instance.mkdir(parents=True)
    made: list[Flask] = []

    def factory() -> Flask:
        made.append(create_app({"INSTANCE_PATH": str(instance)}))
        return made[-1]

    group = FlaskGroup(create_app=factory, set_debug_flag=False)
    result = CliRunner().invoke(group, [*path, "--help"], prog_name="flask", env={"FLASK_APP": ""})
    return result, made


def run_help(path: tuple[str, ...], instance: Path) -> subprocess.CompletedProcess[str]:
    instance.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env["ARENA_INSTANCE_PATH"] = str(instance)
    return subprocess.run(
        [str(FLASK), "--app", "arena", *path, "--help"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_commands_are_enumerated(tmp_path: Path) -> None:
    paths = command_paths(tmp_path / "listing")
    for expected in [(), ("db", "upgrade"), ("models", "sync"), ("pregenerate",), ("worker",)]:
        assert expected in paths
    assert len(paths) > 20


def test_every_help_prints_help_only(tmp_path: Path) -> None:
    paths = [path for path in command_paths(tmp_path / "listing") if runnable(path)]
    problems = []
    for index, path in enumerate(paths):
        instance = tmp_path / f"instance-{index}"
        result, apps = help_in_process(path, instance)
        command = " ".join(("flask --app arena", *path, "--help"))
        if result.exit_code != 0 or "Usage:" not in result.output:
            problems.append(f"{command}: exit {result.exit_code}: {result.output[-500:]}")
        elif any(READY in app.extensions for app in apps):
            problems.append(f"{command}: prepared the database")
        elif list(instance.glob("*.db*")):
            problems.append(f"{command}: created {[p.name for p in instance.glob('*.db*')]}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "path", [(), ("db", "upgrade"), ("models", "sync"), ("pregenerate",), ("worker",)]
)
def test_help_of_the_real_flask_command_prints_help_only(
    tmp_path: Path, path: tuple[str, ...]
) -> None:
    result = run_help(path, tmp_path / "instance")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Usage:" in result.stdout
    assert not result.stderr and not LOG_LINE.search(output), output
    assert not list((tmp_path / "instance").glob("*.db*"))
