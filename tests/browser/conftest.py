"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, the arena served for real.

The arena runs in a werkzeug server thread on 127.0.0.1 (real HTTP, real cookies, CSRF on),
with a pool pre-generated from the fake Ollama server; the worker's queue of visitors' prompts
is processed in-process by :func:`worker_tick`. Every page a test opens is watched: console
errors, uncaught exceptions, dialogs and requests to any host but 127.0.0.1 fail the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.app import make_app
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Site,
    Visitor,
    answer,
    open_visitor,
    serve,
)
from tests.support.fake_ollama import FakeOllama

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with FakeOllama() as fake:
        fake.set_answer(None, answer)
        instance = tmp_path_factory.mktemp("browser") / "instance"
        app = make_app(
            instance,
            fake.url,
            # SQLite even when the suite runs on PostgreSQL: that one's databases are dropped
            # after each test, and this server lives for the whole session.
            DATABASE_URL=f"sqlite:///{instance / 'arena.db'}",
            WTF_CSRF_ENABLED=True,  # the real forms, tokens included
            RATELIMIT_ENABLED=False,
            VISITOR_REFRESH_SECONDS=1,
        )
        runner = app.test_cli_runner()
        result = runner.invoke(args=["models", "sync"])
        assert result.exit_code == 0, result.output
        result = runner.invoke(args=["pregenerate", "--prompts", "6"])
        assert result.exit_code == 0, result.output
        with serve(app) as url:
            yield Site(url, app, fake)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium)")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_visitor(browser: Any, site: Site) -> Iterator[Any]:
    """A factory of voters; every page they opened is checked when the test ends."""
    opened: list[Visitor] = []

    def factory(**context_options: Any) -> Visitor:
        visitor_, _ = open_visitor(browser, site, **context_options)
        opened.append(visitor_)
        return visitor_

    yield factory
    try:
        for one in opened:
            one.watch.check()
    finally:
        for one in opened:
            one.context.close()
