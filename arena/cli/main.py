"""The ``arena`` command of an installed package: ``flask --app arena`` under its own name.

``arena run``, ``arena worker``, ``arena models sync`` ... are Flask's own group over
``create_app``, so every command, option and help text is the same as with ``flask --app arena``
(and, as there, ``--help`` never touches the database).
"""

from __future__ import annotations

from flask.cli import FlaskGroup

from arena import create_app


def main() -> None:
    """Entry point of the ``arena`` console script (``[project.scripts]`` in pyproject.toml)."""
    group = FlaskGroup(
        name="arena",
        help="GPU-Poor Arena: the commands of `flask --app arena`.",
        create_app=create_app,
    )
    group.main(prog_name="arena")


if __name__ == "__main__":
    main()
