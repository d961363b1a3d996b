"""Battles in tests: a pool of neutral answers (no model names itself), the page's battle id."""

from __future__ import annotations

import re

from flask.testing import FlaskCliRunner

from tests.support.fake_ollama import FakeOllama

NEUTRAL_ANSWER = "Here is a **careful** answer.\n\n- point one\n- point two"


def battle_id_of(html: str) -> str:
    match = re.search(r'name="battle_id" value="([^"]+)"', html)
    assert match, "the page has no vote form"
    return match.group(1)


def neutral_pool(runner: FlaskCliRunner, fake_ollama: FakeOllama, prompts: int = 3) -> None:
    for tag in ("llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0", "gemma3:4b"):
        fake_ollama.set_answer(tag, NEUTRAL_ANSWER)
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    result = runner.invoke(args=["pregenerate", "--prompts", str(prompts)])
    assert result.exit_code == 0, result.output
