"""Model pages in a real browser: a vote's reveal links the model's page; /models/<slug> shows
the rating, speed and memory, the record against each rival, the strength per category, the
rating over time drawn by plotly.js, and the samples (the visitor's voted battle and a showcase
prompt); /models lists every model. At a desktop's and a phone's width: no console error, no
page wider than the screen, text contrast AA. Screenshots:
``test-artifacts/screenshots/model-*.png``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from arena.extensions import db
from arena.models import Prompt
from arena.play.prompts import set_showcase
from tests.support.app import make_app
from tests.support.battles import NEUTRAL_ANSWER
from tests.support.browser import PHONE, Site, open_visitor, serve
from tests.support.fake_ollama import FakeOllama
from tests.support.leaderboard_data import add_votes

pytestmark = pytest.mark.browser

LOW_CONTRAST_JS = (Path(__file__).parent / "contrast.js").read_text(encoding="utf-8")
OVERFLOW_JS = "document.scrollingElement.scrollWidth - window.innerWidth"
TAGS = ("llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0", "gemma3:4b")


@pytest.fixture(scope="module")
def model_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Three models with answers, a showcase prompt they answered, and votes over two
    categories spread over a few hours (a rating history)."""
    with FakeOllama() as fake:
        for tag in TAGS:
            fake.set_answer(tag, NEUTRAL_ANSWER)
        instance = tmp_path_factory.mktemp("models-browser") / "instance"
        app = make_app(
            instance,
            fake.url,
            DATABASE_URL=f"sqlite:///{instance / 'arena.db'}",
            RATELIMIT_ENABLED=False,
            POOL_TARGET=2,
        )
        runner = app.test_cli_runner()
        assert runner.invoke(args=["models", "sync"]).exit_code == 0
        with app.app_context():
            showcase = db.session.scalars(select(Prompt.id).order_by(Prompt.id.desc())).first()
            assert showcase is not None
            set_showcase([showcase])
        result = runner.invoke(args=["pregenerate"])
        assert result.exit_code == 0, result.output
        a, b, c = TAGS
        votes = [(a, b, "a"), (b, c, "a"), (a, c, "tie"), (c, a, "b"), (b, a, "both_bad")]
        add_votes(app, votes * 3)
        add_votes(app, [(a, b, "b"), (a, c, "a")] * 2, category="writing")
        with serve(app) as url:
            yield Site(url, app, fake)


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_model_pages(browser: Any, model_site: Site, viewport: dict[str, int] | None) -> None:
    screen = "phone" if viewport else "desktop"
    options = {"viewport": viewport} if viewport else {}
    visitor, context = open_visitor(browser, model_site, **options)
    page = visitor.page
    try:
        visitor.go("/")
        page.locator("button.vote-a").click()
        page.wait_for_url(re.compile(r"/battle/"))
        link = page.locator("h2#answer-A .model-name a")
        name = link.inner_text()
        link.click()
        page.wait_for_url(re.compile(r"/models/[a-z0-9-]+$"))
        expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
        for heading in (
            "Rating",
            "Speed and memory",
            "Record against each rival",
            "Strength per category",
            "Rating over time",
            "Sample answers",
        ):
            expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        expect(page.locator("#rivals-heading + .table-wrap tbody tr")).to_have_count(2)
        categories = page.locator("#categories-heading + .table-wrap tbody tr")
        expect(categories.filter(has_text="writing")).to_contain_text("of 3")
        expect(page.locator(".plot .main-svg").first).to_be_visible()  # drawn by plotly.js
        samples = page.locator("article.sample")
        expect(samples.filter(has_text="from a battle you voted on")).to_have_count(1)
        expect(samples.filter(has_text="showcase")).to_have_count(1)
        expect(page.get_by_role("link", name="Models", exact=True)).to_have_attribute(
            "aria-current", "page"
        )
        assert page.evaluate(OVERFLOW_JS) <= 0
        assert page.evaluate(LOW_CONTRAST_JS) == []
        visitor.shot(f"model-page-{screen}")

        visitor.go("/models")
        rows = page.locator("table.models tbody tr")
        expect(rows).to_have_count(3)
        expect(rows.first.locator("a")).to_have_attribute("href", re.compile(r"^/models/"))
        assert page.evaluate(OVERFLOW_JS) <= 0
        assert page.evaluate(LOW_CONTRAST_JS) == []
        visitor.shot(f"model-list-{screen}")
        visitor.watch.check()
    finally:
        context.close()
