"""OllamaClient against the fake Ollama server, over real HTTP (no monkeypatching)."""

from __future__ import annotations

import math
import pickle
import socket
from typing import Any

import pytest

from arena.backends import (
    Backend,
    BackendBusy,
    BackendError,
    BackendHTTPError,
    BackendModel,
    BackendTimeout,
    BackendUnreachable,
    ChatResult,
    GenerationOptions,
    MalformedReply,
    ModelNotFound,
    OllamaClient,
    StreamError,
    normalize_keep_alive,
    parse_ollama_host,
)
from tests.support.fake_ollama import FakeOllama

MODEL = "llama3.2:1b"
QUESTION = [{"role": "user", "content": "Why is the sky blue?"}]
ANSWER = f"Answer from {MODEL} to: Why is the sky blue?"
OOM = "model requires more system memory (5.3 GiB) than is available (3.5 GiB)"


def make_client(fake: FakeOllama, **kwargs: Any) -> OllamaClient:
    kwargs.setdefault("backoff", 0.01)
    kwargs.setdefault("read_timeout", 10.0)
    return OllamaClient(fake.url, **kwargs)


def chat_bodies(fake: FakeOllama) -> list[dict[str, Any]]:
    return [r.body for r in fake.requests_to("/api/chat")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- parse_ollama_host ---------------------------------------------------------------------

IPV6 = "[0001:002:003:0004::1]"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "http://127.0.0.1:11434"),
        ("", "http://127.0.0.1:11434"),
        ("   ", "http://127.0.0.1:11434"),
        ("1.2.3.4", "http://1.2.3.4:11434"),
        (":56789", "http://127.0.0.1:56789"),
        ("1.2.3.4:56789", "http://1.2.3.4:56789"),
        ("http://1.2.3.4", "http://1.2.3.4:80"),
        ("https://1.2.3.4", "https://1.2.3.4:443"),
        ("https://1.2.3.4:56789", "https://1.2.3.4:56789"),
        ("example.com", "http://example.com:11434"),
        ("example.com:56789", "http://example.com:56789"),
        ("http://example.com", "http://example.com:80"),
        ("https://example.com", "https://example.com:443"),
        ("https://example.com:56789", "https://example.com:56789"),
        ("http://example.com:11434/", "http://example.com:11434"),
        ("example.com/", "http://example.com:11434"),
        ("example.com:56789/", "http://example.com:56789"),
        ("example.com/path", "http://example.com:11434/path"),
        ("example.com:56789/path", "http://example.com:56789/path"),
        ("https://example.com:56789/path", "https://example.com:56789/path"),
        ("example.com:56789/path/", "http://example.com:56789/path"),
        ("host:1234/a/b/", "http://host:1234/a/b"),
        ("localhost", "http://localhost:11434"),
        ("0.0.0.0", "http://0.0.0.0:11434"),  # like the Python client: no loopback rewrite
        (IPV6, f"http://{IPV6}:11434"),
        (f"{IPV6}:56789", f"http://{IPV6}:56789"),
        (f"http://{IPV6}", f"http://{IPV6}:80"),
        (f"https://{IPV6}", f"https://{IPV6}:443"),
        (f"https://{IPV6}:56789", f"https://{IPV6}:56789"),
        (f"{IPV6}/", f"http://{IPV6}:11434"),
        (f"{IPV6}:56789/", f"http://{IPV6}:56789"),
        (f"{IPV6}/path", f"http://{IPV6}:11434/path"),
        (f"{IPV6}:56789/path", f"http://{IPV6}:56789/path"),
        (f"https://{IPV6}:56789/path", f"https://{IPV6}:56789/path"),
        (f"{IPV6}:56789/path/", f"http://{IPV6}:56789/path"),
        ("[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_parse_ollama_host(value: str | None, expected: str) -> None:
    assert parse_ollama_host(value) == expected


def test_parse_ollama_host_rejects_a_bad_port() -> None:
    with pytest.raises(ValueError):
        parse_ollama_host("example.com:notaport")


def test_parsed_host_reaches_the_server(fake_ollama: FakeOllama) -> None:
    client = OllamaClient(parse_ollama_host(f":{fake_ollama.port}"))
    assert client.version() == fake_ollama.version


# -- keep_alive ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (300, 300),
        (-1, -1),
        (0, 0),
        (2.5, 2.5),
        ("5m", "5m"),
        ("-1m", "-1m"),
        ("30s", "30s"),
        ("1h30m", "1h30m"),
        ("1.5h", "1.5h"),
        (" 10m ", "10m"),
        ("-1", -1),
        ("300", 300),
        ("0", 0),
        ("2.5", 2.5),
    ],
)
def test_normalize_keep_alive(value: Any, expected: Any) -> None:
    result = normalize_keep_alive(value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    "value", ["5 minutes", "abc", "", "5d", "1e3", "m", True, math.nan, math.inf, [1]]
)
def test_normalize_keep_alive_rejects(value: Any) -> None:
    with pytest.raises(ValueError):
        normalize_keep_alive(value)


