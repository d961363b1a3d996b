"""Preference data as a service: which votes make records, how sides become chosen and
rejected, the filters, the pages and the data signature."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select, update

from arena.extensions import db
from arena.leaderboard import preferences
from arena.leaderboard.filters import FilterError, Filters, parse_filters
from arena.leaderboard.preferences import PREFERENCE_FIELDS, PreferencePage
from arena.models import Model, Prompt, Vote
from tests.support.fake_ollama import FakeOllama
from tests.support.leaderboard_data import add_models, add_votes
from tests.support.preference_data import answer_pool, cast_votes, stored_votes

OUTCOMES = ["a", "b", "tie", "a", "both_bad", "b", "b", "a", "tie", "a", "b", "both_bad"]


@pytest.fixture
def voted(app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama) -> list[int]:
    """12 votes with battles by two voters (6 each), every outcome, in OUTCOMES order."""
    answer_pool(runner, fake_ollama, prompts=6)
    return cast_votes(app, OUTCOMES, per_voter=6)


def records(app: Flask, filters: Filters | None = None, page: PreferencePage | None = None):
    page = page or PreferencePage()
    with app.app_context():
        upto = preferences.next_after(filters or Filters(), page)
        rows = list(preferences.preference_rows(filters or Filters(), page, upto))
    return [dict(zip(page.fields, row, strict=True)) for row in rows]


def test_decisive_votes_become_chosen_and_rejected(app: Flask, voted: list[int]) -> None:
    votes = stored_votes(app)
    decisive = [votes[i] for i in voted if votes[i].outcome in ("a", "b")]
    assert len(decisive) == 8
    got = records(app)
    assert got == [vote.record() for vote in decisive]
    for record in got:
        assert tuple(record) == PREFERENCE_FIELDS
        assert record["chosen"] != record["rejected"]
        assert record["chosen_model"] != record["rejected_model"]
        assert record["prompt"] and record["category"]
    # b: the right side won, so it is the chosen one
    first_b = next(v for v in decisive if v.outcome == "b")
    assert got[decisive.index(first_b)]["chosen"] == first_b.answer_b


@pytest.mark.parametrize(
    ("include", "outcomes"),
    [
        ("ties", {"a", "b", "tie"}),
        ("both_bad", {"a", "b", "both_bad"}),
        ("ties,both_bad", {"a", "b", "tie", "both_bad"}),
        (" both_bad , ties ", {"a", "b", "tie", "both_bad"}),
    ],
)
def test_ties_and_both_bad_only_on_request(
    app: Flask, voted: list[int], include: str, outcomes: set[str]
) -> None:
    page = preferences.parse_preference_page({"include": include})
    votes = stored_votes(app)
    expected = [votes[i].record(with_outcome=True) for i in voted if votes[i].outcome in outcomes]
    got = records(app, page=page)
    assert got == expected
    assert all(tuple(r) == (*PREFERENCE_FIELDS, "outcome") for r in got)
    for record in got:
        if record["outcome"] in ("tie", "both_bad"):  # the sides as they were, A then B
            vote = next(v for v in votes.values() if v.record(True) == record)
            assert (record["chosen"], record["rejected"]) == (vote.answer_a, vote.answer_b)


def test_only_human_votes_with_battles_on_shared_prompts_unflagged(
    app: Flask, voted: list[int]
) -> None:
    votes = stored_votes(app)
    with app.app_context():
        private_prompt = db.session.scalar(select(Vote.prompt_id).where(Vote.id == voted[0]))
        db.session.execute(
            update(Prompt).where(Prompt.id == private_prompt).values(source="visitor", shared=False)
        )
        shared_visitor = db.session.scalar(select(Vote.prompt_id).where(Vote.id == voted[1]))
        db.session.execute(
            update(Prompt).where(Prompt.id == shared_visitor).values(source="visitor", shared=True)
        )
        db.session.execute(update(Vote).where(Vote.id == voted[3]).values(excluded=True))
        db.session.execute(update(Vote).where(Vote.id == voted[5]).values(source="judge"))
        db.session.commit()
        private = set(db.session.scalars(select(Vote.id).where(Vote.prompt_id == private_prompt)))
    # imported history: no battle, so no answers to pair
    add_models(app, {"alpha:1b": 1.0, "beta:3b": 3.0})
    add_votes(app, [("alpha:1b", "beta:3b", "a")] * 3, source="imported")
    left_out = private | {voted[3], voted[5]}
    include = PreferencePage(include=("tie", "both_bad"))
    expected = [votes[i].record(True) for i in voted if i not in left_out]
    assert records(app, page=include) == expected
    assert voted[1] not in left_out and votes[voted[1]].record(True) in expected
    texts = " ".join(str(r) for r in records(app, page=include))
    with app.app_context():
        hidden = db.session.get(Prompt, private_prompt)
        assert hidden is not None and hidden.text not in texts


def test_filters_apply_as_to_the_vote_log(app: Flask, voted: list[int]) -> None:
    votes = stored_votes(app)
    everything = PreferencePage(include=("tie", "both_bad"))
    with app.app_context():
        bounds = app.config["SIZE_CLASS_BOUNDS_B"]
        category = votes[voted[0]].category
        by_category = parse_filters({"category": category}, bounds)
        small = parse_filters({"size": "le2"}, bounds)  # llama3.2:1b and qwen2.5:0.5b only
        first = db.session.scalar(select(Vote.created_at).where(Vote.id == voted[0]))
        assert first is not None
        tomorrow = parse_filters({"from": (first + timedelta(days=1)).date().isoformat()}, bounds)
        today = parse_filters({"to": first.date().isoformat()}, bounds)
    got = records(app, by_category, everything)
    assert got == [votes[i].record(True) for i in voted if votes[i].category == category]
    assert 0 < len(got) < len(voted)
    smalls = {"llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0"}
    in_class = [i for i in voted if {votes[i].model_a, votes[i].model_b} <= smalls]
    assert 0 < len(in_class) < len(voted)
    assert records(app, small, everything) == [votes[i].record(True) for i in in_class]
    assert records(app, tomorrow, everything) == []
    assert len(records(app, today, everything)) == len(voted)


def test_pages_join_with_no_gap_or_repeat(app: Flask, voted: list[int]) -> None:
    whole = records(app)
    got, after, pages = [], 0, 0
    while True:
        page = PreferencePage(limit=3, after=after)
        with app.app_context():
            upto = preferences.next_after(Filters(), page)
            rows = list(preferences.preference_rows(Filters(), page, upto))
        got += [dict(zip(PREFERENCE_FIELDS, row, strict=True)) for row in rows]
        pages += 1
        if upto is None:
            break
        assert len(rows) == 3
        after = upto
    assert got == whole and pages == 3  # 8 decisive votes: 3 + 3 + 2
    with app.app_context():
        assert preferences.next_after(Filters(), PreferencePage(limit=8)) is None
        assert preferences.next_after(Filters(), PreferencePage(limit=7)) is not None
        assert preferences.more_rows_than(Filters(), PreferencePage(), 7)
        assert not preferences.more_rows_than(Filters(), PreferencePage(), 8)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"include": "tie"}, "bad value 'tie' for 'include'"),
        ({"include": "ties,maybe"}, "bad value 'maybe' for 'include'"),
        ({"limit": "0"}, "'limit'"),
        ({"limit": str(preferences.MAX_ROWS + 1)}, "'limit'"),
        ({"limit": "ten"}, "'limit'"),
        ({"after": "-1"}, "'after'"),
    ],
)
def test_bad_parameters_are_refused_with_a_reason(args: dict, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        preferences.parse_preference_page(args)


def test_exclude_ties_does_not_apply() -> None:
    with pytest.raises(FilterError, match="'exclude_ties' does not apply"):
        preferences.check_filters(Filters(exclude_ties=True))
    assert preferences.check_filters(Filters()) == Filters()


def test_the_tag_moves_with_what_the_data_shows(
    app: Flask, runner: FlaskCliRunner, voted: list[int]
) -> None:
    page = PreferencePage()
    with app.app_context():
        tag = preferences.etag(Filters(), page)
        assert preferences.etag(Filters(), PreferencePage(limit=5)) != tag
        assert preferences.etag(Filters(), PreferencePage(include=("tie",))) != tag
    result = runner.invoke(args=["pregenerate", "--prompts", "8"])  # new answers: no change
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert preferences.etag(Filters(), page) == tag
        db.session.execute(update(Vote).where(Vote.id == voted[0]).values(excluded=True))
        db.session.commit()
        flagged = preferences.etag(Filters(), page)
        assert flagged != tag
        db.session.execute(update(Prompt).values(shared=False, source="visitor"))
        db.session.commit()
        assert preferences.etag(Filters(), page) != flagged


def test_under_a_size_class_the_tag_moves_with_a_model_size(app: Flask, voted: list[int]) -> None:
    with app.app_context():
        small = parse_filters({"size": "le2"}, app.config["SIZE_CLASS_BOUNDS_B"])
        tags = (
            preferences.etag(small, PreferencePage()),
            preferences.etag(Filters(), PreferencePage()),
        )
        before = len(records(app, small))
        db.session.execute(
            update(Model).where(Model.tag == "gemma3:4b").values(params_b=1.5)
        )  # now in le2: its votes join the class
        db.session.commit()
        assert preferences.etag(small, PreferencePage()) != tags[0]
        assert preferences.etag(Filters(), PreferencePage()) != tags[1]  # sizes are data too
    assert len(records(app, small)) > before
