"""Static files under versioned URLs: ``/static/style.css?v=<hash of its content>``.

Every ``url_for('static', filename=...)`` gets a short hash of the file's content, so a reverse
proxy and browsers may keep static files for a year (``deploy/nginx-arena.conf``) and an upgrade
still reaches every visitor at once: a changed file has a new URL. The hash is computed once
per file and process (on every call in debug mode, where files change under a running server).

Templates may write ``static_url('style.css')`` instead: the same URL, built once per process
and path prefix rather than on every page (the battle page is on the hot path); likewise
``page_url('battle.index')`` for pages that take no parameters.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Flask, request, url_for

VERSION_PARAM = "v"


def file_version(folder: Path, filename: str) -> str | None:
    """The first 10 hex digits of the SHA-256 of ``folder/filename``; None if no such file."""
    try:
        path = (folder / filename).resolve()
        if not path.is_relative_to(folder) or not path.is_file():
            return None
        return hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    except (OSError, ValueError):
        return None


def init_app(app: Flask) -> None:
    if not app.static_folder:
        return
    folder = Path(app.static_folder).resolve()
    cached = lru_cache(maxsize=512)(lambda filename: file_version(folder, filename))

    @app.url_defaults
    def _static_version(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint != "static" or VERSION_PARAM in values:
            return
        filename = values.get("filename")
        if not isinstance(filename, str):
            return
        version = file_version(folder, filename) if app.debug else cached(filename)
        if version:
            values[VERSION_PARAM] = version

    @lru_cache(maxsize=512)
    def _cached_url(script_root: str, filename: str) -> str:
        return url_for("static", filename=filename)

    def static_url(filename: str) -> str:
        """``url_for('static', filename=filename)``, cached (not in debug mode)."""
        if app.debug:
            return url_for("static", filename=filename)
        return _cached_url(request.script_root, filename)

    @lru_cache(maxsize=256)
    def _cached_page(script_root: str, endpoint: str) -> str:
        return url_for(endpoint)

    def page_url(endpoint: str) -> str:
        """``url_for(endpoint)`` of a page that takes no parameters, cached the same way."""
        if app.debug:
            return url_for(endpoint)
        return _cached_page(request.script_root, endpoint)

    app.jinja_env.globals["static_url"] = static_url
    app.jinja_env.globals["page_url"] = page_url
