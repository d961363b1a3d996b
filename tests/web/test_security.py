"""Security headers on every response, and forwarded addresses trusted only when configured."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request
from flask.testing import FlaskClient

from tests.support.app import make_app


def test_every_page_sends_a_strict_csp_and_the_usual_headers(client: FlaskClient) -> None:
    for path in ("/", "/leaderboard", "/static/style.css", "/no-such-page"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        script_src = next(part for part in csp.split("; ") if part.startswith("script-src"))
        assert script_src == "script-src 'self'"
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in headers


def _remote_addr_app(tmp_path: Path, hops: int) -> Flask:
    app = make_app(tmp_path / f"i{hops}", "http://127.0.0.1:9", PROXY_HOPS=hops, HSTS_SECONDS=600)

    @app.get("/whoami")
    def whoami() -> str:
        return f"{request.remote_addr} {request.scheme}"

    return app


def test_forwarded_for_is_ignored_unless_proxy_hops_are_configured(tmp_path: Path) -> None:
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    direct = _remote_addr_app(tmp_path, 0).test_client()
    assert direct.get("/whoami", headers=headers).get_data(as_text=True) == "127.0.0.1 http"
    proxied_app = _remote_addr_app(tmp_path, 1)
    proxied = proxied_app.test_client().get("/whoami", headers=headers)
    assert proxied.get_data(as_text=True) == "203.0.113.9 https"
    assert proxied.headers["Strict-Transport-Security"] == "max-age=600"
    spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
    # With one trusted hop only the address that proxy added counts, not the client's claim.
    assert (
        proxied_app.test_client()
        .get("/whoami", headers=spoofed)
        .get_data(as_text=True)
        .startswith("203.0.113.9")
    )


def test_the_voter_cookie_is_lax_http_only_and_set_once(client: FlaskClient) -> None:
    first = client.get("/")
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Expires=" in cookie  # lasts VOTER_COOKIE_DAYS, not just the browser session
    assert "Set-Cookie" not in client.get("/").headers
