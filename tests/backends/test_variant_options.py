"""A contestant variant's sampling options reach each backend: Ollama's ``options``, the
OpenAI-compatible body, and the embedded llama.cpp's request (real inference, a stop text)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from arena.backends.base import GenerationOptions
from arena.backends.embedded import EmbeddedBackend
from arena.backends.ollama import OllamaClient
from arena.backends.openai_compat import OpenAICompatClient
from arena.backends.packaged import SMOLLM2_TAG
from arena.play.variants import apply_options, parse_options
from tests.backends.test_embedded_backend import QUESTION, SHORT, installed
from tests.support.fake_ollama import FakeOllama
from tests.support.fake_openai import CHAT, FakeOpenAI

MODEL = "llama3.2:1b"
ASK = [{"role": "user", "content": "Why is the sky blue?"}]
VARIANT = apply_options(
    GenerationOptions(temperature=0.7, num_predict=100, seed=3),
    parse_options(
        ["temperature=1.1", "top_k=40", "min_p=0.05", "repeat_penalty=1.2", "repeat_last_n=64",
         "presence_penalty=0.5", "frequency_penalty=-0.5", "stop=###", "stop=END"]
    ),
)  # fmt: skip
EXTRAS = {
    "top_k": 40,
    "min_p": 0.05,
    "repeat_penalty": 1.2,
    "repeat_last_n": 64,
    "presence_penalty": 0.5,
    "frequency_penalty": -0.5,
    "stop": ["###", "END"],
}


def test_ollama_gets_the_options(fake_ollama: FakeOllama) -> None:
    OllamaClient(fake_ollama.url).chat(MODEL, ASK, VARIANT)
    (body,) = [r.body for r in fake_ollama.requests_to("/api/chat")]
    assert isinstance(body, dict)
    assert body["options"] == {"temperature": 1.1, "num_predict": 100, "seed": 3, **EXTRAS}


def test_the_openai_body_gets_the_options(fake_openai: FakeOpenAI) -> None:
    OpenAICompatClient(fake_openai.url, backoff=0.01).chat(MODEL, ASK, VARIANT)
    (body,) = [r.body for r in fake_openai.requests_to(CHAT)]
    assert isinstance(body, dict)
    assert body["temperature"] == 1.1 and body["max_tokens"] == 100 and body["seed"] == 3
    assert {key: body[key] for key in EXTRAS} == EXTRAS


def test_no_overrides_no_extra_fields(fake_openai: FakeOpenAI) -> None:
    OpenAICompatClient(fake_openai.url, backoff=0.01).chat(MODEL, ASK, GenerationOptions())
    (body,) = [r.body for r in fake_openai.requests_to(CHAT)]
    assert isinstance(body, dict) and not set(EXTRAS) & set(body)


@pytest.fixture(scope="module")
def smollm2() -> Iterator[EmbeddedBackend]:
    backend = EmbeddedBackend([installed(SMOLLM2_TAG)], threads=2)
    yield backend
    backend.close()


def test_the_embedded_backend_stops_at_a_variants_stop_text(smollm2: EmbeddedBackend) -> None:
    plain = smollm2.chat(SMOLLM2_TAG, QUESTION, SHORT).text
    words = plain.split()
    assert len(words) > 3, plain
    stop = words[2]  # a word the same seed writes early
    cut = smollm2.chat(SMOLLM2_TAG, QUESTION, replace(SHORT, stop=(stop,))).text
    assert stop not in cut and plain.startswith(cut.rstrip()), (plain, cut)
    assert len(cut) < len(plain)
