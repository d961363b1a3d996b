"""Web nodes: each one records itself in the database, so that several of them see one
another and say when their rate limits are not shared.

A node is a host and an instance folder (the gunicorn serving it and all its workers). It
writes its row (``web_node``) when it starts serving and at most every
:data:`BEAT_SECONDS` after, from whichever of its processes serves a request; another node
counts as live while its row is younger than :data:`LIVE_SECONDS`.

Several live nodes each counting limits in their own storage (the instance's SQLite file, or
memory) would each grant every limit again: an address could vote N times the limit through
N nodes. :func:`limits_warning` says so; the node logs it at start-up (and once per process
when it appears later) and ``/status`` shows it. Nodes whose limits go to different shared
storages (two Redis servers) are warned about too.

Everything here runs on a connection of its own: it never commits the caller's session, and
a database without the table yet (``AUTO_MIGRATE`` off, before ``flask db upgrade``) only
costs a line in the log.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from arena.extensions import db
from arena.models import WebNode, utcnow

log = logging.getLogger(__name__)

#: A node writes its row at most this often (seconds), from the process serving a request.
BEAT_SECONDS = 60.0
#: Another node is live while its row is younger than this (seconds): three missed beats.
LIVE_SECONDS = 3 * BEAT_SECONDS
#: ``app.extensions`` keys: when this process last wrote, the warning it last logged.
_LAST_BEAT = "arena_node_beat"
_WARNED = "arena_node_warned"
#: URI schemes whose counters only this node sees.
LOCAL_SCHEMES = ("sqlite", "memory")


def node_id(host: str, instance: str) -> str:
    """The row's key: one node per host and instance folder."""
    return hashlib.sha256(f"{host}\0{instance}".encode()).hexdigest()[:32]


def limits_of(app: Flask) -> tuple[str, bool]:
    """Where this node's limit counters live (as the start-up log says it, never a password)
    and whether other nodes can share them."""
    uri = str(app.config.get("RATELIMIT_STORAGE_URI") or "sqlite")
    scheme = uri.partition(":")[0]
    if not app.config.get("RATELIMIT_ENABLED", True):
        return "off (RATELIMIT_ENABLED is false)", True
    if scheme in LOCAL_SCHEMES:
        return f"{scheme} on this node", False
    host = uri.partition("://")[2].split("/", 1)[0].rpartition("@")[2]
    return f"{scheme}://{host}", True


def _live_since(now: datetime) -> datetime:
    return now - timedelta(seconds=LIVE_SECONDS)


def _write(conn: Connection, app: Flask, now: datetime, started: bool) -> None:
    """This node's row, made or brought up to date."""
    host = socket.gethostname()
    limits, shared = limits_of(app)
    key = node_id(host, app.instance_path)
    values: dict[str, Any] = {
        "pid": os.getpid(),
        "limits": limits[:200],
        "shared_limits": shared,
        "seen_at": now,
    }
    if started:
        values["started_at"] = now
    done = conn.execute(update(WebNode).where(WebNode.id == key).values(**values))
    if done.rowcount:
        return
    try:
        with conn.begin_nested():
            conn.execute(
                insert(WebNode).values(
                    id=key,
                    host=host[:200],
                    instance=app.instance_path,
                    **{"started_at": now, **values},
                )
            )
    except IntegrityError:  # another process of this node made it meanwhile
        conn.execute(update(WebNode).where(WebNode.id == key).values(**values))


@dataclass(frozen=True)
class Node:
    """A row of ``web_node``, read."""

    host: str
    instance: str
    pid: int
    limits: str
    shared_limits: bool
    started_at: datetime
    seen_at: datetime


def live_nodes(conn: Connection, now: datetime | None = None) -> list[Node]:
    """The nodes seen within :data:`LIVE_SECONDS`, oldest start first."""
    now = now or utcnow()
    fields = [getattr(WebNode, f.name) for f in dataclasses.fields(Node)]
    rows = conn.execute(
        select(*fields).where(WebNode.seen_at >= _live_since(now)).order_by(WebNode.started_at)
    )
    return [Node(*row) for row in rows]


