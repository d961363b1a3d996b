"""The HTTP transport both HTTP backends share: Retry-After, 429, per-backend wording and hints.

The retry tests run once per backend kind against its fake server (real HTTP on 127.0.0.1):
a fix to the transport has to hold for both. Waits are read from the times at which the fake
received the requests, with tolerant bounds.
"""

from __future__ import annotations

import email.utils
import itertools
import pickle
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from arena.backends import (
    BackendBusy,
    BackendUnreachable,
    GenerationOptions,
    ModelNotFound,
    OllamaClient,
    OpenAICompatClient,
    missing_model_hint,
)
from arena.backends.embedded import EmbeddedBackend, gguf_file
from arena.backends.transport import HTTPTransport, retry_after_seconds
from tests.support.fake_ollama import FakeOllama
from tests.support.fake_openai import MODELS, FakeOpenAI

QUESTION = [{"role": "user", "content": "Why is the sky blue?"}]
SHORT = GenerationOptions(num_predict=8)


@dataclass
class Server:
    """One backend kind with its fake: how to make a client and fail its model list."""

    kind: str
    url: str
    make: Callable[..., OllamaClient | OpenAICompatClient]
    fail: Callable[..., None]  # fail(status, times=..., headers=...) on the model-list path
    requests: Callable[[], list[Any]]  # the model-list requests received so far

    def client(self, **kwargs: Any) -> OllamaClient | OpenAICompatClient:
        kwargs.setdefault("backoff", 0.01)
        kwargs.setdefault("read_timeout", 10.0)
        return self.make(self.url, **kwargs)

    def gaps(self) -> list[float]:
        """Seconds between consecutive model-list requests, as the fake received them."""
        times = [request.time for request in self.requests()]
        return [later - earlier for earlier, later in itertools.pairwise(times)]


@pytest.fixture(params=["ollama", "openai"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    if request.param == "ollama":
        with FakeOllama() as ollama:

            def fail_tags(status: int, **kwargs: Any) -> None:
                ollama.fail_next(status, "busy, try later", path="/api/tags", **kwargs)

            yield Server(
                "ollama",
                ollama.url,
                OllamaClient,
                fail_tags,
                lambda: ollama.requests_to("/api/tags"),
            )
    else:
        with FakeOpenAI() as openai:

            def fail_models(status: int, **kwargs: Any) -> None:
                openai.fail_next(status, "busy, try later", path=MODELS, **kwargs)

            yield Server(
                "openai",
                openai.url,
                OpenAICompatClient,
                fail_models,
                lambda: openai.requests_to(MODELS),
            )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- one transport ---------------------------------------------------------------------------


def test_both_http_clients_send_through_the_same_transport(
    fake_ollama: FakeOllama,
) -> None:
    with FakeOpenAI() as openai:
        ollama_client = OllamaClient(fake_ollama.url)
        openai_client = OpenAICompatClient(openai.url)
        assert type(ollama_client.transport) is type(openai_client.transport) is HTTPTransport
        assert ollama_client.transport.base_url == ollama_client.base_url == fake_ollama.url
        assert openai_client.transport.base_url == openai_client.base_url == openai.base_url
        assert ollama_client.transport.advice.label == "Ollama"
        assert "OpenAI-compatible" in openai_client.transport.advice.label
        ollama_client.version()
        openai_client.version()
        assert fake_ollama.requests_log and openai.requests_log


def test_the_wording_is_the_backends_own() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendUnreachable) as ollama:
        OllamaClient(url, retries=0).list_models()
    with pytest.raises(BackendUnreachable) as openai:
        OpenAICompatClient(url, retries=0).list_models()
    assert "cannot reach Ollama at" in str(ollama.value)
    assert "ollama serve" in str(ollama.value) and "ARENA_OLLAMA_URL" in str(ollama.value)
    assert "cannot reach the OpenAI-compatible server at" in str(openai.value)
    assert "is the server running?" in str(openai.value)
    assert "ollama" not in str(openai.value).lower()


# -- Retry-After -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1", 1.0), (" 120 ", 120.0), ("1.5", 1.5), ("0", 0.0)],
)
def test_retry_after_in_seconds(value: str, seconds: float) -> None:
    assert retry_after_seconds(value) == seconds


@pytest.mark.parametrize("value", [None, "", "soon", "-3", "1e3", "Wed, 99 Foo 2015"])
def test_unreadable_retry_after_is_none(value: str | None) -> None:
    assert retry_after_seconds(value) is None


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2025, 10, 21, 7, 28, 0, tzinfo=UTC)
    later = email.utils.format_datetime(now + timedelta(seconds=90), usegmt=True)
    earlier = email.utils.format_datetime(now - timedelta(hours=1), usegmt=True)
    assert retry_after_seconds(later, now=now) == 90.0
    assert retry_after_seconds(earlier, now=now) == 0.0  # never negative
    assert retry_after_seconds("Tue, 21 Oct 2025 07:28:30 GMT", now=now) == 30.0


def test_503_with_retry_after_waits_that_long(server: Server) -> None:
    server.fail(503, headers={"Retry-After": "1"})
    assert len(server.client(retries=2).list_models()) >= 2
    assert [r.status for r in server.requests()] == [503, 200]
    (gap,) = server.gaps()
    assert 0.9 <= gap < 10  # the backoff alone would be 0.01 s


