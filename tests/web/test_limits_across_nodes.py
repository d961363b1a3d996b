"""Rate limits with two web nodes (two gunicorns, two instance folders, one database): with
one Redis an address gets each limit once across both; with each node's own counters it gets
it once per node, and the second node says so in its log at start-up."""

from __future__ import annotations

import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests
from flask import Flask

from arena.extensions import db
from tests.support.cluster import web_node

LIMIT = 8
REDIS_URL = os.environ.get("ARENA_TEST_REDIS_URL", "")


def _env(app: Flask, storage: dict[str, str]) -> dict[str, str]:
    return {
        "ARENA_DATABASE_URL": str(app.config["SQLALCHEMY_DATABASE_URI"]),
        "ARENA_SECRET_KEY": "one key for both nodes",
        "ARENA_RATELIMIT_EXPORTS": f"{LIMIT} per hour",
        **storage,
    }


def _through_both(urls: list[str], count: int) -> list[int]:
    def one(n: int) -> int:
        return requests.get(urls[n % 2] + "/api/votes.csv", timeout=60).status_code

    with ThreadPoolExecutor(6) as pool:
        return sorted(pool.map(one, range(count)))


def _two_nodes(
    app: Flask, nothing_listens: str, tmp_path: Path, storage: dict[str, str]
) -> tuple[list[int], str]:
    """3 x LIMIT requests from one address through two nodes: the statuses, the logs."""
    with app.app_context():
        db.engine.dispose()
    logs = [tmp_path / "node-1.log", tmp_path / "node-2.log"]
    with ExitStack() as stack:
        urls = []
        for n, log in enumerate(logs, 1):
            node = web_node(tmp_path / f"node-{n}", nothing_listens, _env(app, storage), log=log)
            urls.append(stack.enter_context(node).url)
        statuses = _through_both(urls, 3 * LIMIT)
    return statuses, "".join(log.read_text(errors="replace") for log in logs)


@pytest.mark.slow
@pytest.mark.skipif(not REDIS_URL, reason="needs Redis: set ARENA_TEST_REDIS_URL")
def test_one_redis_gives_an_address_the_limit_once_across_two_nodes(
    app: Flask, nothing_listens: str, tmp_path: Path
) -> None:
    storage = {
        "ARENA_RATELIMIT_STORAGE_URI": REDIS_URL,
        "ARENA_RATELIMIT_KEY_PREFIX": f"two-nodes-{secrets.token_hex(4)}",
    }
    statuses, logs = _two_nodes(app, nothing_listens, tmp_path, storage)
    assert statuses == [200] * LIMIT + [429] * (2 * LIMIT)
    assert logs.count("rate-limit counters in redis://127.0.0.1") == 2
    assert "arena: WARNING" not in logs


@pytest.mark.slow
def test_each_nodes_own_counters_grant_the_limit_per_node_and_the_second_node_says_so(
    app: Flask, nothing_listens: str, tmp_path: Path
) -> None:
    statuses, logs = _two_nodes(app, nothing_listens, tmp_path, {})
    assert statuses == [200] * (2 * LIMIT) + [429] * LIMIT  # what Redis is for
    assert (
        "arena: WARNING: 2 web nodes serve this database, but 2 of them count rate limits "
        "on their own" in logs
    )
    assert "RATELIMIT_STORAGE_URI=redis://" in logs
