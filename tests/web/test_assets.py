"""Static URLs carry a hash of the file, so they can be cached for long and still change."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from flask import Flask, url_for
from flask.testing import FlaskClient

from arena import PROJECT_ROOT
from arena.web.assets import file_version

STATIC = PROJECT_ROOT / "static"


def test_static_urls_carry_the_hash_of_the_file(app: Flask, client: FlaskClient) -> None:
    digest = hashlib.sha256((STATIC / "style.css").read_bytes()).hexdigest()[:10]
    with app.test_request_context("/"):
        assert url_for("static", filename="style.css") == f"/static/style.css?v={digest}"
        assert url_for("static", filename="no-such-file.css") == "/static/no-such-file.css"
        assert "v=" not in url_for("static", filename="../README.md")
    page = client.get("/ask").get_data(as_text=True)
    assert f'href="/static/style.css?v={digest}"' in page
    versioned = re.search(r'href="(/static/style\.css\?v=[0-9a-f]{10})"', page)
    assert versioned and client.get(versioned.group(1)).status_code == 200


def test_a_changed_file_gets_a_new_version(tmp_path: Path) -> None:
    target = tmp_path / "site.css"
    target.write_text("body { color: red; }")
    first = file_version(tmp_path, "site.css")
    target.write_text("body { color: blue; }")
    assert first and file_version(tmp_path, "site.css") not in (None, first)
    assert file_version(tmp_path, "../etc/passwd") is None
    assert file_version(tmp_path, "missing.js") is None


def test_static_url_is_url_for_built_once(app: Flask) -> None:
    static_url = app.jinja_env.globals["static_url"]
    with app.test_request_context("/"):
        assert static_url("battle.js") == url_for("static", filename="battle.js")
    with app.test_request_context("/", environ_overrides={"SCRIPT_NAME": "/arena"}):
        assert static_url("battle.js") == url_for("static", filename="battle.js")
        assert static_url("battle.js").startswith("/arena/static/battle.js?v=")
