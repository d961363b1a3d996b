"""Model pages: /models, /models/<slug> and their JSON; slugs; 404s."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from arena.play.slugs import assign_slugs, base_slug, model_by_slug, model_slugs
from tests.support import judge_data
from tests.support.leaderboard_data import add_models, add_votes


def test_base_slug_lowercases_and_joins_other_characters() -> None:
    assert base_slug("Qwen2.5:0.5B-Instruct") == "qwen2-5-0-5b-instruct"
    assert base_slug("hf.co/org/Repo:Q4_K_M") == "hf-co-org-repo-q4-k-m"
    assert base_slug(":::") == "model"


def test_colliding_slugs_get_the_id_and_the_first_model_keeps_its_own() -> None:
    slugs = assign_slugs([(9, "a-b"), (3, "a:b"), (4, "a-b-9"), (5, "A/B")])
    assert slugs[3] == "a-b"  # registered first
    assert slugs[4] == "a-b-9"  # its own, registered before model 9
    assert slugs[5] == "a-b-5"
    assert slugs[9] == "a-b-9-9"  # "a-b" and then "a-b-9" were taken
    assert len(set(slugs.values())) == 4


def test_slug_maps_to_its_model_and_back(app: Flask) -> None:
    add_models(app, {"alpha:1b": 1.0, "Alpha-1B": 1.0})
    with app.app_context():
        slugs = model_slugs()
        for model_id, slug in slugs.items():
            model = model_by_slug(slug)
            assert model is not None and model.id == model_id
        assert sorted(slugs.values())[0] == "alpha-1b"
        assert model_by_slug("nobody") is None


def test_models_lists_every_model_enabled_first_rated_in_order(
    app: Flask, client: FlaskClient
) -> None:
    add_models(app, {"alpha:1b": 1.0, "beta:3b": 3.0, "gamma:2b": 2.0})
    add_models(app, {"old:1b": 1.0}, enabled=False)
    add_votes(app, [("beta:3b", "alpha:1b", "a")] * 6 + [("alpha:1b", "beta:3b", "a")])
    document = client.get("/api/models.json").get_json()
    tags = [m["model"] for m in document["models"]]
    assert tags == ["beta:3b", "alpha:1b", "gamma:2b", "old:1b"]
    beta = document["models"][0]
    assert beta["slug"] == "beta-3b" and beta["votes"] == 7
    assert beta["rating"]["bt"] > document["models"][1]["rating"]["bt"]
    assert beta["rating"]["rank"] == 1 and "memory_bytes" in beta["cost"]
    assert document["models"][2]["rating"] is None
    html = client.get("/models").get_data(as_text=True)
    for slug in ("beta-3b", "alpha-1b", "gamma-2b", "old-1b"):
        assert f'href="/models/{slug}"' in html
    assert html.index("/models/beta-3b") < html.index("/models/gamma-2b") < html.index("old-1b")
    assert 'href="/models" aria-current="page"' in html


def test_model_page_rating_record_categories_and_history(app: Flask, client: FlaskClient) -> None:
    add_models(app, {"alpha:1b": 1.0, "beta:3b": 3.0, "gamma:2b": 2.0})
    add_votes(app, [("beta:3b", "alpha:1b", "a")] * 4 + [("alpha:1b", "beta:3b", "tie")])
    add_votes(app, [("gamma:2b", "beta:3b", "b")] * 2, category="writing")
    add_votes(app, [("gamma:2b", "beta:3b", "a")], excluded=True)  # flagged: never counts
    document = client.get("/api/models/beta-3b.json").get_json()
    assert document["model"] == "beta:3b" and document["rating"]["battles"] == 7
    assert document["judge_rating"] is None  # no judges
    rivals = {r["model"]: r for r in document["rivals"]}
    assert (rivals["alpha:1b"]["wins"], rivals["alpha:1b"]["ties"]) == (4, 1)
    assert rivals["alpha:1b"]["battles"] == 5 and rivals["alpha:1b"]["win_rate"] == 0.9
    assert (rivals["gamma:2b"]["wins"], rivals["gamma:2b"]["losses"]) == (2, 0)
    assert [r["model"] for r in document["rivals"]] == ["alpha:1b", "gamma:2b"]
    categories = {c["category"]: c for c in document["categories"]}
    assert categories["coding"]["rating"]["battles"] == 5
    assert categories["writing"]["rating"]["battles"] == 2
    others = [c for name, c in categories.items() if name not in ("coding", "writing")]
    assert others and all(c["rating"] is None and not c["pending"] for c in others)
    assert len(document["history"]["times"]) == len(document["history"]["elo"]) > 0
    html = client.get("/models/beta-3b").get_data(as_text=True)
    assert "Record against each rival" in html and 'href="/models/alpha-1b"' in html
    assert 'data-figure="chart-model-history"' in html
    assert re.search(r"Strength per category", html)


@pytest.mark.parametrize("path", ["/models/nobody", "/api/models/nobody.json"])
def test_unknown_slug_is_a_404(app: Flask, client: FlaskClient, path: str) -> None:
    add_models(app, {"alpha:1b": 1.0})
    response = client.get(path)
    assert response.status_code == 404
    if path.endswith(".json"):
        body = response.get_json()
        assert body["status"] == 404 and "nobody" in body["message"]
    else:
        assert "nobody" in response.get_data(as_text=True)


def test_parameters_are_refused(app: Flask, client: FlaskClient) -> None:
    add_models(app, {"alpha:1b": 1.0})
    response = client.get("/api/models.json?sort=x")
    assert response.status_code == 400 and "sort" in response.get_json()["message"]


def test_model_page_shows_the_judges_rating_beside_peoples(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        for tag in ("alpha:1b", "beta:3b"):
            judge_data.model_id(tag, 1.0)
        judge = judge_data.add_judge("judge:8b")
        for n in range(4):
            pair = judge_data.answer_pair("alpha:1b", "beta:3b", text_x=f"x{n}", text_y=f"y{n}")
            judge_data.add_verdict(judge, pair, "x")
    document = client.get("/api/models/alpha-1b.json").get_json()
    assert document["rating"] is None  # no human vote yet
    assert document["judge_rating"]["battles"] == 4 and document["judge_rating"]["rank"] == 1
    html = client.get("/models/alpha-1b").get_data(as_text=True)
    assert "Judges&#39; verdicts" in html or "Judges' verdicts" in html
    beta = client.get("/api/models/beta-3b.json").get_json()["judge_rating"]
    assert beta["losses"] == 4 and beta["bt"] < document["judge_rating"]["bt"]
