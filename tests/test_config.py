"""Configuration precedence, the instance folder, the secret key, SQLite pragmas, migrations."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import inspect, text

from arena import create_app
from arena.backends.registry import make_client, parse_backends
from arena.database import MIGRATIONS_DIR
from arena.extensions import db
from tests.support import databases
from tests.support.app import make_app, sqlite_only


def test_precedence_defaults_file_environment_tests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(
        "POOL_TARGET = 5\nGEN_TEMPERATURE = 0.2\nMODEL_SIZE_CAP_B = 8\n"
    )
    monkeypatch.setenv("ARENA_GEN_TEMPERATURE", "0.4")
    monkeypatch.setenv("ARENA_OLLAMA_API_KEY", "s3cret")
    monkeypatch.setenv("ARENA_MODEL_SIZE_CAP_B", "9")
    app = make_app(instance, "http://127.0.0.1:1", MODEL_SIZE_CAP_B=3)
    assert app.config["GEN_NUM_PREDICT"] == 1024  # default
    assert app.config["POOL_TARGET"] == 5  # instance file
    assert app.config["GEN_TEMPERATURE"] == 0.4  # environment over file
    assert app.config["OLLAMA_API_KEY"] == "s3cret"
    assert app.config["MODEL_SIZE_CAP_B"] == 3  # tests over everything
    assert "reveal your name" in app.config["GEN_SYSTEM_PROMPT"]


@pytest.mark.parametrize(
    ("ollama_host", "expected"),
    [
        (None, "http://127.0.0.1:11434"),
        (":9999", "http://127.0.0.1:9999"),
        ("gpu-box", "http://gpu-box:11434"),
        ("https://ollama.example", "https://ollama.example:443"),
    ],
)
def test_ollama_url_falls_back_to_ollama_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ollama_host: str | None, expected: str
) -> None:
    monkeypatch.delenv("ARENA_OLLAMA_URL", raising=False)
    if ollama_host is None:
        monkeypatch.delenv("OLLAMA_HOST", raising=False)
    else:
        monkeypatch.setenv("OLLAMA_HOST", ollama_host)
    app = create_app({"INSTANCE_PATH": str(tmp_path), "AUTO_MIGRATE": False})
    assert app.config["OLLAMA_URL"] == expected
    monkeypatch.setenv("ARENA_OLLAMA_URL", "http://other:1234")
    app = create_app({"INSTANCE_PATH": str(tmp_path), "AUTO_MIGRATE": False})
    assert app.config["OLLAMA_URL"] == "http://other:1234"


def test_secret_key_is_generated_once_into_the_instance(tmp_path: Path) -> None:
    first = create_app({"INSTANCE_PATH": str(tmp_path), "AUTO_MIGRATE": False})
    second = create_app({"INSTANCE_PATH": str(tmp_path), "AUTO_MIGRATE": False})
    key_file = tmp_path / "secret_key"
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert first.config["SECRET_KEY"] == key_file.read_text().strip()
    assert len(first.config["SECRET_KEY"]) == 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    other = create_app({"INSTANCE_PATH": str(tmp_path / "other"), "AUTO_MIGRATE": False})
    assert other.config["SECRET_KEY"] != first.config["SECRET_KEY"]


def test_secret_key_file_gives_every_instance_the_same_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "arena.key"
    key_file.write_text("a-long-random-key-shared-by-every-web-node\n")
    monkeypatch.setenv("ARENA_SECRET_KEY_FILE", str(key_file))
    nodes = [
        create_app({"INSTANCE_PATH": str(tmp_path / name), "AUTO_MIGRATE": False})
        for name in ("node1", "node2")
    ]
    assert {app.config["SECRET_KEY"] for app in nodes} == {
        "a-long-random-key-shared-by-every-web-node"
    }
    assert not (tmp_path / "node1" / "secret_key").exists()  # nothing generated
    # SECRET_KEY itself wins over the file.
    explicit = create_app(
        {"INSTANCE_PATH": str(tmp_path / "node3"), "AUTO_MIGRATE": False, "SECRET_KEY": "k"}
    )
    assert explicit.config["SECRET_KEY"] == "k"
    # A missing or empty file stops the start with one line naming the setting.
    for content in (None, "  \n"):
        if content is None:
            key_file.unlink()
        else:
            key_file.write_text(content)
        with pytest.raises(SystemExit) as stopped:
            create_app({"INSTANCE_PATH": str(tmp_path / "node4"), "AUTO_MIGRATE": False})
        assert stopped.value.code == 2
        assert f"SECRET_KEY_FILE '{key_file}'" in capsys.readouterr().err


def test_instance_path_and_database_url_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARENA_INSTANCE_PATH", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("ARENA_DATABASE_URL", f"sqlite:///{tmp_path / 'votes.db'}")
    app = create_app({"AUTO_MIGRATE": False})
    assert app.instance_path == str(tmp_path / "elsewhere")
    assert Path(app.instance_path).is_dir()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'votes.db'}"


@sqlite_only
def test_default_database_is_sqlite_in_the_instance_folder(app: Flask) -> None:
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///" + str(
        Path(app.instance_path) / "arena.db"
    )
    assert (Path(app.instance_path) / "arena.db").is_file()


@sqlite_only
def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_busy_timeout(app: Flask) -> None:
    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == 30000


def test_fresh_instance_is_migrated_and_db_upgrade_is_available(tmp_path: Path) -> None:
    empty = databases.database_url(tmp_path, empty=True)  # None: SQLite in the instance
    app = create_app(
        {"INSTANCE_PATH": str(tmp_path), "AUTO_MIGRATE": False}
        | ({"DATABASE_URL": empty} if empty else {})
    )
    with app.app_context():
        assert "vote" not in inspect(db.engine).get_table_names()
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
    assert {"model", "prompt", "response", "battle", "vote", "alembic_version"} <= tables
    heads = ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()
    with app.app_context():
        assert db.session.execute(text("SELECT version_num FROM alembic_version")).scalar() in heads


def test_the_models_and_the_migrations_agree(app: Flask) -> None:
    """Autogenerate finds nothing to do: no drift on this database (SQLite or PostgreSQL)."""
    result = app.test_cli_runner().invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output


def forget_backend_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the test's own ARENA_OLLAMA_* and ARENA_BACKEND_* variables."""
    for name in [n for n in os.environ if n.startswith(("ARENA_OLLAMA_", "ARENA_BACKEND_"))]:
        monkeypatch.delenv(name)


