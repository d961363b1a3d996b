"""The picker in a real browser: the /pick form filled and sent, its verdict and table, the
"settle it" link leading to an ordinary blind battle, and a bad limit answered with the form
and a message, at a desktop's and a phone's width (no console error, no page wider than the
screen, text contrast AA). Screenshots: ``test-artifacts/screenshots/pick-*.png``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.app import make_app
from tests.support.browser import PHONE, Site, open_visitor, serve
from tests.support.fake_ollama import FakeOllama
from tests.support.leaderboard_data import add_votes
from tests.support.pick_data import decisive, setup_arena

pytestmark = pytest.mark.browser

LOW_CONTRAST_JS = (Path(__file__).parent / "contrast.js").read_text(encoding="utf-8")
OVERFLOW_JS = "document.scrollingElement.scrollWidth - window.innerWidth"


@pytest.fixture(scope="module")
def pick_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Four models of known memory and speed (one of unknown memory), a few votes: the two
    best are too close to call."""
    with FakeOllama() as fake:
        instance = tmp_path_factory.mktemp("pick-browser") / "instance"
        app = make_app(
            instance,
            fake.url,
            DATABASE_URL=f"sqlite:///{instance / 'arena.db'}",
            WTF_CSRF_ENABLED=True,
            RATELIMIT_ENABLED=False,
        )
        setup_arena(app)
        add_votes(
            app,
            decisive("alpha:7b", "beta:3b", 4, 3)
            + decisive("beta:3b", "gamma:1b", 5, 1)
            + decisive("alpha:7b", "gamma:1b", 5, 1)
            + decisive("delta:2b", "gamma:1b", 3, 2),
        )
        with serve(app) as url:
            yield Site(url, app, fake)


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_pick_page(browser: Any, pick_site: Site, viewport: dict[str, int] | None) -> None:
    screen = "phone" if viewport else "desktop"
    options = {"viewport": viewport} if viewport else {}
    visitor, context = open_visitor(browser, pick_site, **options)
    page = visitor.page
    try:
        visitor.go("/pick")
        expect(page.get_by_role("heading", name="Which model should I run?")).to_be_visible()
        expect(page.get_by_role("link", name="Pick", exact=True)).to_have_attribute(
            "aria-current", "page"
        )
        page.get_by_label("Memory (GB)").fill("8")
        page.get_by_label("Minimum tokens/s").fill("4")
        page.get_by_role("button", name="Pick").click()
        page.wait_for_url(re.compile(r"ram_gb=8"))
        verdict = page.locator("#pick-verdict")
        expect(verdict).to_contain_text("too close to call")
        rows = page.locator("table.pick tbody tr")
        expect(rows).to_have_count(3)  # delta's memory is unknown
        expect(rows.first).to_contain_text("alpha:7b")
        expect(page.get_by_role("heading", name="Unknown cost")).to_be_visible()
        expect(page.locator("ul.unknown-cost")).to_contain_text("delta:2b")
        assert page.evaluate(OVERFLOW_JS) <= 0
        assert page.evaluate(LOW_CONTRAST_JS) == []
        visitor.shot(f"pick-verdict-{screen}")

        page.get_by_role("link", name="vote on blind battles").click()
        page.wait_for_url(re.compile(r"/$"))
        expect(page.get_by_role("heading", name="Prompt")).to_be_visible()
        expect(page.get_by_role("button", name=re.compile("A is better"))).to_be_visible()
        html = page.content()
        assert "focus" not in html.lower() and "targeted" not in html.lower()

        visitor.watch.allowed_errors.append("400")  # the browser logs the page's own 400
        answer = page.goto(pick_site.url + "/pick?ram_gb=-3")
        assert answer is not None and answer.status == 400
        expect(page.get_by_role("alert")).to_contain_text("'ram_gb'")
        expect(page.get_by_label("Memory (GB)")).to_be_visible()
        assert page.evaluate(OVERFLOW_JS) <= 0
        visitor.shot(f"pick-bad-input-{screen}")
        visitor.watch.check()
    finally:
        context.close()
