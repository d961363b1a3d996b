"""Measured costs end to end: answers generated through the fake Ollama server give each model's
figures (its stats, /api/tags and /api/ps), and the leaderboard, its exports, page and charts
carry them with the Pareto front."""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from arena.extensions import db
from arena.leaderboard.cost import LOADED_NS, model_costs
from arena.models import Model, Prompt, Response
from tests.support.battles import neutral_pool
from tests.support.fake_ollama import FakeOllama
from tests.support.html_checks import unlinked
from tests.support.leaderboard_data import add_models, add_votes

GB = 10**9


def test_costs_from_answers_generated_through_the_fake_server(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    fake_ollama.token_delay = 0.002
    fake_ollama.load_delay = 0.15  # above LOADED_NS: every model's first answer loads it
    neutral_pool(runner, fake_ollama, prompts=4)
    fakes = {model.tag: model for model in fake_ollama.models}
    with app.app_context():
        costs = model_costs(db.session)
        models = db.session.scalars(select(Model)).all()
        assert models
        for model in models:
            cost = costs[model.id]
            answers = db.session.scalars(
                select(Response).where(Response.model_id == model.id, Response.status == "ok")
            ).all()
            assert cost.answers == len(answers) == 4
            # The batch ran one request at a time: every answer ran alone.
            assert {a.options.get("concurrency") for a in answers} == {1}
            assert cost.measured == 4 and cost.concurrency == 1 and cost.note is None
            rates = [a.tokens_per_second for a in answers]
            assert cost.tokens_per_second == pytest.approx(statistics.median(rates))
            assert cost.tokens_per_second_p10 is not None
            assert min(rates) <= cost.tokens_per_second_p10 <= cost.tokens_per_second
            prompt_rates = [
                a.prompt_eval_count * 1e9 / a.prompt_eval_duration
                for a in answers
                if a.prompt_eval_count and a.prompt_eval_duration
            ]
            assert prompt_rates and cost.prompt_tokens_per_second == statistics.median(prompt_rates)
            first = [a.first_token_ns for a in answers if a.first_token_ns is not None]
            if first:
                assert cost.time_to_first_token_source == "measured"
                assert cost.time_to_first_token_s == pytest.approx(statistics.median(first) / 1e9)
            else:
                estimates = [(a.load_duration or 0) + a.prompt_eval_duration for a in answers]
                assert cost.time_to_first_token_source == "estimated"
                assert cost.time_to_first_token_s == pytest.approx(
                    statistics.median(estimates) / 1e9
                )
            loads = [a.load_duration for a in answers if (a.load_duration or 0) > LOADED_NS]
            assert cost.loads == len(loads) >= 1
            assert cost.load_seconds is not None and cost.load_seconds >= 0.15
            # Resident memory from /api/ps right after the load; the file's size from /api/tags.
            fake = fakes[model.tag]
            assert cost.memory_bytes == (fake.memory or fake.size + fake.size // 4)
            assert cost.memory_source == "ps"
            assert cost.disk_bytes == fake.size


def _answer(model_id: int, prompt_id: int, tps: float) -> Response:
    return Response(
        prompt_id=prompt_id,
        model_id=model_id,
        text="an answer",
        options={"concurrency": 1},
        eval_count=100,
        eval_duration=int(100 / tps * 1e9),
        first_token_ns=int(0.5e9),
    )


#: tag -> (tokens/s, memory in GB or None)
COSTS: dict[str, tuple[float | None, float | None]] = {
    "strong:7b": (8.0, 6.0),  # best rated, slow and big: on the front
    "quick:1b": (40.0, 1.0),  # weakest but fast and small: on the front
    "bloated:3b": (8.0, 6.5),  # rated below strong, as slow, bigger: dominated
    "mystery:2b": (30.0, None),  # memory unknown: never on the front
}


def _costly_board(app: Flask) -> None:
    add_models(app, dict.fromkeys(COSTS, None))
    with app.app_context():
        ids = {tag: model_id for tag, model_id in db.session.execute(select(Model.tag, Model.id))}
        prompts = db.session.scalars(select(Prompt.id).order_by(Prompt.id).limit(3)).all()
        for tag, (tps, memory) in COSTS.items():
            model = db.session.get(Model, ids[tag])
            assert model is not None
            model.memory_bytes = None if memory is None else int(memory * GB)
            model.disk_bytes = None if memory is None else int(memory * GB * 0.8)
            model.memory_source = None if memory is None else "ps"
            if tps is not None:
                db.session.add_all(_answer(model.id, p, tps) for p in prompts)
        db.session.commit()
    votes = [("strong:7b", "bloated:3b", "a")] * 4 + [("bloated:3b", "strong:7b", "a")]
    votes += [("strong:7b", "quick:1b", "a")] * 4 + [("quick:1b", "strong:7b", "a")]
    votes += [("bloated:3b", "quick:1b", "a")] * 3 + [("quick:1b", "bloated:3b", "a")]
    votes += [("mystery:2b", "quick:1b", "a")] * 3 + [("quick:1b", "mystery:2b", "a")]
    add_votes(app, votes)


def test_leaderboard_exports_carry_the_costs_and_the_front(app: Flask, client: FlaskClient) -> None:
    _costly_board(app)
    document = client.get("/api/leaderboard.json").get_json()
    rows = {row["model"]: row for row in document["models"]}
    front = {tag for tag, row in rows.items() if row["on_pareto_front"]}
    assert front == {"strong:7b", "quick:1b"}
    assert rows["strong:7b"]["bt"] > rows["bloated:3b"]["bt"]
    quick = rows["quick:1b"]
    assert abs(quick["tokens_per_second"] - 40.0) < 1e-6
    assert abs(quick["tokens_per_second_p10"] - 40.0) < 1e-6
    assert quick["time_to_first_token_s"] == 0.5
    assert quick["memory_bytes"] == GB and quick["disk_bytes"] == int(0.8 * GB)
    assert quick["concurrency"] == 1
    assert rows["mystery:2b"]["memory_bytes"] is None
    assert abs(rows["mystery:2b"]["tokens_per_second"] - 30.0) < 1e-6

    text = client.get("/api/leaderboard.csv").get_data(as_text=True)
    lines = {line["model"]: line for line in csv.DictReader(io.StringIO(text))}
    assert lines["quick:1b"]["tokens_per_second"] == "40.0"
    assert lines["quick:1b"]["time_to_first_token_s"] == "0.5"
    assert lines["quick:1b"]["memory_bytes"] == str(GB)
    assert lines["quick:1b"]["on_pareto_front"] == "True"
    assert lines["bloated:3b"]["on_pareto_front"] == "False"
    assert lines["mystery:2b"]["memory_bytes"] == ""

    html = unlinked(client.get("/leaderboard").get_data(as_text=True))
    marked = set(re.findall(r'<th scope="row">([^<]+) <span class="badge front"', html))
    assert marked == {"strong:7b", "quick:1b"}
    cost = html[html.index('id="cost"') : html.index('id="more"')]
    quick_row = re.search(r"quick:1b.*?</tr>", cost, re.S)
    assert quick_row and "40.0" in quick_row[0] and "1.0 GB" in quick_row[0]
    assert "0.50 s" in quick_row[0]


def _figures(html: str) -> dict[str, Any]:
    blocks = re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', html, re.S)
    return {chart_id: json.loads(text) for chart_id, text in blocks}


def test_charts_of_rating_against_speed_and_memory(app: Flask, client: FlaskClient) -> None:
    _costly_board(app)
    rows = {r["model"]: r for r in client.get("/api/leaderboard.json").get_json()["models"]}
    figures = _figures(client.get("/charts").get_data(as_text=True))

    speed = figures["chart-cost-speed"]
    line, points = speed["data"][0], speed["data"][1:]
    # One trace per model, best rated first, each named in the legend.
    assert [p["name"] for p in points] == [t for t in sorted(rows, key=lambda t: -rows[t]["bt"])]
    at = {p["name"]: (p["x"][0], p["y"][0]) for p in points}
    assert abs(at["quick:1b"][0] - 40.0) < 1e-6 and at["quick:1b"][1] == rows["quick:1b"]["bt"]
    strong = next(p for p in points if p["name"] == "strong:7b")
    assert strong["error_y"]["arrayminus"] == [
        rows["strong:7b"]["bt"] - rows["strong:7b"]["bt_lower"]
    ]
    # Rating against speed alone: strong (best), mystery (better than quick, nearly as fast),
    # quick (fastest); bloated is beaten by strong at equal speed. Slowest first, as a step.
    assert line["line"]["shape"] == "vh" and line["name"] == "Pareto front"
    order = sorted(["strong:7b", "mystery:2b", "quick:1b"], key=lambda t: at[t][0])
    assert [round(x, 6) for x in line["x"]] == [round(at[t][0], 6) for t in order]
    assert line["y"] == [rows[t]["bt"] for t in order]
    # Diamonds: the models on the front of all three.
    diamonds = {p["name"] for p in points if p["marker"]["symbol"].startswith("diamond")}
    assert diamonds == {"strong:7b", "quick:1b"}

    memory = figures["chart-cost-memory"]
    line, points = memory["data"][0], memory["data"][1:]
    assert "mystery:2b" not in {p["name"] for p in points} and len(points) == 3
    assert "Not shown, memory unknown: mystery:2b" in memory["layout"]["xaxis"]["title"]["text"]
    assert line["line"]["shape"] == "hv"
    assert line["x"] == [1.0, 6.0]  # quick (small), then strong (best rated)


def test_charts_without_any_measured_cost(app: Flask, client: FlaskClient) -> None:
    add_models(app, {"alpha:1b": 1.0, "beta:3b": 3.0})
    add_votes(app, [("alpha:1b", "beta:3b", "a"), ("beta:3b", "alpha:1b", "tie")])
    figures = _figures(client.get("/charts").get_data(as_text=True))
    for chart_id in ("chart-cost-speed", "chart-cost-memory"):
        figure = figures[chart_id]
        assert len(figure["data"]) == 1 and not figure["data"][0].get("x")  # no point, no front
        assert "Not shown" in figure["layout"]["xaxis"]["title"]["text"]
    rows = client.get("/api/leaderboard.json").get_json()["models"]
    assert not any(row["on_pareto_front"] for row in rows)


def test_the_page_says_how_figures_were_taken(app: Flask, client: FlaskClient) -> None:
    """Speeds measured with other requests under way carry their note; first tokens estimated
    from load plus prompt reading are marked."""
    add_models(app, {"busy:1b": 1.0, "calm:1b": 1.0})
    with app.app_context():
        ids = {tag: model_id for tag, model_id in db.session.execute(select(Model.tag, Model.id))}
        prompts = db.session.scalars(select(Prompt.id).order_by(Prompt.id).limit(2)).all()
        for prompt_id in prompts:
            shared = _answer(ids["busy:1b"], prompt_id, 10.0)
            shared.options = {"concurrency": 3}
            calm = _answer(ids["calm:1b"], prompt_id, 20.0)
            calm.first_token_ns = None
            calm.load_duration, calm.prompt_eval_duration = int(1e9), int(0.5e9)
            db.session.add_all([shared, calm])
        db.session.commit()
    add_votes(app, [("busy:1b", "calm:1b", "a"), ("calm:1b", "busy:1b", "a")])
    html = unlinked(client.get("/leaderboard").get_data(as_text=True))
    cost = html[html.index('id="cost"') : html.index('id="more"')]
    busy = re.search(r"busy:1b.*?</tr>", cost, re.S)
    calm = re.search(r"calm:1b.*?</tr>", cost, re.S)
    assert busy and calm
    assert "<sup title=" in busy[0] and "est." not in busy[0]
    assert "1.50 s" in calm[0] and "est." in calm[0] and '<sup title="From' not in calm[0]
    assert "busy:1b: From all 2 answers, too few of which ran alone (0)" in html
    assert "up to 3 at once" in html
    document = client.get("/api/leaderboard.json").get_json()
    rows = {row["model"]: row for row in document["models"]}
    assert rows["busy:1b"]["concurrency"] == 3 and rows["calm:1b"]["concurrency"] == 1
