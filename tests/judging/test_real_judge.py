"""Real inference: the PyPI-packaged SmolLM2 135M judging a pair of stored answers of two real
contestants through ``flask --app arena judge`` (embedded backend, llama.cpp in-process).

Tiny and poor as a judge (it often gives no verdict), but real: both orders are asked, each
output is stored whole with the verdict read from it, and the options are deterministic.
Skipped only when the optional packages are missing (``scripts/install-local.sh``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, select

from arena.backends.packaged import SMOLLM2_TAG, packaged_models
from arena.extensions import db
from arena.judging.verdicts import combine, parse_verdict
from arena.models import Judgement
from tests.support.app import make_app
from tests.support.fake_ollama import FakeOllama
from tests.support.judging import judgements

TWIN = "smollm2-twin:135m"  # the same GGUF under a second tag: two real contestants
JUDGE = "smollm2-judge:135m"  # and a third: the judge, not a contestant


@pytest.fixture
def embedded_app(tmp_path: Path, fake_ollama: FakeOllama) -> Iterator[Flask]:
    pytest.importorskip("xllamacpp", reason="scripts/install-local.sh installs it")
    spec = next((s for s in packaged_models() if s.tag == SMOLLM2_TAG), None)
    if spec is None:
        pytest.skip(f"{SMOLLM2_TAG} is not installed (scripts/install-local.sh installs it)")
    gguf = str(spec.locate())
    app = make_app(
        tmp_path / "instance",
        fake_ollama.url,
        BACKENDS=[{"name": "local", "kind": "embedded", "files": {TWIN: gguf, JUDGE: gguf}}],
        GEN_NUM_PREDICT=24,
        GEN_NUM_CTX=2048,
        JUDGE_NUM_PREDICT=32,
    )
    yield app
    with app.app_context():
        backend = app.extensions.get("arena_backends", {}).get("local")
        if backend is not None:
            backend.close()
        db.engine.dispose()


@pytest.mark.slow
@pytest.mark.timeout(1800)  # four judge requests of ~700 prompt tokens: minutes on a busy CPU
def test_smollm2_judges_real_answers_in_both_orders(embedded_app: Flask) -> None:
    runner = embedded_app.test_cli_runner()
    for tag in (SMOLLM2_TAG, TWIN):
        result = runner.invoke(args=["models", "add", tag, "--backend", "local"])
        assert result.exit_code == 0, result.output
    result = runner.invoke(args=["pregenerate", "--prompts", "2"])  # 2 pairs, unless a leak
    assert result.exit_code == 0, result.output
    added = runner.invoke(args=["judges", "add", JUDGE, "--backend", "local"])
    assert added.exit_code == 0 and "a judge only" in added.output, added.output

    result = runner.invoke(args=["judge", "--limit", "1"])
    assert result.exit_code == 0, result.output
    assert "model loads: 1" in result.output
    rows = judgements(embedded_app)
    assert len(rows) == 1, result.output
    for row in rows:
        assert row.judge.model.tag == JUDGE and not row.self_judged
        assert row.output_ab.strip() and row.output_ba.strip()
        assert row.verdict_ab == parse_verdict(row.output_ab)
        assert row.verdict_ba == parse_verdict(row.output_ba)
        expected = combine(row.verdict_ab, row.verdict_ba)
        assert (row.status, row.outcome) == (expected.status, expected.outcome)
        assert row.duration_ab_ms and row.duration_ba_ms and row.duration_ab_ms > 0

    # Deterministic: the same pair judged again (it comes first again) gives the same outputs.
    first = rows[0]
    with embedded_app.app_context():
        db.session.execute(delete(Judgement).where(Judgement.id == first.id))
        db.session.commit()
    again = runner.invoke(args=["judge", "--limit", "1"])
    assert again.exit_code == 0, again.output
    with embedded_app.app_context():
        redo = db.session.scalar(
            select(Judgement).where(Judgement.response_a_id == first.response_a_id)
        )
        assert redo is not None
        assert (redo.output_ab, redo.output_ba) == (first.output_ab, first.output_ba)
