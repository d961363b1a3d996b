"""The fake Ollama server speaks the protocol of /work/shared/OLLAMA_API.md (raw HTTP checks)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import requests

from arena import PROJECT_ROOT
from tests.support.fake_ollama import FakeOllama, model_key, parse_go_duration

MODEL = "llama3.2:1b"
USER = [{"role": "user", "content": "Why is the sky blue?"}]


def post(fake: FakeOllama, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
    if body is not None:
        kwargs["json"] = body
    return requests.post(fake.url + path, timeout=10, **kwargs)


def chat(fake: FakeOllama, *, stream_reply: bool = False, **body: Any) -> requests.Response:
    """POST /api/chat; ``stream_reply`` reads the reply as it arrives instead of all at once."""
    return post(fake, "/api/chat", {"model": MODEL, "messages": USER} | body, stream=stream_reply)


def ndjson(response: requests.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.iter_lines() if line]


def error_of(response: requests.Response) -> tuple[int, str]:
    assert response.headers["Content-Type"].startswith("application/json")
    return response.status_code, response.json()["error"]


# -- plain endpoints -----------------------------------------------------------------------


def test_root_and_version(fake_ollama: FakeOllama) -> None:
    assert requests.get(fake_ollama.url, timeout=5).text == "Ollama is running"
    assert requests.head(fake_ollama.url, timeout=5).status_code == 200
    version = requests.get(fake_ollama.url + "/api/version", timeout=5).json()
    assert version == {"version": fake_ollama.version}


def test_tags_have_full_details(fake_ollama: FakeOllama) -> None:
    models = requests.get(fake_ollama.url + "/api/tags", timeout=5).json()["models"]
    assert [m["model"] for m in models] == [m["name"] for m in models]
    assert [m["model"] for m in models] == [
        "llama3.2:1b",
        "qwen2.5:0.5b-instruct-q8_0",
        "gemma3:4b",
    ]
    qwen = models[1]
    assert qwen["details"] == {
        "parent_model": "",
        "format": "gguf",
        "family": "qwen2",
        "families": ["qwen2"],
        "parameter_size": "494.03M",
        "quantization_level": "Q8_0",
    }
    assert len(qwen["digest"]) == 64
    int(qwen["digest"], 16)
    assert isinstance(qwen["size"], int) and qwen["size"] > 0
    assert qwen["modified_at"]


def test_empty_tags(fake_ollama: FakeOllama) -> None:
    for model in fake_ollama.models:
        fake_ollama.remove_model(model.tag)
    assert requests.get(fake_ollama.url + "/api/tags", timeout=5).json() == {"models": []}


def test_show(fake_ollama: FakeOllama) -> None:
    shown = post(fake_ollama, "/api/show", {"model": "Gemma3:4B"}).json()
    assert shown["details"]["parameter_size"] == "4.3B"
    assert shown["capabilities"] == ["completion"]
    assert shown["model_info"]["general.architecture"] == "gemma3"
    assert isinstance(shown["parameters"], str)
    assert error_of(post(fake_ollama, "/api/show", {})) == (400, "model is required")
    assert error_of(post(fake_ollama, "/api/show", {"model": "x:1b"})) == (
        404,
        "model 'x:1b' not found",
    )


def test_unknown_route(fake_ollama: FakeOllama) -> None:
    response = requests.get(fake_ollama.url + "/api/nope", timeout=5)
    assert (response.status_code, response.text) == (404, "404 page not found")


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "data", "status", "message"),
    [
        ("/api/chat", b"", 400, "missing request body"),
        ("/api/generate", b"", 400, "missing request body"),
        ("/api/chat", b"{bad", 400, "invalid character 'b' looking for beginning of object key"),
        ("/api/chat", b'{"model": ', 400, "unexpected EOF"),
        ("/api/chat", b"[]", 400, "json: cannot unmarshal array into Go value of type"),
        ("/api/chat", b"{}", 400, "model is required"),
        ("/api/generate", b"{}", 404, "model '' not found"),
        ("/api/chat", b'{"model": "Nope:1b"}', 404, "model 'Nope:1b' not found"),
        ("/api/generate", b'{"model": "nope"}', 404, "model 'nope' not found"),
        ("/api/chat", b'{"model": 5}', 400, "json: cannot unmarshal number into Go"),
        ("/api/chat", b'{"model": "llama3.2:1b", "stream": "yes"}', 400, "json: cannot unmarshal"),
        ("/api/chat", b'{"model": "llama3.2:1b", "messages": {}}', 400, "json: cannot unmarshal"),
    ],
)
def test_request_validation(
    fake_ollama: FakeOllama, path: str, data: bytes, status: int, message: str
) -> None:
    got_status, got_message = error_of(post(fake_ollama, path, data=data))
    assert got_status == status
    assert got_message.startswith(message)


@pytest.mark.parametrize(
    ("keep_alive", "message"),
    [
        ("-1", 'time: missing unit in duration "-1"'),
        ("300", 'time: missing unit in duration "300"'),
        ("5d", 'time: unknown unit "d" in duration "5d"'),
        ("abc", 'time: invalid duration "abc"'),
        ("", 'time: invalid duration ""'),
        (True, "Unsupported type: 'bool'"),
    ],
)
def test_bad_keep_alive(fake_ollama: FakeOllama, keep_alive: Any, message: str) -> None:
    assert error_of(chat(fake_ollama, keep_alive=keep_alive)) == (400, message)


@pytest.mark.parametrize("keep_alive", [-1, 0, 300, 2.5, "5m", "-1m", "0", "1h30m", None])
def test_good_keep_alive(fake_ollama: FakeOllama, keep_alive: Any) -> None:
    assert chat(fake_ollama, keep_alive=keep_alive).status_code == 200


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"stop": "\n"}, 'option "stop" must be of type array'),
        ({"stop": [1]}, 'option "stop" must be of an array of strings'),
        ({"temperature": "hot"}, 'option "temperature" must be of type float32'),
        ({"num_ctx": "4096"}, 'option "num_ctx" must be of type integer'),
        ({"seed": True}, 'option "seed" must be of type integer'),
    ],
)
def test_bad_option_type(fake_ollama: FakeOllama, options: dict[str, Any], message: str) -> None:
    assert error_of(chat(fake_ollama, options=options)) == (500, message)


def test_unknown_options_are_ignored(fake_ollama: FakeOllama) -> None:
    assert chat(fake_ollama, options={"mirostat_whatever": "x", "stop": ["\n"]}).status_code == 200


def test_think_needs_the_capability(fake_ollama: FakeOllama) -> None:
    assert error_of(chat(fake_ollama, think=True)) == (400, f'"{MODEL}" does not support thinking')
    fake_ollama.add_model("qwen3:0.6b", capabilities=("completion", "thinking"))
    assert chat(fake_ollama, model="qwen3:0.6b", think=True).status_code == 200


def test_raw_generate_rejects_system(fake_ollama: FakeOllama) -> None:
    body = {"model": MODEL, "prompt": "x", "raw": True, "system": "be nice"}
    assert error_of(post(fake_ollama, "/api/generate", body))[0] == 400


def test_names_are_case_insensitive_and_bare_means_latest(fake_ollama: FakeOllama) -> None:
    assert chat(fake_ollama, model="LLAMA3.2:1B").status_code == 200
    assert chat(fake_ollama, model="llama3.2").status_code == 404
    fake_ollama.add_model("phi3")
    assert "phi3:latest" in [m.tag for m in fake_ollama.models]
    assert chat(fake_ollama, model="phi3").status_code == 200
    assert chat(fake_ollama, model="Phi3:Latest").status_code == 200
    assert model_key("Library/Phi3") == "library/phi3:latest"


def test_chunked_request_body(fake_ollama: FakeOllama) -> None:
    body = iter([b'{"model": "llama3.2:1b",', b' "messages": []}'])
    response = post(fake_ollama, "/api/chat", data=body)
    assert response.json()["done_reason"] == "load"


# -- generation ------------------------------------------------------------------------------


def test_chat_streams_ndjson(fake_ollama: FakeOllama) -> None:
    response = chat(fake_ollama)
    assert response.headers["Content-Type"] == "application/x-ndjson"
    assert response.headers["Transfer-Encoding"] == "chunked"
    chunks = ndjson(response)
    *pieces, final = chunks
    text = "".join(c["message"]["content"] for c in chunks)
    assert text == f"Answer from {MODEL} to: Why is the sky blue?"
    assert len(pieces) == len(text.split())
    for chunk in pieces:
        assert set(chunk) == {"model", "created_at", "message", "done"}
        assert chunk["done"] is False
        assert chunk["message"]["role"] == "assistant"
        assert chunk["created_at"].endswith("Z")
    assert final["done"] is True
    assert final["done_reason"] == "stop"
    assert final["message"] == {"role": "assistant", "content": ""}
    assert final["eval_count"] == len(pieces)
    for name in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
        assert isinstance(final[name], int) and final[name] > 0
    assert final["prompt_eval_count"] > 0


def test_chat_without_stream(fake_ollama: FakeOllama) -> None:
    response = chat(fake_ollama, stream=False)
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    reply = response.json()
    assert reply["message"]["content"] == f"Answer from {MODEL} to: Why is the sky blue?"
    assert reply["done"] is True and reply["eval_count"] == 9


def test_generate(fake_ollama: FakeOllama) -> None:
    body = {"model": "gemma3:4b", "prompt": "Hi"}
    *pieces, final = ndjson(post(fake_ollama, "/api/generate", body))
    assert "".join(p["response"] for p in pieces) == "Answer from gemma3:4b to: Hi"
    assert final["response"] == "" and final["done"] is True
    assert isinstance(final["context"], list) and final["context"]
    reply = post(fake_ollama, "/api/generate", body | {"stream": False}).json()
    assert reply["response"] == "Answer from gemma3:4b to: Hi"
    assert "context" not in post(fake_ollama, "/api/generate", body | {"raw": True}).text


def test_text_in_final_chunk(fake_ollama: FakeOllama) -> None:
    fake_ollama.text_in_final_chunk = True
    *_, final = ndjson(chat(fake_ollama))
    assert final["message"]["content"] == " blue?"
    assert final["eval_count"] == 9


def test_num_predict_limits_chunks(fake_ollama: FakeOllama) -> None:
    *pieces, final = ndjson(chat(fake_ollama, options={"num_predict": 2}))
    assert len(pieces) == 2 == final["eval_count"]
    assert final["done_reason"] == "length"
    *_, final = ndjson(chat(fake_ollama, options={"num_predict": -1}))
    assert final["done_reason"] == "stop"


def test_default_answer_is_deterministic_and_uses_the_seed(fake_ollama: FakeOllama) -> None:
    first = chat(fake_ollama, stream=False, options={"seed": 7}).json()["message"]["content"]
    again = chat(fake_ollama, stream=False, options={"seed": 7}).json()["message"]["content"]
    assert first == again == f"Answer from {MODEL} to: Why is the sky blue? (seed 7)"
    long_prompt = [{"role": "user", "content": "word " * 100}]
    text = chat(fake_ollama, stream=False, messages=long_prompt).json()["message"]["content"]
    assert text.endswith("word...")


def test_set_answer_text_and_callable(fake_ollama: FakeOllama) -> None:
    seen: list[dict[str, Any]] = []

    def answer(request: dict[str, Any]) -> str:
        seen.append(request)
        return "one  two\nthree "

    fake_ollama.set_answer("GEMMA3:4b", answer)
    chunks = ndjson(chat(fake_ollama, model="gemma3:4b"))
    assert [c["message"]["content"] for c in chunks] == ["one", "  two", "\nthree", " ", ""]
    assert seen[0]["messages"] == USER
    fake_ollama.set_answer(MODEL, "fixed")
    assert chat(fake_ollama, stream=False).json()["message"]["content"] == "fixed"


def test_empty_messages_load_and_unload(fake_ollama: FakeOllama) -> None:
    response = chat(fake_ollama, messages=[])
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    reply = response.json()
    assert reply["done_reason"] == "load" and reply["done"] is True
    assert reply["message"] == {"role": "assistant", "content": ""}
    assert fake_ollama.loaded_model == MODEL and fake_ollama.loads == 1
    assert chat(fake_ollama, messages=[], keep_alive=0).json()["done_reason"] == "unload"
    assert fake_ollama.loaded_model is None and fake_ollama.loads == 1
    reply = post(fake_ollama, "/api/generate", {"model": MODEL}).json()
    assert (reply["response"], reply["done_reason"]) == ("", "load")
    assert fake_ollama.chat_models_in_order() == []  # load/unload requests are not generations


def test_model_switches_pay_the_load_delay(fake_ollama: FakeOllama) -> None:
    fake_ollama.load_delay = 0.05
    durations = []
    for model in (MODEL, MODEL, "gemma3:4b", MODEL):
        durations.append(chat(fake_ollama, model=model, stream=False).json()["load_duration"])
    assert fake_ollama.loads == 3
    assert fake_ollama.load_history == [MODEL, "gemma3:4b", MODEL]
    cold, warm, *_ = durations
    assert cold >= 50_000_000 > warm
    assert all(d >= 50_000_000 for d in durations[2:])


def test_changing_num_ctx_reloads(fake_ollama: FakeOllama) -> None:
    for num_ctx in (4096, 4096, 8192, None):
        chat(fake_ollama, options={"num_ctx": num_ctx}).close()
    assert fake_ollama.loads == 3


def test_keep_alive_expiry_and_ps(fake_ollama: FakeOllama) -> None:
    assert requests.get(fake_ollama.url + "/api/ps", timeout=5).json() == {"models": []}
    chat(fake_ollama, keep_alive=-1, options={"num_ctx": 2048}).close()
    (entry,) = requests.get(fake_ollama.url + "/api/ps", timeout=5).json()["models"]
    assert entry["model"] == MODEL and entry["context_length"] == 2048
    assert entry["size_vram"] == 0 and entry["expires_at"].startswith("2")
    chat(fake_ollama, keep_alive="10ms").close()
    time.sleep(0.05)
    assert fake_ollama.loaded_model is None
    chat(fake_ollama, keep_alive=0).close()
    assert fake_ollama.loaded_model is None


def test_generations_are_serialised(fake_ollama: FakeOllama) -> None:
    """Like OLLAMA_NUM_PARALLEL=1: one stream ends before the next one starts."""
    fake_ollama.token_delay = 0.01
    streams: list[list[str]] = []  # created_at of each chunk (server clock, UTC, same format)

    def run(model: str) -> None:
        streams.append([c["created_at"] for c in ndjson(chat(fake_ollama, model=model))])

    threads = [threading.Thread(target=run, args=(m,)) for m in (MODEL, "gemma3:4b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first, second = sorted(streams)
    assert len(first) == len(second) == 10
    assert first[-1] <= second[0]
    assert sorted(fake_ollama.chat_models_in_order()) == sorted([MODEL, "gemma3:4b"])


def test_client_disconnect_frees_the_slot(fake_ollama: FakeOllama) -> None:
    fake_ollama.token_delay = 0.02
    fake_ollama.set_answer(MODEL, "word " * 200)
    response = chat(fake_ollama, stream_reply=True)
    next(response.iter_lines())
    response.close()
    deadline = time.monotonic() + 10
    while fake_ollama.requests_log[0].outcome != "client_gone" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake_ollama.requests_log[0].outcome == "client_gone"
    fake_ollama.token_delay = 0
    assert chat(fake_ollama, model="gemma3:4b").status_code == 200


# -- faults ----------------------------------------------------------------------------------


def test_fail_next_per_model_then_global(fake_ollama: FakeOllama) -> None:
    fake_ollama.fail_next(500, "boom", times=2, model="gemma3:4b")
    fake_ollama.fail_next(503)
    assert error_of(chat(fake_ollama, model="gemma3:4b")) == (500, "boom")
    assert error_of(chat(fake_ollama))[0] == 503
    assert chat(fake_ollama).status_code == 200
    assert error_of(chat(fake_ollama, model="gemma3:4b")) == (500, "boom")
    assert chat(fake_ollama, model="gemma3:4b").status_code == 200
    assert requests.get(fake_ollama.url + "/api/tags", timeout=5).status_code == 200


def test_fail_next_on_another_path(fake_ollama: FakeOllama) -> None:
    fake_ollama.fail_next(500, "tags broken", path="/api/tags")
    assert chat(fake_ollama).status_code == 200
    response = requests.get(fake_ollama.url + "/api/tags", timeout=5)
    assert error_of(response) == (500, "tags broken")
    assert requests.get(fake_ollama.url + "/api/tags", timeout=5).status_code == 200


def test_fail_next_plain_text(fake_ollama: FakeOllama) -> None:
    fake_ollama.fail_next(502, "<h1>Bad Gateway</h1>", json_body=False)
    response = chat(fake_ollama)
    assert (response.status_code, response.text) == (502, "<h1>Bad Gateway</h1>")


def test_fail_next_with_headers(fake_ollama: FakeOllama) -> None:
    fake_ollama.fail_next(503, headers={"Retry-After": "1"})
    fake_ollama.fail_next(429, "slow down", path="/api/tags", headers={"Retry-After": "7"})
    fake_ollama.fail_next(502, "<h1>Bad Gateway</h1>", json_body=False, headers={"X-Proxy": "y"})
    response = chat(fake_ollama)
    assert error_of(response)[0] == 503 and response.headers["Retry-After"] == "1"
    response = requests.get(fake_ollama.url + "/api/tags", timeout=5)
    assert error_of(response) == (429, "slow down") and response.headers["Retry-After"] == "7"
    response = chat(fake_ollama)
    assert (response.status_code, response.headers["X-Proxy"]) == (502, "y")
    response = chat(fake_ollama)
    assert response.status_code == 200 and "Retry-After" not in response.headers


def test_fail_mid_stream(fake_ollama: FakeOllama) -> None:
    fake_ollama.fail_mid_stream(3, "runner died")
    chunks = ndjson(chat(fake_ollama))
    assert len(chunks) == 4
    assert chunks[-1] == {"error": "runner died"}
    assert not any(c.get("done") for c in chunks)
    assert fake_ollama.requests_log[-1].outcome == "mid_stream_error"
    fake_ollama.fail_mid_stream(0, "early")
    assert error_of(chat(fake_ollama, stream=False)) == (500, "early")


def test_stream_faults_skip_load_requests(fake_ollama: FakeOllama) -> None:
    fake_ollama.fail_mid_stream(1, "x")
    assert chat(fake_ollama, messages=[]).json()["done_reason"] == "load"
    assert ndjson(chat(fake_ollama))[-1] == {"error": "x"}


def test_truncate(fake_ollama: FakeOllama) -> None:
    fake_ollama.truncate_next(2)
    chunks = ndjson(chat(fake_ollama))
    assert len(chunks) == 2 and not any(c["done"] for c in chunks)
    fake_ollama.truncate_next(2, abrupt=True)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        ndjson(chat(fake_ollama))
    assert [r.outcome for r in fake_ollama.requests_log] == ["truncated", "truncated"]


def test_garbage(fake_ollama: FakeOllama) -> None:
    fake_ollama.garbage_next()
    response = chat(fake_ollama)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        response.json()


def test_hang(fake_ollama: FakeOllama) -> None:
    fake_ollama.hang_next(30)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(
            fake_ollama.url + "/api/chat", json={"model": MODEL, "messages": USER}, timeout=0.2
        )
    assert chat(fake_ollama).status_code == 200


def test_set_down(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_down(True)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(fake_ollama.url + "/api/version", timeout=5)
    assert fake_ollama.requests_log[-1].outcome == "dropped"
    fake_ollama.set_down(False)
    assert requests.get(fake_ollama.url + "/api/version", timeout=5).status_code == 200


def test_require_token(fake_ollama: FakeOllama) -> None:
    fake_ollama.require_token = "t0k"
    assert error_of(chat(fake_ollama)) == (401, "unauthorized")
    assert chat(fake_ollama, stream=False).status_code == 401
    response = post(
        fake_ollama,
        "/api/chat",
        {"model": MODEL, "messages": USER},
        headers={"Authorization": "Bearer t0k"},
    )
    assert response.status_code == 200


# -- recording, lifecycle ----------------------------------------------------------------------


def test_requests_log_and_reset(fake_ollama: FakeOllama) -> None:
    chat(fake_ollama, keep_alive="5m").close()
    requests.get(fake_ollama.url + "/api/tags", timeout=5)
    first, second = fake_ollama.requests_log
    assert (first.method, first.path, first.status, first.outcome) == (
        "POST",
        "/api/chat",
        200,
        "ok",
    )
    assert first.body["keep_alive"] == "5m"
    assert json.loads(first.raw_body) == first.body
    assert first.headers["content-type"] == first.headers["Content-Type"] == "application/json"
    assert first.time <= second.time
    assert (second.method, second.path, second.body) == ("GET", "/api/tags", None)
    assert fake_ollama.chat_models_in_order() == [MODEL]
    fake_ollama.fail_next(500)
    fake_ollama.reset()
    assert fake_ollama.requests_log == [] and fake_ollama.loads == 0
    assert fake_ollama.loaded_model is None
    assert chat(fake_ollama).status_code == 200  # the queued fault is gone
    assert len(fake_ollama.models) == 3  # models survive reset


def test_lifecycle() -> None:
    fake = FakeOllama(["a:1b", "b:360m"])
    with pytest.raises(RuntimeError):
        _ = fake.url
    with fake:
        url = fake.url
        assert requests.get(url, timeout=5).ok
        assert [m.parameter_size for m in fake.models] == ["1B", "360M"]
    fake.stop()  # idempotent
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, timeout=5)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("-0", 0.0),
        ("5m", 300.0),
        ("-1m", -60.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        (".5s", 0.5),
        ("+2s", 2.0),
        ("300ms", 0.3),
        ("10us", 1e-5),
    ],
)
def test_parse_go_duration(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


def test_command_line() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fake_ollama", "--port", "0", "--models", "a:1b,b:3b"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        models = requests.get(url + "/api/tags", timeout=5).json()["models"]
        assert [(m["model"], m["details"]["parameter_size"]) for m in models] == [
            ("a:1b", "1B"),
            ("b:3b", "3B"),
        ]
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        if process.stdout is not None:
            process.stdout.close()


def test_the_fakes_import_without_pytest() -> None:
    """The benchmarks in scripts/bench import the fakes outside pytest."""
    code = (
        "import sys, tests.support.fake_ollama, tests.support.fake_openai; "
        "sys.exit('pytest' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr or "importing the fakes imported pytest"
