"""Judge verdicts as a leaderboard source of their own (``source=judge``, ``judge:TAG``):
rated like votes, filtered alike, never in the human board, its counts, ETags or exports."""

from __future__ import annotations

import csv
import html
import io
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from arena import leaderboard
from arena.extensions import db
from arena.leaderboard.filters import FilterError, Filters, parse_filters, parse_source
from arena.models import Judge, Model
from tests.support.judge_data import (
    AnswerPair,
    add_human_vote,
    add_judge,
    add_verdict,
    answer_pair,
    model_id,
)


@pytest.fixture
def arena(app: Flask) -> Flask:
    """Three models, human votes (m1 best), and two judges (one disabled) who see it the
    other way round (m3 best)."""
    with app.app_context():
        for tag, size in (("m1", 1.0), ("m2", 3.0), ("m3", 3.5)):
            model_id(tag, size)
        db.session.commit()
        for x, y in (("m1", "m2"), ("m1", "m3"), ("m2", "m3")):
            for n in range(3):
                add_human_vote(answer_pair(x, y, category="coding"), "x", x_left=n % 2 == 0)
        add_judge("judge-a")
        add_judge("judge-off", enabled=False)
    return app


def _answer_pairs(app: Flask) -> list[AnswerPair]:
    """The stored answers the judges judge: 12 writing pairs (m3/m2, m3/m1, m2/m1, 4 each),
    two more writing pairs (m1/m2, m1/m3) and one coding pair (m1/m2)."""
    with app.app_context():
        pairs = [
            answer_pair(x, y, category="writing")
            for x, y in (("m3", "m2"), ("m3", "m1"), ("m2", "m1"))
            for _ in range(4)
        ]
        pairs.append(answer_pair("m1", "m2", category="writing"))
        pairs.append(answer_pair("m1", "m3", category="writing"))
        pairs.append(answer_pair("m1", "m2"))
    return pairs


def _judge_everything(app: Flask, pairs: list[AnswerPair] | None = None) -> None:
    """judge-a: m3 > m2 > m1, plus an inconsistent and an unparsed verdict; judge-off: one
    verdict (m1 over m2) that only ``judge:judge-off`` shows."""
    pairs = pairs or _answer_pairs(app)
    with app.app_context():
        judge_a = _judge_id("judge-a")
        for pair in pairs[:12]:
            add_verdict(judge_a, pair, "x")
        add_verdict(judge_a, pairs[12], None, status="inconsistent")
        add_verdict(judge_a, pairs[13], None, status="unparsed")
        add_verdict(_judge_id("judge-off"), pairs[14], "x")


def _judge_id(tag: str) -> int:
    judge_id = db.session.scalar(select(Judge.id).join(Model).where(Model.tag == tag))
    assert judge_id is not None
    return judge_id


def _get(client: FlaskClient, path: str, status: int = 200) -> Any:
    response = client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)
    return response


def _rows(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["model"]: row for row in document["models"]}


def _without_time(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "computed_at"}


