"""The blind battle loop: serve a stored pair, vote, reveal; never leak a name before."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from arena.extensions import db
from arena.models import Battle, Model, Vote
from arena.play.slugs import model_slugs
from tests.support.battles import battle_id_of, neutral_pool
from tests.support.blind import Witness
from tests.support.fake_ollama import FakeOllama
from tests.support.html_checks import executable_parts, start_tags


def test_vote_round_trip_reveals_models(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    neutral_pool(runner, fake_ollama)
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    battle_id = battle_id_of(html)
    assert "Model A" in html and "Model B" in html
    assert "<strong>careful</strong>" in html

    voted = client.post("/vote", data={"battle_id": battle_id, "outcome": "a"})
    assert voted.status_code == 303
    assert voted.headers["Location"].endswith(f"/battle/{battle_id}")
    reveal = client.get(voted.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        battle = db.session.get(Battle, battle_id)
        vote = db.session.scalar(select(Vote).where(Vote.battle_id == battle_id))
        assert vote is not None
        assert (vote.model_a_id, vote.model_b_id) == (battle.left.model_id, battle.right.model_id)
        assert vote.outcome == "a"
        left, right = battle.left, battle.right
        for response in (left, right):
            assert response.model.display_name in reveal
            assert f"{response.tokens_per_second:.1f} tokens/s" in reveal
            assert f"{response.seconds:.1f} s" in reveal
        name, slug = left.model.display_name, model_slugs()[left.model_id]
        link = f'<a href="/models/{slug}">{name}</a>'  # the model's page, once revealed
        assert f'Model A: <span class="model-name">{link}</span>' in reveal
    assert "You voted: <strong>A is better</strong>" in reveal
    assert "Next battle" in reveal


def test_no_model_identity_in_the_page_before_the_vote(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    neutral_pool(runner, fake_ollama, prompts=5)  # one battle per prompt for a voter
    with app.app_context():
        models = db.session.scalars(select(Model)).all()
        secrets = set()
        for model in models:
            secrets |= {model.tag, model.display_name, model.tag.split(":")[0]}
            secrets |= {model.quantization or "", model.digest or ""}
        secrets.discard("")
    for _ in range(5):
        response = client.get("/")
        html = response.get_data(as_text=True)
        battle_id_of(html)
        leaked = {secret for secret in secrets if secret.lower() in html.lower()}
        assert not leaked, f"the battle page names {leaked}"
        headers = " ".join(f"{k}: {v}" for k, v in response.headers.items()).lower()
        assert not {s for s in secrets if s.lower() in headers}


def test_a_voter_sees_each_answer_once_and_no_revealed_model_again(
    client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama, app: Flask
) -> None:
    # 2 prompts x 3 models: 3 pairs per prompt, but once two of its three answers are shown
    # (and their models named), the third has no blind partner left: one battle per prompt.
    neutral_pool(runner, fake_ollama, prompts=2)
    witness = Witness()
    for _ in range(2):
        battle_id = battle_id_of(client.get("/").get_data(as_text=True))
        witness.voted(*witness.check(app, battle_id))
        assert (
            client.post("/vote", data={"battle_id": battle_id, "outcome": "tie"}).status_code == 303
        )
    done = client.get("/").get_data(as_text=True)
    assert "You have judged every battle in the pool" in done
    assert 'name="battle_id"' not in done
    other_voter = app.test_client()
    assert 'name="battle_id"' in other_voter.get("/").get_data(as_text=True)


def test_vote_errors_are_clear(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    neutral_pool(runner, fake_ollama)
    battle_id = battle_id_of(client.get("/").get_data(as_text=True))

    bad = client.post("/vote", data={"battle_id": battle_id, "outcome": "left"})
    assert bad.status_code == 400
    assert "unknown vote" in bad.get_data(as_text=True)
    assert client.post("/vote", data={"battle_id": "nope", "outcome": "a"}).status_code == 404
    assert client.post("/vote", data={"outcome": "a"}).status_code == 404

    stranger = app.test_client()
    stranger.get("/")
    forbidden = stranger.post("/vote", data={"battle_id": battle_id, "outcome": "a"})
    assert forbidden.status_code == 403
    assert client.get(f"/battle/{battle_id}").status_code == 200
    assert stranger.get(f"/battle/{battle_id}").status_code == 403

    assert client.post("/vote", data={"battle_id": battle_id, "outcome": "b"}).status_code == 303
    again = client.post("/vote", data={"battle_id": battle_id, "outcome": "a"})
    assert again.status_code == 409
    assert "already" in again.get_data(as_text=True)
    with app.app_context():
        votes = db.session.scalars(select(Vote).where(Vote.battle_id == battle_id)).all()
        assert [v.outcome for v in votes] == ["b"]


def test_empty_pool_explains_what_to_run(
    client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    page = client.get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "No models are registered" in html
    assert "flask --app arena models sync" in html
    assert "Ollama is unreachable" not in html

    runner.invoke(args=["models", "sync"])
    html = client.get("/").get_data(as_text=True)
    assert "No answers have been generated yet" in html
    assert "flask --app arena pregenerate" in html


def test_unreachable_ollama_gives_the_explanatory_page(
    client: FlaskClient, fake_ollama: FakeOllama
) -> None:
    fake_ollama.stop()
    page = client.get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Ollama is unreachable" in html
    assert "Traceback" not in html


def test_stored_pool_is_served_while_ollama_is_down(
    client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    neutral_pool(runner, fake_ollama)
    fake_ollama.stop()
    battle_id = battle_id_of(client.get("/").get_data(as_text=True))
    assert client.post("/vote", data={"battle_id": battle_id, "outcome": "b"}).status_code == 303


def test_leaderboard_shows_arena_scores(
    client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    assert "No votes yet" in client.get("/leaderboard").get_data(as_text=True)
    neutral_pool(runner, fake_ollama)
    battle_id = battle_id_of(client.get("/").get_data(as_text=True))
    client.post("/vote", data={"battle_id": battle_id, "outcome": "a"})
    html = client.get("/leaderboard").get_data(as_text=True)
    # One battle: the winner has win rate 1 and score 1 x (1 - 1/2) = 0.5; the loser 0.
    assert "<td>0.500</td>" in html
    assert "<td>0.000</td>" in html
    assert html.index("0.500") < html.index("0.000")


def test_hostile_answers_and_prompts_render_inert(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    from sqlalchemy import update

    from arena.models import Prompt
    from arena.play.prompts import add_prompts
    from tests.support.html_checks import XSS_PAYLOADS

    hostile = "\n\n".join(XSS_PAYLOADS)
    for tag in ("llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0", "gemma3:4b"):
        fake_ollama.set_answer(tag, hostile)
    with app.app_context():
        # Only the hostile prompt stays in the shared pool, so it is the one served.
        db.session.execute(update(Prompt).values(shared=False))
        assert add_prompts([(1, "Tell me about " + hostile, "fun")], source="import").added == 1
    runner.invoke(args=["models", "sync"])
    assert runner.invoke(args=["pregenerate", "--prompts", "1"]).exit_code == 0
    html = client.get("/").get_data(as_text=True)
    battle_id_of(html)
    # Shown as text, in the prompt and both answers.
    assert html.count("alert(1)") == 3 * sum("alert(1)" in p for p in XSS_PAYLOADS)
    assert executable_parts(html, allowed_tags={"form", "input", "script"}) == []
    scripts = [dict(attrs) for tag, attrs in start_tags(html) if tag == "script"]
    assert [(s["src"].split("?v=")[0], s.get("defer", 0)) for s in scripts] == [
        ("/static/battle.js", None)
    ]  # the page's own, no other
    assert html.count("<form") == 1  # only the page's own vote form
