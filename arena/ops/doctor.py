"""``flask --app arena doctor``: check the configuration, the database, the backends, the
models, the pool and the worker, and say what to fix."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from arena.backends import BackendError, missing_model_hint
from arena.backends.configured import backend_specs, get_backend, probe_backends
from arena.database import MIGRATIONS_DIR
from arena.extensions import db
from arena.models import Model, Prompt, Response, Vote
from arena.ops.heartbeat import worker_status
from arena.pregen.status import pool_report

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class Check:
    level: str  # ok, warn or fail
    what: str
    fix: str | None = None


def run_checks() -> list[Check]:
    """Every check, in order; a check that cannot even run is reported as failed."""
    results: list[Check] = []
    for check in (_instance, _secrets, _database, _backends, _models, _pool, _worker):
        try:
            results.extend(check())
        except SQLAlchemyError as error:
            db.session.rollback()
            # The driver's own message when there is one (not every SQLAlchemyError has it).
            detail = error.orig if isinstance(error, DBAPIError) else error
            results.append(Check(FAIL, f"{check.__name__[1:]}: database error {detail}"))
    return results


def _instance() -> Iterator[Check]:
    folder = Path(current_app.instance_path)
    if os.access(folder, os.W_OK):
        yield Check(OK, f"instance folder {folder} is writable")
    else:
        yield Check(
            FAIL,
            f"instance folder {folder} is not writable",
            "chown it to the user running the arena",
        )


def _secrets() -> Iterator[Check]:
    key_file = Path(current_app.instance_path) / "secret_key"
    key_from_file = current_app.config.get("SECRET_KEY_FILE")
    if key_from_file and not os.environ.get("ARENA_SECRET_KEY"):
        yield Check(OK, f"secret key read from SECRET_KEY_FILE {key_from_file}")
    elif os.environ.get("ARENA_SECRET_KEY") or not key_file.exists():
        yield Check(OK, "secret key set in the configuration")
    else:
        yield Check(OK, f"secret key generated in {key_file}")
    token = current_app.config.get("ADMIN_TOKEN")
    if not token:
        yield Check(OK, "admin pages are off (no ADMIN_TOKEN)")
    elif len(str(token)) < 20:
        yield Check(
            WARN, "ADMIN_TOKEN is short", "use 20 or more random characters: `openssl rand -hex 16`"
        )
    else:
        yield Check(OK, "admin pages are on, behind ADMIN_TOKEN")


def _database() -> Iterator[Check]:
    url = db.engine.url.render_as_string(hide_password=True)
    db.session.execute(text("SELECT 1"))
    yield Check(OK, f"database answers ({url})")
    heads = set(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())
    try:
        current = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        db.session.rollback()
        current = None
    if current in heads:
        yield Check(OK, f"schema is at the newest migration ({current})")
    else:
        yield Check(
            FAIL,
            f"schema is at {current or 'no migration'}, not {', '.join(heads)}",
            "flask --app arena db upgrade",
        )
    if db.engine.dialect.name == "sqlite":
        mode = db.session.execute(text("PRAGMA journal_mode")).scalar()
        level = OK if mode == "wal" else WARN
        yield Check(
            level,
            f"SQLite journal mode {mode}",
            None if level == OK else "restart the app: it sets WAL",
        )
    counts = {
        name: db.session.scalar(select(func.count()).select_from(table))
        for name, table in (("prompts", Prompt), ("answers", Response), ("votes", Vote))
    }
    yield Check(OK, ", ".join(f"{count} {name}" for name, count in counts.items()))


def _backends() -> Iterator[Check]:
    for name, problem in probe_backends().items():
        if problem:
            yield Check(
                FAIL,
                f"backend {problem}",
                "start the server, or fix its url in BACKENDS / ARENA_OLLAMA_URL",
            )
        else:
            yield Check(OK, f"backend {name!r} answers")


def _models() -> Iterator[Check]:
    enabled = db.session.scalars(select(Model).where(Model.enabled.is_(True))).all()
    if len(enabled) < 2:
        yield Check(
            FAIL,
            f"{len(enabled)} enabled model(s): a battle needs two",
            "flask --app arena models sync",
        )
    else:
        yield Check(OK, f"{len(enabled)} enabled models")
    by_backend: dict[str, list[Model]] = {}
    for model in enabled:
        by_backend.setdefault(model.backend, []).append(model)
    known = {spec.name for spec in backend_specs()}
    for name, models in sorted(by_backend.items()):
        if name not in known:
            yield Check(
                FAIL,
                f"{len(models)} model(s) name backend {name!r}, which is not configured",
                "add it to BACKENDS or disable them",
            )
            continue
        try:
            backend = get_backend(name)
            listed = {entry.tag for entry in backend.list_models()}
        except BackendError:
            continue  # already reported by the backend check
        for model in models:
            if model.served_tag not in listed:  # a variant is listed when its model is
                yield Check(
                    FAIL,
                    f"{model.tag} is enabled but {name!r} does not list "
                    + ("it" if model.backend_tag is None else f"its model {model.served_tag}"),
                    f"{missing_model_hint(backend, model.served_tag)}, or "
                    f"flask --app arena models disable {model.tag}",
                )


def _pool() -> Iterator[Check]:
    pool = pool_report(current_app.config)
    if not pool["pairs"]:
        yield Check(FAIL, "no battle can be served yet", "flask --app arena pregenerate")
    elif pool["pairs_short"]:
        short, pairs, target = pool["pairs_short"], len(pool["pairs"]), pool["target"]
        yield Check(
            WARN,
            f"{short} of {pairs} pairs have fewer than {target} fresh battles",
            "let the worker's nightly window run, or flask --app arena pregenerate",
        )
    else:
        yield Check(OK, f"every pair has at least {pool['target']} fresh battles")
    blind = pool["blind"]
    if not pool["pairs"] or blind["least"] is None:
        return  # no battle yet, or no active voter to run out
    voters = pool["active_voters"]
    if blind["below_target"]:
        yield Check(
            WARN,
            f"{blind['below_target']} of {voters} active voters have fewer than "
            f"{blind['target']} blind battles left ({blind['out']} have none; the least "
            f"supplied has {blind['least']})",
            "let the worker's nightly window run, or flask --app arena pregenerate",
        )
    else:
        yield Check(
            OK,
            f"every active voter has at least {blind['target']} blind battles left "
            f"(the least supplied has {blind['least']})",
        )


def _worker() -> Iterator[Check]:
    status = worker_status(current_app.config)
    if status["running"]:
        standby = sum(w["running"] and w["role"] == "standby" for w in status["workers"])
        active = status["active"]
        yield Check(
            OK, f"worker running ({status['state']}, heartbeat {status['age_seconds']} s ago)"
        )
        if active is None and standby:
            yield Check(
                WARN,
                f"{standby} standby worker(s) but none active: no nightly jobs run until one "
                "takes the lease (a takeover takes up to WORKER_LEASE_POLL_SECONDS)",
                "look at the workers' logs; /status lists them",
            )
        elif active is not None:
            yield Check(
                OK,
                f"active worker: pid {active['pid']} on {active['host']}"
                + (f", {standby} standby" if standby else ", no standby"),
            )
    else:
        yield Check(
            WARN,
            "no worker is running: visitors' prompts wait and no nightly run happens",
            "flask --app arena worker (or the cron line in README)",
        )
