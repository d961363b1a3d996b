"""Markdown to safe HTML for answers and prompts.

Models and visitors write Markdown; nothing they write may run in a voter's browser. The
parser leaves raw HTML as text and refuses unsafe link schemes, and an allow-list sanitizer
(nh3, the Rust ``ammonia`` library) cleans the result once more, so a bug in one layer is not
enough to inject a script.

Fenced code with a language (```` ```python ````) is highlighted here, once, when the answer is
stored, by Pygments: token ``<span class="...">`` only (no inline styles), coloured by
``static/highlight.css`` (light and dark, made by ``scripts/highlight_css.py``). The sanitizer
lets through exactly Pygments' token class names on ``span`` and ``highlight`` on ``pre``.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from flask import Flask
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

ALLOWED_TAGS = {
    "a", "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "span", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "th": {"style"},
    "td": {"style"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}
#: Class names the sanitizer keeps (all others are dropped): Pygments' short token names.
ALLOWED_CLASSES = {
    "span": {name for name in STANDARD_TYPES.values() if name},
    "pre": {"highlight"},
}
#: Longer code blocks are shown plain: highlighting is for reading, not for a model's dump.
HIGHLIGHT_MAX_CHARS = 20_000


@lru_cache(maxsize=64)
def _lexer(language: str) -> Lexer | None:
    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


@lru_cache(maxsize=1)
def _formatter() -> HtmlFormatter[str]:
    return HtmlFormatter(nowrap=True)  # token <span class="k"> only, no inline styles


def _highlight(code: str, language: str, _attrs: str) -> str:
    """markdown-it's ``highlight`` hook: ``<pre class="highlight"><code ...>``, or "" (plain)."""
    lexer = _lexer(language.lower()) if language else None
    if lexer is None or len(code) > HIGHLIGHT_MAX_CHARS:
        return ""  # markdown-it escapes it and wraps it in <pre><code class="language-...">
    body = highlight(code, lexer, _formatter())
    return (
        f'<pre class="highlight"><code class="language-{escapeHtml(language)}">{body}</code></pre>'
    )


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return (
        MarkdownIt(
            "commonmark",
            {"html": False, "linkify": False, "typographer": False, "highlight": _highlight},
        )
        .enable("table")
        .enable("strikethrough")
        # An image would make the voter's browser fetch a URL a model or a visitor chose.
        .disable("image")
    )


#: Bump when the output of ``render_markdown`` changes, so stored HTML is rendered again.
RENDER_VERSION = 2  # 2: code highlighted by Pygments


def render_markdown(text: str) -> Markup:
    """Render Markdown to HTML that is safe to put in a page as it is."""
    html = _parser().render(text or "")
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow ugc",
        filter_style_properties={"text-align"},
        strip_comments=True,
    )
    return Markup(clean)


def init_app(app: Flask) -> None:
    app.add_template_filter(render_markdown, "markdown")
