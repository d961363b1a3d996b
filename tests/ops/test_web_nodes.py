"""Web nodes record themselves in the database; several live nodes counting rate limits on
their own (no shared RATELIMIT_STORAGE_URI) are warned about in the log and on /status."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, update

from arena.extensions import db
from arena.models import WebNode, utcnow
from arena.ops import nodes
from tests.support.app import make_app


@pytest.fixture
def second_node(app: Flask, tmp_path: Path, nothing_listens: str) -> Iterator[Flask]:
    """Another web node: its own instance folder, the first one's database."""
    other = make_app(
        tmp_path / "node2", nothing_listens, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"]
    )
    yield other
    with other.app_context():
        db.engine.dispose()


def _status(app: Flask) -> dict[str, object]:
    """/status.json's web nodes as an operator who shows the machines sees them."""
    app.config["STATUS_SHOW_MACHINES"] = True
    response = app.test_client().get("/status.json")
    assert response.status_code == 200
    web_nodes: dict[str, object] = response.get_json()["web_nodes"]
    return web_nodes


def test_one_node_records_itself_and_warns_about_nothing(app: Flask) -> None:
    report = _status(app)
    assert report["warning"] is None
    [node] = report["nodes"]  # type: ignore[misc]
    assert node["instance"] == app.instance_path
    assert node["shared_limits"] is False
    assert node["limits"] == "sqlite on this node"


def test_the_public_status_does_not_say_where_nodes_run(app: Flask, second_node: Flask) -> None:
    _status(second_node)  # the second node records itself
    app.config["STATUS_SHOW_MACHINES"] = False
    for path in ("/status.json", "/status"):
        body = app.test_client().get(path).get_data(as_text=True)
        assert app.instance_path not in body and second_node.instance_path not in body
        assert "sqlite on this node" not in body
    report = app.test_client().get("/status.json").get_json()["web_nodes"]
    assert len(report["nodes"]) == 2
    assert all(set(n) & {"host", "instance", "pid", "limits"} == set() for n in report["nodes"])
    assert all(n["name"].startswith("node-") for n in report["nodes"])
    assert "count rate limits on their own (node-" in report["warning"]


def test_two_nodes_with_limits_of_their_own_are_warned_about(
    app: Flask, second_node: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    _status(app)
    with caplog.at_level(logging.WARNING, logger="arena.ops.nodes"):
        report = _status(second_node)
    assert len(report["nodes"]) == 2  # type: ignore[arg-type]
    warning = str(report["warning"])
    assert "2 web nodes serve this database, but 2 of them count rate limits on their own" in (
        warning
    )
    assert app.instance_path in warning and second_node.instance_path in warning
    assert "RATELIMIT_STORAGE_URI=redis://" in warning
    assert f"WARNING: {warning}" in caplog.text  # said at the start, in the log
    page = second_node.test_client().get("/status").get_data(as_text=True)
    assert "Web nodes seen in the last 3 minutes: 2" in page
    assert "count rate limits on their own" in page
    # Said once per process, not on every beat.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="arena.ops.nodes"):
        assert nodes.beat(second_node, force=True) == warning
    assert "WARNING" not in caplog.text


def test_a_node_gone_quiet_no_longer_counts(app: Flask, second_node: Flask) -> None:
    _status(app)
    _status(second_node)
    with app.app_context():
        db.session.execute(
            update(WebNode)
            .where(WebNode.instance == second_node.instance_path)
            .values(seen_at=utcnow() - timedelta(seconds=nodes.LIVE_SECONDS + 1))
        )
        db.session.commit()
    report = _status(app)
    assert [n["instance"] for n in report["nodes"]] == [app.instance_path]  # type: ignore[attr-defined]
    assert report["warning"] is None


def test_nodes_sharing_one_redis_are_fine_and_different_ones_are_not(
    app: Flask, tmp_path: Path, nothing_listens: str
) -> None:
    database = app.config["SQLALCHEMY_DATABASE_URI"]
    made = []
    # The storage is only named here: nothing is counted, so no Redis need answer.
    for name, uri in [
        ("a", "redis://:secret@cache-1:6379/0"),
        ("b", "redis://cache-1:6379/0"),
        ("c", "redis://cache-2:6379/0"),
    ]:
        node = make_app(
            tmp_path / name, nothing_listens, DATABASE_URL=database, RATELIMIT_STORAGE_URI=uri
        )
        made.append(node)
    try:
        nodes.beat(made[0], force=True)
        assert nodes.beat(made[1], force=True) is None  # one Redis: nothing to say
        with made[0].app_context():
            stored = db.session.scalars(select(WebNode.limits)).all()
        assert stored == ["redis://cache-1:6379", "redis://cache-1:6379"]  # never a password
        warning = nodes.beat(made[2], force=True)
        assert warning is not None
        assert "different storages (redis://cache-1:6379, redis://cache-2:6379)" in warning
    finally:
        for node in made:
            with node.app_context():
                db.engine.dispose()
