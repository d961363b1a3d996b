"""Settings are checked at start-up: a wrong one stops with one line and exit status 2.

Most cases call ``create_app`` directly (it raises ``SystemExit(2)`` after printing the line);
the real entry points (``flask``, ``scripts/pregenerate.py``, gunicorn) run as subprocesses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from arena import PROJECT_ROOT, create_app
from arena.config import DEFAULTS, SETTINGS, load_settings

BIN = Path(sys.executable).parent


def start_error(capsys: pytest.CaptureFixture[str], instance: Path, **config: Any) -> str:
    """The one line that stops ``create_app`` with these test settings."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        create_app({"INSTANCE_PATH": str(instance), "AUTO_MIGRATE": False, **config})
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("arena: ")
    return lines[0]


@pytest.fixture(autouse=True)
def _no_arena_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only this test's own ARENA_* variables (the machine's could be wrong or mask a check)."""
    for name in list(os.environ):
        if name.startswith("ARENA_") and name != "ARENA_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("POOL_TARGET", "lots", "a whole number >= 1"),  # wrong type
        ("POOL_TARGET", 0, "a whole number >= 1"),  # out of range
        ("POOL_TARGET", 2.5, "a whole number >= 1"),
        ("GEN_RETRIES", True, "a whole number >= 0"),  # a bool is not a number
        ("GEN_TEMPERATURE", -0.1, "a number >= 0"),
        ("BACKEND_READ_TIMEOUT", 0, "a number > 0"),
        ("MIN_READ_SECONDS", float("nan"), "a number >= 0"),
        ("AUTO_MIGRATE", "yes", "true or false"),
        ("ADMIN_TOKEN", 123, "a string, or none"),
        ("WORKER_WINDOW", "0 25 * * *", "a cron expression"),
        ("BACKUP_CRON", "daily", "a cron expression"),
        ("WORKER_WINDOW_UNTIL", "6am", "a local time HH:MM"),
        ("WORKER_WINDOW_UNTIL", "24:00", "a local time HH:MM"),
        ("BACKEND_KEEP_ALIVE", "forever", "seconds"),
        ("BACKEND_KEEP_ALIVE", "5 minutes", "a Go duration"),
        ("BACKEND_KEEP_ALIVE", True, "a Go duration"),
        ("RATELIMIT_VOTES", "lots per minute", "rate limits such as"),
        ("RATELIMIT_EXPORTS", "5 per fortnight", "rate limits such as"),
        ("SIZE_CLASS_BOUNDS_B", [4, 2], "ascending positive numbers"),
        ("SIZE_CLASS_BOUNDS_B", [0, 2], "ascending positive numbers"),
        ("SIZE_CLASS_BOUNDS_B", "2,4,9", "ascending positive numbers"),
        ("SESSION_COOKIE_SAMESITE", "sometimes", "one of 'Lax', 'Strict', 'None'"),
        ("OLLAMA_URL", "localhost:11434", "an http(s) URL"),
        ("DATABASE_URL", "not a url", "an SQLAlchemy URL"),
        ("BATTLE_CAP", 0, "a whole number >= 1, or none (no cap)"),
    ],
)
def test_a_wrong_value_stops_the_start_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    setting: str,
    value: object,
    expected: str,
) -> None:
    line = start_error(capsys, tmp_path, **{setting: value})
    assert line.startswith(f"arena: {setting} in the tests' config is {value!r}: expected ")
    assert expected in line


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "a non-empty list of dicts"),
        ([{"kind": "ollama"}], "needs a 'name'"),
        ([{"name": "x", "kind": "vllm"}], "'kind' must be one of"),
        ([{"name": "x", "kind": "openai"}], "needs a 'url'"),
        ([{"name": "x"}, {"name": "x"}], "unique: x twice"),
    ],
)
def test_a_malformed_backends_setting_takes_the_same_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: object, message: str
) -> None:
    line = start_error(capsys, tmp_path, BACKENDS=value)
    assert line.startswith("arena: BACKENDS in the tests' config")
    assert message in line


def test_the_environment_is_named_by_its_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARENA_POOL_TARGET", "lots")
    assert start_error(capsys, tmp_path) == (
        "arena: ARENA_POOL_TARGET is 'lots': expected a whole number >= 1"
    )
    monkeypatch.setenv("ARENA_POOL_TARGET", "0")
    assert "ARENA_POOL_TARGET is '0'" in start_error(capsys, tmp_path)
    monkeypatch.delenv("ARENA_POOL_TARGET")
    monkeypatch.setenv("ARENA_OLLAMA_RETRIES", "-1")
    assert start_error(capsys, tmp_path).startswith(
        "arena: ARENA_OLLAMA_RETRIES (the old name of ARENA_BACKEND_RETRIES) is '-1': expected"
    )
    monkeypatch.delenv("ARENA_OLLAMA_RETRIES")
    monkeypatch.setenv("ARENA_BACKENDS", '[{"name": "x", "kind": "vllm"}]')
    assert start_error(capsys, tmp_path).startswith(
        "arena: ARENA_BACKENDS: BACKENDS[0] (x): 'kind' must be one of"
    )
    monkeypatch.setenv("ARENA_BACKENDS", "ollama")  # not JSON: shown as written
    assert "arena: ARENA_BACKENDS is 'ollama': expected a non-empty list of dicts" in (
        start_error(capsys, tmp_path)
    )


def test_the_instance_file_is_named_by_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.py").write_text('POOL_TARGET = "5"\n')
    line = start_error(capsys, tmp_path)
    assert line == (
        f"arena: POOL_TARGET in {tmp_path / 'config.py'} is '5': expected a whole number >= 1"
    )
    (tmp_path / "config.py").write_text("OLLAMA_KEEP_ALIVE = 'soon'\n")
    assert start_error(capsys, tmp_path).startswith(
        "arena: OLLAMA_KEEP_ALIVE (the old name of BACKEND_KEEP_ALIVE) in "
    )
    (tmp_path / "config.py").write_text("POOL_TARGET = (\n")
    line = start_error(capsys, tmp_path)
    assert line.startswith(f"arena: {tmp_path / 'config.py'} cannot be read: SyntaxError")


def test_values_of_the_right_kind_are_kept_or_normalized(tmp_path: Path) -> None:
    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path),
            "AUTO_MIGRATE": False,
            "GEN_TEMPERATURE": 1,  # an int for a float setting
            "BACKEND_KEEP_ALIVE": "-1",  # a number in a string is seconds, as for Ollama
            "WORKER_WINDOW": "*/30 22-23 * * 1-5",
            "WORKER_WINDOW_UNTIL": "6:30",
            "RATELIMIT_VOTES": "5/minute;100/day",
            "SESSION_COOKIE_SAMESITE": "strict",
            "SIZE_CLASS_BOUNDS_B": (1.5, 3, 8),
            "BATTLE_CAP": None,
            "UNKNOWN_SETTING": object,  # not in the table: passed through unchecked
        }
    )
    config = app.config
    assert config["GEN_TEMPERATURE"] == 1.0 and isinstance(config["GEN_TEMPERATURE"], float)
    assert config["BACKEND_KEEP_ALIVE"] == -1
    assert config["SESSION_COOKIE_SAMESITE"] == "Strict"
    assert config["SIZE_CLASS_BOUNDS_B"] == [1.5, 3, 8]
    assert config["UNKNOWN_SETTING"] is object
    for keep_alive in (300, 0.5, "1h30m", "-1m", ".5h", None):
        assert (
            load_settings(str(tmp_path), {"BACKEND_KEEP_ALIVE": keep_alive}, environ={})[
                "BACKEND_KEEP_ALIVE"
            ]
            == keep_alive
        )


def test_every_default_passes_its_own_rule(tmp_path: Path) -> None:
    assert set(DEFAULTS) == set(SETTINGS)
    assert load_settings(str(tmp_path), environ={}) == DEFAULTS


@pytest.mark.parametrize(
    ("variable", "raw", "value"),
    [
        ("ARENA_ADMIN_TOKEN", "0123", "0123"),  # text settings keep their text
        ("ARENA_SECRET_KEY", "0123", "0123"),
        ("ARENA_GEN_SYSTEM_PROMPT", '"Be brief."', '"Be brief."'),
        ("ARENA_LEADERBOARD_BT_ANCHOR", "none", "none"),
        ("ARENA_SESSION_COOKIE_SAMESITE", "None", "None"),
        ("ARENA_POOL_TARGET", "30", 30),  # the others are JSON
        ("ARENA_GEN_TEMPERATURE", "0.4", 0.4),
        ("ARENA_SIZE_CLASS_BOUNDS_B", "[1, 3]", [1, 3]),
        ("ARENA_AUTO_MIGRATE", "false", False),
        ("ARENA_LEAK_FILTER", "no", False),
        ("ARENA_VISITOR_PROMPTS_SHARED", "1", True),
        ("ARENA_BATTLE_CAP", "", None),  # an optional setting: empty is none
        ("ARENA_BATTLE_CAP", "none", None),
        ("ARENA_BACKEND_KEEP_ALIVE", "300", 300),
        ("ARENA_BACKEND_KEEP_ALIVE", "10m", "10m"),
        ("ARENA_ADMIN_TOKEN", "", None),
        ("ARENA_SOMETHING_ELSE", "[1, 2]", [1, 2]),  # unknown names: JSON when it parses
        ("ARENA_BIND", "127.0.0.1:8000", "127.0.0.1:8000"),
    ],
)
def test_environment_values_are_read_as_their_setting_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, raw: str, value: object
) -> None:
    monkeypatch.setenv(variable, raw)
    app = create_app({"INSTANCE_PATH": str(tmp_path), "AUTO_MIGRATE": False})
    assert app.config[variable.removeprefix("ARENA_")] == value
    assert type(app.config[variable.removeprefix("ARENA_")]) is type(value)


def clean_env(instance: Path, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    return {**env, "ARENA_INSTANCE_PATH": str(instance), **variables}


def assert_one_line_exit_2(result: subprocess.CompletedProcess[str], line: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [line]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.slow
def test_flask_cli_stops_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "arena", "--help"],
        cwd=PROJECT_ROOT,
        env=clean_env(tmp_path, ARENA_POOL_TARGET="lots"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_one_line_exit_2(
        result, "arena: ARENA_POOL_TARGET is 'lots': expected a whole number >= 1"
    )
    assert result.stdout == ""


@pytest.mark.slow
def test_the_cron_script_stops_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "scripts/pregenerate.py", "--dry-run"],
        cwd=PROJECT_ROOT,
        env=clean_env(tmp_path, ARENA_WORKER_WINDOW_UNTIL="25:00"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_one_line_exit_2(
        result,
        "arena: ARENA_WORKER_WINDOW_UNTIL is '25:00': expected a local time HH:MM such as '06:00'",
    )
    assert not (tmp_path / "arena.db").exists()


@pytest.mark.slow
def test_gunicorn_stops_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            str(BIN / "gunicorn"),
            "--config",
            "gunicorn.conf.py",
            "--bind",
            "127.0.0.1:0",
            "wsgi:app",
        ],
        cwd=PROJECT_ROOT,
        env=clean_env(tmp_path, ARENA_RATELIMIT_VOTES="lots"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert [line for line in lines if line.startswith("arena: ")] == [
        "arena: ARENA_RATELIMIT_VOTES is 'lots': expected rate limits such as "
        "'30 per minute; 600 per hour' (couldn't parse rate limit string 'lots')"
    ]
    assert "Traceback" not in result.stderr