def node_name(node: Node, public: bool = False) -> str:
    """``host:instance``, or (``public``) ``node-`` and 6 hex digits of a hash of them, which
    tells the nodes apart without saying where they run."""
    where = f"{node.host}:{node.instance}"
    if not public:
        return where
    return "node-" + hashlib.sha256(where.encode()).hexdigest()[:6]


def limits_warning(nodes: list[Node], *, public: bool = False) -> str | None:
    """What is wrong with these live nodes' limits, or None (``public``: nodes named by
    :func:`node_name`'s public form, storages not named)."""
    if len(nodes) < 2:
        return None
    local = [n for n in nodes if not n.shared_limits]
    if local:
        names = ", ".join(node_name(n, public) for n in local)
        return (
            f"{len(nodes)} web nodes serve this database, but {len(local)} of them count "
            f"rate limits on their own ({names}): each grants every limit again. Set "
            "RATELIMIT_STORAGE_URI=redis://... (the same Redis) on every node."
        )
    storages = sorted({n.limits for n in nodes})
    if len(storages) > 1:
        named = "" if public else f" ({', '.join(storages)})"
        return (
            f"{len(nodes)} web nodes serve this database but count rate limits in different "
            f"storages{named}: give every node the same RATELIMIT_STORAGE_URI."
        )
    return None


def beat(app: Flask, *, started: bool = False, force: bool = False) -> str | None:
    """Write this node's row if :data:`BEAT_SECONDS` passed since this process last did (or
    ``force``), then log :func:`limits_warning` when it is new to this process; returns it.
    Needs no app context. Never raises for a database fault (logged instead)."""
    clock = time.monotonic()
    last = app.extensions.get(_LAST_BEAT)
    if not force and last is not None and clock - last < BEAT_SECONDS:
        return None
    app.extensions[_LAST_BEAT] = clock
    started = started or last is None  # this app's first beat: the node (re)started
    try:
        with app.app_context(), db.engine.begin() as conn:
            now = utcnow()
            _write(conn, app, now, started)
            warning = limits_warning(live_nodes(conn, now))
    except SQLAlchemyError as error:
        log.warning("arena: this web node could not record itself: %s", error)
        return None
    if warning and app.extensions.get(_WARNED) != warning:
        _startup_log().warning("arena: WARNING: %s", warning)
    app.extensions[_WARNED] = warning
    return warning


def announce(app: Flask) -> str | None:
    """:func:`beat` at start-up, before gunicorn forks its workers (``wsgi.py``): the row
    written and the warning logged at once; no pooled connection is left to cross the fork."""
    warning = beat(app, started=True, force=True)
    with app.app_context():
        db.engine.dispose()
    return warning


def _startup_log() -> logging.Logger:
    """gunicorn's error log when serving under gunicorn (it shows warnings), else ours."""
    gunicorn = logging.getLogger("gunicorn.error")
    return gunicorn if gunicorn.handlers else log


def nodes_report(now: datetime | None = None, *, public: bool = False) -> dict[str, Any]:
    """What /status shows: the live web nodes and the warning about their limits. ``public``
    leaves out where each runs (host, folder, pid, limit storage) and names it by a hash."""
    with db.engine.connect() as conn:
        nodes = live_nodes(conn, now)
    now = now or utcnow()
    where = {"host", "instance", "pid", "limits"} if public else set()
    entries = [
        {
            "name": node_name(n, public),
            "host": n.host,
            "instance": n.instance,
            "pid": n.pid,
            "limits": n.limits,
            "shared_limits": n.shared_limits,
            "started_at": n.started_at.isoformat(timespec="seconds"),
            "seen_seconds_ago": round((now - n.seen_at).total_seconds(), 1),
        }
        for n in nodes
    ]
    return {
        "nodes": [{k: v for k, v in e.items() if k not in where} for e in entries],
        "warning": limits_warning(nodes, public=public),
    }