@pytest.mark.parametrize(
    ("keep_alive", "on_the_wire"),
    [(300, 300), ("5m", "5m"), ("-1", -1), ("-1m", "-1m"), (-1, -1)],
)
def test_keep_alive_sent_in_a_form_ollama_accepts(
    fake_ollama: FakeOllama, keep_alive: int | str, on_the_wire: int | str
) -> None:
    result = make_client(fake_ollama).chat(
        MODEL, QUESTION, GenerationOptions(), keep_alive=keep_alive
    )
    assert result.text == ANSWER
    (body,) = chat_bodies(fake_ollama)
    assert body["keep_alive"] == on_the_wire
    assert type(body["keep_alive"]) is type(on_the_wire)


def test_keep_alive_left_out_when_none(fake_ollama: FakeOllama) -> None:
    make_client(fake_ollama).chat(MODEL, QUESTION, GenerationOptions())
    assert "keep_alive" not in chat_bodies(fake_ollama)[0]


def test_invalid_keep_alive_raises_before_sending(fake_ollama: FakeOllama) -> None:
    with pytest.raises(ValueError, match="keep_alive"):
        make_client(fake_ollama).chat(MODEL, QUESTION, GenerationOptions(), keep_alive="forever")
    assert fake_ollama.requests_log == []


def test_keep_alive_zero_unloads_after_the_reply(fake_ollama: FakeOllama) -> None:
    make_client(fake_ollama).chat(MODEL, QUESTION, GenerationOptions(), keep_alive=0)
    assert fake_ollama.loaded_model is None


# -- types ---------------------------------------------------------------------------------


def test_generation_options_to_ollama_omits_none() -> None:
    assert GenerationOptions().to_ollama() == {"temperature": 0.7, "num_predict": 1024}
    options = GenerationOptions(temperature=0.0, num_predict=64, seed=7, top_p=0.9, num_ctx=4096)
    assert options.to_ollama() == {
        "temperature": 0.0,
        "num_predict": 64,
        "seed": 7,
        "top_p": 0.9,
        "num_ctx": 4096,
    }


def make_result(**metrics: int | None) -> ChatResult:
    defaults: dict[str, int | None] = dict.fromkeys(
        [
            "eval_count",
            "eval_duration",
            "prompt_eval_count",
            "prompt_eval_duration",
            "load_duration",
            "total_duration",
        ]
    )
    return ChatResult(text="x", model="m", done_reason="stop", **(defaults | metrics))


def test_tokens_per_second() -> None:
    assert make_result(eval_count=10, eval_duration=2_000_000_000).tokens_per_second == 5.0
    assert make_result(eval_count=10, eval_duration=None).tokens_per_second is None
    assert make_result(eval_count=None, eval_duration=10).tokens_per_second is None
    assert make_result(eval_count=10, eval_duration=0).tokens_per_second is None


def test_errors_are_backend_errors_and_pickle() -> None:
    for exc in (ModelNotFound("x:1b", "http://h:1"), BackendHTTPError(500, "boom", "u", "hint")):
        assert isinstance(exc, BackendError)
        copy = pickle.loads(pickle.dumps(exc))
        assert str(copy) == str(exc)
    assert pickle.loads(pickle.dumps(ModelNotFound("x:1b"))).model == "x:1b"
    assert pickle.loads(pickle.dumps(BackendHTTPError(502, "bad"))).status == 502


def test_client_is_a_backend(fake_ollama: FakeOllama) -> None:
    client = make_client(fake_ollama)
    assert isinstance(client, Backend)
    assert client.name == "ollama"


# -- list_models, version, unload ------------------------------------------------------------


