"""The judge prompt: the default copied to the instance folder, an edited one used, one
without its placeholders refused, and long answers cut to fit the judge's context."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena.judging.prompt import (
    CUT_MARK,
    JudgePromptError,
    default_text,
    estimate_tokens,
    fit,
    load_prompt,
    parse_prompt,
)

CONFIG: dict[str, object] = {"JUDGE_PROMPT_FILE": None}


def test_the_default_is_copied_to_the_instance_folder_and_used(tmp_path: Path) -> None:
    prompt = load_prompt(CONFIG, str(tmp_path))
    assert (tmp_path / "judge_prompt.txt").read_text() == default_text()
    assert prompt.system is not None and "impartial judge" in prompt.system
    assert "[[C]]" in prompt.system and "position" in prompt.system and "length" in prompt.system
    messages = prompt.messages("Q?", "first answer", "second answer")
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert user.index("Q?") < user.index("first answer") < user.index("second answer")


def test_an_edited_prompt_in_the_instance_folder_is_used(tmp_path: Path) -> None:
    (tmp_path / "judge_prompt.txt").write_text("Q: {question}\nX: {answer_a}\nY: {answer_b}\n")
    prompt = load_prompt(CONFIG, str(tmp_path))
    assert prompt.system is None
    assert prompt.messages("q", "x", "y") == [{"role": "user", "content": "Q: q\nX: x\nY: y"}]


@pytest.mark.parametrize(
    "text",
    [
        "Judge these.\n---\n{question}\n{answer_a}\n",  # no {answer_b}
        "Judge {question} {answer_a} {answer_b}\n---\nnothing here",  # placeholders above ---
        "",
    ],
)
def test_a_prompt_without_its_placeholders_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "judge_prompt.txt"
    path.write_text(text)
    with pytest.raises(JudgePromptError, match=r"lacks .*\{answer_"):
        load_prompt(CONFIG, str(tmp_path))


def test_a_configured_file_that_is_missing_is_refused(tmp_path: Path) -> None:
    config = {"JUDGE_PROMPT_FILE": str(tmp_path / "nowhere.txt")}
    with pytest.raises(JudgePromptError, match="cannot read"):
        load_prompt(config, str(tmp_path))


def test_answers_are_put_in_once() -> None:
    prompt = parse_prompt("{question}|{answer_a}|{answer_b}", Path("p"))
    user = prompt.messages("{answer_b}", "{question}", "b")[0]["content"]
    assert user == "{answer_b}|{question}|b"


def test_short_answers_are_not_cut() -> None:
    prompt = parse_prompt(default_text(), Path("p"))
    fitted = fit(prompt, "q", "a" * 100, "b" * 100, num_ctx=2048, num_predict=256)
    assert not fitted.truncated and fitted.answer_a == "a" * 100


@pytest.mark.parametrize(("len_a", "len_b"), [(20_000, 20_000), (300, 30_000), (30_000, 10)])
def test_long_answers_are_cut_to_fit_the_context(len_a: int, len_b: int) -> None:
    prompt = parse_prompt(default_text(), Path("p"))
    question = "Why? " * 50
    fitted = fit(prompt, question, "a" * len_a, "b" * len_b, num_ctx=2048, num_predict=256)
    assert fitted.truncated
    whole = prompt.messages(fitted.question, fitted.answer_a, fitted.answer_b)
    tokens = sum(estimate_tokens(m["content"]) for m in whole)
    assert tokens + 256 <= 2048  # the conservative estimate fits, with the verdict
    assert tokens > 0.9 * (2048 - 256 - 64)  # and uses the room it has
    for text, length in ((fitted.answer_a, len_a), (fitted.answer_b, len_b)):
        assert text.endswith(CUT_MARK) or len(text) == length  # a short one is kept whole
    assert fitted.question == question  # a short question is kept whole


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.tuples(*(st.integers(0, 40_000) for _ in range(3))),
    num_ctx=st.integers(1024, 8192),
    num_predict=st.integers(16, 512),
)
def test_fitted_texts_always_fit(
    lengths: tuple[int, int, int], num_ctx: int, num_predict: int
) -> None:
    prompt = parse_prompt(default_text(), Path("p"))
    question, a, b = ("q" * lengths[0], "a" * lengths[1], "b" * lengths[2])
    fitted = fit(prompt, question, a, b, num_ctx=num_ctx, num_predict=num_predict)
    whole = prompt.messages(fitted.question, fitted.answer_a, fitted.answer_b)
    tokens = sum(estimate_tokens(m["content"]) for m in whole)
    assert tokens + num_predict <= num_ctx
    assert fitted.truncated == (
        (fitted.question, fitted.answer_a, fitted.answer_b) != (question, a, b)
    )
    for cut, original in zip(
        (fitted.question, fitted.answer_a, fitted.answer_b), (question, a, b), strict=True
    ):
        assert cut == original or (
            cut.endswith(CUT_MARK) and original.startswith(cut[: -len(CUT_MARK)])
        )
