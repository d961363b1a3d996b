"""The demo's backend, kept in the instance's configuration.

``flask --app arena demo`` registers the packaged models on an embedded backend (llama.cpp in
the process). For every later command and page to know that backend (``doctor``, ``/status``,
the battle page, a worker), the demo writes it into ``<instance>/config.py`` once:

- BACKENDS already has an embedded entry (the file or the environment): it is used as it is;
- ``config.py`` sets BACKENDS: a line appends the embedded entry to it;
- nobody set BACKENDS: it becomes the embedded backend alone, with the default Ollama entry
  kept before it only when a registered model is served by it (so nothing names Ollama on an
  instance that never used it);
- ``ARENA_BACKENDS`` sets it without an embedded entry: the environment wins over any file, so
  nothing is written; the demo adds the entry in its own process and says what to add.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Config, Flask
from sqlalchemy import select

from arena.extensions import db
from arena.models import Model

DEMO_BACKEND: dict[str, Any] = {"name": "embedded", "kind": "embedded"}
ENVIRONMENT_KEY = "ARENA_BACKENDS"


@dataclass(frozen=True)
class BackendSetup:
    """The embedded backend the demo uses, and what was done to keep it configured."""

    name: str
    action: str  # configured (nothing to do), written (config.py), process (this run only)
    path: Path | None
    message: str


def configure_embedded_backend(app: Flask, environ: dict[str, str] | None = None) -> BackendSetup:
    """Make sure BACKENDS has an embedded entry, in ``app.config`` and, when the instance's
    file decides BACKENDS, in ``<instance>/config.py``; see the module's docstring."""
    environ = dict(os.environ) if environ is None else environ
    entries = [dict(entry) for entry in app.config.get("BACKENDS") or []]
    for entry in entries:
        if entry.get("kind") == "embedded":
            name = str(entry["name"])
            return BackendSetup(name, "configured", None, f"BACKENDS has the embedded {name!r}")
    names = {str(entry.get("name")) for entry in entries}
    entry = dict(DEMO_BACKEND)
    if entry["name"] in names:
        entry["name"] = "demo-embedded"
    name = str(entry["name"])
    if ENVIRONMENT_KEY in environ:
        app.config["BACKENDS"] = [*entries, entry]
        return BackendSetup(
            name,
            "process",
            None,
            f"{ENVIRONMENT_KEY} sets BACKENDS without an embedded backend: this demo adds "
            f"{entry!r} for itself only; add it to {ENVIRONMENT_KEY} to keep its models",
        )
    path = Path(app.instance_path) / "config.py"
    if "BACKENDS" in _assigned(path):
        line = f"BACKENDS = [*BACKENDS, {entry!r}]"
        effective = [*entries, entry]
    else:
        used = set(db.session.scalars(select(Model.backend).distinct()))
        effective = [e for e in entries if e.get("name") in used] + [entry]
        line = f"BACKENDS = {effective!r}"
    _append(path, line)
    app.config["BACKENDS"] = effective
    return BackendSetup(
        name,
        "written",
        path,
        f"added the embedded backend {name!r} to BACKENDS in {path}",
    )


def _assigned(path: Path) -> set[str]:
    """The upper-case names the file assigns (none when there is no file)."""
    values = Config(str(path.parent))
    values.from_pyfile(path.name, silent=True)
    return set(values)


def _append(path: Path, line: str) -> None:
    """Append the demo's lines to the file, created readable by its owner only."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"\n# Added by `flask --app arena demo` ({when}): the packaged models run in-process on\n"
        "# the embedded backend (llama.cpp); see README, Backends.\n"
        f"{line}\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(text)
