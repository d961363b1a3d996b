"""Checks on rendered HTML that look at real tags and attributes, not at escaped text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

DANGEROUS_TAGS = {"script", "img", "svg", "iframe", "object", "embed", "style", "form", "input"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href"}
SAFE_SCHEMES = ("http:", "https:", "mailto:", "/", "#", "?")


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def start_tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    collector = _Collector()
    collector.feed(html)
    return collector.tags


def executable_parts(html: str, allowed_tags: set[str] | None = None) -> list[str]:
    """Every tag, event handler, inline style or URL in ``html`` that could run or load code."""
    problems = []
    for tag, attrs in start_tags(html):
        if tag in DANGEROUS_TAGS and tag not in (allowed_tags or set()):
            problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                problems.append(f"<{tag} {name}>")
            if name == "style" and value and "url(" in value.lower():
                problems.append(f"<{tag} style={value!r}>")
            if name in URL_ATTRIBUTES and value is not None:
                scheme_free = "".join(value.split()).lower()
                if not scheme_free.startswith(SAFE_SCHEMES) and ":" in scheme_free.split("/")[0]:
                    problems.append(f"<{tag} {name}={value!r}>")
    return problems


#: Markdown and HTML that would run code if it reached a page unescaped.
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


def unlinked(html: str) -> str:
    """``html`` with its links to model pages replaced by their text (leaderboard rows name a
    model as a link to its page; tests that read a row by its name need only the name)."""
    return re.sub(r'<a href="/models/[^"]*">([^<]*)</a>', r"\1", html)
