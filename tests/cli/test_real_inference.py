"""Real inference end to end: the embedded backend (llama.cpp in-process) with the PyPI-packaged
SmolLM2 135M through the `pregenerate` command (two sequences at once), a battle page, a vote
and the leaderboard; and `flask --app arena demo` preparing its pool with both packaged models.

Skipped only when the optional packages are missing (`scripts/install-local.sh` installs them).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from arena import PROJECT_ROOT
from arena.backends.packaged import GEMMA3_TAG, SMOLLM2_TAG, EmbeddedModelSpec, packaged_models
from arena.extensions import db
from arena.models import Battle, Model, Response, Vote
from tests.support.app import make_app
from tests.support.battles import battle_id_of
from tests.support.fake_ollama import FakeOllama

TWIN = "smollm2-twin:135m"  # the same GGUF under a second tag: two real contestants


def packaged(tag: str) -> EmbeddedModelSpec:
    pytest.importorskip("xllamacpp", reason="scripts/install-local.sh installs it")
    for spec in packaged_models():
        if spec.tag == tag:
            return spec
    pytest.skip(f"{tag} is not installed (scripts/install-local.sh installs it)")


@pytest.fixture
def embedded_app(tmp_path: Path, fake_ollama: FakeOllama) -> Iterator[Flask]:
    gguf = packaged(SMOLLM2_TAG).locate()
    app = make_app(
        tmp_path / "instance",
        fake_ollama.url,
        # two sequences of the loaded model at once (llama.cpp's parallel slots)
        BACKENDS=[{"name": "local", "kind": "embedded", "files": {TWIN: str(gguf)}, "parallel": 2}],
        GEN_NUM_PREDICT=48,
        GEN_NUM_CTX=2048,
    )
    yield app
    with app.app_context():
        backend = app.extensions.get("arena_backends", {}).get("local")
        if backend is not None:
            backend.close()
        db.engine.dispose()


def test_pregeneration_battle_vote_and_leaderboard_with_smollm2(embedded_app: Flask) -> None:
    runner = embedded_app.test_cli_runner()
    for tag in (SMOLLM2_TAG, TWIN):
        result = runner.invoke(args=["models", "add", tag, "--backend", "local"])
        assert result.exit_code == 0, result.output
        assert "on local" in result.output

    result = runner.invoke(args=["pregenerate", "--prompts", "3"])
    assert result.exit_code == 0, result.output
    assert "model loads: 2" in result.output
    with embedded_app.app_context():
        answers = db.session.scalars(select(Response).where(Response.status == "ok")).all()
        assert len(answers) >= 4, result.output  # 6 unless an identity leak was given up
        for answer in answers:
            assert answer.text.strip()
            assert answer.model.backend == "local"
            assert answer.eval_count is not None and 0 < answer.eval_count <= 48
            assert answer.tokens_per_second is not None and answer.tokens_per_second > 0
        # Each slate's first two requests ran at once (3 prompts, 2 sequences).
        assert {(a.options or {}).get("concurrency") for a in answers} >= {2}
        pairs = [(a.prompt_id, a.model_id) for a in answers]
        assert len(pairs) == len(set(pairs))

    client = embedded_app.test_client()
    page = client.get("/")
    assert page.status_code == 200
    battle_id = battle_id_of(page.get_data(as_text=True))
    voted = client.post("/vote", data={"battle_id": battle_id, "outcome": "a"})
    assert voted.status_code == 303
    reveal = client.get(voted.headers["Location"]).get_data(as_text=True)
    assert SMOLLM2_TAG in reveal or "smollm2" in reveal.lower()  # names revealed after the vote
    with embedded_app.app_context():
        battle = db.session.get(Battle, battle_id)
        assert battle is not None
        assert {battle.left.model.tag, battle.right.model.tag} == {SMOLLM2_TAG, TWIN}
        vote = db.session.scalar(select(Vote).where(Vote.battle_id == battle_id))
        assert vote is not None and vote.outcome == "a" and not vote.excluded
        winner = db.session.get(Model, vote.model_a_id)
        assert winner is not None

    board = client.get("/leaderboard")
    assert board.status_code == 200
    html = board.get_data(as_text=True)
    assert winner.display_name in html and TWIN in html


def test_demo_prepares_a_pool_with_both_packaged_models(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    packaged(SMOLLM2_TAG)
    packaged(GEMMA3_TAG)
    instance = tmp_path / "instance"
    app = make_app(instance, fake_ollama.url)
    try:
        args = ["demo", "--no-serve", "--prompts", "1", "--num-predict", "8"]
        result = app.test_cli_runner().invoke(args=args)
        assert result.exit_code == 0, result.output
        assert "registered SmolLM2 135M Instruct" in result.output
        assert "registered Gemma 3 270M" in result.output
        with app.app_context():
            models = {m.tag: m.backend for m in db.session.scalars(select(Model))}
            assert models == {SMOLLM2_TAG: "embedded", GEMMA3_TAG: "embedded"}
            answered = db.session.scalars(select(Response).where(Response.status == "ok")).all()
            assert {r.model.tag for r in answered} == {SMOLLM2_TAG, GEMMA3_TAG}
        assert list((instance / "models").glob("*.gguf")), "Gemma is assembled in the instance"
        again = app.test_cli_runner().invoke(args=args)
        assert "nothing to generate" in again.output or "Nothing to do" in again.output
    finally:
        with app.app_context():
            backend = app.extensions.get("arena_backends", {}).get("embedded")
            if backend is not None:
                backend.close()
            db.engine.dispose()


def test_demo_without_the_optional_packages_says_how_to_install(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['xllamacpp'] = None\n"  # makes `import xllamacpp` fail
        "from arena import create_app\n"
        f"app = create_app({{'INSTANCE_PATH': {str(tmp_path / 'instance')!r}}})\n"
        "result = app.test_cli_runner().invoke(args=['demo', '--no-serve'])\n"
        "print(result.exit_code, result.output)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("1 "), out
    assert "scripts/install-local.sh" in out
