"""Markdown rendering: useful formatting survives, anything executable does not."""

from __future__ import annotations

import re
from html import unescape

import pytest

from arena.rendering import render_markdown
from tests.support.html_checks import XSS_PAYLOADS, executable_parts, start_tags


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_payloads_render_inert(payload: str) -> None:
    html = str(render_markdown(payload))
    assert executable_parts(html) == []
    assert {tag for tag, _ in start_tags(html)} <= {"p", "a", "pre", "code"}
    assert "style" not in {name for _, attrs in start_tags(html) for name, _ in attrs}


def test_markdown_features_survive() -> None:
    text = (
        "# Title\n\nSome **bold**, *italic* and `code`.\n\n- one\n- two\n\n1. first\n\n"
        "```python\nprint('<b>')\n```\n\n| a | b |\n|---|:-:|\n| 1 | 2 |\n\n"
        "[a link](https://example.org) ~~gone~~\n\n> quoted"
    )
    html = str(render_markdown(text))
    for fragment in (
        "<h1>Title</h1>",
        "<strong>bold</strong>",
        "<em>italic</em>",
        "<code>code</code>",
        "<li>one</li>",
        "<ol>",
        '<pre class="highlight"><code class="language-python"><span class="nb">print</span>',
        "<span class=\"s1\">'&lt;b&gt;'</span>",
        "<table>",
        '<td style="text-align:center">2</td>',
        '<a href="https://example.org" rel="noopener noreferrer nofollow ugc">a link</a>',
        "<s>gone</s>",
        "<blockquote>",
    ):
        assert fragment in html


def test_raw_html_is_shown_as_text() -> None:
    assert "&lt;b&gt;hi&lt;/b&gt;" in str(render_markdown("<b>hi</b>"))


def test_code_is_highlighted_with_classes_only() -> None:
    html = str(render_markdown("```python\ndef f(x):\n    return x  # <i>\n```"))
    assert '<pre class="highlight"><code class="language-python">' in html
    assert '<span class="k">def</span>' in html and '<span class="c1"># &lt;i&gt;</span>' in html
    tags = start_tags(html)
    assert {tag for tag, _ in tags} == {"pre", "code", "span"}
    assert {name for _, attrs in tags for name, _ in attrs} == {"class"}
    assert executable_parts(html) == []


@pytest.mark.parametrize(
    "fence",
    ["```", "```nosuchlanguage", '```python" onmouseover="alert(1)', "```<script>"],
)
def test_unknown_or_hostile_languages_stay_plain_and_inert(fence: str) -> None:
    html = str(render_markdown(f"{fence}\n<b>x</b>\n```"))
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<span" not in html
    assert executable_parts(html) == []
    assert {tag for tag, _ in start_tags(html)} == {"pre", "code"}


def test_highlighting_keeps_the_code_text() -> None:
    code = "for i in range(3):\n    print(i, 'a < b')\n"
    html = str(render_markdown(f"```py\n{code}```"))
    text = re.sub(r"<[^>]+>", "", html)
    assert unescape(text).strip() == code.strip()


def test_the_highlight_stylesheet_is_current() -> None:
    from scripts.highlight_css import TARGET, stylesheet

    assert TARGET.read_text(encoding="utf-8") == stylesheet(), "run scripts/highlight_css.py"
