"""Measured cost per model (arena.leaderboard.cost) on stored answers, and the Pareto front."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from arena.extensions import db
from arena.leaderboard.cost import LOADED_NS, ParetoPoint, model_costs, pareto_front
from arena.leaderboard.cost_cache import current_costs
from arena.models import Model, Prompt, Response

GB = 10**9


def _model(tag: str, **facts: Any) -> int:
    model = Model(tag=tag, display_name=tag, **facts)
    db.session.add(model)
    db.session.commit()
    return model.id


def _answers(model_id: int, figures: list[dict[str, Any]], status: str = "ok") -> None:
    """One answer per dict of figures, each to another prompt (``concurrency`` goes into
    options, as store_answer keeps it)."""
    prompts = db.session.scalars(select(Prompt.id).order_by(Prompt.id)).all()
    taken = set(db.session.scalars(select(Response.prompt_id).where(Response.model_id == model_id)))
    free = [p for p in prompts if p not in taken]
    for prompt_id, figure in zip(free, figures, strict=False):
        figure = dict(figure)
        concurrency = figure.pop("concurrency", None)
        options = {"temperature": 0.7} | ({"concurrency": concurrency} if concurrency else {})
        db.session.add(
            Response(
                prompt_id=prompt_id,
                model_id=model_id,
                text="an answer",
                status=status,
                options=options,
                **figure,
            )
        )
    db.session.commit()


def _speed(tps: float, tokens: int = 100, **more: Any) -> dict[str, Any]:
    return {"eval_count": tokens, "eval_duration": int(tokens / tps * 1e9), **more}


def test_figures_from_answers_that_ran_alone(app: Flask) -> None:
    with app.app_context():
        mid = _model("alpha:1b", memory_bytes=2 * GB, memory_source="ps", disk_bytes=GB)
        alone = [
            _speed(
                tps,
                concurrency=1,
                prompt_eval_count=50,
                prompt_eval_duration=int(0.5e9),
                first_token_ns=int(ttft * 1e9),
                load_duration=load,
            )
            for tps, ttft, load in [
                (10.0, 0.6, 2 * 10**9),
                (20.0, 0.7, 5_000_000),
                (30.0, 0.8, 4 * 10**9),
            ]
        ]
        _answers(mid, alone)
        # Failed answers say nothing about speed.
        _answers(mid, [_speed(1000.0, concurrency=1)], status="failed")
        cost = model_costs(db.session)[mid]
    assert cost.answers == 3 and cost.measured == 3
    assert cost.tokens_per_second == pytest.approx(20.0, rel=1e-6)
    # numpy's linear 10th percentile of 10, 20, 30.
    assert cost.tokens_per_second_p10 == pytest.approx(12.0, rel=1e-6)
    assert cost.prompt_tokens_per_second == pytest.approx(100.0)
    assert cost.time_to_first_token_s == pytest.approx(0.7)
    assert cost.time_to_first_token_source == "measured"
    # Only the two answers that loaded the model (the warm one reported 5 ms).
    assert cost.loads == 2 and cost.load_seconds == pytest.approx(3.0)
    assert (cost.memory_bytes, cost.memory_source, cost.disk_bytes) == (2 * GB, "ps", GB)
    assert cost.concurrency == 1 and cost.note is None and cost.known


def test_shared_answers_are_left_out_when_enough_ran_alone(app: Flask) -> None:
    with app.app_context():
        mid = _model("alpha:1b")
        _answers(mid, [_speed(40.0, concurrency=1)] * 3 + [_speed(5.0, concurrency=4)] * 20)
        cost = model_costs(db.session, min_alone=3)[mid]
    assert cost.answers == 23 and cost.measured == 3
    assert cost.tokens_per_second == pytest.approx(40.0)
    assert cost.concurrency == 1 and cost.note is None


def test_too_few_alone_uses_all_and_says_so(app: Flask) -> None:
    with app.app_context():
        mid = _model("alpha:1b")
        _answers(mid, [_speed(40.0, concurrency=1)] + [_speed(10.0, concurrency=4)] * 2)
        _answers(mid, [_speed(10.0)])  # concurrency not recorded
        cost = model_costs(db.session, min_alone=3)[mid]
    assert cost.measured == 4 and cost.concurrency == 4
    assert cost.tokens_per_second == pytest.approx(10.0)
    assert cost.note is not None
    assert "too few of which ran alone (1)" in cost.note and "up to 4 at once" in cost.note
    assert "for 1 it was not recorded" in cost.note


def test_unrecorded_concurrency_and_estimated_first_token(app: Flask) -> None:
    with app.app_context():
        mid = _model("alpha:1b")
        _answers(
            mid,
            [
                _speed(10.0, prompt_eval_duration=int(0.2e9), load_duration=int(1e9)),
                _speed(10.0, prompt_eval_duration=int(0.4e9), load_duration=int(1e9)),
            ],
        )
        cost = model_costs(db.session)[mid]
    assert cost.concurrency is None
    assert cost.note is not None and "not recorded" in cost.note
    assert cost.time_to_first_token_source == "estimated"
    assert cost.time_to_first_token_s == pytest.approx(1.3)
    assert cost.prompt_tokens_per_second is None  # no prompt token count stored


def test_models_without_answers_and_categories(app: Flask) -> None:
    with app.app_context():
        bare = _model("bare:1b", memory_bytes=GB)
        mid = _model("alpha:1b")
        _answers(mid, [_speed(10.0, concurrency=1)])
        costs = model_costs(db.session)
        category = db.session.scalar(
            select(Prompt.category).where(
                Prompt.id == db.session.scalar(select(Response.prompt_id))
            )
        )
        other = db.session.scalar(select(Prompt.category).where(Prompt.category != category))
        with db.engine.connect() as conn:  # a Connection works too
            in_category = model_costs(conn, category=category)
            elsewhere = model_costs(conn, category=other)
    assert costs[bare].answers == 0 and costs[bare].tokens_per_second is None
    assert costs[bare].memory_bytes == GB and not costs[bare].known
    assert in_category[mid].tokens_per_second == pytest.approx(10.0)
    assert elsewhere[mid].answers == 0 and elsewhere[mid].tokens_per_second is None


def test_garbage_figures_are_ignored(app: Flask) -> None:
    with app.app_context():
        mid = _model("alpha:1b")
        _answers(mid, [{"eval_count": 0, "eval_duration": 0}, {"eval_count": 5}])
        cost = model_costs(db.session)[mid]
    assert cost.answers == 2 and cost.tokens_per_second is None
    assert cost.time_to_first_token_s is None and cost.load_seconds is None
    assert LOADED_NS == 100_000_000


# -- Pareto front on constructed data ----------------------------------------------------------


def test_pareto_front_dominance() -> None:
    rows = [
        ParetoPoint(1, 1100.0, 10.0, 8 * GB),  # best rated
        ParetoPoint(2, 1000.0, 40.0, 2 * GB),  # fast and small
        ParetoPoint(3, 990.0, 30.0, 2 * GB),  # worse than 2 on everything
        ParetoPoint(4, 1000.0, 40.0, 3 * GB),  # as 2 but bigger: dominated
        ParetoPoint(5, 1050.0, 20.0, 4 * GB),  # between: on the front
        ParetoPoint(6, 1200.0, None, GB),  # unknown speed: never on the front
        ParetoPoint(7, 1300.0, 50.0, None),  # unknown memory
        ParetoPoint(8, None, 100.0, GB),  # unrated
    ]
    assert pareto_front(rows) == {1, 2, 5}


def test_pareto_front_ties_one_model_and_empty() -> None:
    twins = [(1, 1000.0, 20.0, GB), (2, 1000.0, 20.0, GB), (3, 999.0, 20.0, GB)]
    assert pareto_front(twins) == {1, 2}
    assert pareto_front([(9, 1000.0, 1.0, GB)]) == {9}
    assert pareto_front([(9, 1000.0, None, GB)]) == set()
    assert pareto_front([]) == set()
    # Strictly better on speed alone is enough to dominate.
    assert pareto_front([(1, 1000.0, 20.0, GB), (2, 1000.0, 21.0, GB)]) == {2}
    # Ratings apart only in the fit's last bits are equal: the faster of the two dominates.
    noise = [(1, 1000.0 + 4e-11, 20.0, GB), (2, 1000.0 - 4e-11, 21.0, GB)]
    assert pareto_front(noise) == {2}
    assert pareto_front([(1, 1000.001, 20.0, GB), (2, 1000.0, 21.0, GB)]) == {1, 2}


def test_the_webs_costs_are_kept_until_answers_or_sizes_change(app: Flask) -> None:
    with app.app_context():
        mid = _model("alpha:1b")
        _answers(mid, [_speed(10.0, concurrency=1), _speed(30.0, concurrency=1)])
        first = current_costs()
        assert first == model_costs(db.session)
        assert current_costs() is first  # nothing changed: the kept costs, not read again
        _answers(mid, [_speed(50.0, concurrency=1)])
        added = current_costs()
        assert added is not first and added[mid].answers == 3
        assert added[mid].tokens_per_second == pytest.approx(30.0)
        db.session.execute(update(Model).values(memory_bytes=GB, memory_source="ps"))
        db.session.commit()
        sized = current_costs()
        assert sized[mid].memory_bytes == GB and current_costs() is sized
        # An answer that stops being usable (flagged, say) leaves the figures.
        fastest = db.session.scalar(select(func.max(Response.id)))
        db.session.execute(update(Response).where(Response.id == fastest).values(status="failed"))
        db.session.commit()
        assert current_costs()[mid].answers == 2
        assert current_costs() == model_costs(db.session)
