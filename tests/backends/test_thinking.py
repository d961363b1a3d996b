"""Thinking kept apart from the answer: the splitter alone, then each HTTP backend against
its fake server (thinking fields, inline <think> blocks, think refused)."""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import pytest

from arena.backends import GenerationOptions, OllamaClient, OpenAICompatClient, ThinkRefused
from arena.backends.embedded import _Collector
from arena.backends.thinking import ThinkingSplitter, think_wire_value
from tests.support.fake_ollama import FakeOllama
from tests.support.fake_openai import FakeOpenAI
from tests.support.fakes.ollama_api import FakeModel

QUESTION = [{"role": "user", "content": "Why is the sky blue?"}]
THOUGHT = "Rayleigh scattering, shorter wavelengths scatter more."


class Clock:
    """A clock that moves 10 ns each time it is read."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        self.now += 10
        return self.now


def split(pieces: list[str], seen: list[str] | None = None) -> ThinkingSplitter:
    splitter = ThinkingSplitter(seen.append if seen is not None else None, clock=Clock())
    for piece in pieces:
        splitter.content(piece)
    return splitter


# -- the splitter ------------------------------------------------------------------------


def test_inline_block_split_across_pieces_is_taken_out() -> None:
    seen: list[str] = []
    pieces = ["<th", "ink>I should ", "say hi.</thi", "nk>\n\n", "Hello", " there."]
    result = split(pieces, seen).finish()
    assert result.text == "Hello there."
    assert result.thinking == "I should say hi."
    assert result.thinking_tokens == 3  # the pieces that carried thinking
    # on_token saw one call per piece, never a word of the thinking
    assert len(seen) == len(pieces)
    assert "".join(seen) == "Hello there."
    assert result.first_token_ns is not None and result.first_token_ns > 0
    assert result.thinking_duration is not None and result.thinking_duration > 0


def test_text_without_thinking_is_untouched() -> None:
    text = "A < B and x<thinking is fine> but not a tag."
    result = split([text[:5], text[5:20], text[20:]]).finish()
    assert result.text == text
    assert result.thinking is None and result.thinking_tokens is None
    assert result.thinking_duration is None


def test_unclosed_block_at_the_token_limit_leaves_no_answer() -> None:
    result = split(["<think>", "Let me", " consider", " the"]).finish()
    assert result.text == ""
    assert result.thinking == "Let me consider the"


def test_a_block_opened_by_the_prompt_is_thinking() -> None:
    """DeepSeek-R1's template opens <think> in the prompt: the reply has only </think>."""
    result = split(["Hmm,", " easy.", "</think>", "\n\nIt", " is blue."]).finish()
    assert result.text == "It is blue."
    assert result.thinking == "Hmm, easy."
    assert result.thinking_tokens == 3
    assert result.thinking_duration is not None and result.thinking_duration > 0


def test_separate_thinking_pieces() -> None:
    seen: list[str] = []
    splitter = ThinkingSplitter(seen.append, clock=Clock())
    for piece in ("First", " this."):
        splitter.thinking(piece)
    splitter.content("Answer.")
    result = splitter.finish()
    assert (result.text, result.thinking, result.thinking_tokens) == ("Answer.", "First this.", 2)
    assert seen == ["", "", "Answer."]
    assert result.thinking_duration == 20  # first thinking piece to first answer piece


def test_think_wire_values() -> None:
    assert think_wire_value(None) is None
    assert think_wire_value("off") is False
    assert think_wire_value("on") is True
    assert think_wire_value("high") == "high"
    with pytest.raises(ValueError, match="think must be one of"):
        think_wire_value("maybe")


# -- Ollama -------------------------------------------------------------------------------


@pytest.fixture
def thinking_ollama() -> Iterator[FakeOllama]:
    models = [
        FakeModel("qwen3:0.6b", "0.6B", capabilities=("completion", "thinking"), thinking=THOUGHT),
        FakeModel("r1-inline:1.5b", "1.5B", inline_think=True, thinking=THOUGHT),
        FakeModel("llama3.2:1b", "1.2B"),
    ]
    with FakeOllama(models) as fake:
        yield fake


