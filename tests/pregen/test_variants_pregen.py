"""Contestant variants through pre-generation, battles and the reveal: the backend receives
the backend model's tag with the variant's options and system prompt, base and variants share
one load, an echo of the variant's own system prompt is excluded, the reveal names it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from arena.extensions import db
from arena.models import Model, Response
from tests.support.battles import NEUTRAL_ANSWER, battle_id_of
from tests.support.fake_ollama import FakeOllama

BASE = "llama3.2:1b"
NAME = "Llama 3.2 1B, pirate"
KEY = "llama3.2:1b~llama-3-2-1b-pirate"
PIRATE = "You are a cheerful pirate captain. Answer every question in pirate speech, matey."


def _pool_with_variant(
    runner: FlaskCliRunner,
    fake_ollama: FakeOllama,
    tmp_path: Path,
    prompts: int = 3,
    status: int = 0,
) -> str:
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    system = tmp_path / "pirate.txt"
    system.write_text(PIRATE, encoding="utf-8")
    added = runner.invoke(
        args=["models", "add", BASE, "--name", NAME, "--option", "temperature=1.1",
              "--option", "top_k=50", "--system", str(system)]
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    result = runner.invoke(args=["pregenerate", "--prompts", str(prompts)])
    assert result.exit_code == status, result.output
    return result.output


def _system(body: dict[str, Any]) -> str | None:
    first = body["messages"][0]
    return str(first["content"]) if first["role"] == "system" else None


def _chats(fake: FakeOllama) -> list[dict[str, Any]]:
    return [
        r.body
        for r in fake.requests_to("/api/chat")
        if isinstance(r.body, dict) and r.body.get("messages")
    ]


def test_the_backend_gets_the_base_tag_with_the_variants_options_and_one_load(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    fake_ollama.set_answer(None, NEUTRAL_ANSWER)
    fake_ollama.load_delay = 0.01
    output = _pool_with_variant(runner, fake_ollama, tmp_path)
    assert "model loads: 3" in output  # four contestants, three backend models
    assert fake_ollama.loads == 3
    chats = _chats(fake_ollama)
    assert {body["model"] for body in chats} == {BASE, "qwen2.5:0.5b-instruct-q8_0", "gemma3:4b"}
    order = [body["model"] for body in chats]
    changes = [tag for i, tag in enumerate(order) if i == 0 or order[i - 1] != tag]
    assert changes == fake_ollama.load_history  # the base and its variant back to back
    pirate = [body for body in chats if _system(body) == PIRATE]
    plain = [body for body in chats if _system(body) != PIRATE]
    assert len(pirate) == 3 and all(body["model"] == BASE for body in pirate)
    for body in pirate:
        assert body["options"]["temperature"] == 1.1 and body["options"]["top_k"] == 50
    for body in plain:
        assert body["options"]["temperature"] == 0.7 and "top_k" not in body["options"]
    # Only the last request of the backend model's run unloads it.
    base_runs = [body for body in chats if body["model"] == BASE]
    assert [body.get("keep_alive") == 0 for body in base_runs] == [False] * 5 + [True]
    with app.app_context():
        variant = db.session.scalar(select(Model).where(Model.tag == KEY))
        assert variant is not None
        stored = db.session.scalars(select(Response).where(Response.model_id == variant.id))
        rows = list(stored)
        assert len(rows) == 3 and all(r.status == "ok" for r in rows)
        assert all(r.options["temperature"] == 1.1 and r.options["top_k"] == 50 for r in rows)


def test_an_echo_of_the_variants_system_prompt_is_excluded(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    def answer(body: dict[str, Any]) -> str:
        if _system(body) == PIRATE:
            return f"Arr! {PIRATE} Now, to your question: ye be asking well."
        return NEUTRAL_ANSWER

    fake_ollama.set_answer(None, answer)
    output = _pool_with_variant(runner, fake_ollama, tmp_path, prompts=2, status=3)
    assert "repeats 13 words of the system prompt" in output
    with app.app_context():
        rows = db.session.execute(select(Model.tag, Response.status, Response.status_reason)
                                  .join(Model, Model.id == Response.model_id)).all()  # fmt: skip
    mine = [(status, reason) for tag, status, reason in rows if tag == KEY]
    assert mine and all(status == "excluded" for status, _ in mine)
    assert all("system prompt" in (reason or "") for _, reason in mine)
    assert all(status == "ok" for tag, status, _ in rows if tag != KEY)


def test_a_variant_battles_blind_and_the_reveal_names_it(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    fake_ollama: FakeOllama,
    tmp_path: Path,
) -> None:
    fake_ollama.set_answer(None, NEUTRAL_ANSWER)
    _pool_with_variant(runner, fake_ollama, tmp_path, prompts=2)
    met = 0
    for _ in range(4):  # 4 contestants, 2 prompts: 2 battles a prompt for a voter
        page = client.get("/")
        html = page.get_data(as_text=True)
        battle_id = battle_id_of(html)
        for secret in (NAME, KEY, "pirate", "llama"):
            assert secret.lower() not in html.lower()
        voted = client.post("/vote", data={"battle_id": battle_id, "outcome": "tie"})
        assert voted.status_code == 303
        reveal = client.get(voted.headers["Location"]).get_data(as_text=True)
        met += NAME in reveal
        assert PIRATE not in reveal
    assert met == 2  # once for each prompt


def test_the_leaderboard_groups_a_variant_under_its_model(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    fake_ollama: FakeOllama,
    tmp_path: Path,
) -> None:
    fake_ollama.set_answer(None, NEUTRAL_ANSWER)
    _pool_with_variant(runner, fake_ollama, tmp_path, prompts=2)
    for _ in range(4):
        battle_id = battle_id_of(client.get("/").get_data(as_text=True))
        voted = client.post("/vote", data={"battle_id": battle_id, "outcome": "a"})
        assert voted.status_code == 303
    board = client.get("/api/leaderboard.json?sort=model")
    assert board.status_code == 200, board.get_data(as_text=True)
    rows = board.get_json()
    rows = rows["models"]
    bases = {row["model"]: row["base_model"] for row in rows}
    assert bases[KEY] == BASE
    assert all(base == model for model, base in bases.items() if model != KEY)
    order = [row["base_model"] for row in rows]
    assert order == sorted(order, key=order.index)  # one backend model's rows together
    csv = client.get("/api/leaderboard.csv?sort=model").get_data(as_text=True)
    assert csv.splitlines()[0].endswith(",base_model")
    assert f"{KEY}," in csv and csv.count(f",{BASE}\r\n") + csv.count(f",{BASE}\n") >= 1
    page = client.get("/leaderboard?sort=model")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert NAME in html and f"variant of {BASE}" in html