def test_human_board_is_unchanged_by_judgements(
    arena: Flask, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    pairs = _answer_pairs(arena)  # new answers change the human board (answer statistics)
    before_json = _get(client, "/api/leaderboard.json").get_json()
    before_csv = _get(client, "/api/leaderboard.csv").get_data()
    before_votes = _get(client, "/api/votes.csv").get_data()
    before_tag = _get(client, "/api/leaderboard.json").headers["ETag"]
    with arena.app_context():
        human_version = leaderboard.current_version()
        judge_version = leaderboard.current_version("judge")
        counts_before = dict(db.session.execute(select(Model.tag, Model.vote_count)).all())
    _judge_everything(arena, pairs)
    with arena.app_context():
        # A verdict changes the judge boards' version, never the human one.
        assert leaderboard.current_version() == human_version
        assert leaderboard.current_version("judge") != judge_version
        assert dict(db.session.execute(select(Model.tag, Model.vote_count)).all()) == counts_before
        leaderboard.invalidate()  # computed again from scratch: still the same board
    after = _get(client, "/api/leaderboard.json")
    assert _without_time(after.get_json()) == _without_time(before_json)
    assert after.headers["ETag"] == before_tag
    assert _get(client, "/api/leaderboard.csv").get_data() == before_csv
    assert _get(client, "/api/votes.csv").get_data() == before_votes
    rows = _rows(after.get_json())
    assert rows["m1"]["wins"] == 6 and rows["m3"]["losses"] == 6
    assert after.get_json()["source"] == "human" and after.get_json()["votes"] == 9


def test_judge_board_rates_the_verdicts(arena: Flask, client: FlaskClient) -> None:
    _judge_everything(arena)
    document = _get(client, "/api/leaderboard.json?source=judge").get_json()
    assert document["source"] == "judge"
    # 12 counted + 1 inconsistent (a tie); the unparsed one and the disabled judge's never.
    assert document["votes"] == 13
    rows = _rows(document)
    assert (rows["m3"]["wins"], rows["m3"]["losses"]) == (8, 0)
    assert (rows["m1"]["wins"], rows["m1"]["losses"], rows["m1"]["ties"]) == (0, 8, 1)
    assert rows["m3"]["bt"] > rows["m2"]["bt"] > rows["m1"]["bt"]
    assert any("Judge verdicts, not people's votes" in note for note in document["notes"])
    one = _get(client, "/api/leaderboard.json?source=judge:judge-off").get_json()
    assert one["votes"] == 1 and _rows(one)["m1"]["wins"] == 1
    assert one["source"] == "judge:judge-off"


def test_filters_apply_to_verdicts(arena: Flask, client: FlaskClient) -> None:
    _judge_everything(arena)
    writing = _get(client, "/api/leaderboard.json?source=judge&category=writing").get_json()
    assert writing["votes"] == 13 and writing["filters"]["category"] == "writing"
    coding = _get(client, "/api/leaderboard.json?source=judge:judge-off&category=coding")
    assert coding.get_json()["votes"] == 1
    no_ties = _get(client, "/api/leaderboard.json?source=judge&exclude_ties=1").get_json()
    assert no_ties["votes"] == 12
    small = _get(client, "/api/leaderboard.json?source=judge&size=2-4").get_json()
    assert set(_rows(small)) == {"m2", "m3"} and small["votes"] == 4
    future = _get(client, "/api/leaderboard.json?source=judge&from=2100-01-01").get_json()
    assert future["votes"] == 0


def test_cache_key_and_etag_carry_the_source(arena: Flask, client: FlaskClient) -> None:
    _judge_everything(arena)
    with arena.app_context():
        extra = answer_pair("m2", "m1")  # stored before: new answers change every board
    human = _get(client, "/api/leaderboard.json").headers["ETag"]
    judge = _get(client, "/api/leaderboard.json?source=judge").headers["ETag"]
    one = _get(client, "/api/leaderboard.json?source=judge:judge-a").headers["ETag"]
    assert len({human, judge, one}) == 3
    with arena.app_context():
        add_verdict(_judge_id("judge-a"), extra, "x")
    assert _get(client, "/api/leaderboard.json").headers["ETag"] == human
    assert _get(client, "/api/leaderboard.json?source=judge").headers["ETag"] != judge
    with arena.app_context():
        keys = {leaderboard.cache_key(Filters(source=s)) for s in ("human", "judge", "judge:x")}
    assert len(keys) == 3
    cached = client.get("/api/leaderboard.json", headers={"If-None-Match": human})
    assert cached.status_code == 304


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("source=robots", "bad value 'robots' for 'source'"),
        ("source=judge:", "bad value 'judge:' for 'source'"),
        ("source=judge:nobody", "unknown judge 'nobody'"),
        ("source=judge&source=human", "at most once"),
    ],
)
def test_bad_source_is_a_clear_400(
    arena: Flask, client: FlaskClient, query: str, message: str
) -> None:
    for path in ("/api/leaderboard.json", "/api/leaderboard.csv"):
        body = _get(client, f"{path}?{query}", 400).get_json()
        assert body["status"] == 400 and message in body["message"]
    for path in ("/leaderboard", "/charts"):
        assert message in html.unescape(_get(client, f"{path}?{query}", 400).get_data(as_text=True))


def test_vote_log_and_preferences_refuse_a_source(arena: Flask, client: FlaskClient) -> None:
    for path in ("/api/votes.csv", "/api/votes.jsonl", "/api/preferences.jsonl"):
        body = _get(client, f"{path}?source=judge", 400).get_json()
        assert "people's votes only" in body["message"]


def test_parse_source_without_the_database() -> None:
    assert parse_source(None, []) == "human"
    assert parse_source(" judge ", []) == "judge"
    assert parse_source("judge:j1", ["j1"]) == "judge:j1"
    with pytest.raises(FilterError, match="registered judges: none"):
        parse_source("judge:j1", [])
    filters = parse_filters({"source": "judge:j1"}, sources=True, judges=["j1"], categories=[])
    assert filters.judge_tag == "j1" and filters.params() == {"source": "judge:j1"}
    assert Filters().key() == parse_filters({}, categories=[]).key()
    assert "source" not in Filters().key() and "judge:j1" in filters.key()