def test_ollama_thinking_chunks_are_kept_apart(thinking_ollama: FakeOllama) -> None:
    seen: list[str] = []
    client = OllamaClient(thinking_ollama.url)
    result = client.chat("qwen3:0.6b", QUESTION, GenerationOptions(), on_token=seen.append)
    assert result.text == "Answer from qwen3:0.6b to: Why is the sky blue?"
    assert result.thinking == THOUGHT
    assert result.thinking_tokens == len(THOUGHT.split())
    assert result.eval_count == len(THOUGHT.split()) + len(result.text.split())  # both count
    assert result.first_token_ns is not None and result.first_token_ns > 0
    assert result.prompt_eval_duration is not None
    assert result.thinking_duration is not None
    assert not any(word in "".join(seen) for word in ("Rayleigh", "wavelengths"))
    assert "think" not in thinking_ollama.requests_to("/api/chat")[-1].body  # None: left out


def test_ollama_think_off_is_sent_and_the_model_does_not_think(
    thinking_ollama: FakeOllama,
) -> None:
    client = OllamaClient(thinking_ollama.url)
    result = client.chat("qwen3:0.6b", QUESTION, GenerationOptions(think=False))
    assert thinking_ollama.requests_to("/api/chat")[-1].body["think"] is False
    assert result.thinking is None and result.thinking_tokens is None
    assert result.text.startswith("Answer from qwen3")


def test_ollama_thinking_cut_by_the_token_limit(thinking_ollama: FakeOllama) -> None:
    client = OllamaClient(thinking_ollama.url)
    result = client.chat("qwen3:0.6b", QUESTION, GenerationOptions(num_predict=3))
    assert result.text == ""
    assert result.thinking == "Rayleigh scattering, shorter"
    assert result.done_reason == "length"


def test_ollama_inline_blocks_are_stripped(thinking_ollama: FakeOllama) -> None:
    client = OllamaClient(thinking_ollama.url)
    result = client.chat("r1-inline:1.5b", QUESTION, GenerationOptions())
    assert result.text == "Answer from r1-inline:1.5b to: Why is the sky blue?"
    assert result.thinking == THOUGHT
    assert "<think>" not in result.text


def test_ollama_refused_think_is_its_own_error(thinking_ollama: FakeOllama) -> None:
    client = OllamaClient(thinking_ollama.url)
    with pytest.raises(ThinkRefused, match="does not support thinking") as caught:
        client.chat("llama3.2:1b", QUESTION, GenerationOptions(think=True))
    assert caught.value.status == 400
    assert isinstance(pickle.loads(pickle.dumps(caught.value)), ThinkRefused)


# -- OpenAI-compatible ----------------------------------------------------------------------


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_openai_reasoning_deltas_are_kept_apart(field: str) -> None:
    with FakeOpenAI(["qwen3:0.6b"]) as fake:
        fake.set_reasoning("qwen3:0.6b", THOUGHT, field)
        seen: list[str] = []
        client = OpenAICompatClient(fake.url)
        result = client.chat("qwen3:0.6b", QUESTION, GenerationOptions(), on_token=seen.append)
        body = fake.requests_to("/v1/chat/completions")[-1].body
    assert result.text == "Answer from qwen3:0.6b to: Why is the sky blue?"
    assert result.thinking == THOUGHT
    assert result.thinking_tokens == len(THOUGHT.split())
    assert result.first_token_ns is not None and result.first_token_ns > 0
    assert "Rayleigh" not in "".join(seen)
    assert "reasoning_effort" not in body


def test_openai_inline_blocks_and_think_off() -> None:
    with FakeOpenAI(["r1:1.5b"]) as fake:
        fake.set_answer("r1:1.5b", f"<think>{THOUGHT}</think>\n\nBlue, because of scattering.")
        client = OpenAICompatClient(fake.url)
        result = client.chat("r1:1.5b", QUESTION, GenerationOptions(think=False))
        body = fake.requests_to("/v1/chat/completions")[-1].body
    assert (result.text, result.thinking) == ("Blue, because of scattering.", THOUGHT)
    assert body["reasoning_effort"] == "none"


# -- the embedded backend's stream callback (llama.cpp's chunks, no model needed) -----------


def test_embedded_chunks_keep_thinking_apart() -> None:
    seen: list[str] = []
    collector = _Collector(seen.append)

    def chunk(**delta: str) -> dict[str, object]:
        return {"choices": [{"delta": delta, "finish_reason": None}]}

    for event in (
        chunk(reasoning_content="Parsed "),
        chunk(reasoning_content="thinking."),
        chunk(content="<think>inline"),
        chunk(content=" too</think>Blue."),
    ):
        assert collector(event) is False
    result = collector.splitter.finish()
    assert result.text == "Blue."
    assert result.thinking == "Parsed thinking.inline too"
    assert "".join(seen) == "Blue." and len(seen) == 4
