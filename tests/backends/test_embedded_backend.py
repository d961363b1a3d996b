"""EmbeddedBackend: real inference with the PyPI-packaged SmolLM2 (and Gemma 3 270M) through
the Backend interface. The inference tests are skipped when xllamacpp or the model packages
are not installed (``scripts/install-local.sh`` installs them)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arena import PROJECT_ROOT
from arena.backends.base import Backend, BackendError, GenerationOptions, ModelNotFound
from arena.backends.embedded import EmbeddedBackend, keep_alive_seconds, packaged_models
from arena.backends.packaged import (
    ANTI_LOOP,
    BASE_STOP,
    BASE_TEMPLATE,
    GEMMA3_TAG,
    SMOLLM2_TAG,
    EmbeddedModelSpec,
    gguf_file,
)

SHORT = GenerationOptions(temperature=0.7, num_predict=48, seed=7)
QUESTION = [
    {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
    {"role": "user", "content": "Why is the sky blue?"},
]
NO_XLLAMACPP = "xllamacpp is not installed (scripts/install-local.sh installs it)"


def installed(tag: str, cache_dir: Path | None = None) -> EmbeddedModelSpec:
    """The packaged spec for ``tag``, skipping the test when it cannot run here."""
    pytest.importorskip("xllamacpp", reason=NO_XLLAMACPP)
    for spec in packaged_models(cache_dir):
        if spec.tag == tag:
            return spec
    pytest.skip(f"the package of {tag} is not installed (scripts/install-local.sh installs it)")


@pytest.fixture(scope="module")
def smollm2() -> Iterator[EmbeddedBackend]:
    backend = EmbeddedBackend([installed(SMOLLM2_TAG)], threads=2)
    yield backend
    backend.close()


# -- without inference ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, None), (0, 0.0), (300, 300.0), (-1, -1.0), ("0", 0.0), ("-1", -1.0),
     ("30m", 1800.0), ("1h30m", 5400.0), ("-1m", -60.0), ("1.5s", 1.5), ("250ms", 0.25)],
)  # fmt: skip
def test_keep_alive_seconds(value: float | str | None, seconds: float | None) -> None:
    assert keep_alive_seconds(value) == seconds


@pytest.mark.parametrize("value", ["forever", "5 minutes", "m", True, [1]])
def test_keep_alive_seconds_rejects_garbage(value: object) -> None:
    with pytest.raises(ValueError, match="keep_alive"):
        keep_alive_seconds(value)  # type: ignore[arg-type]


def test_unknown_model_is_model_not_found() -> None:
    backend = EmbeddedBackend([gguf_file("tiny:1m", "/nonexistent/tiny.gguf")])
    assert isinstance(backend, Backend)
    with pytest.raises(ModelNotFound, match="tiny:1m") as info:
        backend.chat("nope:1b", QUESTION, SHORT)
    assert info.value.model == "nope:1b"
    with pytest.raises(ModelNotFound):
        backend.unload("nope:1b")


def test_without_xllamacpp_the_module_imports_and_says_how_to_install() -> None:
    script = (
        "import sys; sys.modules['xllamacpp'] = None\n"  # makes `import xllamacpp` fail
        "from arena.backends.base import BackendError, GenerationOptions\n"
        "from arena.backends.embedded import EmbeddedBackend, gguf_file\n"
        "backend = EmbeddedBackend([gguf_file('tiny:1m', '/nonexistent/tiny.gguf')])\n"
        "for call in (backend.version, backend.list_models,\n"
        "             lambda: backend.chat('tiny:1m', [], GenerationOptions())):\n"
        "    try:\n"
        "        call()\n"
        "    except BackendError as exc:\n"
        "        print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.count("pip install -r requirements-local.txt") == 3, out


def test_a_missing_file_is_a_clear_error() -> None:
    pytest.importorskip("xllamacpp", reason=NO_XLLAMACPP)
    backend = EmbeddedBackend([gguf_file("tiny:1m", "/nonexistent/tiny.gguf")])
    with pytest.raises(BackendError, match="could not load 'tiny:1m'"):
        backend.chat("tiny:1m", QUESTION, SHORT)
    assert backend.loaded_model is None


# -- real inference with SmolLM2 ------------------------------------------------------------


def test_list_models_and_version(smollm2: EmbeddedBackend) -> None:
    (model,) = smollm2.list_models()
    assert (model.tag, model.family, model.parameter_size, model.quantization) == (
        SMOLLM2_TAG,
        "llama",
        "135M",
        "Q4_1",
    )
    assert model.size_bytes is not None and model.size_bytes > 90_000_000
    assert smollm2.version().startswith("xllamacpp ")


def test_chat_generates_text_with_sane_stats(smollm2: EmbeddedBackend) -> None:
    pieces: list[str] = []
    result = smollm2.chat(SMOLLM2_TAG, QUESTION, SHORT, on_token=pieces.append)
    assert result.text.strip()
    assert "".join(pieces) == result.text
    assert result.model == SMOLLM2_TAG
    assert result.done_reason in ("stop", "length")
    assert result.eval_count is not None and 0 < result.eval_count <= 48
    assert result.prompt_eval_count is not None and result.prompt_eval_count > 0
    assert result.tokens_per_second is not None and result.tokens_per_second > 0
    for duration in (result.eval_duration, result.load_duration, result.total_duration):
        assert duration is not None and duration > 0
    assert result.total_duration >= result.eval_duration  # type: ignore[operator]
    assert smollm2.loaded_model == SMOLLM2_TAG  # kept loaded by default


def test_same_seed_same_text(smollm2: EmbeddedBackend) -> None:
    first = smollm2.chat(SMOLLM2_TAG, QUESTION, SHORT)
    second = smollm2.chat(SMOLLM2_TAG, QUESTION, SHORT)
    assert first.text == second.text


def test_keep_alive_zero_unloads_after_the_reply(smollm2: EmbeddedBackend) -> None:
    result = smollm2.chat(SMOLLM2_TAG, QUESTION, SHORT, keep_alive=0)
    assert result.text.strip()
    assert smollm2.loaded_model is None
    smollm2.chat(SMOLLM2_TAG, QUESTION, SHORT)  # loads again on demand
    assert smollm2.loaded_model == SMOLLM2_TAG
    smollm2.unload(SMOLLM2_TAG)
    assert smollm2.loaded_model is None


def test_idle_keep_alive_unloads_later(smollm2: EmbeddedBackend) -> None:
    smollm2.chat(SMOLLM2_TAG, QUESTION, GenerationOptions(num_predict=4), keep_alive="100ms")
    deadline = time.monotonic() + 30
    while smollm2.loaded_model is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert smollm2.loaded_model is None


def test_on_token_may_raise_to_stop(smollm2: EmbeddedBackend) -> None:
    def stop(piece: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        smollm2.chat(SMOLLM2_TAG, QUESTION, SHORT, on_token=stop)
    assert smollm2.chat(SMOLLM2_TAG, QUESTION, SHORT).text.strip()  # still usable


def test_prompt_longer_than_the_context_is_a_clear_error(smollm2: EmbeddedBackend) -> None:
    long = [{"role": "user", "content": "word " * 600}]
    with pytest.raises(BackendError, match="context"):
        smollm2.chat(SMOLLM2_TAG, long, GenerationOptions(num_predict=4, num_ctx=256))


# -- Gemma 3 270M (a base model, prompted as one) -------------------------------------------


def test_gemma3_generates_with_the_supplied_template(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    spec = installed(GEMMA3_TAG, tmp_path_factory.mktemp("gguf"))
    backend = EmbeddedBackend([spec], threads=2)
    try:
        result = backend.chat(GEMMA3_TAG, QUESTION, GenerationOptions(num_predict=16, seed=1))
    finally:
        backend.close()
    assert result.text.strip()
    assert result.eval_count is not None and 0 < result.eval_count <= 16
    assert result.prompt_eval_count is not None and result.prompt_eval_count > 10
    # Prompted as a base model: the system prompt is not in its context, so not in its answer.
    assert "helpful assistant" not in result.text and "Request:" not in result.text


def test_gemma3_base_is_prompted_as_a_base_model_with_loop_guards() -> None:
    """Gemma 3 270M is a base model: a document of requests and answers ending with the
    visitor's request, no system prompt (it only copied it), stopping at the next request;
    both packaged models carry llama.cpp's repetition guards."""
    jinja2 = pytest.importorskip("jinja2")
    rendered = jinja2.Template(BASE_TEMPLATE).render(messages=QUESTION)
    assert rendered.endswith("Request: Why is the sky blue?\nAnswer:")
    assert "helpful assistant. Answer briefly" not in rendered
    assert "<start_of_turn>" not in rendered
    gemma, smollm2 = installed(GEMMA3_TAG), installed(SMOLLM2_TAG)
    assert (gemma.chat_template, gemma.stop) == (BASE_TEMPLATE, BASE_STOP)
    assert smollm2.chat_template is None  # the GGUF's own ChatML template
    for spec in (gemma, smollm2):
        assert spec.sampling == ANTI_LOOP