def test_retry_after_above_the_cap_is_capped(server: Server) -> None:
    server.fail(503, headers={"Retry-After": "3600"})
    client = server.client(retries=1, max_retry_after=0.5)
    assert client.transport.max_retry_after == 0.5
    assert len(client.list_models()) >= 2
    (gap,) = server.gaps()
    assert 0.4 <= gap < 10  # capped at 0.5 s, not an hour


def test_the_cap_defaults_to_30_seconds(server: Server) -> None:
    assert server.client().transport.max_retry_after == 30.0


def test_retry_after_as_a_date_replaces_the_backoff(server: Server) -> None:
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    server.fail(503, headers={"Retry-After": past})
    assert len(server.client(retries=1, backoff=5.0).list_models()) >= 2
    (gap,) = server.gaps()
    assert gap < 4  # a date in the past: retry at once, not after the 5 s backoff

    future = email.utils.formatdate(time.time() + 2, usegmt=True)  # whole seconds: 1 to 2 s
    server.fail(503, headers={"Retry-After": future})
    assert len(server.client(retries=1).list_models()) >= 2
    assert 0.8 <= server.gaps()[-1] < 10


def test_no_wait_after_the_last_attempt(server: Server) -> None:
    server.fail(503, times=3, headers={"Retry-After": "3600"})
    started = time.monotonic()
    with pytest.raises(BackendBusy, match="HTTP 503 after 2 attempts"):
        server.client(retries=1, max_retry_after=0.2).list_models()
    assert time.monotonic() - started < 10
    assert len(server.requests()) == 2


# -- 429 -------------------------------------------------------------------------------------


def test_429_with_retry_after_is_retried(server: Server) -> None:
    server.fail(429, headers={"Retry-After": "1"})
    assert len(server.client(retries=1).list_models()) >= 2
    assert [r.status for r in server.requests()] == [429, 200]
    (gap,) = server.gaps()
    assert 0.9 <= gap < 10


def test_429_after_all_retries_is_busy(server: Server) -> None:
    server.fail(429, times=5)
    with pytest.raises(BackendBusy, match="HTTP 429 after 3 attempts: busy, try later"):
        server.client(retries=2).list_models()
    assert len(server.requests()) == 3


def test_ollama_behind_a_rate_limiting_proxy(fake_ollama: FakeOllama) -> None:
    fake_ollama.fail_next(429, "rate limit exceeded", times=5)
    with pytest.raises(BackendBusy) as info:
        OllamaClient(fake_ollama.url, retries=1, backoff=0.01).chat("llama3.2:1b", QUESTION, SHORT)
    assert "proxy in front of Ollama limits the request rate" in str(info.value)
    assert len(fake_ollama.requests_to("/api/chat")) == 2


# -- ModelNotFound hints ---------------------------------------------------------------------


def test_model_not_found_on_ollama_says_pull(fake_ollama: FakeOllama) -> None:
    client = OllamaClient(fake_ollama.url, backoff=0.01)
    with pytest.raises(ModelNotFound) as info:
        client.chat("nope:1b", QUESTION, SHORT)
    assert info.value.hint == f"{client.missing_model_hint('nope:1b')}, or run " + (
        "`flask --app arena models sync`"
    )
    assert "ollama pull nope:1b" in str(info.value)
    assert missing_model_hint(client, "nope:1b") == "pull it with `ollama pull nope:1b`"


def test_model_not_found_on_an_openai_server_says_load_it_there() -> None:
    with FakeOpenAI() as openai:
        client = OpenAICompatClient(openai.url, backoff=0.01)
        with pytest.raises(ModelNotFound) as info:
            client.chat("nope:1b", QUESTION, SHORT)
    text = str(info.value)
    assert "GET /v1/models" in text and "models sync" in text and client.base_url in text
    assert "ollama" not in text
    assert "OpenAI-compatible server" in missing_model_hint(client, "nope:1b")


def test_model_not_found_on_the_embedded_backend_says_install_or_register() -> None:
    backend = EmbeddedBackend([gguf_file("tiny:1m", "/nonexistent/tiny.gguf")])
    with pytest.raises(ModelNotFound) as info:
        backend.unload("nope:1b")
    text = str(info.value)
    assert "tiny:1m" in text and "install-local.sh" in text and "'nope:1b'" in text
    assert "ollama" not in text
    assert info.value.url is None
    assert "install-local.sh" in missing_model_hint(backend, "nope:1b")


def test_a_backend_without_advice_gets_a_generic_hint() -> None:
    class Wrapper:
        name = "router"

    assert missing_model_hint(Wrapper(), "x:1b") == "load it on the backend first"
    plain = ModelNotFound("x:1b", "http://h:1")
    assert "ollama" not in str(plain) and "models sync" in str(plain)


def test_model_not_found_keeps_its_hint_through_pickle() -> None:
    error = ModelNotFound("x:1b", "http://h:1", hint="pull it with `ollama pull x:1b`")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ModelNotFound
    assert (copy.model, copy.url, copy.hint) == ("x:1b", "http://h:1", error.hint)
    assert (
        str(copy)
        == str(error)
        == ("model 'x:1b' not found on http://h:1: pull it with `ollama pull x:1b`")
    )
