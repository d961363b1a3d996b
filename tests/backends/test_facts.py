"""Backend facts: Ollama's /api/show and /api/ps read into ModelFacts and ResidentMemory,
operators' memory figures, GGUF headers, and the embedded backend's measured memory."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from arena.backends import OllamaClient
from arena.backends.base import GenerationOptions, ModelNotFound
from arena.backends.embedded import EmbeddedBackend
from arena.backends.facts import (
    ModelFacts,
    ResidentMemory,
    facts_from_show,
    memory_from_ps,
    model_facts,
    parse_memory,
    resident_memory,
)
from arena.backends.gguf import GGUFError, read_header
from arena.backends.packaged import SMOLLM2_TAG, gguf_file
from arena.backends.registry import BackendConfigError, parse_backends
from tests.backends.test_embedded_backend import installed
from tests.support.fake_ollama import FakeOllama


def test_show_reads_capabilities_and_model_info(fake_ollama: FakeOllama) -> None:
    fake_ollama.add_model(
        "nomic-embed-text", "137M", "F16", "nomic-bert", capabilities=("embedding",)
    )
    client = OllamaClient(fake_ollama.url)
    facts = client.show("qwen2.5:0.5b-instruct-q8_0")
    assert facts.param_count == 494_030_000
    assert facts.context_length == 131072
    assert (facts.family, facts.quantization, facts.parameter_size) == ("qwen2", "Q8_0", "494.03M")
    assert facts.chat_capable and facts.capabilities_known
    embedder = model_facts(client, "nomic-embed-text")
    assert embedder is not None and not embedder.chat_capable
    with pytest.raises(ModelNotFound):
        client.show("nope:1b")


def test_resident_memory_is_the_loaded_models_ps_size(fake_ollama: FakeOllama) -> None:
    client = OllamaClient(fake_ollama.url)
    assert resident_memory(client, "llama3.2:1b") is None  # nothing loaded
    client.chat("llama3.2:1b", [{"role": "user", "content": "hi"}], GenerationOptions())
    (model,) = [m for m in fake_ollama.models if m.tag == "llama3.2:1b"]
    assert client.resident_memory("llama3.2:1b") == ResidentMemory(model.memory, "ps")
    assert client.resident_memory("gemma3:4b") is None  # another model is loaded


def test_facts_from_show_of_an_older_or_sparse_answer() -> None:
    old = facts_from_show("llama3.2", {"details": {"family": "llama", "parameter_size": "3.2B"}})
    assert old == ModelFacts("llama3.2", None, None, None, "llama", None, "3.2B")
    assert old.chat_capable and not old.capabilities_known
    odd = facts_from_show(
        "x",
        {
            "capabilities": ["completion", 3],
            "model_info": {"general.architecture": "gemma3", "gemma3.context_length": "big",
                           "general.parameter_count": True},
        },
    )  # fmt: skip
    assert odd.capabilities == ("completion",)
    assert (odd.param_count, odd.context_length, odd.family) == (None, None, "gemma3")
    assert "not a chat model" in ModelFacts("v", ("vision",)).why_not_chat()


def test_memory_from_ps_matches_latest_and_ignores_junk() -> None:
    body = {"models": [None, {"model": "llama3.2:latest", "size": 2_000}, {"name": "b:1b"}]}
    assert memory_from_ps("llama3.2", body) == ResidentMemory(2_000, "ps")
    assert memory_from_ps("b:1b", body) is None  # listed without a size
    assert memory_from_ps("c", {"models": "nope"}) is None


@pytest.mark.parametrize(
    ("value", "size"),
    [(2048, 2048), ("1.2GB", 1_200_000_000), ("800 MB", 800_000_000), ("2GiB", 2 * 1024**3),
     ("512k", 512_000), (".5G", 500_000_000), ("1000", 1000)],
)  # fmt: skip
def test_parse_memory(value: object, size: int) -> None:
    assert parse_memory(value) == size


@pytest.mark.parametrize("value", [0, -5, True, "lots", "1.2 GBs", "", None, [1]])
def test_parse_memory_refuses_nonsense(value: object) -> None:
    with pytest.raises(ValueError, match="memory size"):
        parse_memory(value)


def test_memory_is_an_openai_setting_only() -> None:
    url = "http://127.0.0.1:1234/v1"
    (spec,) = parse_backends(
        {"BACKENDS": [{"name": "lm", "kind": "openai", "url": url, "memory": {"a:1b": "1GB"}}]}
    )
    assert spec.options["memory"] == {"a:1b": 1_000_000_000}
    for entry, message in [
        ({"name": "lm", "kind": "openai", "url": url, "memory": {"a": "much"}}, "memory of 'a'"),
        ({"name": "lm", "kind": "openai", "url": url, "memory": "1GB"}, "dict of tag to size"),
        ({"name": "o", "kind": "ollama", "memory": {"a": 1}}, "unknown keys memory"),
    ]:
        with pytest.raises(BackendConfigError, match=message):
            parse_backends({"BACKENDS": [entry]})


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _gguf(path: Path, metadata: list[bytes], tensors: list[tuple[str, list[int]]]) -> Path:
    """A GGUF header (version 3) with the given metadata entries and tensor shapes."""
    body = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata)) + b"".join(metadata)
    for name, dims in tensors:
        body += _string(name) + struct.pack("<I", len(dims))
        body += b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", 0, 0)
    path.write_bytes(body + b"\0" * 64)
    return path


def _kv_string(key: str, value: str) -> bytes:
    return _string(key) + struct.pack("<I", 8) + _string(value)


def _kv_u32(key: str, value: int) -> bytes:
    return _string(key) + struct.pack("<II", 4, value)


def test_gguf_header_gives_architecture_context_and_parameters(tmp_path: Path) -> None:
    vocab = _string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2)
    vocab += _string("<s>") + _string("hello")
    path = _gguf(
        tmp_path / "tiny.gguf",
        [_kv_string("general.architecture", "llama"), vocab, _kv_u32("llama.context_length", 2048)],
        [("token_embd.weight", [64, 100]), ("output_norm.weight", [64])],
    )
    header = read_header(path)
    assert (header.architecture, header.arch_value("context_length")) == ("llama", 2048)
    assert (header.tensor_count, header.parameter_count) == (2, 6464)
    assert "tokenizer.ggml.tokens" not in header.metadata  # arrays are skipped
    facts = EmbeddedBackend([gguf_file("tiny:1m", path)]).show("tiny:1m")
    assert (facts.param_count, facts.context_length, facts.family) == (6464, 2048, "llama")
    assert facts.disk_bytes == path.stat().st_size and facts.chat_capable
    embedder = _gguf(
        tmp_path / "embed.gguf",
        [_kv_string("general.architecture", "nomic-bert"), _kv_u32("nomic-bert.pooling_type", 1)],
        [],
    )
    facts = EmbeddedBackend([gguf_file("embed:1m", embedder)]).show("embed:1m")
    assert facts.capabilities == ("embedding",) and not facts.chat_capable


def test_gguf_header_refuses_other_files(tmp_path: Path) -> None:
    (tmp_path / "not.gguf").write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(GGUFError, match="no GGUF magic"):
        read_header(tmp_path / "not.gguf")
    (tmp_path / "cut.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 5) + b"\x10")
    with pytest.raises(GGUFError, match="ends inside its header"):
        read_header(tmp_path / "cut.gguf")


def test_embedded_memory_is_measured_around_the_load() -> None:
    """One short real generation with the packaged SmolLM2: the growth of the process's
    resident memory is a figure between the file's size and a few times it."""
    backend = EmbeddedBackend([installed(SMOLLM2_TAG)], threads=2, num_ctx=1024)
    try:
        facts = backend.show(SMOLLM2_TAG)
        assert facts.param_count is not None and 130e6 < facts.param_count < 140e6
        assert facts.context_length == 8192 and facts.disk_bytes is not None
        assert backend.resident_memory(SMOLLM2_TAG) is None  # not loaded yet
        messages = [{"role": "user", "content": "Say hello."}]
        backend.chat(SMOLLM2_TAG, messages, GenerationOptions(num_predict=8), keep_alive=-1)
        memory = backend.resident_memory(SMOLLM2_TAG)
        assert memory is not None and memory.source == "measured"
        assert facts.disk_bytes / 2 < memory.bytes < facts.disk_bytes * 8
    finally:
        backend.close()
