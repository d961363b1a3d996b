"""Markdown to safe HTML for answers and prompts.

Models and visitors write Markdown; nothing they write may run in a voter's browser. The
parser leaves raw HTML as text and refuses unsafe link schemes, and an allow-list sanitizer
(nh3, the Rust ``ammonia`` library) cleans the result once more, so a bug in one layer is not
enough to inject a script.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from flask import Flask
from markdown_it import MarkdownIt
from markupsafe import Markup

ALLOWED_TAGS = {
    "a", "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
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


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return (
        MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
        .enable("table")
        .enable("strikethrough")
        # An image would make the voter's browser fetch a URL a model or a visitor chose.
        .disable("image")
    )


#: Bump when the output of ``render_markdown`` changes, so stored HTML is rendered again.
RENDER_VERSION = 1


def render_markdown(text: str) -> Markup:
    """Render Markdown to HTML that is safe to put in a page as it is."""
    html = _parser().render(text or "")
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow ugc",
        filter_style_properties={"text-align"},
        strip_comments=True,
    )
    return Markup(clean)


def init_app(app: Flask) -> None:
    app.add_template_filter(render_markdown, "markdown")
