"""``flask --app arena doctor`` tells what is fine and what to fix."""

from __future__ import annotations

from flask.testing import FlaskCliRunner

from tests.support.fake_ollama import FakeOllama


def test_doctor_on_a_fresh_instance_says_what_to_do(
    runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    result = runner.invoke(args=["doctor"])
    assert result.exit_code == 1
    out = result.output
    assert "[ok  ] database answers" in out
    assert "[ok  ] schema is at the newest migration" in out
    assert "[ok  ] backend 'ollama' answers" in out
    assert "[FAIL] 0 enabled model(s): a battle needs two" in out
    assert "fix: flask --app arena models sync" in out
    assert "[warn] no worker is running" in out


def test_doctor_after_setup_passes_and_spots_a_vanished_model(
    runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    assert runner.invoke(args=["pregenerate", "--prompts", "3"]).exit_code == 0
    result = runner.invoke(args=["doctor"])
    assert "[ok  ] 3 enabled models" in result.output
    assert "FAIL" not in result.output, result.output
    assert result.exit_code == 0

    fake_ollama.remove_model("gemma3:4b")
    result = runner.invoke(args=["doctor"])
    assert result.exit_code == 1
    assert "[FAIL] gemma3:4b is enabled but 'ollama' does not list it" in result.output
    assert "ollama pull gemma3:4b" in result.output


def test_doctor_reports_an_unreachable_backend(
    runner: FlaskCliRunner, fake_ollama: FakeOllama
) -> None:
    fake_ollama.stop()
    result = runner.invoke(args=["doctor"])
    assert result.exit_code == 1
    assert "[FAIL] backend" in result.output
    assert "Traceback" not in result.output
