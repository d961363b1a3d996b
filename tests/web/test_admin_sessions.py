"""Operator sessions that end: at sign-out (a copy of the cookie too), when ADMIN_TOKEN changes,
after ADMIN_SESSION_HOURS; scripts with the token as a Bearer header need no CSRF token, and
every Bearer attempt counts against the sign-in limit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from arena.extensions import db
from arena.models import AdminSession, utcnow
from arena.ops.admin import pending_run_request
from tests.support.app import make_app

TOKEN = "correct horse battery staple"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def admin_app(tmp_path: Path, nothing_listens: str) -> Iterator[Flask]:
    app = make_app(
        tmp_path / "instance",
        nothing_listens,
        ADMIN_TOKEN=TOKEN,
        ADMIN_SESSION_HOURS=3,
        WTF_CSRF_ENABLED=True,
    )
    yield app
    with app.app_context():
        db.engine.dispose()


def signed_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    page = client.get("/admin/login").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert client.post("/admin/login", data={"token": TOKEN, "csrf_token": csrf}).status_code == 303
    assert client.get("/admin").status_code == 200
    return client


def replay(app: Flask, cookie: str) -> FlaskClient:
    """A new browser holding a copy of a session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief


def refused(response: object) -> bool:
    location = getattr(response, "location", "") or ""
    return getattr(response, "status_code", 0) == 302 and "/admin/login" in location


def csrf_of(client: FlaskClient) -> str:
    page = client.get("/admin").get_data(as_text=True)
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_a_copy_of_the_cookie_opens_nothing_after_sign_out(admin_app: Flask) -> None:
    client = signed_in(admin_app)
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert replay(admin_app, cookie.value).get("/admin").status_code == 200
    assert client.post("/admin/logout", data={"csrf_token": csrf_of(client)}).status_code == 303
    assert refused(client.get("/admin"))
    assert refused(replay(admin_app, cookie.value).get("/admin"))
    with admin_app.app_context():
        assert db.session.scalars(select(AdminSession)).all() == []


def test_a_new_token_ends_every_session(admin_app: Flask) -> None:
    client = signed_in(admin_app)
    cookie = client.get_cookie("session")
    assert cookie is not None
    admin_app.config["ADMIN_TOKEN"] = "a brand new token after a leak"
    assert refused(client.get("/admin"))
    assert refused(replay(admin_app, cookie.value).get("/admin"))
    admin_app.config["ADMIN_TOKEN"] = TOKEN  # back again: the ended session stays ended
    assert refused(replay(admin_app, cookie.value).get("/admin"))


def test_a_session_expires_after_admin_session_hours(admin_app: Flask) -> None:
    client = signed_in(admin_app)
    with admin_app.app_context():
        row = db.session.scalars(select(AdminSession)).one()
        assert row.expires_at - row.created_at == timedelta(hours=3)
        db.session.execute(update(AdminSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert refused(client.get("/admin"))


def test_the_sign_in_of_earlier_versions_no_longer_counts(admin_app: Flask) -> None:
    client = admin_app.test_client()
    with client.session_transaction() as session:
        session["admin"] = True  # what a signed cookie of the earlier versions held
    assert refused(client.get("/admin"))


def test_a_script_posts_with_the_token_and_no_csrf_token(admin_app: Flask) -> None:
    done = admin_app.test_client().post("/admin/run", data={"budget": "1h"}, headers=BEARER)
    assert done.status_code == 303
    with admin_app.app_context():
        assert (pending_run_request() or {})["budget"] == "1h"
    # A browser's session still needs its CSRF token.
    browser = signed_in(admin_app)
    assert browser.post("/admin/run", data={"budget": "1h"}).status_code == 400
    token = csrf_of(browser)
    assert browser.post("/admin/run", data={"budget": "1h", "csrf_token": token}).status_code == 303


def test_a_wrong_bearer_token_is_a_401_not_a_form(admin_app: Flask) -> None:
    client = admin_app.test_client()
    wrong = {"Authorization": "Bearer guess"}
    posted = client.post("/admin/run", data={"budget": "1h"}, headers=wrong)
    assert posted.status_code == 401 and posted.headers["WWW-Authenticate"].startswith("Bearer")
    with admin_app.app_context():
        assert pending_run_request() is None
    as_json = client.get("/admin", headers={**wrong, "Accept": "application/json"})
    assert as_json.status_code == 401 and as_json.get_json()["status"] == 401
    unsigned = client.get("/admin", headers={"Accept": "application/json"})
    assert unsigned.status_code == 401  # a script without a token: no sign-in form either


def test_bearer_guesses_are_limited_like_the_sign_in_form(admin_app: Flask) -> None:
    client = admin_app.test_client()
    statuses = [
        client.get("/admin", headers={"Authorization": f"Bearer guess {n}"}).status_code
        for n in range(11)
    ]
    assert statuses == [401] * 10 + [429]
    assert client.get("/admin", headers=BEARER).status_code == 429  # the right one counts too
    limited = client.post("/admin/run", headers={"Authorization": "Bearer guess"})
    assert limited.status_code == 429 and limited.headers["Retry-After"]
    other = admin_app.test_client()
    elsewhere = other.get("/admin", headers=BEARER, environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert elsewhere.status_code == 200
