"""/admin: off without a token, no default credential, and each operator action works."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from arena.extensions import db
from arena.models import Model, Prompt, Vote, WorkerHeartbeat, utcnow
from arena.ops.admin import pending_run_request, take_run_request
from tests.support.app import make_app
from tests.support.fake_ollama import FakeOllama

TOKEN = "correct horse battery staple"


@pytest.fixture
def admin_app(tmp_path: Path, fake_ollama: FakeOllama) -> Flask:
    app = make_app(tmp_path / "instance", fake_ollama.url, ADMIN_TOKEN=TOKEN)
    assert app.test_cli_runner().invoke(args=["models", "sync"]).exit_code == 0
    return app


def signed_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert client.post("/admin/login", data={"token": TOKEN}).status_code == 303
    return client


def test_admin_is_off_without_a_token(client: FlaskClient) -> None:
    for path in ("/admin", "/admin/login"):
        response = client.get(path)
        assert response.status_code == 404
        assert "ARENA_ADMIN_TOKEN" in response.get_data(as_text=True)
    assert client.post("/admin/login", data={"token": ""}).status_code == 404


def test_sign_in_is_required(admin_app: Flask) -> None:
    client = admin_app.test_client()
    assert client.get("/admin").status_code == 302
    assert client.post("/admin/run").status_code == 302
    wrong = client.post("/admin/login", data={"token": "guess"})
    assert wrong.status_code == 403
    assert "not right" in wrong.get_data(as_text=True)
    assert client.get("/admin").status_code == 302
    bearer = client.get("/admin", headers={"Authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 200


def test_dashboard_and_model_toggle(admin_app: Flask) -> None:
    client = signed_in(admin_app)
    page = client.get("/admin").get_data(as_text=True)
    assert "llama3.2:1b" in page and "Flagged votes" in page
    with admin_app.app_context():
        model = db.session.scalar(select(Model).where(Model.tag == "gemma3:4b"))
        model_id = model.id
    toggled = client.post(f"/admin/models/{model_id}", data={"enabled": "0"}, follow_redirects=True)
    assert "Disabled gemma3:4b" in toggled.get_data(as_text=True)
    with admin_app.app_context():
        assert db.session.get(Model, model_id).enabled is False
    assert client.post("/admin/models/99999", data={"enabled": "1"}).status_code == 404


def test_flagged_votes_are_listed_with_their_reason(admin_app: Flask) -> None:
    with admin_app.app_context():
        a, b = db.session.scalars(select(Model.id).limit(2)).all()
        db.session.add(
            Vote(model_a_id=a, model_b_id=b, outcome="a", excluded=True, flag_reason="too quick")
        )
        db.session.commit()
    page = signed_in(admin_app).get("/admin").get_data(as_text=True)
    assert "too quick" in page
    assert "1 flagged" in page


def test_add_a_prompt(admin_app: Flask) -> None:
    client = signed_in(admin_app)
    added = client.post(
        "/admin/prompts",
        data={"text": "Name a prime > 100.", "category": "reasoning"},
        follow_redirects=True,
    )
    assert "Prompt added" in added.get_data(as_text=True)
    again = client.post(
        "/admin/prompts", data={"text": "name a prime > 100."}, follow_redirects=True
    )
    assert "already in the bank" in again.get_data(as_text=True)
    empty = client.post("/admin/prompts", data={"text": "  "}, follow_redirects=True)
    assert "the prompt is empty" in empty.get_data(as_text=True)
    with admin_app.app_context():
        prompt = db.session.scalar(select(Prompt).where(Prompt.text == "Name a prime > 100."))
        assert prompt.category == "reasoning"


def test_start_a_run_leaves_a_request_for_the_worker(admin_app: Flask) -> None:
    client = signed_in(admin_app)
    bad = client.post("/admin/run", data={"budget": "soon"}, follow_redirects=True)
    assert "Not started" in bad.get_data(as_text=True)
    with admin_app.app_context():
        assert pending_run_request() is None
    ok = client.post("/admin/run", data={"budget": "2h"}, follow_redirects=True)
    assert "Run requested" in ok.get_data(as_text=True)
    assert "has not started it yet" in ok.get_data(as_text=True)
    with admin_app.app_context():
        request = take_run_request()
        assert request is not None and request["budget"] == "2h"
        assert pending_run_request() is None
        assert take_run_request() is None  # taken once


def test_sign_out(admin_app: Flask) -> None:
    client = signed_in(admin_app)
    assert client.post("/admin/logout").status_code == 303
    assert client.get("/admin").status_code == 302


def test_the_dashboard_says_where_workers_run_and_the_public_status_does_not(
    admin_app: Flask,
) -> None:
    with admin_app.app_context():
        db.session.add(
            WorkerHeartbeat(
                name="box-1a2b",
                pid=4242,
                host="box.internal",
                instance="/srv/arena/instance-7",
                role="active",
                role_since=utcnow(),
            )
        )
        db.session.commit()
    page = signed_in(admin_app).get("/admin").get_data(as_text=True)
    assert "box.internal" in page and "/srv/arena/instance-7" in page and "4242" in page
    assert admin_app.instance_path in page  # this web node
    anyone = admin_app.test_client()
    for path in ("/status", "/status.json"):
        body = anyone.get(path).get_data(as_text=True)
        assert "box.internal" not in body and "instance-7" not in body
        assert admin_app.instance_path not in body
    assert "active" in anyone.get("/status").get_data(as_text=True)