def test_pages_show_the_judge_board(arena: Flask, client: FlaskClient) -> None:
    _judge_everything(arena)
    page = _get(client, "/leaderboard?source=judge").get_data(as_text=True)
    assert "Leaderboard: judge verdicts" in page
    assert "13 judge verdicts counted" in page
    assert "/api/votes.csv" not in page  # the vote log has people's votes only
    assert 'value="judge:judge-a"' in page and 'value="judge:judge-off"' in page
    charts = _get(client, "/charts?source=judge:judge-a").get_data(as_text=True)
    assert "Charts: judge verdicts" in charts and "13 judge verdicts counted" in charts
    human = _get(client, "/leaderboard").get_data(as_text=True)
    assert "judge verdicts counted" not in human and "9 votes counted" in human


def test_judge_board_without_verdicts(arena: Flask, client: FlaskClient) -> None:
    page = _get(client, "/leaderboard?source=judge").get_data(as_text=True)
    assert "No judge verdicts yet" in page
    assert _get(client, "/api/leaderboard.json?source=judge").get_json()["votes"] == 0


def test_cold_start_shows_the_judges_rating_beside_a_provisional_one(
    arena: Flask, client: FlaskClient
) -> None:
    _judge_everything(arena)
    with arena.app_context():
        add_verdict(_judge_id("judge-a"), answer_pair("newcomer", "m1"), "x")
        add_verdict(_judge_id("judge-a"), answer_pair("newcomer", "m2"), "y")
    page = _get(client, "/leaderboard").get_data(as_text=True)
    # Every human row has 6 battles, under PROVISIONAL_VOTES: each shows the judges' rating.
    assert '<th scope="col">Judges</th>' in page
    assert page.count('<td class="judge-rating"><span class="num">') == 3
    assert "verdicts</small>" in page
    assert "Rated by judges only" in page and "newcomer" in page
    human = _get(client, "/api/leaderboard.json").get_json()
    assert "newcomer" not in _rows(human)  # never in the human board itself


def test_no_cold_start_column_without_verdicts(arena: Flask, client: FlaskClient) -> None:
    page = _get(client, "/leaderboard").get_data(as_text=True)
    assert '<th scope="col">Judges</th>' not in page and "Rated by judges only" not in page


def test_export_and_refresh_commands_take_a_source(arena: Flask, runner: FlaskCliRunner) -> None:
    _judge_everything(arena)
    result = runner.invoke(args=["export", "leaderboard", "--format", "json", "--source", "judge"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["source"] == "judge" and document["votes"] == 13
    result = runner.invoke(args=["export", "leaderboard", "--source", "judge:judge-off"])
    assert result.exit_code == 0, result.output
    assert {r["model"] for r in csv.DictReader(io.StringIO(result.output))} == {"m1", "m2"}
    human = runner.invoke(args=["export", "leaderboard", "--format", "json"])
    assert json.loads(human.output)["votes"] == 9
    bad = runner.invoke(args=["export", "leaderboard", "--source", "judge:nobody"])
    assert bad.exit_code != 0 and "unknown judge 'nobody'" in bad.output
    refresh = runner.invoke(args=["leaderboard", "refresh", "--source", "judge"])
    assert refresh.exit_code == 0, refresh.output
    again = runner.invoke(args=["leaderboard", "refresh", "--source", "judge"])
    assert "0 leaderboards recomputed" in again.output


def test_disabling_a_judge_changes_the_judge_board_only(arena: Flask, client: FlaskClient) -> None:
    _judge_everything(arena)
    human = _get(client, "/api/leaderboard.json").headers["ETag"]
    assert _get(client, "/api/leaderboard.json?source=judge").get_json()["votes"] == 13
    with arena.app_context():
        judge = db.session.get(Judge, _judge_id("judge-a"))
        assert judge is not None
        judge.enabled = False
        db.session.commit()
    # Every enabled judge: none left. One judge by tag: its verdicts stay readable.
    assert _get(client, "/api/leaderboard.json?source=judge").get_json()["votes"] == 0
    assert _get(client, "/api/leaderboard.json?source=judge:judge-a").get_json()["votes"] == 13
    assert _get(client, "/api/leaderboard.json").headers["ETag"] == human
