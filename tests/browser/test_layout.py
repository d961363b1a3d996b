"""The pages' layout at a phone's width and a desktop's, on an arena full of long model names.

Every main page (the battle, its reveal, the leaderboard, the style-controlled leaderboard, the
charts, the ask page, the status page) is opened at both widths and checked by one generic
in-page checker (``layout.js``): nothing wider than the window, no element overflowing
sideways unless it scrolls, no text cut off, Plotly charts neither squeezed nor cut nor
overlapping their own parts, no heading said twice, no keyboard hint on a phone. One browser
context per width serves every page. Screenshots go to ``test-artifacts/screenshots/``
(``layout-<page>-<width>.png``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from arena.extensions import db
from arena.leaderboard.charts import CHARTS
from arena.models import Model
from tests.support.app import make_app
from tests.support.browser import PHONE, WIDE, Site, Visitor, answer, open_visitor, serve
from tests.support.fake_ollama import FakeModel, FakeOllama
from tests.support.leaderboard_data import add_votes

pytestmark = pytest.mark.browser

LAYOUT_JS = (Path(__file__).parent / "layout.js").read_text(encoding="utf-8")

#: Tag -> the long display name the pages must fit (the demo's names are this long).
LONG_NAMES = {
    "smollm2:135m-instruct-q8_0": "SmolLM2 135M Instruct",
    "gemma3:270m-it-q8_0": "Gemma 3 270M Instruct",
    "qwen2.5:0.5b-instruct-q8_0": "Qwen2.5 0.5B Instruct",
    "llama3.2:1b-instruct-q8_0": "Llama 3.2 1B Instruct",
    "tinyllama:1.1b-chat-v1-q8_0": "TinyLlama 1.1B Chat v1.0",
    "granite3.1-moe:1b-instruct-q8_0": "Granite 3.1 MoE 1B Instruct",
    # Two that only ever met each other: a second group, with its note.
    "phi3.5:3.8b-mini-instruct-q4_K_M": "Phi 3.5 Mini Instruct 3.8B",
    "deepseek-r1:1.5b-qwen-distill-q4_K_M": "DeepSeek R1 Distill Qwen 1.5B",
}
SIZES = ["135M", "270M", "494M", "1.2B", "1.1B", "1.3B", "3.8B", "1.8B"]


def seeded_votes() -> list[tuple[str, str, str]]:
    """A few hundred votes: every pair of the main group, one-sided enough for a ranking, and
    a handful between the second group's two models (one of them provisional)."""
    tags = list(LONG_NAMES)
    main, other = tags[:6], tags[6:]
    outcomes = ("a", "a", "b", "tie", "a", "both_bad", "b")
    votes = []
    for round_ in range(6):
        for i, a in enumerate(main):
            for j, b in enumerate(main):
                if i < j:
                    outcome = outcomes[(i + 2 * j + round_) % len(outcomes)]
                    votes.append((a, b, outcome) if round_ % 2 else (b, a, outcome))
    votes += [(other[0], other[1], outcome) for outcome in ("a", "b", "a", "tie")]
    return votes


@pytest.fixture(scope="module")
def full_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """An arena with eight long-named models, a pool of battles and a few hundred votes."""
    fakes = [
        FakeModel(tag, size, tag.rsplit("-", 1)[-1].upper(), tag.split(":")[0])
        for tag, size in zip(LONG_NAMES, SIZES, strict=True)
    ]
    with FakeOllama(fakes) as fake:
        fake.set_answer(None, answer)
        instance = tmp_path_factory.mktemp("layout") / "instance"
        app = make_app(
            instance,
            fake.url,
            DATABASE_URL=f"sqlite:///{instance / 'arena.db'}",
            WTF_CSRF_ENABLED=True,
            RATELIMIT_ENABLED=False,
            VISITOR_REFRESH_SECONDS=1,
        )
        runner = app.test_cli_runner()
        result = runner.invoke(args=["models", "sync"])
        assert result.exit_code == 0, result.output
        with app.app_context():
            for model in db.session.scalars(select(Model)):
                model.display_name = LONG_NAMES[model.tag]
            db.session.commit()
        result = runner.invoke(args=["pregenerate", "--prompts", "2"])
        assert result.exit_code == 0, result.output
        add_votes(app, seeded_votes(), step=timedelta(minutes=7))
        with serve(app) as url:
            yield Site(url, app, fake)


SCREENS: dict[str, dict[str, Any]] = {
    "phone": {"viewport": PHONE, "is_mobile": True, "has_touch": True, "device_scale_factor": 2},
    "desktop": {"viewport": WIDE},
    # A phone's width with a mouse-like pointer: a small window, or a phone's browser that says
    # it can hover (the keyboard hints must go by width too).
    "narrow": {"viewport": PHONE},
}
#: The screens every page is checked on; the narrow one only where there are keyboard hints.
WIDTHS = ["phone", "desktop"]


@pytest.fixture(scope="module")
def screens(browser: Any, full_site: Site) -> Iterator[dict[str, Visitor]]:
    """One visitor per screen, its page reused by every test; checked for errors at the end."""
    opened = {
        name: open_visitor(browser, full_site, **options)[0] for name, options in SCREENS.items()
    }
    yield opened
    try:
        for visitor in opened.values():
            visitor.watch.check()
    finally:
        for visitor in opened.values():
            visitor.context.close()


def layout_problems(visitor: Visitor, screen: str, page_name: str) -> list[str]:
    visitor.shot(f"layout-{page_name}-{screen}")
    problems: list[str] = visitor.page.evaluate(LAYOUT_JS, {"phone": screen != "desktop"})
    return problems


@pytest.mark.parametrize("screen", list(SCREENS))
def test_battle_and_reveal(screens: dict[str, Visitor], screen: str) -> None:
    visitor = screens[screen]
    page = visitor.page
    visitor.go("/")
    expect(page.locator("form.vote")).to_be_visible()
    battle_id = page.locator("form.vote input[name=battle_id]").input_value()
    problems = {"battle": layout_problems(visitor, screen, "battle")}
    page.get_by_role("button", name="A is better").click()
    page.wait_for_url(f"**/battle/{battle_id}")
    expect(page.locator(".model-name")).to_have_count(2)
    problems["reveal"] = layout_problems(visitor, screen, "reveal")
    assert not any(problems.values()), "\n".join(
        f"{where}: {problem}" for where, found in problems.items() for problem in found
    )


PAGES = {
    "leaderboard": "/leaderboard",
    "leaderboard-style": "/leaderboard?style=control",
    "ask": "/ask",
    "status": "/status",
}


@pytest.mark.parametrize("screen", WIDTHS)
@pytest.mark.parametrize("page_name", list(PAGES))
def test_pages(screens: dict[str, Visitor], screen: str, page_name: str) -> None:
    visitor = screens[screen]
    visitor.go(PAGES[page_name])
    expect(visitor.page.locator("main h1").first).to_be_visible()
    problems = layout_problems(visitor, screen, page_name)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("screen", WIDTHS)
def test_charts(screens: dict[str, Visitor], screen: str) -> None:
    visitor = screens[screen]
    page = visitor.page
    visitor.go("/charts")
    plots = page.locator("figure.chart .js-plotly-plot")
    expect(plots).to_have_count(len(CHARTS), timeout=20_000)
    for index in range(plots.count()):
        expect(plots.nth(index).locator(".main-svg").first).to_be_attached()
    problems = layout_problems(visitor, screen, "charts")
    assert not problems, "\n".join(problems)
