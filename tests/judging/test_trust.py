"""How far to trust a judge: /judges and /api/judges.json over verdicts and human votes on
battles made of the same answers, with a simulated judge of known accuracy."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from arena.extensions import db
from arena.models import Vote
from tests.support.judge_data import (
    AnswerPair,
    add_human_vote,
    add_judge,
    add_verdict,
    answer_pair,
    model_id,
)

MODELS = ("m1", "m2", "m3", "m4")


def _trust(client: FlaskClient, query: str = "") -> dict[str, Any]:
    response = client.get(f"/api/judges.json{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    document: dict[str, Any] = response.get_json()
    return document


def _judge(document: dict[str, Any], tag: str) -> dict[str, Any]:
    return next(j for j in document["judges"] if j["judge"] == tag)


def test_simulated_judge_accuracy_is_recovered(app: Flask, client: FlaskClient) -> None:
    """People pick x, y or a tie with 0.4/0.4/0.2; the judge copies them with probability
    0.8, else picks one of the two other answers at random. Over 300 battles the decisive
    agreement's interval holds its true value (0.64 / 0.76) and kappa's its analytic one."""
    rng = np.random.default_rng(8)
    with app.app_context():
        for tag in MODELS:
            model_id(tag, 1.0)
        judge_id = add_judge("judge")
        picks = ("x", "y", "tie")
        for n in range(300):
            x, y = rng.choice(MODELS, size=2, replace=False)
            pair = answer_pair(str(x), str(y))
            person = int(rng.choice(3, p=[0.4, 0.4, 0.2]))
            verdict = person if rng.random() < 0.8 else (person + int(rng.integers(1, 3))) % 3
            add_human_vote(pair, picks[person], x_left=n % 2 == 0)
            add_verdict(judge_id, pair, picks[verdict])
            if n < 10:  # flagged votes, all disagreeing: never counted
                add_human_vote(pair, picks[(verdict + 1) % 3], excluded=True)
    figures = _judge(_trust(client), "judge")
    agreement = figures["agreement"]
    assert agreement["battles"] == 300
    decisive = agreement["decisive"]
    assert decisive["lower"] <= 0.64 / 0.76 <= decisive["upper"]
    assert 180 < decisive["n"] < 270  # both decisive: 0.76 of 300 expected
    kappa = agreement["kappa"]
    judge_p = np.array([0.38, 0.38, 0.24])
    expected = (0.8 - float(np.array([0.4, 0.4, 0.2]) @ judge_p)) / (
        1 - float(np.array([0.4, 0.4, 0.2]) @ judge_p)
    )
    assert kappa["lower"] <= expected <= kappa["upper"] and kappa["n"] == 300
    assert kappa["upper"] - kappa["lower"] < 0.25
    assert figures["verdicts"] == 300 and figures["unparsed_rate"]["value"] == 0.0


def _pairs(app: Flask, x: str, y: str, count: int, **texts: str) -> list[AnswerPair]:
    with app.app_context():
        return [answer_pair(x, y, **texts) for _ in range(count)]


def test_rates_and_length_preference(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        judge_id = add_judge("judge")
    short_long = _pairs(app, "m1", "m2", 8, text_x="short", text_y="a much longer answer")
    same_length = _pairs(app, "m1", "m2", 2, text_x="same", text_y="sane")
    other = _pairs(app, "m1", "m2", 4)
    with app.app_context():
        for n, pair in enumerate(short_long):
            add_verdict(judge_id, pair, "y" if n < 6 else "x")  # the longer one 6 times of 8
        for pair in same_length:
            add_verdict(judge_id, pair, "x")  # equal lengths: no preference to show
        add_verdict(judge_id, other[0], None, status="inconsistent")
        add_verdict(judge_id, other[1], None, status="inconsistent")
        add_verdict(judge_id, other[2], None, status="unparsed")
        add_verdict(judge_id, other[3], "tie")
    figures = _judge(_trust(client), "judge")
    assert (figures["verdicts"], figures["counted"]) == (14, 11)
    assert (figures["inconsistent"], figures["unparsed"]) == (2, 1)
    assert figures["unparsed_rate"]["value"] == pytest.approx(1 / 14)
    assert figures["unparsed_rate"]["n"] == 14
    assert figures["inconsistency_rate"]["value"] == pytest.approx(2 / 13)
    longer = figures["longer_answer"]
    assert longer["value"] == pytest.approx(6 / 8) and longer["n"] == 8
    assert longer["lower"] < 0.75 < longer["upper"]
    # No human vote on these answers: no agreement to measure.
    assert figures["agreement"]["battles"] == 0
    assert figures["agreement"]["kappa"]["value"] is None


def _board_votes(app: Flask, order: tuple[str, ...], judge_id: int | None) -> None:
    """Each better model (earlier in ``order``) beats each worse one 3 times in 4, by people
    (``judge_id`` None) or by the judge."""
    with app.app_context():
        for i, better in enumerate(order):
            for worse in order[i + 1 :]:
                for n in range(4):
                    pair = answer_pair(better, worse)
                    pick = "x" if n < 3 else "y"
                    if judge_id is None:
                        add_human_vote(pair, pick)
                    else:
                        add_verdict(judge_id, pair, pick)


def test_rank_correlation_with_the_human_board(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        for tag in MODELS:
            model_id(tag, 1.0)
        db.session.commit()
        alike = add_judge("alike")
        contrary = add_judge("contrary")
    _board_votes(app, MODELS, None)
    _board_votes(app, MODELS, alike)
    _board_votes(app, tuple(reversed(MODELS)), contrary)
    document = _trust(client)
    same = _judge(document, "alike")["rank_correlation"]
    assert same["models"] == 4
    assert same["spearman"]["value"] == pytest.approx(1.0) and same["kendall"] == pytest.approx(1)
    opposite = _judge(document, "contrary")["rank_correlation"]
    assert opposite["spearman"]["value"] == pytest.approx(-1.0)
    assert opposite["kendall"] == pytest.approx(-1.0)
    # The judges' verdicts never reached the human board.
    human = client.get("/api/leaderboard.json").get_json()
    assert human["votes"] == 24 and human["source"] == "human"
    one = _trust(client, "?judge=alike")
    assert [j["judge"] for j in one["judges"]] == ["alike"]


def test_document_structure_and_page(app: Flask, client: FlaskClient) -> None:
    empty = _trust(client)
    assert empty["judges"] == [] and empty["confidence"] == 0.95
    assert set(empty["definitions"]) >= {"agreement.kappa", "agreement.decisive", "longer_answer"}
    page = client.get("/judges").get_data(as_text=True)
    assert "No judges yet" in page and 'href="/judges"' in page  # in the nav too
    with app.app_context():
        add_judge("judge", enabled=False)
    figures = _judge(_trust(client), "judge")
    assert set(figures) == {
        "judge",
        "display_name",
        "enabled",
        "verdicts",
        "counted",
        "inconsistent",
        "unparsed",
        "unparsed_rate",
        "inconsistency_rate",
        "agreement",
        "longer_answer",
        "rank_correlation",
    }
    assert set(figures["agreement"]) == {"battles", "decisive", "kappa"}
    assert set(figures["agreement"]["kappa"]) == {"value", "lower", "upper", "n"}
    assert figures["enabled"] is False and figures["verdicts"] == 0
    page = client.get("/judges").get_data(as_text=True)
    assert "Judges: how far to trust them" in page and "disabled" in page
    assert "Cohen&#39;s kappa" in page or "Cohen's kappa" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?judge=nobody", "unknown judge 'nobody'; registered judges: judge"),
        ("?source=judge", "unknown parameter 'source'"),
        ("?judge=judge&judge=judge", "at most once"),
    ],
)
def test_bad_requests_are_clear_400s(
    app: Flask, client: FlaskClient, query: str, message: str
) -> None:
    with app.app_context():
        add_judge("judge")
    response = client.get(f"/api/judges.json{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["status"] == 400 and message in body["message"]
    page = client.get(f"/judges{query}")
    assert page.status_code == 400 and message in html.unescape(page.get_data(as_text=True))


def test_figures_follow_new_verdicts_votes_and_flags(app: Flask, client: FlaskClient) -> None:
    """The figures are kept between views, and computed again when the data changes."""
    with app.app_context():
        judge_id = add_judge("judge")
        pair = answer_pair("m1", "m2")
        add_verdict(judge_id, pair, "x")
    assert _judge(_trust(client), "judge")["agreement"]["battles"] == 0
    assert _judge(_trust(client), "judge")["verdicts"] == 1  # kept: the same figures
    with app.app_context():
        vote_id = add_human_vote(pair, "x").id
    assert _judge(_trust(client), "judge")["agreement"]["battles"] == 1
    with app.app_context():
        add_verdict(judge_id, answer_pair("m1", "m2"), "y")
    assert _judge(_trust(client), "judge")["verdicts"] == 2
    with app.app_context():
        vote = db.session.get(Vote, vote_id)
        assert vote is not None
        vote.excluded = True  # a flag set: the vote no longer counts
        db.session.commit()
    assert _judge(_trust(client), "judge")["agreement"]["battles"] == 0


def test_figures_may_be_as_stale_as_leaderboards(app: Flask, client: FlaskClient) -> None:
    """With LEADERBOARD_MAX_STALE_SECONDS set, figures that young are kept after a change."""
    app.config["LEADERBOARD_MAX_STALE_SECONDS"] = 3600
    with app.app_context():
        judge_id = add_judge("judge")
        add_verdict(judge_id, answer_pair("m1", "m2"), "x")
    assert _judge(_trust(client), "judge")["verdicts"] == 1
    with app.app_context():
        add_verdict(judge_id, answer_pair("m1", "m2"), "y")
    assert _judge(_trust(client), "judge")["verdicts"] == 1  # kept: under an hour old
    app.config["LEADERBOARD_MAX_STALE_SECONDS"] = 0
    assert _judge(_trust(client), "judge")["verdicts"] == 2
