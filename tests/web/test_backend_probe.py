"""Pages that say whether the backends answer (/status, /status.json, /admin, the empty
battle page) reuse the last check: a backend is not contacted on every view, one process
checks at a time, and a hung backend holds no page."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.support.app import make_app
from tests.support.fake_ollama import FakeOllama

VERSION = "/api/version"
TOKEN = "t" * 32


def test_twenty_views_with_a_hung_backend_contact_it_once_and_none_waits_for_it(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    app = make_app(tmp_path / "instance", fake_ollama.url, ADMIN_TOKEN=TOKEN)
    client = app.test_client()
    fake_ollama.hang_next(60, path=VERSION)
    admin = {"Authorization": f"Bearer {TOKEN}"}
    first = client.get("/status.json").get_json()
    answers = [client.get(path) for path in ["/status", "/status.json", "/"] * 6]
    answers.append(client.get("/admin", headers=admin))
    assert [answer.status_code for answer in answers] == [200] * 19
    (contact,) = fake_ollama.requests_to(VERSION)  # one check for the 20 views
    # Still hanging: every page was answered before the backend answered the check.
    assert contact.status is None
    # The page that started the check waited a moment for it, then said so.
    assert first["ollama"] == {"reachable": None, "problem": None}
    assert first["backends_check"] == {"checked_at": None, "age_seconds": None, "checking": True}


def test_the_last_check_is_shared_by_processes_and_kept_for_its_lifetime(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    instance = tmp_path / "instance"
    one, other = make_app(instance, fake_ollama.url), make_app(instance, fake_ollama.url)
    data = one.test_client().get("/status.json").get_json()
    assert data["ollama"] == {"reachable": True, "problem": None}
    assert data["backends_check"]["checking"] is False
    fake_ollama.set_down(True)
    html = other.test_client().get("/status").get_data(as_text=True)  # another worker
    assert '<strong class="ok">reachable</strong>' in html and "s ago)" in html
    assert len(fake_ollama.requests_to(VERSION)) == 1
    other.config["BACKEND_PROBE_CACHE_SECONDS"] = 0  # every view checks (one at a time)
    data = other.test_client().get("/status.json").get_json()
    assert data["ollama"]["reachable"] is False and data["ollama"]["problem"]
    assert len(fake_ollama.requests_to(VERSION)) == 2
    page = one.test_client().get("/").get_data(as_text=True)  # no models: the empty page
    assert "Ollama is unreachable" in page  # the newest check, whoever made it
    assert len(fake_ollama.requests_to(VERSION)) == 2


def test_the_empty_battle_page_names_an_unreachable_backend_and_when_it_was_checked(
    app: Flask, client: FlaskClient, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_down(True)
    html = client.get("/").get_data(as_text=True)
    assert "Ollama is unreachable" in html and "s ago)" in html
    assert client.get("/").status_code == 200
    assert len(fake_ollama.requests_to(VERSION)) == 1
