"""Visitors' queue per client address: new voter cookies are free, so one address may keep
only VISITOR_QUEUE_PER_ADDRESS prompts waiting, whatever its cookies; another address still
gets in, and so does this one once its prompts are answered."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from arena.backends.configured import get_backend
from arena.extensions import db
from arena.models import VisitorRequest
from arena.pregen import visitor
from arena.pregen.generate import AnswerMaker, MeteredBackend
from tests.support.app import make_app
from tests.support.fake_ollama import FakeOllama

# The quota, not the hourly prompt limit, is what these tests meet.
PLENTY = "1000 per hour"


def _ask(app: Flask, n: int, **environ: str) -> tuple[int, str]:
    client = app.test_client()  # a new voter cookie each time
    response = client.post(
        "/ask", data={"prompt": f"Question {n}: why is the sky blue?"}, environ_base=environ
    )
    return response.status_code, response.get_data(as_text=True)


def _waiting(app: Flask) -> int:
    with app.app_context():
        waiting = VisitorRequest.status.in_(("queued", "running"))
        return db.session.scalar(select(func.count()).where(waiting)) or 0


def test_ten_cookies_from_one_address_queue_only_its_quota(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    app = make_app(tmp_path / "instance", fake_ollama.url, RATELIMIT_PROMPTS=PLENTY)
    assert app.test_cli_runner().invoke(args=["models", "sync"]).exit_code == 0
    answers = [_ask(app, n) for n in range(10)]
    assert [status for status, _ in answers] == [303] * 3 + [429] * 7
    assert "3 prompts wait from your address already" in answers[-1][1]
    assert "Your prompt was not queued" in answers[-1][1]
    assert _waiting(app) == 3
    assert _ask(app, 10, REMOTE_ADDR="192.0.2.10")[0] == 303  # another address
    with app.app_context():
        tags = set(db.session.scalars(select(VisitorRequest.address)))
        assert len(tags) == 2 and not any("127.0.0.1" in str(tag) for tag in tags)
        maker = AnswerMaker(MeteredBackend(get_backend()), app.config)
        visitor.process_queue(maker, app.config)  # what the worker does
    assert _waiting(app) == 0
    assert _ask(app, 11)[0] == 303  # answered: room again for this address


def test_behind_a_proxy_the_forwarded_address_counts(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    app = make_app(
        tmp_path / "instance",
        fake_ollama.url,
        RATELIMIT_PROMPTS=PLENTY,
        PROXY_HOPS=1,
        VISITOR_QUEUE_PER_ADDRESS=1,
    )
    assert app.test_cli_runner().invoke(args=["models", "sync"]).exit_code == 0
    first = {"HTTP_X_FORWARDED_FOR": "198.51.100.1"}
    second = {"HTTP_X_FORWARDED_FOR": "198.51.100.2"}
    codes = [_ask(app, 0, **first)[0], _ask(app, 1, **first)[0], _ask(app, 2, **second)[0]]
    assert codes == [303, 429, 303]
    status, page = _ask(app, 3, **second)
    assert status == 429 and "1 prompt waits from your address already" in page
    assert _waiting(app) == 2


def test_the_quota_holds_for_prompts_sent_at_once_through_two_web_nodes(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    """Two web nodes (instance folders) on one database, twelve new cookies from one address
    posting at the same moment, half through each node: exactly the quota gets in."""
    # One secret key for both (SECRET_KEY_FILE): it keys the address tags the quota counts.
    same = {"RATELIMIT_PROMPTS": PLENTY, "SECRET_KEY": "one key for every node"}
    first = make_app(tmp_path / "node1", fake_ollama.url, **same)
    database = first.config["SQLALCHEMY_DATABASE_URI"]
    second = make_app(tmp_path / "node2", fake_ollama.url, DATABASE_URL=database, **same)
    assert first.test_cli_runner().invoke(args=["models", "sync"]).exit_code == 0
    barrier = threading.Barrier(12)

    def ask(n: int) -> int:
        node = (first, second)[n % 2]
        client = node.test_client()
        client.get("/ask")  # the voter cookie, before the race
        barrier.wait(timeout=30)
        response = client.post("/ask", data={"prompt": f"Race {n}: why is the sea salty?"})
        return response.status_code

    with ThreadPoolExecutor(12) as pool:
        statuses = sorted(pool.map(ask, range(12)))
    assert statuses == [303] * 3 + [429] * 9, statuses
    assert _waiting(first) == 3
    for node in (first, second):
        with node.app_context():
            db.engine.dispose()
