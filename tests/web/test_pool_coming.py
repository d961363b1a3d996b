"""The battle page while the demo fills its pool: what is coming instead of "you have judged
every battle", and no word of Ollama when only the embedded backend is configured."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from arena.extensions import db
from arena.pregen.filling import FillState, write_state
from tests.support.app import make_app
from tests.support.battles import battle_id_of


def filling(
    app: Flask, state: str = "generating", next_in: float | None = 20.0, pid: int = 0
) -> None:
    write_state(
        app.instance_path,
        FillState(
            pid or os.getpid(),
            state,
            time.time(),
            battles_made=1,
            prompts_planned=3,
            next_at=None if next_in is None else time.time() + next_in,
        ),
    )


def dead_pid() -> int:
    process = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                             capture_output=True, text=True, check=True)  # fmt: skip
    return int(process.stdout)


def test_before_the_first_battle_the_page_says_it_is_coming_and_reloads(
    client: FlaskClient, app: Flask
) -> None:
    filling(app, next_in=21.0)
    html = client.get("/").get_data(as_text=True)
    assert "Your next battle is on its way" in html
    assert "No battle is ready for you yet, more are being generated: the next in about" in html
    assert re.search(r"the next in about (15|20) s", html), html  # 21 s less the view's time
    assert '<meta http-equiv="refresh" content="' in html
    assert "pregenerate" not in html and "judged every battle" not in html


def test_while_the_models_load_the_page_gives_no_made_up_time(
    client: FlaskClient, app: Flask
) -> None:
    filling(app, next_in=None)
    html = client.get("/").get_data(as_text=True)
    assert "the next as soon as both models have answered its prompt" in html
    assert '<meta http-equiv="refresh" content="10">' in html


def test_a_voter_who_judged_everything_is_told_more_are_coming(
    pool: Flask, client: FlaskClient
) -> None:
    for _ in range(20):  # 4 prompts x 3 models: one battle a prompt for a voter
        page = client.get("/").get_data(as_text=True)
        if 'name="battle_id"' not in page:
            break
        client.post("/vote", data={"battle_id": battle_id_of(page), "outcome": "tie"})
    assert "You have judged every battle in the pool" in client.get("/").get_data(as_text=True)

    filling(pool, next_in=40.0)
    html = client.get("/").get_data(as_text=True)
    assert "You have judged every battle" not in html
    assert "more are being generated: the next in about 40 s" in html

    filling(pool, state="waiting", next_in=None)
    html = client.get("/").get_data(as_text=True)
    assert "more will be generated as battles are used up" in html


def test_the_battle_page_counts_the_battles_ready_after_this_one(
    pool: Flask, client: FlaskClient
) -> None:
    filling(pool, next_in=30.0)
    html = client.get("/").get_data(as_text=True)
    battle_id_of(html)  # a battle is served
    # 4 prompts answered by 3 models: 4 battles for a new voter, one of them on screen
    text = " ".join(html.split())
    assert "3 more battles ready after this one; more are being generated" in text


def test_a_dead_or_stopped_filler_promises_nothing(client: FlaskClient, app: Flask) -> None:
    filling(app, pid=dead_pid())
    html = client.get("/").get_data(as_text=True)
    assert "on its way" not in html and "No battle to show right now" in html
    filling(app, state="stopped")
    assert "on its way" not in client.get("/").get_data(as_text=True)


@pytest.fixture
def embedded_only(tmp_path: Path, nothing_listens: str) -> Iterator[Flask]:
    """An instance whose only backend is the embedded one, as the demo leaves it."""
    app = make_app(tmp_path / "instance", nothing_listens)
    (tmp_path / "instance" / "config.py").write_text(
        'BACKENDS = [{"name": "embedded", "kind": "embedded"}]\n', encoding="utf-8"
    )
    with app.app_context():
        db.engine.dispose()
    app = make_app(tmp_path / "instance", nothing_listens)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("path", ["/", "/status", "/leaderboard", "/ask", "/charts"])
def test_no_page_names_a_server_kind_that_is_not_configured(
    embedded_only: Flask, path: str
) -> None:
    client = embedded_only.test_client()
    client.get(path)  # the first view may start the backends' check
    time.sleep(0.1)
    page = client.get(path)
    assert page.status_code == 200
    text = page.get_data(as_text=True).replace(embedded_only.instance_path, "<instance>")
    assert "ollama" not in text.lower()


def test_an_unreachable_backend_is_named_as_configured(
    tmp_path: Path, nothing_listens: str
) -> None:
    app = make_app(
        tmp_path / "instance",
        nothing_listens,
        BACKENDS=[{"name": "lmstudio", "kind": "openai", "url": nothing_listens + "/v1"}],
    )
    try:
        client = app.test_client()
        html = ""
        for _ in range(50):
            html = client.get("/").get_data(as_text=True)
            if "unreachable" in html:
                break
            time.sleep(0.1)
        assert "The model server &#39;lmstudio&#39; is unreachable" in html
        assert "ollama" not in html.lower()
    finally:
        with app.app_context():
            db.engine.dispose()
