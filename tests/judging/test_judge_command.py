"""``flask --app arena judge`` against the fake Ollama acting as a judge with a known
preference: both orders, counting only agreement, position bias, self-battles, reruns,
limits, the dry run, and faults (a judge down or answering garbage, bad input)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from arena.extensions import db
from arena.models import Model, Response
from tests.support.fake_ollama import FakeOllama
from tests.support.fakes.judge import FakeJudge
from tests.support.judging import CONTESTANTS, JUDGE, PREFERRED, judgements, judging_pool


def _tags(app: Flask) -> dict[int, str]:
    with app.app_context():
        return {m.id: m.tag for m in db.session.scalars(select(Model))}


def test_each_pair_is_judged_in_both_orders_and_stored_once_whole(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    judge = judging_pool(runner, fake_ollama, prompts=3)
    fake_ollama.reset()
    result = runner.invoke(args=["judge"])
    assert result.exit_code == 0, result.output
    assert "Plan: 9 pairs of answers" in result.output
    assert "judged    9/9" in result.output and "9 counted" in result.output
    assert "model loads: 1" in result.output

    rows = judgements(app)
    tags = _tags(app)
    assert len(rows) == 9  # 3 prompts x 3 pairs of contestants
    assert len({(r.response_a_id, r.response_b_id) for r in rows}) == 9
    for row in rows:
        assert row.model_a_id < row.model_b_id
        assert row.status == "counted" and not row.self_judged and not row.truncated
        assert row.output_ab and row.output_ba
        assert row.duration_ab_ms is not None and row.duration_ba_ms is not None
        preferred = {tags[row.model_a_id]: "a", tags[row.model_b_id]: "b"}.get(PREFERRED, "tie")
        assert row.outcome == preferred
        assert (row.verdict_ab, row.verdict_ba) == {
            "a": ("A", "B"),
            "b": ("B", "A"),
            "tie": ("C", "C"),
        }[preferred]
    # Two requests a pair, the second with the answers swapped, all to the one judge.
    assert len(judge.calls) == 18
    for first, second in zip(judge.calls[::2], judge.calls[1::2], strict=True):
        assert (first[0], first[1]) == (second[1], second[0])
        assert tags[min(k for k, v in tags.items() if v in first[:2])] == first[0]
    chats = [r.body for r in fake_ollama.requests_to("/api/chat") if r.body and r.body["messages"]]
    assert {c["model"] for c in chats} == {JUDGE}
    assert fake_ollama.load_history == [JUDGE]  # one load
    assert all(c["options"]["temperature"] == 0 and c["options"]["seed"] == 42 for c in chats)
    assert [c.get("keep_alive") == 0 for c in chats] == [False] * 17 + [True]


def test_the_judges_preference_is_recovered(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    judging_pool(runner, fake_ollama, prompts=10, judge=FakeJudge(PREFERRED, p=0.75, seed=3))
    assert runner.invoke(args=["judge"]).exit_code == 0
    tags = _tags(app)
    with_preferred = [
        r for r in judgements(app) if PREFERRED in (tags[r.model_a_id], tags[r.model_b_id])
    ]
    assert len(with_preferred) == 20
    assert all(r.status == "counted" for r in with_preferred)
    won = sum((r.outcome == "a") == (tags[r.model_a_id] == PREFERRED) for r in with_preferred)
    assert 10 <= won <= 19  # 15 expected; a binomial(20, 0.75) 99% range


def test_a_position_biased_judge_is_inconsistent_and_counts_ties(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    judge = FakeJudge(PREFERRED, p=1.0, position_bias=0.5, seed=7)
    judging_pool(runner, fake_ollama, prompts=4, judge=judge)
    result = runner.invoke(args=["judge"])
    assert result.exit_code == 0, result.output
    rows = judgements(app)
    inconsistent = [r for r in rows if r.status == "inconsistent"]
    assert inconsistent and len(inconsistent) < len(rows)
    assert all(r.outcome == "tie" for r in inconsistent)
    assert all(r.verdict_ab != r.verdict_ba or r.verdict_ab != "C" for r in inconsistent)
    assert f"{len(inconsistent)} position-inconsistent" in result.output


def test_a_judge_never_judges_its_own_answers_unless_allowed(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    assert runner.invoke(args=["pregenerate", "--prompts", "2"]).exit_code == 0
    fake_ollama.set_answer(PREFERRED, FakeJudge(PREFERRED))  # a contestant that also judges
    added = runner.invoke(args=["judges", "add", PREFERRED])
    assert added.exit_code == 0 and "also a contestant" in added.output
    dry = runner.invoke(args=["judge", "--dry-run"])
    row = next(line.split() for line in dry.output.splitlines() if PREFERRED in line)
    assert "Plan: 2 pairs" in dry.output and row[1:3] == ["2", "4"]  # pairs, own left out
    assert runner.invoke(args=["judge"]).exit_code == 0
    tags = _tags(app)
    rows = judgements(app)
    assert len(rows) == 2
    assert all(PREFERRED not in (tags[r.model_a_id], tags[r.model_b_id]) for r in rows)
    assert not any(r.self_judged for r in rows)

    app.config["JUDGE_ALLOW_SELF"] = True
    assert runner.invoke(args=["judge"]).exit_code == 0
    rows = judgements(app)
    assert len(rows) == 6
    own = [r for r in rows if PREFERRED in (tags[r.model_a_id], tags[r.model_b_id])]
    assert len(own) == 4 and all(r.self_judged for r in own)


def test_a_rerun_skips_judged_pairs(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    judge = judging_pool(runner, fake_ollama, prompts=2)
    assert runner.invoke(args=["judge", "--limit", "2"]).exit_code == 0
    assert len(judgements(app)) == 2
    assert runner.invoke(args=["judge"]).exit_code == 0
    assert len(judgements(app)) == 6
    calls = len(judge.calls)
    again = runner.invoke(args=["judge"])
    assert again.exit_code == 0 and "Nothing to do" in again.output
    assert len(judge.calls) == calls == 12
    # New answers make new pairs.
    assert runner.invoke(args=["pregenerate", "--prompts", "3"]).exit_code == 0
    assert runner.invoke(args=["judge"]).exit_code == 0
    rows = judgements(app)
    with app.app_context():
        prompts = set(db.session.scalars(select(Response.prompt_id)))
    assert len(prompts) > 2 and len(rows) == 3 * len(prompts)
    assert len({(r.response_a_id, r.response_b_id) for r in rows}) == len(rows)


def test_dry_run_limit_budget_and_until(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    judge = judging_pool(runner, fake_ollama, prompts=3)
    dry = runner.invoke(args=["judge", "--dry-run", "--limit", "4"])
    assert dry.exit_code == 0, dry.output
    assert "Plan: 4 pairs of answers" in dry.output and JUDGE in dry.output
    assert judge.calls == [] and judgements(app) == []

    limited = runner.invoke(args=["judge", "--limit", "4"])
    assert limited.exit_code == 0 and len(judgements(app)) == 4
    # The round robin spreads a short run over the pairs of models.
    assert len({(r.model_a_id, r.model_b_id) for r in judgements(app)}) == 3

    spent = runner.invoke(args=["judge", "--budget", "0.001s"])
    assert spent.exit_code == 0, spent.output
    assert "stopped between pairs: --budget 0.001s reached" in spent.output
    past = (datetime.now() - timedelta(minutes=1)).strftime("%H:%M")
    late = runner.invoke(args=["judge", "--until", past])
    assert late.exit_code == 0 and f"--until {past} reached" in late.output
    assert len(judgements(app)) == 4
    bad = runner.invoke(args=["judge", "--budget", "soon"])
    assert bad.exit_code == 2 and "cannot read the duration" in bad.output


def test_bad_input_is_refused_with_exit_status_2(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    judge = judging_pool(runner, fake_ollama, prompts=1)
    for args, message in [
        (["judge", "--judge", "nobody:1b"], "no model 'nobody:1b' is registered"),
        (["judge", "--judge", CONTESTANTS[0]], "is not a judge"),
        (["judges", "add", "nobody:1b"], "judges add nobody:1b --backend NAME"),
        (["judges", "remove", CONTESTANTS[0]], "is not a judge"),
    ]:
        result = runner.invoke(args=args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output
    prompt_file = Path(app.instance_path) / "judge_prompt.txt"
    prompt_file.write_text("Which is better? {answer_a} or {answer_b}")
    result = runner.invoke(args=["judge"])
    assert result.exit_code == 2 and "lacks {question}" in result.output
    app.config["JUDGE_NUM_CTX"] = 300
    prompt_file.unlink()
    result = runner.invoke(args=["judge"])
    assert result.exit_code == 2 and "raise JUDGE_NUM_CTX" in result.output
    assert judge.calls == [] and judgements(app) == []


def test_a_judge_that_is_down_stores_nothing_and_the_others_go_on(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    failing, missing = "judge-fails:1b", "judge-gone:1b"
    good = judging_pool(runner, fake_ollama, prompts=2)
    for tag in (failing, missing):
        fake_ollama.add_model(tag, "1B")
        added = runner.invoke(args=["judges", "add", tag, "--backend", "ollama"])
        assert added.exit_code == 0, added.output
    fake_ollama.fail_next(500, "runner crashed", times=1000, model=failing)
    fake_ollama.remove_model(missing)
    result = runner.invoke(args=["judge"])
    assert result.exit_code == 3, result.output
    assert f"failed {failing}" in result.output and "after 3 failed pairs in a row" in result.output
    assert f"failed {missing}" in result.output and "not found" in result.output
    assert "outcome: some pairs failed" in result.output
    rows = judgements(app)
    assert len(rows) == 6 and {r.judge.model.tag for r in rows} == {JUDGE}
    assert len(good.calls) == 12
    # The failed pairs are tried again by the next run.
    fake_ollama.reset()
    again = runner.invoke(args=["judge", "--judge", failing, "--dry-run"])
    assert "Plan: 6 pairs" in again.output


def test_a_judge_answering_garbage_stores_unparsed_then_is_skipped(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    app.config["JUDGE_MAX_UNPARSED"] = 3
    judge = judging_pool(runner, fake_ollama, prompts=3, judge=FakeJudge(None, garbage=1.0))
    result = runner.invoke(args=["judge"])
    assert result.exit_code == 3, result.output
    assert "no verdict [[A]], [[B]] or [[C]] in 3 answers in a row" in result.output
    rows = judgements(app)
    assert len(rows) == 3 and len(judge.calls) == 6
    for row in rows:
        assert (row.status, row.outcome, row.verdict_ab, row.verdict_ba) == (
            "unparsed",
            None,
            "unparsed",
            "unparsed",
        )
        assert "rather not say" in row.output_ab
    # A reply that is not the protocol at all (an HTML page) fails the pair: nothing stored.
    fake_ollama.garbage_next(times=10, model=JUDGE)
    result = runner.invoke(args=["judge", "--limit", "1"])
    assert result.exit_code == 4, result.output
    assert len(judgements(app)) == 3


def test_long_answers_are_cut_to_the_judges_context(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    long_tag = CONTESTANTS[0]
    words = " ".join(f"point{i}" for i in range(3000))  # long, never a loop
    fake_ollama.set_answer(long_tag, f"Answer from {long_tag} to: {words}")
    app.config["JUDGE_NUM_CTX"] = 1024
    app.config["JUDGE_NUM_PREDICT"] = 64
    judging_pool(runner, fake_ollama, prompts=1)
    assert runner.invoke(args=["judge"]).exit_code == 0
    tags = _tags(app)
    rows = judgements(app)
    for row in rows:
        assert row.truncated == (long_tag in (tags[row.model_a_id], tags[row.model_b_id]))
    chats = [r.body for r in fake_ollama.requests_to("/api/chat") if r.body["model"] == JUDGE]
    assert all(sum(len(m["content"]) for m in c["messages"]) < 3 * 1024 for c in chats)
    with app.app_context():
        whole = db.session.scalars(select(Response.text)).all()
    assert any(len(text) > 3 * 1024 for text in whole)  # the stored answer is kept whole


def test_judges_add_list_remove(
    app: Flask, runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    judging_pool(runner, fake_ollama, prompts=1)
    listed = runner.invoke(args=["judges", "list"])
    assert JUDGE in listed.output and "a judge only" not in listed.output
    assert runner.invoke(args=["judge"]).exit_code == 0
    lines = runner.invoke(args=["judges", "list"]).output.splitlines()
    row = next(line.split() for line in lines if line.startswith(JUDGE))
    assert row[1:8] == ["ollama", "yes", "no", "3", "3", "0", "0"]  # enabled, contestant, counts
    removed = runner.invoke(args=["judges", "remove", JUDGE])
    assert removed.exit_code == 0 and "disabled judge" in removed.output
    assert "no (removed)" in runner.invoke(args=["judges", "list"]).output
    result = runner.invoke(args=["judge", "--judge", JUDGE])
    assert result.exit_code == 2 and "was removed" in result.output
    assert "No judges" in runner.invoke(args=["judge"]).output
    assert "judge enabled again" in runner.invoke(args=["judges", "add", JUDGE]).output
    assert runner.invoke(args=["judges", "add", CONTESTANTS[1]]).exit_code == 0
    assert "removed judge" in runner.invoke(args=["judges", "remove", CONTESTANTS[1]]).output
    with app.app_context():
        model = db.session.scalar(select(Model).where(Model.tag == JUDGE))
        assert model is not None and not model.enabled  # never a contestant
