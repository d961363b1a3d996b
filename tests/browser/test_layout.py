"""The pages' layout at a phone's width and a desktop's, on an arena full of long model names.

Every main page (the battle, its reveal, the leaderboard, the style-controlled leaderboard, the
charts, the ask page and its waiting page, the status page) is opened at both widths and checked
by one generic in-page checker (``layout.js``): nothing wider than the window, no element
overflowing sideways unless it scrolls, no text cut off, Plotly charts neither squeezed nor cut
nor overlapping their own parts, no text over other text, no heading said twice, no keyboard hint
at a phone's width (the battle also in a phone-wide window with a mouse). One browser context per
screen serves every page; a page with one of each defect planted shows that every rule can fail.
Screenshots go to ``test-artifacts/screenshots/`` (``layout-<page>-<screen>.png``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import distinct, func, select

from arena.extensions import db
from arena.leaderboard.charts import CHARTS
from arena.models import Model, Response
from tests.support.app import make_app
from tests.support.browser import (
    PHONE,
    SCREENSHOTS,
    WIDE,
    Site,
    Visitor,
    answer,
    open_visitor,
    serve,
)
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
    "pick": "/pick?min_tps=1",
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


#: A visitor's prompt with a word longer than a phone's width.
LONG_PROMPT = (
    "Explain to a curious child why the sky is blue at noon and red at sunset, then summarise "
    "https://example.org/articles/rayleigh-scattering-and-the-colour-of-the-sky-explained-simply"
)


@pytest.mark.parametrize("screen", WIDTHS)
def test_ask_and_wait(screens: dict[str, Visitor], screen: str) -> None:
    visitor = screens[screen]
    page = visitor.page
    visitor.go("/ask")
    problems = {"ask": layout_problems(visitor, screen, "ask")}
    page.locator("#ask-prompt").fill(LONG_PROMPT)
    page.get_by_role("button", name="Ask").click()
    page.wait_for_url(re.compile(r"/ask/[^/]+$"))
    expect(page.locator(".ask-status")).to_contain_text("Waiting in the queue")
    problems["ask-wait"] = layout_problems(visitor, screen, "ask-wait")
    assert not any(problems.values()), "\n".join(
        f"{where}: {problem}" for where, found in problems.items() for problem in found
    )


@pytest.mark.parametrize("screen", WIDTHS)
def test_charts(screens: dict[str, Visitor], screen: str) -> None:
    visitor = screens[screen]
    page = visitor.page
    visitor.go("/charts")
    drawn = "phone" if screen == "phone" else "wide"
    plots = page.locator(f"figure.chart .plot[data-drawn={drawn}]")
    expect(plots).to_have_count(len(CHARTS), timeout=20_000)  # plotly.js is done
    problems = layout_problems(visitor, screen, "charts")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("screen", WIDTHS)
def test_cost_charts(screens: dict[str, Visitor], full_site: Site, screen: str) -> None:
    """Rating against speed and against memory: a point per model whose cost was measured (the
    fake server's stats and /api/ps), the front's step line, readable on a phone."""
    visitor = screens[screen]
    page = visitor.page
    visitor.go("/charts")
    drawn = "phone" if screen == "phone" else "wide"
    expect(page.locator(f"figure.chart .plot[data-drawn={drawn}]")).to_have_count(len(CHARTS))
    with full_site.app.app_context():
        measured = db.session.scalar(select(func.count(distinct(Response.model_id))))
    assert measured == len(LONG_NAMES)
    for chart_id in ("chart-cost-speed", "chart-cost-memory"):
        plot = page.locator(f'.plot[data-figure="{chart_id}"]')
        plot.scroll_into_view_if_needed()
        # Every model answered and was loaded: one point each, plus the front's step line.
        expect(plot.locator(".scatterlayer .trace .points path")).to_have_count(len(LONG_NAMES))
        expect(plot.locator(".scatterlayer .trace .js-line")).not_to_have_count(0)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        plot.screenshot(path=str(SCREENSHOTS / f"{chart_id}-{screen}.png"))
    problems = layout_problems(visitor, screen, "cost-charts")
    assert not problems, "\n".join(problems)


def test_charts_follow_the_window(screens: dict[str, Visitor]) -> None:
    """A desktop window narrowed to a phone's width lays the charts out for a phone (and back)."""
    visitor = screens["desktop"]
    page = visitor.page
    visitor.go("/charts")

    def drawn_for(screen: str) -> None:
        plots = page.locator(f"figure.chart .plot[data-drawn={screen}]")
        expect(plots).to_have_count(len(CHARTS), timeout=20_000)

    drawn_for("wide")
    expect(page.locator("figure.chart .modebar")).to_have_count(len(CHARTS))
    try:
        page.set_viewport_size(PHONE)
        drawn_for("phone")
        expect(page.locator("figure.chart .modebar")).to_have_count(0)
        problems = layout_problems(visitor, "narrow", "charts-narrowed")
        assert not problems, "\n".join(problems)
    finally:
        page.set_viewport_size(WIDE)
    drawn_for("wide")


#: A page with one of each defect the checker looks for, in a 375 px window.
PLANTED_DEFECTS = """<!doctype html><html><head><meta name="viewport" content="width=device-width">
<style>body { margin: 0; font: 16px sans-serif; } .wrap { overflow-x: auto; }
td { white-space: nowrap; }</style>
<script src="%(base)s/static/vendor/plotly-cartesian.min.js"></script></head><body>
<div style="width: 500px">wider than the window</div>
<p style="overflow: hidden; white-space: nowrap; width: 100px">cut off by its own box, far past
  it</p>
<div class="wrap"><table><caption>A caption as wide as its table, read by scrolling sideways
  on every one of its many lines of prose</caption><tr><td>a cell that is very very long</td>
  <td>another cell that is very very long</td></tr></table></div>
<div style="position: relative"><p>a paragraph under a label</p>
  <span style="position: absolute; top: 0; left: 0">a label on it</span></div>
<h2>Your prompt</h2><label for="box">Your prompt</label><textarea id="box"></textarea>
<button>Vote <kbd>A</kbd></button>
<div id="chart" style="width: 360px"></div>
<script>
  var names = ["SmolLM2 135M Instruct", "Gemma 3 270M Instruct", "Qwen2.5 0.5B Instruct"];
  Plotly.newPlot("chart",
    names.map(function (name) { return { type: "scatter", x: [1, 2], y: [1, 2], name: name }; })
      .concat([{ type: "heatmap", x: names, y: names, z: [[1, 2, 3], [2, 3, 1], [3, 1, 2]],
                 xaxis: "x2", yaxis: "y2" }]),
    { title: { text: "A long title under the mode bar of this chart" }, width: 360, height: 600,
      margin: { l: 30, r: 10, t: 40, b: 40 }, legend: { x: 1.02, orientation: "v" },
      yaxis: { domain: [0.6, 1] }, xaxis2: { anchor: "y2" },
      yaxis2: { domain: [0, 0.4], anchor: "x2" } },
    { displayModeBar: true });
</script></body></html>"""


def test_the_checker_sees_each_defect(screens: dict[str, Visitor], full_site: Site) -> None:
    """Every rule of ``layout.js`` fails on a page made to break it (a checker that cannot
    fail checks nothing)."""
    page = screens["narrow"].context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text))
    try:
        # Served from the site's origin (its Plotly is same-origin), without its CSP headers.
        planted = full_site.url + "/planted-defects"
        body = PLANTED_DEFECTS % {"base": full_site.url}
        page.route(planted, lambda route: route.fulfill(body=body, content_type="text/html"))
        page.goto(planted)
        assert errors == []
        page.wait_for_function("document.querySelector('#chart .main-svg') !== null")
        problems = "\n".join(page.evaluate(LAYOUT_JS, {"phone": True}))
    finally:
        page.close()
    for expected in (
        "the page is 500 px wide in a 375 px window",
        'p "cut off by its own box, far past it": its content is 260 px wide in a 100 px box',
        '"cut off by its own box, far past it" in p "cut off by its own box, far past it" '
        "is cut off by p",
        'in caption "A caption as wide as its table, read by ": wrapping text with',
        '"a paragraph under a label" in p "a paragraph under a label" and "a label on it" in span',
        '"your prompt" is said twice: h2 "Your prompt" and label "Your prompt"',
        'a keyboard hint is shown on a phone: button "Vote A"',
        'chart "A long title under the mode bar of this chart": the plot area is',
        '"SmolLM2 135M Instruct" is cut off at the chart\'s left edge',
        '"A long title under the mode ba" and the mode bar overlap',
        '"SmolLM2 135M Instruct" and "3" overlap',
    ):
        assert expected in problems, f"{expected!r} not found in:\n{problems}"
