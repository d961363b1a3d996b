"""The ``targeted`` filter: parsed, in the cache key only when set, kept by the cache's
refresh (which re-reads stored params), and on the export command."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import update

from arena import leaderboard
from arena.extensions import db
from arena.leaderboard.filters import FilterError, Filters, parse_filters
from arena.models import Vote
from tests.support.leaderboard_data import add_models, add_votes, computations


def test_parse_key_and_params() -> None:
    assert parse_filters({"targeted": "exclude"}, categories=[]).exclude_targeted
    assert parse_filters({"targeted": "EXCLUDE"}, categories=[]).exclude_targeted
    assert not parse_filters({"targeted": "include"}, categories=[]).exclude_targeted
    assert parse_filters({"targeted": ""}, categories=[]) == Filters()
    with pytest.raises(FilterError, match=r"'targeted'.*include.*exclude"):
        parse_filters({"targeted": "yes"}, categories=[])
    excluded = Filters(exclude_targeted=True)
    assert "exclude_targeted" not in Filters().key()  # every older board keeps its key
    assert excluded.key() != Filters().key()
    assert excluded.params() == {"targeted": "exclude"}
    assert parse_filters(excluded.params(), categories=[]) == excluded
    assert not excluded.is_default and not excluded.unfiltered


def test_the_cache_keeps_a_targeted_board_apart_and_refreshes_it(app: Flask) -> None:
    add_models(app, {"alpha:1b": 1.0, "beta:1b": 1.0})
    ids = add_votes(app, [("alpha:1b", "beta:1b", "a")] * 3)
    with app.app_context():
        db.session.execute(update(Vote).where(Vote.id == ids[0]).values(targeted=True))
        db.session.commit()
        assert leaderboard.get_board(Filters(exclude_targeted=True)).votes == 2
        assert leaderboard.get_board(Filters()).votes == 3
    assert json.dumps({"targeted": "exclude"}, sort_keys=True) in computations(app)
    add_votes(app, [("beta:1b", "alpha:1b", "a")])
    with app.app_context():
        assert leaderboard.refresh_cache() == 2  # both boards, the targeted one re-read
    assert computations(app)[json.dumps({"targeted": "exclude"})] == 2


def test_export_command_drops_targeted_votes(app: Flask, runner: FlaskCliRunner) -> None:
    add_models(app, {"alpha:1b": 1.0, "beta:1b": 1.0})
    ids = add_votes(app, [("alpha:1b", "beta:1b", "a")] * 3)
    with app.app_context():
        db.session.execute(update(Vote).where(Vote.id == ids[0]).values(targeted=True))
        db.session.commit()
    result = runner.invoke(args=["export", "votes", "--format", "jsonl", "--exclude-targeted"])
    assert result.exit_code == 0, result.output
    votes = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [v["vote_id"] for v in votes] == ids[1:]
    result = runner.invoke(args=["export", "leaderboard", "--format", "json", "--exclude-targeted"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["votes"] == 2
