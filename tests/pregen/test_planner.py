"""The planner: slates to keep every pair at POOL_TARGET fresh battles and every active voter
at POOL_TARGET blind battles, balanced categories, new models first on existing slates, the
battle cap."""

from __future__ import annotations

from collections import Counter

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from arena.extensions import db
from arena.models import Model, Prompt, Vote
from arena.play.battles import record_vote, serve_battle
from arena.pregen import PlanError, plan_batch
from arena.pregen.planner import load_pool_state, pool_sizes
from tests.support.fake_ollama import FakeOllama
from tests.support.pregen import answers

TAGS = ("llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0", "gemma3:4b")


def _plan(app: Flask, **kwargs: object):  # type: ignore[no-untyped-def]
    with app.app_context():
        return plan_batch(**kwargs)  # type: ignore[arg-type]


def _fill(app: Flask, runner: FlaskCliRunner, target: int) -> None:
    app.config["POOL_TARGET"] = target
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    result = runner.invoke(args=["pregenerate"])
    assert result.exit_code == 0, result.output


def test_an_empty_pool_gets_one_slate_of_target_prompts(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    app.config["POOL_TARGET"] = 7
    runner.invoke(args=["models", "sync"])
    plan = _plan(app)
    assert plan.total == 3 * 7
    assert {tuple(item.prompt_ids) for item in plan.work} == {tuple(plan.prompts)}  # one slate
    with app.app_context():
        categories = Counter(db.session.get(Prompt, p).category for p in plan.prompts)
    assert set(categories.values()) == {1}  # 7 prompts from the 7 categories, one each
    assert (plan.pairs, plan.pairs_short) == (3, 3)


def test_categories_stay_balanced_as_the_pool_grows(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _fill(app, runner, 10)
    app.config["POOL_TARGET"] = 14
    plan = _plan(app)
    assert len(plan.prompts) == 4
    with app.app_context():
        prompt_ids = {r.prompt_id for r in answers(app)} | set(plan.prompts)
        categories = Counter(db.session.get(Prompt, p).category for p in prompt_ids)
    assert sorted(categories.values()) == [2] * 7


def test_a_full_pool_needs_nothing_and_the_plan_is_deterministic(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _fill(app, runner, 3)
    assert _plan(app).work == []
    app.config["POOL_TARGET"] = 5
    first, second = _plan(app), _plan(app)
    assert first.prompts == second.prompts and len(first.prompts) == 2


def test_a_new_model_first_answers_the_existing_slates(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _fill(app, runner, 4)
    existing = {r.prompt_id for r in answers(app)}
    fake_ollama.add_model("smollm2:360m", "361.82M", "Q8_0", "llama")
    runner.invoke(args=["models", "sync"])
    plan = _plan(app)
    assert [item.tag for item in plan.work] == ["smollm2:360m"]
    assert set(plan.work[0].prompt_ids) == existing  # no new prompt: it joins battles at once
    result = runner.invoke(args=["pregenerate"])
    assert "4 answers stored" in result.output
    assert _plan(app).work == []


def test_battles_most_voters_have_judged_do_not_count(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _fill(app, runner, 2)
    with app.app_context():
        models = db.session.scalars(select(Model.id).order_by(Model.id)).all()
        first_prompt = min(r.prompt_id for r in answers(app))
        # One voter judged every pair on the first prompt: for the only active voter, gone.
        for i, a in enumerate(models):
            for b in models[i + 1 :]:
                db.session.add(
                    Vote(
                        prompt_id=first_prompt, model_a_id=a, model_b_id=b, outcome="a", voter="v1"
                    )
                )
        db.session.commit()
        state = load_pool_state(models, active_days=30)
        assert set(pool_sizes(state, models).values()) == {(2, 1)}
    assert len(_plan(app).prompts) == 1
    with app.app_context():
        # Two more active voters who have not judged it: most voters have not, so it counts.
        other = next(p for p in {r.prompt_id for r in answers(app)} if p != first_prompt)
        for voter in ("v2", "v3"):
            db.session.add(
                Vote(
                    prompt_id=other,
                    model_a_id=models[0],
                    model_b_id=models[1],
                    outcome="b",
                    voter=voter,
                )
            )
        db.session.commit()
        state = load_pool_state(models, active_days=30)
        assert state.active_voters == 3
        assert state.is_fresh(first_prompt, models[0], models[1])  # 1 of 3 judged it
        assert not state.is_fresh(other, models[0], models[1])  # 2 of 3 judged it


def test_a_model_over_the_battle_cap_gets_no_new_work(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model("smollm2:360m", "361.82M", "Q8_0", "llama")
    _fill(app, runner, 2)
    with app.app_context():
        llama, qwen = (
            db.session.scalar(select(Model.id).where(Model.tag == tag)) for tag in TAGS[:2]
        )
        prompt = min(r.prompt_id for r in answers(app))
        db.session.add(Vote(prompt_id=prompt, model_a_id=llama, model_b_id=qwen, outcome="a"))
        db.session.commit()
    app.config.update(POOL_TARGET=4, BATTLE_CAP=1)
    plan = _plan(app)
    assert sorted(plan.capped) == sorted(TAGS[:2])
    # Only the pair of uncapped models still needs battles.
    assert sorted(item.tag for item in plan.work) == ["gemma3:4b", "smollm2:360m"]
    assert plan.pairs == 1
    app.config["BATTLE_CAP"] = None  # off by default
    assert len(_plan(app).work) == 4


def test_models_and_prompts_options_limit_the_work(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    app.config["POOL_TARGET"] = 6
    runner.invoke(args=["models", "sync"])
    plan = _plan(app, n_prompts=2, tags=["gemma3:4b"])
    assert plan.per_model() == {"gemma3:4b": 2}
    with pytest.raises(PlanError, match="not enabled or not registered: nope:1b"):
        _plan(app, tags=["nope:1b"])
    runner.invoke(args=["models", "disable", "gemma3:4b"])
    assert "gemma3:4b" not in _plan(app).per_model()


def _private_votes(app: Flask, voters: tuple[str, ...]) -> None:
    """Votes by these voters on a private prompt: active voters who used no shared answer."""
    with app.app_context():
        a, b = db.session.scalars(select(Model.id).order_by(Model.id).limit(2)).all()
        private = Prompt(text="a private question", text_hash="private", shared=False)
        db.session.add(private)
        db.session.flush()
        for voter in voters:
            db.session.add(
                Vote(prompt_id=private.id, model_a_id=a, model_b_id=b, outcome="a", voter=voter)
            )
        db.session.commit()


def test_the_planner_plans_more_when_an_active_voter_runs_short_of_blind_battles(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _fill(app, runner, 2)  # 3 models x 2 prompts: every pair has its 2 fresh battles
    _private_votes(app, ("v2", "v3"))
    assert _plan(app).work == []
    with app.test_request_context():
        for _ in range(2):  # v1 takes the one blind battle of each prompt
            view = serve_battle("v1")
            assert view is not None
            record_vote(view.id, "v1", "tie")
        assert serve_battle("v1") is None
        state = load_pool_state(db.session.scalars(select(Model.id)).all(), active_days=30)
        assert state.active_voters == 3
        assert (state.supply.per_new_voter, state.supply.voters) == (2, [0, 2, 2])
        # One voter in three saw each pair's answers: the pairs stay fresh for most voters.
        models = db.session.scalars(select(Model.id)).all()
        assert {fresh for _, fresh in pool_sizes(state, models).values()} == {2}
    plan = _plan(app)
    # v1 has no blind battle left: two new prompts (one battle each for every voter).
    assert (plan.pairs_short, plan.voter_short) == (0, 2)
    assert len(plan.prompts) == 2 and plan.total == 6
    assert runner.invoke(args=["pregenerate"]).exit_code == 0
    with app.test_request_context():
        assert serve_battle("v1") is not None
    assert _plan(app).voter_short == 1  # v1 used one of them again


def test_a_pair_is_not_fresh_where_most_voters_were_shown_one_of_its_answers(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    _fill(app, runner, 2)
    with app.test_request_context():
        view = serve_battle("v1")  # the only active voter
        assert view is not None
        vote = record_vote(view.id, "v1", "a")
        models = sorted(db.session.scalars(select(Model.id)))
        state = load_pool_state(models, active_days=30)
        shown = {vote.model_a_id, vote.model_b_id}
        third = next(m for m in models if m not in shown)
        # Every pair lost that prompt: the pair judged, and the pairs with one answer shown.
        for a, b in [tuple(sorted(shown)), *(tuple(sorted((m, third))) for m in shown)]:
            assert not state.is_fresh(vote.prompt_id, a, b)
        assert set(pool_sizes(state, models).values()) == {(2, 1)}
