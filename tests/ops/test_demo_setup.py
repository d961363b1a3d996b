"""The demo keeps its embedded backend in the instance's configuration, so `doctor` and the
pages know it after the demo (arena.ops.demo)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from arena.backends.configured import get_backend
from arena.extensions import db
from arena.models import Model, Prompt, Response
from arena.ops.demo import configure_embedded_backend
from arena.play import catalogue
from tests.support.app import make_app
from tests.support.fake_ollama import FakeOllama


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    return tmp_path / "instance"


def app_on(instance: Path, url: str) -> Flask:
    """A new app on the instance folder (it reads config.py again)."""
    return make_app(instance, url)


@pytest.fixture
def apps() -> Iterator[list[Flask]]:
    made: list[Flask] = []
    yield made
    for app in made:
        with app.app_context():
            backend = app.extensions.get("arena_backends", {}).get("embedded")
            if backend is not None and hasattr(backend, "close"):
                backend.close()
            db.engine.dispose()


def test_a_fresh_instance_gets_the_embedded_backend_alone(
    instance: Path, nothing_listens: str, apps: list[Flask]
) -> None:
    apps.append(app := app_on(instance, nothing_listens))
    with app.app_context():
        setup = configure_embedded_backend(app, environ={})
    assert (setup.name, setup.action) == ("embedded", "written")
    path = instance / "config.py"
    assert path.stat().st_mode & 0o077 == 0  # it may hold keys later: the owner's only
    apps.append(again := app_on(instance, nothing_listens))
    assert again.config["BACKENDS"] == [{"name": "embedded", "kind": "embedded"}]
    with again.app_context():  # a second demo changes nothing
        assert configure_embedded_backend(again, environ={}).action == "configured"
    assert path.read_text().count("BACKENDS") == 1


def test_an_instance_that_used_ollama_keeps_it(
    instance: Path, fake_ollama: FakeOllama, apps: list[Flask]
) -> None:
    apps.append(app := app_on(instance, fake_ollama.url))
    assert app.test_cli_runner().invoke(args=["models", "add", "llama3.2:1b"]).exit_code == 0
    with app.app_context():
        configure_embedded_backend(app, environ={})
    apps.append(again := app_on(instance, fake_ollama.url))
    assert [entry["name"] for entry in again.config["BACKENDS"]] == ["ollama", "embedded"]


def test_backends_set_in_the_file_get_the_embedded_entry_appended(
    instance: Path, nothing_listens: str, apps: list[Flask]
) -> None:
    instance.mkdir(parents=True)
    lmstudio = {"name": "lmstudio", "kind": "openai", "url": "http://127.0.0.1:1234/v1"}
    (instance / "config.py").write_text(f"BACKENDS = [{lmstudio!r}]\nPOOL_TARGET = 7\n")
    apps.append(app := app_on(instance, nothing_listens))
    with app.app_context():
        assert configure_embedded_backend(app, environ={}).action == "written"
    apps.append(again := app_on(instance, nothing_listens))
    assert [entry["name"] for entry in again.config["BACKENDS"]] == ["lmstudio", "embedded"]
    assert again.config["POOL_TARGET"] == 7  # the operator's lines are kept


def test_backends_from_the_environment_are_not_overridden_by_a_file(
    instance: Path, nothing_listens: str, apps: list[Flask]
) -> None:
    apps.append(app := app_on(instance, nothing_listens))
    with app.app_context():
        setup = configure_embedded_backend(app, environ={"ARENA_BACKENDS": "[...]"})
    assert setup.action == "process"
    assert "add it to ARENA_BACKENDS" in setup.message
    assert not (instance / "config.py").exists()
    assert app.config["BACKENDS"][-1] == {"name": "embedded", "kind": "embedded"}


def test_doctor_passes_right_after_the_demo_configuration(
    instance: Path, nothing_listens: str, apps: list[Flask]
) -> None:
    """The demo's state without its slow inference: the packaged models registered on the
    embedded backend the demo configured, and a pool of answers."""
    pytest.importorskip("xllamacpp", reason="scripts/install-local.sh installs it")
    apps.append(app := app_on(instance, nothing_listens))
    with app.app_context():
        name = configure_embedded_backend(app, environ={}).name
        backend = get_backend(name)
        tags = [entry.tag for entry in backend.list_models()]
        if len(tags) < 2:
            pytest.skip("the packaged models are not installed (scripts/install-local.sh)")
        models = [catalogue.add_model(backend, tag) for tag in tags]
        prompts = db.session.scalars(select(Prompt).where(Prompt.shared.is_(True)).limit(25))
        for prompt in prompts:
            for model in models:
                db.session.add(Response(prompt_id=prompt.id, model_id=model.id, text="An answer."))
        db.session.commit()
        assert {m.backend for m in db.session.scalars(select(Model))} == {"embedded"}
    apps.append(after := app_on(instance, nothing_listens))  # the next command's app
    result = after.test_cli_runner().invoke(args=["doctor"])
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    assert "[ok  ] backend 'embedded' answers" in result.output
    assert "ollama" not in result.output.lower().replace(str(instance), "")