def test_list_models_reads_details(fake_ollama: FakeOllama) -> None:
    models = make_client(fake_ollama).list_models()
    assert [m.tag for m in models] == ["llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0", "gemma3:4b"]
    llama, qwen, _ = models
    assert llama == BackendModel(
        tag="llama3.2:1b",
        family="llama",
        parameter_size="1.2B",
        quantization="Q8_0",
        size_bytes=fake_ollama.models[0].size,
        digest=fake_ollama.models[0].digest,
    )
    assert qwen.parameter_size == "494.03M"
    assert qwen.family == "qwen2"
    assert llama.digest is not None and len(llama.digest) == 64
    assert llama.size_bytes is not None and llama.size_bytes > 0


def test_list_models_falls_back_to_name(fake_ollama: FakeOllama) -> None:
    fake_ollama.legacy_tags = True
    tags = [m.tag for m in make_client(fake_ollama).list_models()]
    assert tags == ["llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0", "gemma3:4b"]


def test_list_models_empty(fake_ollama: FakeOllama) -> None:
    for model in fake_ollama.models:
        fake_ollama.remove_model(model.tag)
    assert make_client(fake_ollama).list_models() == []


def test_list_models_garbage(fake_ollama: FakeOllama) -> None:
    fake_ollama.garbage_next(path="/api/tags")
    with pytest.raises(MalformedReply, match="ARENA_OLLAMA_URL"):
        make_client(fake_ollama).list_models()


def test_version(fake_ollama: FakeOllama) -> None:
    fake_ollama.version = "0.9.9"
    assert make_client(fake_ollama).version() == "0.9.9"


def test_unload(fake_ollama: FakeOllama) -> None:
    client = make_client(fake_ollama)
    client.chat(MODEL, QUESTION, GenerationOptions())
    assert fake_ollama.loaded_model == MODEL
    client.unload(MODEL)
    assert fake_ollama.loaded_model is None
    body = chat_bodies(fake_ollama)[-1]
    assert body["messages"] == []
    assert body["keep_alive"] == 0
    assert fake_ollama.requests_log[-1].outcome == "unload"


def test_unload_unknown_model(fake_ollama: FakeOllama) -> None:
    with pytest.raises(ModelNotFound):
        make_client(fake_ollama).unload("nope:1b")


# -- chat ----------------------------------------------------------------------------------


def test_chat_streams_and_parses_stats(fake_ollama: FakeOllama) -> None:
    pieces: list[str] = []
    result = make_client(fake_ollama).chat(
        MODEL, QUESTION, GenerationOptions(), on_token=pieces.append
    )
    assert result.text == ANSWER
    assert result.model == MODEL
    assert result.done_reason == "stop"
    assert "".join(pieces) == ANSWER
    assert len(pieces) == len(ANSWER.split()) == result.eval_count
    for value in (
        result.eval_duration,
        result.prompt_eval_count,
        result.prompt_eval_duration,
        result.load_duration,
        result.total_duration,
    ):
        assert isinstance(value, int) and value > 0
    assert result.tokens_per_second is not None and result.tokens_per_second > 0


def test_chat_request_body(fake_ollama: FakeOllama) -> None:
    options = GenerationOptions(temperature=0.2, num_predict=50, seed=42, num_ctx=4096)
    make_client(fake_ollama).chat(MODEL, QUESTION, options)
    (body,) = chat_bodies(fake_ollama)
    assert body == {
        "model": MODEL,
        "messages": QUESTION,
        "stream": True,
        "options": {"temperature": 0.2, "num_predict": 50, "seed": 42, "num_ctx": 4096},
    }


def test_final_chunk_text_is_appended(fake_ollama: FakeOllama) -> None:
    fake_ollama.text_in_final_chunk = True
    pieces: list[str] = []
    result = make_client(fake_ollama).chat(
        MODEL, QUESTION, GenerationOptions(), on_token=pieces.append
    )
    assert result.text == ANSWER
    assert pieces[-1] == " blue?"
    assert "".join(pieces) == ANSWER


def test_num_predict_cut_gives_length(fake_ollama: FakeOllama) -> None:
    result = make_client(fake_ollama).chat(MODEL, QUESTION, GenerationOptions(num_predict=3))
    assert result.text == "Answer from llama3.2:1b"
    assert result.done_reason == "length"
    assert result.eval_count == 3


