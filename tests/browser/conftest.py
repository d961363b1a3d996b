"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, the arena served for real.

The arena runs in a werkzeug server thread on 127.0.0.1 (real HTTP, real cookies, CSRF on),
with a pool pre-generated from the fake Ollama server; the worker's queue of visitors' prompts
is processed in-process by :func:`worker_tick`. Every page a test opens is watched: console
errors, uncaught exceptions, dialogs and requests to any host but 127.0.0.1 fail the test.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from arena.backends.configured import get_backend
from arena.extensions import db
from arena.ops.heartbeat import beat
from arena.pregen import visitor
from arena.pregen.generate import AnswerMaker, MeteredBackend
from tests.support.app import make_app
from tests.support.fake_ollama import FakeOllama

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}

#: What the fake models answer: prose, a list, a table and highlighted code.
RICH_ANSWER = """Here is a **careful** answer, with an example.

- It keeps the *first* occurrence of each item.
- It runs in linear time.

```python
def unique(items: list[str]) -> list[str]:
    seen = set()
    return [x for x in items if not (x in seen or seen.add(x))]  # keeps order
```

| input | output |
|---|---|
| `["a", "b", "a"]` | `["a", "b"]` |

> Sets do not keep order, so the list comprehension does the work."""

#: Answers to a prompt that asks for trouble: payloads that must stay text.
XSS_ANSWER = """Sure! <img src=x onerror=alert(1)> and <script>window.__xss=1</script>

[click me](javascript:window.__xss=1) or <a href="javascript:window.__xss=1">click me too</a>

<svg onload="window.__xss=1"></svg> <iframe src="javascript:window.__xss=1"></iframe>

```html" onmouseover="window.__xss=1
<script>window.__xss=1</script>
```

[a safe link](#top)"""

HOSTILE_MARK = "hostile-answers-please"


def _answer(request: dict[str, Any]) -> str:
    prompt = " ".join(str(m.get("content", "")) for m in request.get("messages", []))
    return XSS_ANSWER if HOSTILE_MARK in prompt else RICH_ANSWER


@dataclass
class Site:
    """The served arena: its base URL, the app (for in-process work) and the fake Ollama."""

    url: str
    app: Flask
    ollama: FakeOllama


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with FakeOllama() as fake:
        fake.set_answer(None, _answer)
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
        server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="arena-http", daemon=True)
        thread.start()
        try:
            yield Site(f"http://127.0.0.1:{server.server_port}", app, fake)
        finally:
            server.shutdown()
            thread.join(10)
            with app.app_context():
                db.engine.dispose()


def worker_tick(app: Flask) -> int:
    """What the worker's visitors' job does once: answer the queued prompts."""
    with app.app_context():
        beat("idle")
        maker = AnswerMaker(MeteredBackend(get_backend()), app.config)
        return visitor.process_queue(maker, app.config)


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


@dataclass
class Watch:
    """What went wrong on the pages of one browser context."""

    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    allowed_errors: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if message.type == "error" and not any(a in message.text for a in self.allowed_errors):
            self.errors.append(f"console: {message.text} ({message.location})")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def request(self, request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if parts.hostname != "127.0.0.1":
            self.foreign.append(request.url)

    def check(self) -> None:
        assert self.errors == [], "errors in the browser"
        assert self.dialogs == [], "a dialog was opened"
        assert self.foreign == [], "a request left 127.0.0.1"


@dataclass
class Visitor:
    """One voter: a browser context (its own cookies) with its page, watched."""

    page: Any
    context: Any
    watch: Watch
    base: str

    def go(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        assert response is not None and response.status < 400, (path, response and response.status)
        return response

    def shot(self, name: str, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(target), full_page=full_page)
        return target


def open_visitor(browser: Any, site: Site, **context_options: Any) -> tuple[Visitor, Any]:
    options = {"viewport": WIDE, "base_url": site.url, "service_workers": "block"}
    options.update(context_options)
    context = browser.new_context(**options)
    context.set_default_timeout(10_000)
    watch = Watch()
    context.on("request", watch.request)
    page = context.new_page()
    watch.attach(page)
    return Visitor(page, context, watch, site.url), context


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
