"""Shared pytest fixtures: the fake Ollama server, the app, its client and CLI runner."""

from tests.fake_ollama import fake_ollama  # noqa: F401  (re-exported fixture)
