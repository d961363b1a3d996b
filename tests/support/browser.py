"""What the browser tests share: the served site, the voters (a watched browser context each),
the fake models' answers, screen sizes, and the worker's visitors' job run in-process.

Playwright objects are typed ``Any``: this module does not import Playwright (the browser
tests skip themselves when it is missing).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from arena import PROJECT_ROOT
from arena.backends.configured import get_backend
from arena.extensions import db
from arena.ops.heartbeat import beat
from arena.pregen import visitor
from arena.pregen.generate import AnswerMaker, MeteredBackend
from tests.support.fake_ollama import FakeOllama

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


def answer(request: dict[str, Any]) -> str:
    prompt = " ".join(str(m.get("content", "")) for m in request.get("messages", []))
    return XSS_ANSWER if HOSTILE_MARK in prompt else RICH_ANSWER


@dataclass
class Site:
    """The served arena: its base URL, the app (for in-process work) and the fake Ollama."""

    url: str
    app: Flask
    ollama: FakeOllama


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve ``app`` over real HTTP on 127.0.0.1 from a werkzeug thread; its base URL."""
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="arena-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
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
