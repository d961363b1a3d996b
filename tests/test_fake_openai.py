"""The fake OpenAI-compatible server's own behaviour (raw HTTP checks); the OpenAI backend's
tests are in tests/backends/test_openai_backend.py."""

from __future__ import annotations

import pytest
import requests

from tests.support.fake_openai import CHAT, MODELS, FakeOpenAI

MODEL = "llama3.2:1b"


def post_chat(fake: FakeOpenAI) -> requests.Response:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}
    return requests.post(fake.url + CHAT, json=body, timeout=10)


def test_fail_next_with_headers() -> None:
    with FakeOpenAI() as fake:
        fake.fail_next(503, "Loading model", headers={"Retry-After": "1"})
        fake.fail_next(429, "slow down", path=MODELS, headers={"Retry-After": "2"})
        fake.fail_next(502, "<h1>Bad Gateway</h1>", json_body=False, headers={"X-Proxy": "y"})
        response = post_chat(fake)
        assert response.status_code == 503 and response.headers["Retry-After"] == "1"
        assert response.json()["error"]["message"] == "Loading model"
        response = requests.get(fake.url + MODELS, timeout=10)
        assert response.status_code == 429 and response.headers["Retry-After"] == "2"
        assert response.json()["error"]["type"] == "rate_limit_error"
        response = post_chat(fake)
        assert (response.status_code, response.text) == (502, "<h1>Bad Gateway</h1>")
        assert response.headers["X-Proxy"] == "y"
        response = post_chat(fake)
        assert response.status_code == 200 and "Retry-After" not in response.headers


def test_set_down_requests_to_and_reset() -> None:
    with FakeOpenAI() as fake:
        assert post_chat(fake).status_code == 200
        fake.set_down(True)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(fake.url + MODELS, timeout=10)
        assert [r.outcome for r in fake.requests_log] == ["ok", "dropped"]
        assert [r.method for r in fake.requests_to(MODELS)] == ["GET"]
        assert fake.requests_to(CHAT, "GET") == []
        fake.reset()
        assert fake.requests_log == []
        assert requests.get(fake.url + MODELS, timeout=10).status_code == 200
