"""Markdown rendering: useful formatting survives, anything executable does not."""

from __future__ import annotations

import pytest

from arena.rendering import render_markdown
from tests.html_checks import executable_parts, start_tags

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[click](  javascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](javascript:alert(1))",
    '<svg onload="alert(1)"></svg>',
    '<iframe src="https://example.org"></iframe>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    "[x](vbscript:msgbox(1))",
    '<a href="https://ok.example" onclick="alert(1)">x</a>',
]


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
        "<code class=\"language-python\">print('&lt;b&gt;')",
        "<table>",
        '<td style="text-align:center">2</td>',
        '<a href="https://example.org" rel="noopener noreferrer nofollow ugc">a link</a>',
        "<s>gone</s>",
        "<blockquote>",
    ):
        assert fragment in html


def test_raw_html_is_shown_as_text() -> None:
    assert "&lt;b&gt;hi&lt;/b&gt;" in str(render_markdown("<b>hi</b>"))
