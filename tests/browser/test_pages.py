"""The voter's experience in a real browser (Debian's Chromium, headless, through Playwright).

Each test is one or more voters (browser contexts with their own cookies) on the arena served
over real HTTP; the ``new_visitor`` fixture fails a test whose pages logged an error, threw,
opened a dialog or asked anything of a host other than 127.0.0.1. Screenshots of the main
pages go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from arena.leaderboard.charts import CHARTS
from tests.support.browser import HOSTILE_MARK, PHONE, Site, Visitor, worker_tick

pytestmark = pytest.mark.browser

NewVisitor = Callable[..., Visitor]
VOTE_BUTTONS = "form.vote button[name=outcome]"


def battle_id(page: Any) -> str:
    return str(page.locator("form.vote input[name=battle_id]").input_value())


def open_battle(visitor: Visitor) -> str:
    visitor.go("/")
    expect(visitor.page.locator("form.vote")).to_be_visible()
    return battle_id(visitor.page)


def box(page: Any, selector: str) -> dict[str, float]:
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not shown"
    return dict(found)


def test_vote_with_the_mouse_reveal_and_next_battle(new_visitor: NewVisitor) -> None:
    voter = new_visitor()
    page = voter.page
    first = open_battle(voter)
    # Side by side on a wide screen, code highlighted, no model named before the vote.
    a, b = box(page, ".answer.side-a"), box(page, ".answer.side-b")
    assert a["x"] + a["width"] <= b["x"] and abs(a["y"] - b["y"]) < 1
    assert page.locator(".model-name").count() == 0
    expect(page.locator(".answer .highlight .k").first).to_have_text("def")
    expect(page.locator(".answer .code-block button.copy")).to_have_count(2)
    expect(page.locator(VOTE_BUTTONS)).to_have_text(
        [re.compile(p) for p in ("A is better", "Tie", "Both are bad", "B is better")]
    )
    expect(page.locator("form.vote kbd").first).to_be_visible()  # the script runs: hints shown
    voter.shot("battle-wide", full_page=False)

    page.get_by_role("button", name="A is better").click()
    page.wait_for_url(f"**/battle/{first}")
    verdict = page.locator("section.verdict")
    expect(verdict).to_have_attribute("aria-live", "polite")
    expect(verdict).to_contain_text("You voted: A is better")
    expect(page.locator(".model-name")).to_have_count(2)
    expect(page.locator(".answer.winner")).to_have_count(1)
    expect(page.locator(".answer.winner .tag")).to_have_text("Your pick")
    expect(page.locator("form.vote")).to_have_count(0)
    next_link = page.get_by_role("link", name=re.compile("Next battle"))
    expect(next_link).to_be_focused()  # Enter goes on
    voter.shot("reveal")

    next_link.click()
    page.wait_for_url(voter.base + "/")
    assert open_battle(voter) != first


def test_vote_with_the_keyboard(new_visitor: NewVisitor) -> None:
    voter = new_visitor()
    page = voter.page
    first = open_battle(voter)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()  # visible when focused
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    # R: another prompt (a new battle); the first one stays unvoted.
    page.keyboard.press("r")
    page.wait_for_function(
        "old => document.querySelector('input[name=battle_id]')?.value !== old", arg=first
    )
    second = battle_id(page)
    # T: tie.
    page.keyboard.press("t")
    page.wait_for_url(f"**/battle/{second}")
    expect(page.locator("section.verdict")).to_contain_text("You voted: Tie")
    expect(page.locator(".answer .tag")).to_have_text(["Tie", "Tie"])
    # Typing in the prompt box is typing, not a shortcut.
    box_ = page.locator("#ask-prompt")
    box_.click()
    page.keyboard.type("nab")
    expect(box_).to_have_value("nab")
    assert page.url.endswith(f"/battle/{second}")
    # N: the next battle, once out of the text box.
    box_.blur()
    page.keyboard.press("n")
    page.wait_for_url(voter.base + "/")
    third = open_battle(voter)
    assert third not in (first, second)
    # Tab to a vote button and press Enter: the plain form, no shortcut needed.
    buttons = page.locator(VOTE_BUTTONS)
    buttons.nth(0).focus()
    page.keyboard.press("Tab")
    expect(buttons.nth(1)).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(buttons.nth(3)).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/battle/{third}")
    expect(page.locator("section.verdict")).to_contain_text("You voted: B is better")
    # X on a new battle: both bad.
    page.keyboard.press("n")
    page.wait_for_url(voter.base + "/")
    fourth = open_battle(voter)
    page.keyboard.press("x")
    page.wait_for_url(f"**/battle/{fourth}")
    expect(page.locator("section.verdict")).to_contain_text("You voted: Both are bad")


def test_the_copy_button_copies_the_code(new_visitor: NewVisitor, site: Site) -> None:
    voter = new_visitor()
    voter.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    open_battle(voter)
    button = voter.page.locator(".answer .code-block button.copy").first
    expect(button).to_have_accessible_name(re.compile("Copy code"))
    button.click()
    expect(button).to_have_text("Copied")
    copied = voter.page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("def unique(items: list[str]) -> list[str]:")


def test_a_phone_sized_screen(new_visitor: NewVisitor) -> None:
    voter = new_visitor(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = voter.page
    first = open_battle(voter)
    a, b = box(page, ".answer.side-a"), box(page, ".answer.side-b")
    assert b["y"] >= a["y"] + a["height"] and abs(a["x"] - b["x"]) < 1  # stacked
    assert a["width"] <= PHONE["width"]

    def no_horizontal_scroll() -> None:
        width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
        assert width <= inner, f"the page is {width} px wide on a {inner} px screen"

    no_horizontal_scroll()
    voter.shot("battle-phone")
    page.get_by_role("button", name="Both are bad").tap()
    page.wait_for_url(f"**/battle/{first}")
    no_horizontal_scroll()
    voter.shot("reveal-phone")
    for path in ("/leaderboard", "/ask"):
        voter.go(path)
        no_horizontal_scroll()


def test_a_visitors_own_prompt(new_visitor: NewVisitor, site: Site) -> None:
    voter = new_visitor()
    page = voter.page
    voter.go("/ask")
    voter.shot("ask")
    question = "Why is the sky blue? Answer for a curious child."
    page.get_by_label(re.compile("Your prompt")).fill(question)
    page.get_by_role("button", name="Ask").click()
    page.wait_for_url(re.compile(r"/ask/[^/]+$"))
    expect(page.locator(".ask-status")).to_contain_text("Waiting in the queue")
    expect(page.locator("[data-field=position]")).to_have_text("1")
    voter.shot("ask-waiting")

    assert worker_tick(site.app) == 1
    # The page polls its JSON status (static/ask.js) and becomes the battle.
    page.wait_for_url(re.compile(r"/battle/[^/]+$"))
    expect(page.locator("section.prompt")).to_contain_text(question)
    page.keyboard.press("a")
    expect(page.locator("section.verdict")).to_contain_text("You voted: A is better")


def test_hostile_answers_do_not_run(new_visitor: NewVisitor, site: Site) -> None:
    voter = new_visitor()
    page = voter.page
    voter.go("/ask")
    page.locator("#ask-prompt").fill(
        f"{HOSTILE_MARK} <img src=x onerror=alert(1)> <script>window.__xss=1</script> "
        "[click me](javascript:window.__xss=1)"
    )
    page.get_by_role("button", name="Ask").click()
    page.wait_for_url(re.compile(r"/ask/[^/]+$"))
    assert worker_tick(site.app) == 1
    page.wait_for_url(re.compile(r"/battle/[^/]+$"))
    answers = page.locator(".answer .markdown")
    expect(answers.first).to_contain_text("<script>window.__xss=1</script>")  # shown as text
    expect(answers.first).to_contain_text("<img src=x onerror=alert(1)>")

    def nothing_ran() -> None:
        assert page.evaluate("typeof window.__xss") == "undefined"
        dangerous = "main script, main img, main svg, main iframe, main [onerror], main [onload]"
        assert page.locator(dangerous).count() == 0
        assert page.locator("main a[href^='javascript' i]").count() == 0

    nothing_ran()
    # Every link the answers and the prompt show is clicked: none runs anything.
    links = page.locator(".markdown a")
    assert links.count() >= 1
    for index in range(links.count()):
        links.nth(index).click()
        nothing_ran()
    for text in ("click me", "click me too"):
        page.get_by_text(text, exact=False).first.click()
        nothing_ran()
    page.locator(".answer .markdown pre").first.hover()  # the onmouseover in the fence's info
    nothing_ran()
    page.keyboard.press("t")
    expect(page.locator("section.verdict")).to_contain_text("You voted: Tie")
    nothing_ran()
    assert voter.watch.dialogs == []


#: The trace types of plotly.js's cartesian bundle (static/vendor/plotly-cartesian.min.js).
CARTESIAN_TRACES = [
    "bar",
    "box",
    "contour",
    "heatmap",
    "histogram",
    "histogram2d",
    "histogram2dcontour",
    "image",
    "pie",
    "scatter",
    "scatterternary",
    "violin",
]
#: Options plotly.js drops whatever the bundle: the legend of a one-trace figure, a heatmap's
#: zmid when zmin and zmax are both set.
IGNORED_BY_PLOTLY = {"layout.legend", "zmid"}
#: Chart id -> the trace types given and drawn, and the options given that plotly.js dropped.
DRAWN_FIGURES_JS = """() => {
  const result = {};
  document.querySelectorAll("figure.chart .plot").forEach(plot => {
    const figure = JSON.parse(document.getElementById(plot.dataset.figure).textContent);
    const dropped = [];
    figure.data.forEach((trace, i) => Object.keys(trace).forEach(key => {
      if (plot._fullData[i][key] === undefined) dropped.push(key);
    }));
    Object.keys(figure.layout).forEach(key => {
      if (plot._fullLayout[key] === undefined) dropped.push("layout." + key);
    });
    result[plot.dataset.figure] = {
      given: figure.data.map(trace => trace.type),
      types: plot._fullData.map(trace => trace.type),
      dropped: dropped,
    };
  });
  return result;
}"""


def test_leaderboard_and_charts(new_visitor: NewVisitor) -> None:
    voter = new_visitor()
    page = voter.page
    for outcome in ("a", "b", "t", "a"):  # a few votes of this voter, by keyboard
        current = open_battle(voter)
        page.keyboard.press(outcome)
        page.wait_for_url(f"**/battle/{current}")
    voter.go("/leaderboard")
    table = page.locator("table.board").first
    expect(table).to_be_visible()
    assert table.locator("tbody tr").count() >= 2
    expect(page.get_by_role("link", name="Leaderboard")).to_have_attribute("aria-current", "page")
    voter.shot("leaderboard")
    # Each row's model name is a link to its model page.
    first = table.locator("tbody tr th[scope=row] a").first
    name = first.inner_text()
    first.click()
    page.wait_for_url(re.compile(r"/models/[a-z0-9-]+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    voter.go("/leaderboard")

    page.get_by_role("link", name="Elo", exact=True).click()
    page.wait_for_url(re.compile(r"sort=elo"))
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Elo")

    voter.go("/charts")
    plots = page.locator("figure.chart .plot")
    expect(plots).to_have_count(len(CHARTS))
    for index in range(plots.count()):
        plot = plots.nth(index)
        expect(plot.locator(".main-svg").first).to_be_attached(timeout=20_000)
        chart_id = plot.get_attribute("data-figure")
        figure = json.loads(page.locator(f"script#{chart_id}").text_content())
        # One SVG group per trace: g.trace for scatter and bar, g.hm (an image) for a heatmap.
        groups = plot.locator(".cartesianlayer .trace, .cartesianlayer .hm")
        expect(groups).to_have_count(len(figure["data"]))
    # A trace type missing from the bundle is drawn as a scatter without any error, and an
    # option it does not know is dropped: the drawn figures keep every type and option given.
    drawn_figures = page.evaluate(DRAWN_FIGURES_JS)
    for chart_id, drawn in drawn_figures.items():
        assert drawn["types"] == drawn["given"], chart_id
        assert set(drawn["dropped"]) <= IGNORED_BY_PLOTLY, chart_id
    assert {"scatter", "bar", "heatmap"} <= {t for d in drawn_figures.values() for t in d["types"]}
    # Drawn by the cartesian bundle, the only Plotly the page loads; the full one is gone.
    assert sorted(page.evaluate("Object.keys(Plotly.PlotSchema.get().traces)")) == CARTESIAN_TRACES
    loaded = page.evaluate(
        "performance.getEntriesByType('resource').map(e => new URL(e.name).pathname)"
    )
    assert [path for path in loaded if "plotly" in path] == [
        "/static/vendor/plotly-cartesian.min.js"
    ]
    assert voter.page.request.get(voter.base + "/static/vendor/plotly.min.js").status == 404
    assert voter.watch.errors == []
    voter.shot("charts")


def test_status_empty_and_error_pages(new_visitor: NewVisitor) -> None:
    voter = new_visitor()
    voter.go("/status")
    expect(voter.page.get_by_role("heading", name="Status", level=1)).to_be_visible()
    voter.shot("status")
    voter.watch.allowed_errors.append("404")  # the browser logs the page's own 404
    response = voter.page.goto(voter.base + "/battle/does-not-exist")
    assert response is not None and response.status == 404
    expect(voter.page.locator("section.notice[role=alert]")).to_contain_text("404")
    voter.shot("error-404", full_page=False)


def test_the_vote_works_without_javascript(new_visitor: NewVisitor) -> None:
    voter = new_visitor(java_script_enabled=False)
    page = voter.page
    first = open_battle(voter)
    expect(page.locator("form.vote kbd").first).to_be_hidden()  # no shortcut, no hint
    page.get_by_role("button", name="B is better").click()
    page.wait_for_url(f"**/battle/{first}")
    expect(page.locator("section.verdict")).to_contain_text("You voted: B is better")
    expect(page.locator(".model-name")).to_have_count(2)


def test_the_dark_theme_follows_the_system(new_visitor: NewVisitor) -> None:
    voter = new_visitor(color_scheme="dark")
    open_battle(voter)
    background = voter.page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(21, 21, 24)"
    keyword = voter.page.locator(".answer .highlight .k").first
    assert keyword.evaluate("e => getComputedStyle(e).color") != "rgb(0, 128, 0)"  # dark colours
    voter.shot("battle-dark", full_page=False)


#: Visible texts below WCAG 2.1 AA contrast with the background they sit on.
LOW_CONTRAST_JS = (Path(__file__).parent / "contrast.js").read_text(encoding="utf-8")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_is_aa(new_visitor: NewVisitor, scheme: str) -> None:
    voter = new_visitor(color_scheme=scheme)
    page = voter.page
    problems: dict[str, list[str]] = {}
    current = open_battle(voter)
    problems["battle"] = page.evaluate(LOW_CONTRAST_JS)
    page.keyboard.press("a")
    page.wait_for_url(f"**/battle/{current}")
    problems["reveal"] = page.evaluate(LOW_CONTRAST_JS)
    for path in ("/leaderboard", "/ask", "/status"):
        voter.go(path)
        problems[path] = page.evaluate(LOW_CONTRAST_JS)
    assert {page_: found for page_, found in problems.items() if found} == {}
