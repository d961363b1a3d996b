"""HTTP hardening: security headers with a strict Content-Security-Policy, ProxyFix, CSRF
checks (but for scripts that sign in to /admin with a Bearer token), and the Bearer attempts'
rate limit.

Pages load scripts, styles and images from this app only; no script may be inline, so
an answer that slipped past the sanitizer still could not run. Plotly draws charts by
setting inline styles on the elements it creates, which needs ``style-src 'unsafe-inline'``:
styles cannot run code, scripts stay strict.
"""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter
from limits import parse_many
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import TooManyRequests, Unauthorized
from werkzeug.middleware.proxy_fix import ProxyFix

from arena.extensions import csrf
from arena.ops import admin
from arena.web.limits import client_address

log = logging.getLogger(__name__)

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
    # Flask-WTF's own check is off: ours (below) runs it, but for a script's Bearer request.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)  # a refused token is a 400 page (arena.web.errors)

    @app.before_request
    def _csrf() -> None:
        if not app.config.get("WTF_CSRF_ENABLED", True):
            return
        if request.blueprint == "admin" and operator_bearer():
            return  # no cookie was used: nothing a forged cross-site request could ride on
        csrf.protect(apply_exemptions=True)

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


def bearer_token() -> str | None:
    """The token of this request's ``Authorization: Bearer …`` header, if it has one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def operator_bearer() -> bool:
    """Whether this request signs in to /admin with the operator's token as a Bearer header.

    False without such a header (or with the admin pages off). With one, the attempt is
    counted against ``RATELIMIT_ADMIN_LOGIN`` per client address, right token or wrong, as
    sign-ins on the form are (beyond it: 429); a wrong token is a 401, not a sign-in form.
    Decided once per request.
    """
    if "arena_bearer" in g:
        return bool(g.arena_bearer)
    given = bearer_token()
    g.arena_bearer = False
    if given is None or admin.admin_token(current_app.config) is None:
        return False
    _count_bearer_attempt()
    if not admin.token_matches(current_app.config, given):
        raise Unauthorized(
            "That token is not right: send the operator's ADMIN_TOKEN.",
            www_authenticate=WWWAuthenticate("bearer", {"realm": "arena admin"}),
        )
    g.arena_bearer = True
    return True


def _count_bearer_attempt() -> None:
    """One Bearer attempt against ``RATELIMIT_ADMIN_LOGIN`` for this address (in the rate
    limiter's storage, so as shared as its other counters); 429 beyond it."""
    limiter: Limiter | None = current_app.extensions.get("arena_limiter")
    if limiter is None or not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    address, strategy = client_address(), limiter.limiter
    try:
        for item in parse_many(str(current_app.config["RATELIMIT_ADMIN_LOGIN"])):
            if not strategy.hit(item, "admin-bearer", address):
                reset, _ = strategy.get_window_stats(item, "admin-bearer", address)
                raise TooManyRequests(
                    f"Too many operator sign-in attempts from this address ({item}): try "
                    "again later.",
                    retry_after=max(1, math.ceil(reset - time.time())),
                )
    except TooManyRequests:
        raise
    except Exception as error:  # a storage fault: the token check still stands
        log.warning("operator sign-in attempt not counted: %s", error)
