"""Model pages never spoil a blind battle: the samples are the visitor's own voted battles and
showcase prompts, nothing else; showcase prompts stay out of battles; the reveal links both
models' pages."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select, update

from arena.extensions import db
from arena.leaderboard.cost import RATING_DIGITS
from arena.models import Battle, Model, Prompt, Response
from arena.play.slugs import model_slugs
from arena.pregen.planner import plan_batch
from arena.rendering import RENDER_VERSION, render_markdown
from tests.support.battles import battle_id_of, neutral_pool
from tests.support.blind import slate_pool
from tests.support.fake_ollama import FakeOllama


def _distinct_answers(app: Flask) -> None:
    """Each stored answer says its own id, so a page shows which ones it holds."""
    with app.app_context():
        for response in db.session.scalars(select(Response)):
            response.text = f"Answer number {response.id} here."
            response.html = str(render_markdown(response.text))
            response.html_version = RENDER_VERSION
        db.session.commit()


def _serve(client: FlaskClient) -> str:
    return battle_id_of(client.get("/").get_data(as_text=True))


def _vote(client: FlaskClient, battle_id: str) -> None:
    assert client.post("/vote", data={"battle_id": battle_id, "outcome": "tie"}).status_code == 303


def _answers_of(app: Flask, battle_id: str, model_id: int) -> set[int]:
    with app.app_context():
        battle = db.session.get_one(Battle, battle_id)
        sides = (battle.left, battle.right)
        return {r.id for r in sides if r.model_id == model_id}


def _samples(client: FlaskClient, slug: str) -> dict[int, str]:
    response = client.get(f"/api/models/{slug}.json")
    assert response.status_code == 200
    assert "private" in response.headers["Cache-Control"]
    return {s["response_id"]: s["kind"] for s in response.get_json()["samples"]}


def test_a_page_shows_only_the_visitors_own_voted_answers(app: Flask) -> None:
    models, _ = slate_pool(app, 2, 6)  # one battle per prompt
    _distinct_answers(app)
    first = models[0]
    with app.app_context():
        slug = model_slugs()[first]
        every = set(db.session.scalars(select(Response.id).where(Response.model_id == first)))
    alice, bob, carol = app.test_client(), app.test_client(), app.test_client()
    voted = _serve(alice)
    _vote(alice, voted)
    open_battle = _serve(alice)  # served to alice, never voted on
    with app.app_context():  # bob's battle is on another prompt: other answers than alice's
        alice_prompts = [db.session.get_one(Battle, b).prompt_id for b in (voted, open_battle)]
        db.session.execute(update(Prompt).where(Prompt.id.in_(alice_prompts)).values(shared=False))
        db.session.commit()
    others = _serve(bob)
    with app.app_context():
        db.session.execute(update(Prompt).where(Prompt.id.in_(alice_prompts)).values(shared=True))
        db.session.commit()
    _vote(bob, others)
    mine = _answers_of(app, voted, first)
    assert len(mine) == 1

    assert _samples(alice, slug) == dict.fromkeys(mine, "voted")
    assert _samples(bob, slug) == dict.fromkeys(_answers_of(app, others, first), "voted")
    assert _samples(carol, slug) == {}  # no cookie: no battle of hers
    html = alice.get(f"/models/{slug}").get_data(as_text=True)
    shown = {r for r in every if f"Answer number {r} here." in html}
    assert shown == mine
    # Never the open battle's answer, another visitor's, or a pool answer.
    assert not shown & _answers_of(app, open_battle, first)
    assert not shown & _answers_of(app, others, first)
    # A page only reads: it gives a visitor without one no voter cookie.
    assert "Set-Cookie" not in carol.get(f"/models/{slug}").headers
    # Voting on the open battle adds its answer.
    _vote(alice, open_battle)
    assert set(_samples(alice, slug)) == mine | _answers_of(app, open_battle, first)


def test_showcase_prompts_are_kept_out_of_battles_and_shown_to_anyone(
    app: Flask, runner: FlaskCliRunner
) -> None:
    models, prompts = slate_pool(app, 2, 4)
    showcase, held = prompts[0], prompts[1]
    holder = app.test_client()
    with app.app_context():  # the open battle shows the answers of ``held``: serve it first
        db.session.execute(update(Prompt).where(Prompt.id != held).values(shared=False))
        db.session.commit()
    open_battle = _serve(holder)
    with app.app_context():
        db.session.execute(update(Prompt).where(Prompt.id.in_(prompts)).values(shared=True))
        db.session.commit()
    result = runner.invoke(args=["prompts", "showcase", str(showcase), str(held)])
    assert result.exit_code == 0, result.output
    assert "2 prompts showcase" in result.output
    listing = runner.invoke(args=["prompts", "list"]).output
    assert f"{showcase:>6}" in listing and "[showcase]" in listing

    visitor = app.test_client()
    served = []
    while 'name="battle_id"' in (page := visitor.get("/").get_data(as_text=True)):
        served.append(battle_id_of(page))
        _vote(visitor, served[-1])
    with app.app_context():
        used = {db.session.get_one(Battle, b).prompt_id for b in served}
        slug = model_slugs()[models[0]]
        answer = {
            p: db.session.scalar(
                select(Response.id).where(Response.prompt_id == p, Response.model_id == models[0])
            )
            for p in (showcase, held)
        }
    assert used == set(prompts[2:])  # the two showcase prompts never

    anyone = app.test_client()
    # ``held``'s answer waits while the battle served before it was marked is open.
    assert _samples(anyone, slug) == {answer[showcase]: "showcase"}
    _vote(holder, open_battle)
    assert _samples(anyone, slug) == {answer[showcase]: "showcase", answer[held]: "showcase"}

    result = runner.invoke(args=["prompts", "showcase", "--off", str(held)])
    assert result.exit_code == 0 and "back in the battle pool" in result.output
    assert _samples(anyone, slug) == {answer[showcase]: "showcase"}


def test_showcase_refuses_unknown_and_private_prompts(app: Flask, runner: FlaskCliRunner) -> None:
    with app.app_context():
        private = Prompt(text="mine", text_hash="x" * 64, source="visitor", shared=False)
        db.session.add(private)
        db.session.commit()
        private_id = private.id
    result = runner.invoke(args=["prompts", "showcase", "999999"])
    assert result.exit_code == 1 and "no prompt with id 999999" in result.output
    result = runner.invoke(args=["prompts", "showcase", str(private_id)])
    assert result.exit_code == 1 and "private" in result.output
    with app.app_context():
        assert not db.session.get_one(Prompt, private_id).showcase


def test_pregeneration_answers_showcase_prompts_outside_the_battle_slate(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    with app.app_context():
        showcase = db.session.scalars(select(Prompt.id).order_by(Prompt.id).limit(1)).one()
    assert runner.invoke(args=["prompts", "showcase", str(showcase)]).exit_code == 0
    app.config["POOL_TARGET"] = 1
    with app.app_context():
        plan = plan_batch()
        assert plan.prompts[-1] == showcase and plan.prompts.count(showcase) == 1
        assert all(item.prompt_ids[-1] == showcase for item in plan.work)
        assert plan_batch(n_prompts=len(plan.prompts) - 1).prompts.count(showcase) == 0
    result = runner.invoke(args=["pregenerate"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        models = set(db.session.scalars(select(Model.id).where(Model.enabled.is_(True))))
        answered = set(
            db.session.scalars(
                select(Response.model_id).where(
                    Response.prompt_id == showcase, Response.status == "ok"
                )
            )
        )
        assert answered == models
        assert showcase not in plan_batch().prompts  # answered: nothing more to do for it


def test_the_reveal_links_both_models_pages(
    client: FlaskClient, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    neutral_pool(runner, fake_ollama)
    page = client.get("/").get_data(as_text=True)
    assert 'href="/models/' not in page  # blind: no model page linked before the vote
    battle_id = battle_id_of(page)
    client.post("/vote", data={"battle_id": battle_id, "outcome": "a"})
    revealed = client.get(f"/battle/{battle_id}").get_data(as_text=True)
    links = set(re.findall(r'href="/models/([a-z0-9-]+)"', revealed))
    assert len(links) == 2
    for slug in links:
        assert client.get(f"/models/{slug}").status_code == 200
    # The front by its definition: a model with known speed and memory is on it unless the
    # other is at least as well rated, as fast and as small, and better on one of the three.
    # (One vote leaves both ratings at the centre, equal to RATING_DIGITS, so the winner need
    # not be alone on it; memory is
    # read from /api/ps after a slate's first answer, so a one-answer slate leaves it unknown.)
    rated = [m for m in client.get("/api/models.json").get_json()["models"] if m["rating"]]
    assert len(rated) == 2

    def point(entry: dict) -> tuple[float, float, float] | None:
        cost = entry["cost"]
        if not (cost["tokens_per_second"] and cost["memory_bytes"]):
            return None
        rating = round(entry["rating"]["bt"], RATING_DIGITS)
        return (rating, cost["tokens_per_second"], -cost["memory_bytes"])

    points = [point(m) for m in rated]
    for mine, theirs, entry in ((points[0], points[1], rated[0]), (points[1], points[0], rated[1])):
        beaten = (
            mine is not None
            and theirs is not None
            and all(t >= m for t, m in zip(theirs, mine, strict=True))
            and theirs != mine
        )
        assert entry["rating"]["on_pareto_front"] is (mine is not None and not beaten), entry
    known = any(m["rating"]["on_pareto_front"] for m in rated)
    assert ('class="badge front"' in client.get("/models").get_data(as_text=True)) is known


def test_an_expired_open_battle_no_longer_holds_a_showcase_answer_back(
    app: Flask, runner: FlaskCliRunner
) -> None:
    models, prompts = slate_pool(app, 2, 1)
    skipped = _serve(app.test_client())  # shown, never voted on
    assert runner.invoke(args=["prompts", "showcase", str(prompts[0])]).exit_code == 0
    anyone = app.test_client()
    with app.app_context():
        slug = model_slugs()[models[0]]
    assert _samples(anyone, slug) == {}  # it may still be voted on
    with app.app_context():
        expiry = timedelta(seconds=app.config["BATTLE_EXPIRY_SECONDS"] + 60)
        battle = db.session.get_one(Battle, skipped)
        battle.served_at = battle.served_at - expiry
        db.session.commit()
    assert list(_samples(anyone, slug).values()) == ["showcase"]  # expired: no vote can come
