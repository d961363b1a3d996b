"""The judges' pages in a real browser: /judges, a judge leaderboard chosen from the filter
form, and the cold-start column of the human leaderboard, at a desktop's and a phone's width
(no console error, no page wider than the screen, text contrast AA)."""

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
from tests.support.judge_data import (
    add_human_vote,
    add_judge,
    add_verdict,
    answer_pair,
    model_id,
)

pytestmark = pytest.mark.browser

LOW_CONTRAST_JS = (Path(__file__).parent / "contrast.js").read_text(encoding="utf-8")
OVERFLOW_JS = "document.scrollingElement.scrollWidth - window.innerWidth"


@pytest.fixture(scope="module")
def judged_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """An arena of three models with a few human votes (all provisional), and a judge with
    verdicts on the same answers and on a newcomer nobody voted on."""
    with FakeOllama() as fake:
        instance = tmp_path_factory.mktemp("judges-browser") / "instance"
        app = make_app(
            instance,
            fake.url,
            DATABASE_URL=f"sqlite:///{instance / 'arena.db'}",
            RATELIMIT_ENABLED=False,
        )
        with app.app_context():
            for tag in ("alpha:1b", "beta:3b", "gamma:7b"):
                model_id(tag, float(tag.split(":")[1][:-1]))
            judge = add_judge("a-rather-long-judge-name:8b-instruct")
            picks = ("x", "x", "y", "tie")
            for n in range(12):
                x, y = (("alpha:1b", "beta:3b"), ("beta:3b", "gamma:7b"), ("alpha:1b", "gamma:7b"))[
                    n % 3
                ]
                pair = answer_pair(x, y, text_x="short", text_y="a longer answer " * (n + 1))
                add_human_vote(pair, picks[n % 4], x_left=n % 2 == 0)
                add_verdict(judge, pair, picks[(n + 1) % 4] if picks[(n + 1) % 4] != "tie" else "y")
            for other in ("alpha:1b", "beta:3b"):
                add_verdict(judge, answer_pair("newcomer:2b", other), "x")
        with serve(app) as url:
            yield Site(url, app, fake)


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_judges_pages(browser: Any, judged_site: Site, viewport: dict[str, int] | None) -> None:
    options = {"viewport": viewport} if viewport else {}
    visitor, context = open_visitor(browser, judged_site, **options)
    page = visitor.page
    try:
        visitor.go("/judges")
        expect(page.get_by_role("heading", name="Judges: how far to trust them")).to_be_visible()
        row = page.locator("table.judges tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("12")  # battles with a human vote
        expect(page.get_by_role("link", name="Judges", exact=True)).to_have_attribute(
            "aria-current", "page"
        )
        assert page.evaluate(OVERFLOW_JS) <= 0
        assert page.evaluate(LOW_CONTRAST_JS) == []

        visitor.go("/leaderboard")
        expect(page.locator("th", has_text="Judges")).to_be_visible()
        expect(page.locator("td.judge-rating .badge")).to_have_count(3)
        expect(page.get_by_role("heading", name="Rated by judges only")).to_be_visible()
        assert page.evaluate(OVERFLOW_JS) <= 0
        assert page.evaluate(LOW_CONTRAST_JS) == []

        page.locator("select[name=source]").select_option("judge")
        page.get_by_role("button", name="Apply").click()
        page.wait_for_url(re.compile(r"source=judge"))
        expect(page.get_by_role("heading", name="Leaderboard: judge verdicts")).to_be_visible()
        expect(page.locator("p.meta")).to_contain_text("judge verdicts counted")
        assert page.evaluate(OVERFLOW_JS) <= 0
        visitor.watch.check()
    finally:
        context.close()
