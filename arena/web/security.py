"""HTTP hardening: security headers with a strict Content-Security-Policy, and ProxyFix.

Pages load scripts, styles and images from this app only; no script may be inline, so
an answer that slipped past the sanitizer still could not run. Plotly draws charts by
setting inline styles on the elements it creates, which needs ``style-src 'unsafe-inline'``:
styles cannot run code, scripts stay strict.
"""

from __future__ import annotations

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

from arena.extensions import csrf

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


def init_app(app: Flask) -> None:
    # Every POST form carries a token tied to the visitor's signed session (Flask-WTF).
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the session's lifetime bounds it
    csrf.init_app(app)  # a refused token is a 400 page (arena.web.errors)
    hops = int(app.config.get("PROXY_HOPS") or 0)
    if hops > 0:
        # Trust X-Forwarded-* only from the configured number of proxies in front of us.
        # (Wrapping the wsgi_app method is how Flask documents middleware; mypy forbids it.)
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops
        )

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if app.config.get("HSTS_SECONDS"):
            response.headers.setdefault(
                "Strict-Transport-Security", f"max-age={int(app.config['HSTS_SECONDS'])}"
            )
        return response
