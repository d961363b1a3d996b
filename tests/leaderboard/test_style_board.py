"""Style control and honest intervals on the computed board: the answers' features reach the
vote log, the fitted effects and the style-controlled ratings are in the board and its exports."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from arena import leaderboard
from arena.leaderboard import answer_style
from arena.leaderboard.answer_style import vote_features
from arena.leaderboard.exports import LEADERBOARD_FIELDS
from arena.leaderboard.filters import Filters
from tests.support.leaderboard_data import add_models, add_votes, rows_by_model
from tests.support.style_data import add_length_biased_votes, add_styled_answers


@pytest.mark.parametrize("dense_max", [20_000_000, 0])  # a direct index, a binary search
def test_vote_features_find_both_answers_and_pick_one_length_unit(
    monkeypatch: pytest.MonkeyPatch, dense_max: int
) -> None:
    monkeypatch.setattr(answer_style, "_DENSE_MAX", dense_max)
    stride = 10
    keys = np.array([1 * stride + 1, 1 * stride + 2, 2 * stride + 1, 2 * stride + 3])
    table = np.array(
        [
            # tokens, characters, headers, lists, bold
            [50.0, 200.0, 1.0, 2.0, 3.0],
            [25.0, 100.0, 0.0, 0.0, 0.0],
            [np.nan, 400.0, 0.0, 1.0, 0.0],
            [80.0, 300.0, 2.0, 0.0, 1.0],
        ]
    )
    prompt = np.array([1, 2, 1, -1, 7])
    model_a = np.array([1, 1, 1, 1, 1])
    model_b = np.array([2, 3, 3, 2, 2])
    fa, fb, known = vote_features(keys, table, prompt, model_a, model_b, stride)
    assert known.tolist() == [True, True, False, False, False]
    # Both token counts known: tokens; one missing: characters on both sides.
    assert fa[0].tolist() == [50.0, 1.0, 2.0, 3.0] and fb[0].tolist() == [25.0, 0.0, 0.0, 0.0]
    assert fa[1].tolist() == [400.0, 0.0, 1.0, 0.0] and fb[1].tolist() == [300.0, 2.0, 0.0, 1.0]
    # An answer not stored (model 3 on prompt 1), a vote without a prompt, a prompt beyond
    # every stored answer's: no difference.
    assert not fa[2:].any() and not fb[2:].any()
    empty = vote_features(np.zeros(0, np.int64), np.zeros((0, 5)), prompt, model_a, model_b, 10)
    assert not empty[2].any()


def test_style_control_removes_a_planted_length_bias(app: Flask) -> None:
    prompts = add_styled_answers(app, 30)
    add_length_biased_votes(app, prompts, 600)
    with app.app_context():
        board = leaderboard.get_board(Filters())
    rows = {row["model"]: row for row in board.rows}
    plain_gap = rows["verbose:1b"]["bt"] - rows["terse:1b"]["bt"]
    style_gap = rows["verbose:1b"]["bt_style"] - rows["terse:1b"]["bt_style"]
    assert plain_gap > 200  # the plain fit takes the verbose answers' wins for strength
    assert abs(style_gap) < plain_gap / 3
    assert board.style is not None
    assert board.style["votes"] == board.style["votes_with_answers"] == 600
    effects = {e["feature"]: e for e in board.style["effects"]}
    assert list(effects) == ["length", "headers", "lists", "bold"]
    # Length, headers, lists and bold all grow together here, so only their sum is known
    # well; the length's effect alone is positive and its interval holds it.
    length = effects["length"]
    assert length["lower"] <= length["effect"] <= length["upper"]
    assert sum(e["effect"] for e in effects.values()) > 100
    for row in rows.values():
        assert row["bt_style_lower"] <= row["bt_style"] <= row["bt_style_upper"]
        assert row["bt_style_rank"] >= 1


def test_votes_without_answers_count_with_no_style_difference(app: Flask) -> None:
    prompts = add_styled_answers(app, 10)
    add_length_biased_votes(app, prompts, 100)
    add_votes(app, [("terse:1b", "verbose:1b", "a")] * 5)  # answers not stored: other prompt
    with app.app_context():
        board = leaderboard.get_board(Filters())
        ties_out = leaderboard.get_board(Filters(exclude_ties=True))
    assert board.style is not None and ties_out.style is not None
    assert (board.votes, board.style["votes"], board.style["votes_with_answers"]) == (105, 105, 100)
    assert ties_out.style["votes_with_answers"] == ties_out.votes - 5


def test_without_any_stored_answer_there_is_no_style_fit(app: Flask) -> None:
    add_models(app, {"alpha:1b": 1.0, "beta:1b": 1.0})
    add_votes(app, [("alpha:1b", "beta:1b", "a"), ("beta:1b", "alpha:1b", "tie")])
    with app.app_context():
        board = leaderboard.get_board(Filters())
    assert board.style is None
    assert all(row["bt_style"] is None for row in board.rows)


def test_one_vote_ranks_its_winner_first_whatever_the_rounding(app: Flask) -> None:
    # After one vote the two ratings are equal (the median-unbiased estimate of a 1-0) but
    # for noise in the 11th decimal, and both rank 1: the winner (score 0.5) comes first.
    add_models(app, {"x:1b": 1.0, "y:1b": 1.0})
    add_votes(app, [("x:1b", "y:1b", "a")])
    with app.app_context():
        board = leaderboard.get_board(Filters())
    assert [row["model"] for row in leaderboard.sorted_rows(board, "bt")] == ["x:1b", "y:1b"]
    x, y = (row for row in leaderboard.sorted_rows(board, "bt"))
    assert (x["bt_upper_open"], x["bt_lower_open"]) == (True, False)
    assert (y["bt_upper_open"], y["bt_lower_open"]) == (False, True)
    assert x["provisional"] and y["provisional"]


def test_exports_carry_style_and_honest_columns(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    prompts = add_styled_answers(app, 10)
    add_length_biased_votes(app, prompts, 60)
    document = client.get("/api/leaderboard.json").get_json()
    assert [e["feature"] for e in document["style"]["effects"]] == [
        "length",
        "headers",
        "lists",
        "bold",
    ]
    assert document["provisional_votes"] == 20
    assert document["groups"] == [["even:1b", "terse:1b", "verbose:1b"]]
    assert isinstance(document["notes"], list)
    for row in rows_by_model(document).values():
        for name in ("bt_style", "bt_style_lower", "bt_style_upper", "bt_style_rank"):
            assert isinstance(row[name], int | float), name
        assert row["group"] == 1 and row["provisional"] is False
        for name in ("bt_lower_open", "bt_upper_open", "bt_style_lower_open"):
            assert row[name] is False
    text = client.get("/api/leaderboard.csv").get_data(as_text=True)
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == LEADERBOARD_FIELDS
    for name in ("bt_style", "bt_style_lower", "bt_style_upper", "group", "provisional"):
        assert name in LEADERBOARD_FIELDS
    for line in reader:
        assert len(line["bt_style"].split(".")[-1]) <= 1
        assert line["provisional"] == "False" and line["group"] == "1"
    result = runner.invoke(args=["export", "leaderboard", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == ",".join(LEADERBOARD_FIELDS)


def test_an_anchor_with_only_draws_is_ignored_with_a_note_when_ties_are_excluded(
    app: Flask, client: FlaskClient
) -> None:
    add_models(app, {"anchor:1b": 1.0, "alpha:1b": 1.0, "beta:1b": 1.0})
    add_votes(
        app,
        [("anchor:1b", "alpha:1b", "tie"), ("beta:1b", "anchor:1b", "both_bad")]
        + [("alpha:1b", "beta:1b", "a"), ("beta:1b", "alpha:1b", "a")] * 3,
    )
    app.config["LEADERBOARD_BT_ANCHOR"] = "anchor:1b"
    pinned = client.get("/api/leaderboard.json").get_json()
    assert pinned["anchor"] == "anchor:1b"
    assert rows_by_model(pinned)["anchor:1b"]["bt"] == 1000.0
    response = client.get("/api/leaderboard.json?exclude_ties=1")
    assert response.status_code == 200
    document = response.get_json()
    assert document["anchor"] is None
    assert any("The anchor anchor:1b has no counted votes here" in n for n in document["notes"])
    page = client.get("/leaderboard?exclude_ties=1")
    assert page.status_code == 200
    assert "The anchor anchor:1b has no counted votes here" in page.get_data(as_text=True)


def test_the_cached_board_keeps_style_groups_and_notes(app: Flask) -> None:
    prompts = add_styled_answers(app, 5)
    add_length_biased_votes(app, prompts, 30)
    with app.app_context():
        board = leaderboard.get_board(Filters())
        cached = leaderboard.get_board(Filters())  # read back from the cache's JSON
    assert leaderboard.Board.from_json(board.to_json(), Filters()) == board
    assert cached.style == board.style and cached.style is not None
    assert (cached.groups, cached.notes, cached.provisional_votes) == (
        board.groups,
        board.notes,
        board.provisional_votes,
    )
    assert cached.rows == board.rows
