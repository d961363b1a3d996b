"""The prompt bank: built-in prompts, file imports with de-duplication, validation."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from arena.extensions import db
from arena.models import Prompt
from arena.play.prompts import CATEGORIES, PromptError, builtin_bank, validate_prompt_text


def test_builtin_bank_is_large_varied_and_loaded_on_first_start(app: Flask) -> None:
    bank = builtin_bank()
    assert len(bank) >= 150
    categories = Counter(category for _, _, category in bank)
    assert set(categories) == set(CATEGORIES)
    assert min(categories.values()) >= 15
    with app.app_context():
        assert db.session.scalar(select(func.count(Prompt.id))) == len(bank)


def _count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Prompt.id))) or 0


def test_import_text_file_deduplicates(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    before = _count(app)
    path = tmp_path / "prompts.txt"
    path.write_text("Name three rivers in Peru.\n\nname  three rivers in PERU.\nWhat is 17 * 23?\n")
    result = runner.invoke(args=["prompts", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "added 2, skipped 1 duplicates, 0 invalid" in result.output
    again = runner.invoke(args=["prompts", "import", str(path)])
    assert "added 0, skipped 3 duplicates" in again.output
    assert _count(app) == before + 2


def test_import_csv_with_categories(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "prompts.csv"
    path.write_text(
        'Prompt,Category\n"Write a haiku, about tea",writing\nSum 1..10?,reasoning\n,x\n'
    )
    result = runner.invoke(args=["prompts", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "added 2, skipped 0 duplicates, 1 invalid" in result.output
    assert "skipped line 4: the prompt is empty" in result.output
    with app.app_context():
        haiku = db.session.scalar(select(Prompt).where(Prompt.text == "Write a haiku, about tea"))
        assert (haiku.category, haiku.source) == ("writing", "import")


def test_import_jsonl_and_category_override(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "prompts.jsonl"
    lines = [{"text": "Explain RAID 5 briefly."}, {"prompt": "¿Qué es un volcán?", "category": "x"}]
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines))
    result = runner.invoke(args=["prompts", "import", str(path), "--category", "knowledge"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        volcano = db.session.scalar(select(Prompt).where(Prompt.text == "¿Qué es un volcán?"))
        assert volcano.category == "knowledge"


def test_import_errors_are_clear(runner: FlaskCliRunner, tmp_path: Path) -> None:
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("question,answer\nhi,there\n")
    result = runner.invoke(args=["prompts", "import", str(bad_csv)])
    assert result.exit_code != 0
    assert "needs a 'prompt' or 'text' column" in result.output
    bad_jsonl = tmp_path / "bad.jsonl"
    bad_jsonl.write_text('{"text": "ok"}\n{not json\n')
    result = runner.invoke(args=["prompts", "import", str(bad_jsonl)])
    assert result.exit_code != 0
    assert "line 2 is not valid JSON" in result.output
    missing = runner.invoke(args=["prompts", "import", str(tmp_path / "nope.txt")])
    assert missing.exit_code != 0
    assert "does not exist" in missing.output


def test_validate_prompt_text() -> None:
    assert validate_prompt_text("  hello\r\nworld  ") == "hello\nworld"
    with pytest.raises(PromptError, match="empty"):
        validate_prompt_text("   ")
    with pytest.raises(PromptError, match="limit is 10"):
        validate_prompt_text("x" * 11, max_chars=10)
    with pytest.raises(PromptError, match="control characters"):
        validate_prompt_text("bell\x07")
    with pytest.raises(PromptError, match="must be text"):
        validate_prompt_text(None)


def test_prompts_list(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["prompts", "list", "--category", "coding", "--limit", "3"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 4
    assert all(" coding " in line for line in lines[:3])
    assert "coding: " in lines[-1]