def test_old_names_of_the_backend_settings_still_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``OLLAMA_*`` (``ARENA_OLLAMA_*``) count as ``BACKEND_*`` in the layer that sets them."""
    forget_backend_variables(monkeypatch)
    (tmp_path / "config.py").write_text("OLLAMA_RETRIES = 7\nOLLAMA_CONNECT_TIMEOUT = 2\n")
    monkeypatch.setenv("ARENA_OLLAMA_READ_TIMEOUT", "900")
    monkeypatch.setenv("ARENA_OLLAMA_KEEP_ALIVE", "5m")
    app = create_app(
        {"INSTANCE_PATH": str(tmp_path), "AUTO_MIGRATE": False, "OLLAMA_BACKOFF": 0.25}
    )
    assert app.config["BACKEND_RETRIES"] == 7  # instance file
    assert app.config["BACKEND_CONNECT_TIMEOUT"] == 2.0
    assert app.config["BACKEND_READ_TIMEOUT"] == 900.0  # environment over the default
    assert app.config["BACKEND_KEEP_ALIVE"] == "5m"
    assert app.config["BACKEND_BACKOFF"] == 0.25  # tests' config
    assert not [name for name in app.config if name.startswith("OLLAMA_") and "TIME" in name]
    # what every backend's client is made with
    (spec,) = parse_backends(app.config)
    client = make_client(spec, app.config, instance_path=app.instance_path)
    assert client.name == "ollama"


def test_a_new_name_beats_an_old_one_in_a_lower_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forget_backend_variables(monkeypatch)
    (tmp_path / "config.py").write_text("OLLAMA_READ_TIMEOUT = 100\nBACKEND_RETRIES = 4\n")
    monkeypatch.setenv("ARENA_BACKEND_READ_TIMEOUT", "200")  # new over old below
    monkeypatch.setenv("ARENA_OLLAMA_RETRIES", "5")  # old over new below: same layer rule
    monkeypatch.setenv("ARENA_OLLAMA_BACKOFF", "1")  # both in one layer: the new one
    monkeypatch.setenv("ARENA_BACKEND_BACKOFF", "2")
    app = create_app(
        {"INSTANCE_PATH": str(tmp_path), "AUTO_MIGRATE": False, "BACKEND_KEEP_ALIVE": 60}
        | {"OLLAMA_KEEP_ALIVE": "1h"}
    )
    assert app.config["BACKEND_READ_TIMEOUT"] == 200.0
    assert app.config["BACKEND_RETRIES"] == 5
    assert app.config["BACKEND_BACKOFF"] == 2.0
    assert app.config["BACKEND_KEEP_ALIVE"] == 60


def test_the_tests_old_names_reach_the_new_settings(app: Flask) -> None:
    """tests/support/app.py passes OLLAMA_RETRIES, OLLAMA_BACKOFF and OLLAMA_READ_TIMEOUT."""
    assert app.config["BACKEND_RETRIES"] == 1
    assert app.config["BACKEND_BACKOFF"] == 0.01
    assert app.config["BACKEND_READ_TIMEOUT"] == 10.0


def test_an_admin_token_of_digits_stays_a_string(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARENA_ADMIN_TOKEN", "0123")
    app = create_app({"INSTANCE_PATH": str(tmp_path), "AUTO_MIGRATE": False})
    assert app.config["ADMIN_TOKEN"] == "0123"
