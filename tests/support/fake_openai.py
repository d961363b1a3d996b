"""A fake OpenAI-compatible server for tests of the OpenAI backend (see
:mod:`tests.support.fakes.openai`).

    with FakeOpenAI(["llama3.2:1b"]) as fake:
        OpenAICompatClient(fake.url).chat(...)
"""

from __future__ import annotations

from tests.support.fakes.base import RecordedRequest
from tests.support.fakes.openai import FakeOpenAI
from tests.support.fakes.openai_handler import CHAT, ERROR_TYPES, MODELS

__all__ = ["CHAT", "ERROR_TYPES", "MODELS", "FakeOpenAI", "RecordedRequest"]
