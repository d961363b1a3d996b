"""No credential in any backend message or repr: URLs lose their passwords and key parameters,
tokens and API keys are hidden, and the request is still sent with them."""

from __future__ import annotations

import pickle

import pytest

from arena.backends.base import BackendError, BackendHTTPError, ModelNotFound
from arena.backends.ollama import OllamaClient
from arena.backends.openai_compat import OpenAICompatClient
from arena.backends.redact import redact, redact_data, redact_error, redact_url
from arena.backends.registry import BackendConfigError, make_client, parse_backends, probe_spec
from arena.config import DEFAULTS
from tests.support.fake_ollama import FakeOllama
from tests.support.fake_openai import FakeOpenAI

KEY = "sk-live-0123456789abcdef"


def with_credentials(url: str, user: str = "user", password: str = "secret") -> str:
    return url.replace("://", f"://{user}:{password}@", 1)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://user:secret@127.0.0.1:11434", "http://user:***@127.0.0.1:11434"),
        ("see https://u:p@ss:w@host/v1/x.", "see https://u:***@host/v1/x."),
        ("http://KEYsecret@host:1", "http://***@host:1"),
        ("'http://:secret@host'", "'http://***@host'"),
        ("http://h/v1?api_key=secret&x=1", "http://h/v1?api_key=***&x=1"),
        ("http://h/?a=1&TOKEN=secret#f", "http://h/?a=1&TOKEN=***#f"),
        ("postgresql://arena@db/x?password=secret", "postgresql://arena@db/x?password=***"),
        ("postgresql+psycopg://arena:secret@db/x", "postgresql+psycopg://arena:***@db/x"),
        ("{'Authorization': 'Bearer secret-1'}", "{'Authorization': 'Bearer ***'}"),
        ("Authorization: Basic c2VjcmV0", "Authorization: Basic ***"),
        ("X-Api-Key: secret", "X-Api-Key: ***"),
        ('{"api_key": "secret"}', '{"api_key": "***"}'),
        ("sent as Authorization: Bearer …", "sent as Authorization: Bearer …"),
        ("http://127.0.0.1:11434/api/tags", "http://127.0.0.1:11434/api/tags"),
        ("model 'a:1b' not found", "model 'a:1b' not found"),
    ],
)
def test_redact_hides_credentials_and_keeps_the_rest(text: str, shown: str) -> None:
    assert redact(text) == shown
    assert redact(shown) == shown  # nothing left to hide: the same text


def test_known_secrets_are_hidden_as_written_and_url_encoded() -> None:
    assert redact("key s3cr/t+ or s3cr%2Ft%2B", ["s3cr/t+"]) == "key *** or ***"
    assert redact("nothing", [None, ""]) == "nothing"
    data = {"failures": [{"reason": f"http://a:secret@h {KEY}"}], "n": 3, KEY: None}
    assert redact_data(data, [KEY]) == {
        "failures": [{"reason": "http://a:***@h ***"}],
        "n": 3,
        "***": None,
    }
    assert redact_url("http://a:secret@h/v1?key=secret") == "http://a:***@h/v1?key=***"


def test_backend_errors_never_hold_a_credential_even_pickled() -> None:
    url = "http://user:secret@h:1/api/chat?api_key=secret"
    errors: list[BackendError] = [
        BackendError(f"cannot reach {url}"),
        BackendHTTPError(500, f"boom at {url}", url, "hint"),
        ModelNotFound("m", url),
    ]
    for error in errors:
        for shown in (str(error), repr(error), str(pickle.loads(pickle.dumps(error)))):
            assert "secret" not in shown and "***" in shown
    assert "secret" not in str(redact_error(ValueError(f"x {KEY}"), [KEY]))


def test_clients_show_no_credential_but_still_send_them(
    fake_ollama: FakeOllama, fake_openai: FakeOpenAI
) -> None:
    ollama = OllamaClient(with_credentials(fake_ollama.url), retries=0)
    openai = OpenAICompatClient(fake_openai.url, api_key=KEY, retries=0)
    for client in (ollama, openai):
        text = f"{client!r} {client.transport!r} {client.transport.where} {client.base_url}"
        assert "secret" not in text and KEY not in text
    assert ollama.version()
    assert openai.list_models()
    sent = fake_ollama.requests_to("/api/version")[-1].headers["Authorization"]
    assert sent == "Basic dXNlcjpzZWNyZXQ="  # user:secret, as requests sends a URL's userinfo
    assert fake_openai.requests_log[-1].headers["Authorization"] == f"Bearer {KEY}"


def test_an_error_body_echoing_the_key_is_redacted(fake_openai: FakeOpenAI) -> None:
    client = OpenAICompatClient(with_credentials(fake_openai.url), api_key=KEY, retries=0)
    fake_openai.fail_next(
        401, f"Incorrect API key provided: {KEY} (user:secret)", path="/v1/models"
    )
    with pytest.raises(BackendError) as caught:
        client.list_models()
    text = f"{caught.value} {caught.value!r} {getattr(caught.value, 'message', '')}"
    assert KEY not in text and "secret" not in text
    assert "401" in text


def test_unreachable_and_probe_messages_hide_the_password(nothing_listens: str) -> None:
    url = with_credentials(nothing_listens) + "/?token=secret"
    client = OllamaClient(url, retries=0, connect_timeout=1)
    with pytest.raises(BackendError) as caught:
        client.version()
    assert "cannot reach" in str(caught.value) and "secret" not in str(caught.value)
    config = {**DEFAULTS, "OLLAMA_URL": url, "OLLAMA_API_KEY": KEY}
    specs = parse_backends(config)
    problem = probe_spec(specs[0], config, "/nonexistent")
    assert problem and "?token=***" in problem and "secret" not in problem
    client = make_client(specs[0], config, instance_path="/nonexistent")
    assert "secret" not in repr(client) and KEY not in repr(client)
    entry = {"name": "lm", "kind": "openai", "url": with_credentials("http://h:1"), "api_key": KEY}
    spec = parse_backends({"BACKENDS": [entry]})[0]
    assert "secret" not in repr(spec) and KEY not in repr(spec)
    with pytest.raises(BackendConfigError) as wrong:
        parse_backends({"BACKENDS": [{**entry, "url": [entry["url"]]}]})
    assert "secret" not in str(wrong.value) and KEY not in str(wrong.value)