def test_set_answer(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_answer("gemma3:4b", "Rayleigh scattering.")
    fake_ollama.set_answer(None, lambda request: f"{len(request['messages'])} message(s)")
    client = make_client(fake_ollama)
    assert client.chat("gemma3:4b", QUESTION, GenerationOptions()).text == "Rayleigh scattering."
    assert client.chat(MODEL, QUESTION, GenerationOptions()).text == "1 message(s)"


def test_model_names_are_case_insensitive(fake_ollama: FakeOllama) -> None:
    result = make_client(fake_ollama).chat("LLAMA3.2:1B", QUESTION, GenerationOptions())
    assert result.text == ANSWER
    assert result.model == "LLAMA3.2:1B"  # echoed as sent, like Ollama


def test_on_token_can_stop_the_generation(fake_ollama: FakeOllama) -> None:
    class Stop(Exception):
        pass

    seen: list[str] = []

    def stop_after_two(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 2:
            raise Stop

    client = make_client(fake_ollama)
    with pytest.raises(Stop):
        client.chat(MODEL, QUESTION, GenerationOptions(), on_token=stop_after_two)
    assert seen == ["Answer", " from"]
    assert client.chat(MODEL, QUESTION, GenerationOptions()).text == ANSWER


def test_bearer_token_is_sent(fake_ollama: FakeOllama) -> None:
    fake_ollama.require_token = "s3cret"
    make_client(fake_ollama, api_key="s3cret").chat(MODEL, QUESTION, GenerationOptions())
    assert fake_ollama.requests_log[-1].headers["Authorization"] == "Bearer s3cret"
    with pytest.raises(BackendHTTPError) as info:
        make_client(fake_ollama).version()
    assert info.value.status == 401
    assert "API key" in str(info.value)
    assert "Authorization" not in fake_ollama.requests_log[-1].headers


# -- errors of OLLAMA_API.md section 4 -----------------------------------------------------


def test_unknown_model(fake_ollama: FakeOllama) -> None:
    with pytest.raises(ModelNotFound) as info:
        make_client(fake_ollama).chat("nope:1b", QUESTION, GenerationOptions())
    assert info.value.model == "nope:1b"
    assert "ollama pull nope:1b" in str(info.value)
    assert "models sync" in str(info.value)
    assert fake_ollama.url in str(info.value)
    assert len(fake_ollama.requests_log) == 1  # a 404 is not retried


def test_bare_name_means_latest(fake_ollama: FakeOllama) -> None:
    with pytest.raises(ModelNotFound):
        make_client(fake_ollama).chat("llama3.2", QUESTION, GenerationOptions())
    fake_ollama.add_model("llama3.2")
    assert make_client(fake_ollama).chat("llama3.2", QUESTION, GenerationOptions()).text


def test_missing_model_is_a_400_not_retried(fake_ollama: FakeOllama) -> None:
    with pytest.raises(BackendHTTPError) as info:
        make_client(fake_ollama).chat("", QUESTION, GenerationOptions())
    assert info.value.status == 400
    assert info.value.message == "model is required"
    assert len(fake_ollama.requests_log) == 1


def test_400_is_not_retried(fake_ollama: FakeOllama) -> None:
    fake_ollama.fail_next(400, 'time: missing unit in duration "-1"', times=5)
    with pytest.raises(BackendHTTPError) as info:
        make_client(fake_ollama).chat(MODEL, QUESTION, GenerationOptions())
    assert info.value.status == 400
    assert "missing unit" in str(info.value)
    assert len(fake_ollama.requests_log) == 1


def test_wrong_option_type_is_a_500(fake_ollama: FakeOllama) -> None:
    options = GenerationOptions(seed="42")  # type: ignore[arg-type]
    with pytest.raises(BackendHTTPError) as info:
        make_client(fake_ollama).chat(MODEL, QUESTION, options)
    assert info.value.status == 500
    assert info.value.message == 'option "seed" must be of type integer'


def test_503_is_retried_then_succeeds(fake_ollama: FakeOllama) -> None:
    fake_ollama.fail_next(503, times=2)
    result = make_client(fake_ollama, retries=3).chat(MODEL, QUESTION, GenerationOptions())
    assert result.text == ANSWER
    assert [r.status for r in fake_ollama.requests_log] == [503, 503, 200]


def test_503_after_retries_is_busy(fake_ollama: FakeOllama) -> None:
    fake_ollama.fail_next(503, times=10)
    with pytest.raises(BackendBusy) as info:
        make_client(fake_ollama, retries=2).chat(MODEL, QUESTION, GenerationOptions())
    assert len(fake_ollama.requests_log) == 3
    assert "maximum pending requests exceeded" in str(info.value)
    assert "3 attempts" in str(info.value)


def test_503_on_list_models_is_retried(fake_ollama: FakeOllama) -> None:
    fake_ollama.fail_next(503, path="/api/tags")
    assert len(make_client(fake_ollama).list_models()) == 3
    assert len(fake_ollama.requests_to("/api/tags")) == 2


def test_500_out_of_memory(fake_ollama: FakeOllama) -> None:
    fake_ollama.fail_next(500, OOM, model="gemma3:4b")
    client = make_client(fake_ollama)
    assert client.chat(MODEL, QUESTION, GenerationOptions()).text == ANSWER  # other model: fine
    with pytest.raises(BackendHTTPError) as info:
        client.chat("gemma3:4b", QUESTION, GenerationOptions())
    assert info.value.status == 500
    assert info.value.message == OOM
    assert "smaller model" in str(info.value)
    assert len(fake_ollama.requests_log) == 2  # not retried


def test_non_json_error_body(fake_ollama: FakeOllama) -> None:
    fake_ollama.fail_next(502, "<html><h1>502 Bad Gateway</h1></html>", json_body=False)
    with pytest.raises(BackendHTTPError) as info:
        make_client(fake_ollama).chat(MODEL, QUESTION, GenerationOptions())
    assert info.value.status == 502
    assert "502 Bad Gateway" in info.value.message


def test_error_mid_stream(fake_ollama: FakeOllama) -> None:
    fake_ollama.fail_mid_stream(2, "an error was encountered while running the model")
    pieces: list[str] = []
    with pytest.raises(StreamError, match="an error was encountered"):
        make_client(fake_ollama).chat(MODEL, QUESTION, GenerationOptions(), on_token=pieces.append)
    assert pieces == ["Answer", " from"]
    assert len(fake_ollama.requests_log) == 1


@pytest.mark.parametrize("abrupt", [False, True])
def test_truncated_stream(fake_ollama: FakeOllama, abrupt: bool) -> None:
    fake_ollama.truncate_next(3, abrupt=abrupt)
    client = make_client(fake_ollama)
    with pytest.raises(StreamError, match="ended early after 3 pieces"):
        client.chat(MODEL, QUESTION, GenerationOptions())
    assert client.chat(MODEL, QUESTION, GenerationOptions()).text == ANSWER


def test_garbage_reply(fake_ollama: FakeOllama) -> None:
    fake_ollama.garbage_next()
    with pytest.raises(MalformedReply, match="not JSON"):
        make_client(fake_ollama).chat(MODEL, QUESTION, GenerationOptions())


def test_unreachable_closed_port() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = OllamaClient(url, retries=2, backoff=0.01)
    with pytest.raises(BackendUnreachable) as info:
        client.list_models()
    assert url in str(info.value)
    assert "ollama serve" in str(info.value)
    assert "ARENA_OLLAMA_URL" in str(info.value)
    assert "3 attempts" in str(info.value)


def test_unreachable_server_is_retried(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_down(True)
    with pytest.raises(BackendUnreachable):
        make_client(fake_ollama, retries=3).chat(MODEL, QUESTION, GenerationOptions())
    assert [r.outcome for r in fake_ollama.requests_log] == ["dropped"] * 4
    fake_ollama.set_down(False)
    assert make_client(fake_ollama).chat(MODEL, QUESTION, GenerationOptions()).text == ANSWER


def test_read_timeout_before_first_byte_is_not_retried(fake_ollama: FakeOllama) -> None:
    fake_ollama.hang_next(30)
    client = make_client(fake_ollama, read_timeout=0.3, retries=3)
    with pytest.raises(BackendTimeout, match="raise the read timeout"):
        client.chat(MODEL, QUESTION, GenerationOptions())
    assert len(fake_ollama.requests_to("/api/chat")) == 1


def test_read_timeout_mid_stream(fake_ollama: FakeOllama) -> None:
    fake_ollama.hang_next(30, after_chunks=2)
    pieces: list[str] = []
    with pytest.raises(BackendTimeout):
        make_client(fake_ollama, read_timeout=0.3).chat(
            MODEL, QUESTION, GenerationOptions(), on_token=pieces.append
        )
    assert pieces == ["Answer", " from"]
    assert len(fake_ollama.requests_to("/api/chat")) == 1


def test_read_timeout_on_a_get_is_retried(fake_ollama: FakeOllama) -> None:
    fake_ollama.hang_next(30, path="/api/version")
    client = make_client(fake_ollama, read_timeout=0.3, retries=1)
    assert client.version() == fake_ollama.version
    assert len(fake_ollama.requests_to("/api/version")) == 2
