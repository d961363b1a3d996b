"""Several backends at once: the BACKENDS setting, sync and add per backend, one
pre-generation run over two hosts in parallel (each grouped by model), cross-backend battles.
Real HTTP to a fake Ollama and a fake OpenAI-compatible server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from arena.backends import OllamaClient, OpenAICompatClient
from arena.backends.configured import get_backend, probe_backends
from arena.backends.registry import BackendConfigError, UnknownBackend, parse_backends
from arena.config import settings as arena_config
from arena.extensions import db
from arena.models import Battle, GenerationRun, Model, Prompt, Response
from arena.pregen.generate import AnswerMaker, MeteredBackend, ModelRef
from arena.pregen.hosts import ModelRouter
from tests.support.app import make_app
from tests.support.battles import battle_id_of
from tests.support.fake_ollama import FakeOllama
from tests.support.fake_openai import CHAT, FakeOpenAI

OLLAMA_TAGS = ("llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0", "gemma3:4b")
OPENAI_TAGS = ("smollm2:360m", "granite3:2b")
NEUTRAL = "A careful, neutral answer with a few points."


def backends(ollama: FakeOllama, openai: FakeOpenAI) -> list[dict[str, object]]:
    return [
        {"name": "ollama", "kind": "ollama", "url": ollama.url},
        {"name": "lmstudio", "kind": "openai", "url": openai.base_url, "retries": 1},
    ]


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(OPENAI_TAGS) as fake:
        for tag in OPENAI_TAGS:
            fake.set_answer(tag, NEUTRAL)  # the default answer names the model: a leak
        yield fake


@pytest.fixture
def two_hosts(tmp_path: Path, fake_ollama: FakeOllama, openai_fake: FakeOpenAI) -> Iterator[Flask]:
    app = make_app(
        tmp_path / "instance", fake_ollama.url, BACKENDS=backends(fake_ollama, openai_fake)
    )
    yield app
    with app.app_context():
        db.engine.dispose()


def _models(app: Flask) -> dict[str, str]:
    with app.app_context():
        return {m.tag: m.backend for m in db.session.scalars(select(Model))}


def _runs(order: list[str]) -> list[str]:
    """Consecutive runs of one model in a request order, one entry per run."""
    return [tag for i, tag in enumerate(order) if i == 0 or order[i - 1] != tag]


def test_the_default_is_the_one_ollama_host(app: Flask, fake_ollama: FakeOllama) -> None:
    (spec,) = parse_backends(app.config)
    assert (spec.name, spec.kind, spec.url) == ("ollama", "ollama", None)
    with app.app_context():
        client = get_backend()
        assert isinstance(client, OllamaClient)
        assert client.base_url == app.config["OLLAMA_URL"]
        assert get_backend("ollama") is client  # cached per app
        assert probe_backends() == {"ollama": None}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "non-empty list"),
        ([{"kind": "ollama"}], "needs a 'name'"),
        ([{"name": "x", "kind": "vllm"}], "'kind' must be one of"),
        ([{"name": "x", "kind": "openai"}], "needs a 'url'"),
        ([{"name": "x", "kind": "ollama", "threads": 2}], "unknown keys threads"),
        ([{"name": "x"}, {"name": "x"}], "unique: x twice"),
        ([{"name": "x", "parallel": 0}], "'parallel' must be a whole number from 1 to 16"),
        ([{"name": "x", "parallel": "4"}], "'parallel' must be a whole number"),
        ([{"name": "x", "parallel": True}], "'parallel' must be a whole number"),
        ([{"name": "x", "kind": "embedded", "parallel": 17}], "from 1 to 16"),
    ],
)
def test_a_malformed_setting_stops_the_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: object, message: str
) -> None:
    with pytest.raises(BackendConfigError, match=message):
        parse_backends({"BACKENDS": value})
    with pytest.raises(SystemExit) as stopped:  # create_app: one line on stderr, exit 2
        make_app(tmp_path / "instance", "http://127.0.0.1:9", BACKENDS=value)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_parallel_is_per_backend_with_a_default_per_kind(tmp_path: Path) -> None:
    """``parallel``: 1 for a server unless set, 2 for the embedded backend (measured); the
    client carries it for the runner."""
    value = [
        {"name": "ollama", "kind": "ollama", "url": "http://127.0.0.1:9", "parallel": 4},
        {"name": "lmstudio", "kind": "openai", "url": "http://127.0.0.1:9/v1"},
        {"name": "local", "kind": "embedded"},
        {"name": "local4", "kind": "embedded", "parallel": 4},
    ]
    specs = {spec.name: spec.options["parallel"] for spec in parse_backends({"BACKENDS": value})}
    assert specs == {"ollama": 4, "lmstudio": 1, "local": 2, "local4": 4}
    app = make_app(tmp_path / "instance", "http://127.0.0.1:9", BACKENDS=value)
    with app.app_context():
        assert get_backend("ollama").parallel == 4
        assert get_backend("lmstudio").parallel == 1
        assert get_backend("local").parallel == 2
        assert get_backend("local4").parallel == 4  # made, not loaded: no xllamacpp call
        db.engine.dispose()


def test_the_environment_variable_is_json() -> None:
    entries = [{"name": "lmstudio", "kind": "openai", "url": "http://127.0.0.1:1234/v1"}]
    settings = arena_config._from_environment({"ARENA_BACKENDS": json.dumps(entries)})
    (spec,) = parse_backends(settings)
    assert (spec.name, spec.kind, spec.url) == ("lmstudio", "openai", "http://127.0.0.1:1234/v1")


def test_unknown_backend_names_give_clear_errors(two_hosts: Flask) -> None:
    runner = two_hosts.test_cli_runner()
    sync = ["models", "sync", "--backend", "nope"]
    for args in (sync, ["models", "add", "x:1b", "--backend", "nope"]):
        result = runner.invoke(args=args)
        assert result.exit_code != 0
        assert "no backend named 'nope' is configured (BACKENDS has: ollama, lmstudio)" in (
            result.output
        )
    with two_hosts.app_context(), pytest.raises(UnknownBackend, match="ARENA_BACKENDS"):
        get_backend("nope")


def test_sync_one_or_all_and_add_per_backend(
    two_hosts: Flask, fake_ollama: FakeOllama, openai_fake: FakeOpenAI
) -> None:
    runner = two_hosts.test_cli_runner()
    result = runner.invoke(args=["models", "sync", "--backend", "lmstudio"])
    assert result.exit_code == 0, result.output
    assert _models(two_hosts) == dict.fromkeys(OPENAI_TAGS, "lmstudio")
    result = runner.invoke(args=["models", "sync"])
    assert result.exit_code == 0, result.output
    assert "[ollama] added     gemma3:4b" in result.output
    assert _models(two_hosts) == {
        **dict.fromkeys(OLLAMA_TAGS, "ollama"),
        **dict.fromkeys(OPENAI_TAGS, "lmstudio"),
    }
    with two_hosts.app_context():
        assert isinstance(get_backend("lmstudio"), OpenAICompatClient)
        assert get_backend("lmstudio").name == "lmstudio"
        assert probe_backends() == {"ollama": None, "lmstudio": None}
    listing = runner.invoke(args=["models", "list"]).output
    assert "BACKEND" in listing and "lmstudio" in listing

    # The same tag on the second host: sync leaves it where it is, `add --backend` moves it.
    openai_fake.set_models([*OPENAI_TAGS, "gemma3:4b"])
    result = runner.invoke(args=["models", "sync", "--backend", "lmstudio"])
    assert "skipped   gemma3:4b (registered from backend 'ollama'" in result.output
    result = runner.invoke(args=["models", "add", "gemma3:4b", "--backend", "lmstudio"])
    assert result.exit_code == 0, result.output
    assert "on lmstudio" in result.output
    assert _models(two_hosts)["gemma3:4b"] == "lmstudio"


def test_one_run_generates_from_both_hosts_in_parallel(
    two_hosts: Flask, fake_ollama: FakeOllama, openai_fake: FakeOpenAI
) -> None:
    runner = two_hosts.test_cli_runner()
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    fake_ollama.reset()
    openai_fake.reset()
    result = runner.invoke(args=["pregenerate", "--prompts", "4"])
    assert result.exit_code == 0, result.output
    assert "20 answers stored" in result.output  # 4 prompts x 5 models
    assert "backend ollama: 12 answers" in result.output
    assert "backend lmstudio: 8 answers" in result.output

    ollama_order = fake_ollama.chat_models_in_order()
    openai_order = [r.body["model"] for r in openai_fake.requests_to(CHAT)]
    assert sorted(set(ollama_order)) == sorted(OLLAMA_TAGS) and len(ollama_order) == 12
    assert sorted(set(openai_order)) == sorted(OPENAI_TAGS) and len(openai_order) == 8
    for order in (ollama_order, openai_order):
        runs = _runs(order)
        assert len(runs) == len(set(runs)), f"a model's requests are not contiguous: {order}"

    with two_hosts.app_context():
        stored = db.session.scalars(select(Response).where(Response.status == "ok")).all()
        assert {(r.model.tag, r.model.backend) for r in stored} == set(_models(two_hosts).items())
        assert len({r.prompt_id for r in stored}) == 4  # one slate for every model
        run = db.session.scalar(select(GenerationRun))
        assert run is not None and run.status == "finished" and run.stored == 20
        assert set(run.summary["hosts"]) == {"ollama", "lmstudio"}


def test_a_battle_pairs_models_from_different_backends(
    two_hosts: Flask, fake_ollama: FakeOllama, openai_fake: FakeOpenAI
) -> None:
    runner = two_hosts.test_cli_runner()
    for tag in OLLAMA_TAGS:
        fake_ollama.set_answer(tag, NEUTRAL)
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    for tag in ("qwen2.5:0.5b-instruct-q8_0", "gemma3:4b", "granite3:2b"):
        assert runner.invoke(args=["models", "disable", tag]).exit_code == 0
    assert runner.invoke(args=["pregenerate", "--prompts", "2"]).exit_code == 0

    client = two_hosts.test_client()
    battle_id = battle_id_of(client.get("/").get_data(as_text=True))
    voted = client.post("/vote", data={"battle_id": battle_id, "outcome": "tie"})
    assert voted.status_code == 303
    with two_hosts.app_context():
        battle = db.session.get(Battle, battle_id)
        assert battle is not None and battle.vote is not None
        assert {battle.left.model.backend, battle.right.model.backend} == {"ollama", "lmstudio"}


def test_models_of_a_backend_no_longer_configured_fail_clearly(
    tmp_path: Path, two_hosts: Flask, fake_ollama: FakeOllama
) -> None:
    assert two_hosts.test_cli_runner().invoke(args=["models", "sync"]).exit_code == 0
    ollama_only = make_app(tmp_path / "instance", fake_ollama.url)  # BACKENDS: the default
    try:
        result = ollama_only.test_cli_runner().invoke(args=["pregenerate", "--prompts", "2"])
        assert result.exit_code == 3, result.output  # some planned answers failed
        assert "6 answers stored" in result.output  # the three Ollama models
        assert "failed smollm2:360m [backend]: no backend named 'lmstudio'" in result.output
    finally:
        with ollama_only.app_context():
            db.engine.dispose()


def test_visitors_prompts_go_to_each_models_own_backend(
    two_hosts: Flask, fake_ollama: FakeOllama, openai_fake: FakeOpenAI
) -> None:
    assert two_hosts.test_cli_runner().invoke(args=["models", "sync"]).exit_code == 0
    fake_ollama.reset()
    openai_fake.reset()
    with two_hosts.app_context():
        prompt_id = db.session.scalar(select(Prompt.id).limit(1))
        assert prompt_id is not None
        maker = AnswerMaker(MeteredBackend(ModelRouter()), two_hosts.config)  # as the worker
        for tag in ("smollm2:360m", "llama3.2:1b"):
            model = db.session.scalar(select(Model).where(Model.tag == tag))
            assert model is not None
            outcome = maker.answer(
                ModelRef(model.id, model.tag, model.family), prompt_id, keep_alive=0
            )
            assert outcome.response_id is not None, outcome
    assert [r.body["model"] for r in openai_fake.requests_to(CHAT)] == ["smollm2:360m"]
    assert fake_ollama.chat_models_in_order() == ["llama3.2:1b"]


def test_adding_a_missing_model_gives_each_backends_own_advice(two_hosts: Flask) -> None:
    runner = two_hosts.test_cli_runner()
    on_ollama = runner.invoke(args=["models", "add", "nope:1b", "--backend", "ollama"])
    assert on_ollama.exit_code != 0
    assert "ollama pull nope:1b" in on_ollama.output
    assert "llama3.2:1b" in on_ollama.output  # what it lists instead
    on_openai = runner.invoke(args=["models", "add", "nope:1b", "--backend", "lmstudio"])
    assert on_openai.exit_code != 0
    assert "GET /v1/models" in on_openai.output
    assert "smollm2:360m" in on_openai.output
    assert "ollama pull" not in on_openai.output
