"""Ollama's wire protocol for the fake: model names, Go durations and Go's JSON errors, the
installed models, the request options and the faults the fake can inject."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.support.fakes.base import Fault

__all__ = [
    "BUSY_MESSAGE",
    "DEFAULT_MODELS",
    "GENERATION_PATHS",
    "RUNNER_DIED",
    "AnswerSource",
    "FakeModel",
    "OllamaFault",
    "model_key",
    "parse_go_duration",
]

AnswerSource = str | Callable[[dict[str, Any]], str]

GENERATION_PATHS = ("/api/chat", "/api/generate")
BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
RUNNER_DIED = (
    "model runner has unexpectedly stopped, this may be due to resource limitations or an "
    "internal error, check ollama server logs for details"
)
FOREVER_S = 292 * 365 * 24 * 3600.0  # Go's MaxInt64 nanoseconds, roughly
_BITS_PER_WEIGHT = {"Q4_0": 4.5, "Q4_K_M": 4.85, "Q5_K_M": 5.7, "Q6_K": 6.6, "Q8_0": 8.5}
INT_OPTIONS = frozenset(
    [
        "num_keep",
        "seed",
        "num_predict",
        "top_k",
        "repeat_last_n",
        "num_ctx",
        "num_batch",
        "num_gpu",
        "main_gpu",
        "num_thread",
    ]
)
FLOAT_OPTIONS = frozenset(
    [
        "temperature",
        "top_p",
        "min_p",
        "typical_p",
        "repeat_penalty",
        "presence_penalty",
        "frequency_penalty",
    ]
)
_GO_UNITS_NS = {
    "ns": 1,
    "us": 1e3,
    "µs": 1e3,
    "μs": 1e3,
    "ms": 1e6,
    "s": 1e9,
    "m": 6e10,
    "h": 3.6e12,
}
PROMPT_ECHO_WORDS = 40


def model_key(name: str) -> str:
    """How the server matches names: case-insensitive, a bare name means ``:latest``."""
    name = name.strip().lower()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def rfc3339(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


_PARAMETERS = re.compile(r"\s*([\d.]+)\s*([KMBT]?)\s*")


def parameter_count(parameter_size: str) -> int:
    """``"1.2B"`` → 1_200_000_000, ``"494.03M"`` → 494_030_000 (1e9 when unparseable)."""
    match = _PARAMETERS.fullmatch(parameter_size.upper())
    if not match:
        return 1_000_000_000
    scale = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}[match.group(2)]
    return int(float(match.group(1)) * scale)


def guess_parameter_size(tag: str) -> str:
    """``"qwen2.5:0.5b-instruct"`` → ``"0.5B"``; ``"1B"`` when the tag does not say."""
    match = re.search(r"(?:^|[:\-_])(\d+(?:\.\d+)?)([bm])(?![a-z])", tag.lower())
    return f"{match.group(1)}{match.group(2).upper()}" if match else "1B"


def parse_go_duration(text: str) -> float:
    """Go's ``time.ParseDuration``, returning seconds; ValueError with Go's message."""
    quoted = json.dumps(text, ensure_ascii=False)
    rest, negative = text, False
    if rest[:1] in ("+", "-"):
        negative, rest = rest[0] == "-", rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f"time: invalid duration {quoted}")
    total_ns = 0.0
    while rest:
        number = re.match(r"(\d*)(?:\.(\d*))?", rest)
        assert number is not None
        if not number.group(1) and not number.group(2):
            raise ValueError(f"time: invalid duration {quoted}")
        rest = rest[number.end() :]
        unit = re.match(r"[^\d.]*", rest).group(0)  # type: ignore[union-attr]
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _GO_UNITS_NS:
            raise ValueError(f"time: unknown unit {json.dumps(unit)} in duration {quoted}")
        rest = rest[len(unit) :]
        total_ns += float(f"{number.group(1) or 0}.{number.group(2) or 0}") * _GO_UNITS_NS[unit]
    return (-total_ns if negative else total_ns) / 1e9


def json_type(value: Any) -> str:
    """The JSON type name Go's decoder uses in its error messages."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), "null")


def go_decode_error(exc: json.JSONDecodeError) -> str:
    """An approximation of the message of Go's encoding/json for a syntax error."""
    if exc.pos >= len(exc.doc.rstrip()):
        return "unexpected EOF"
    char = exc.doc[exc.pos]
    if exc.msg.startswith("Expecting property name"):
        return f"invalid character '{char}' looking for beginning of object key string"
    if exc.msg.startswith("Expecting value"):
        return f"invalid character '{char}' looking for beginning of value"
    return f"invalid character '{char}' after top-level value"


@dataclass
class FakeModel:
    """One installed model. ``size`` and ``digest`` are derived from the tag when left out.

    ``/api/show``'s ``model_info`` holds ``param_count`` (None: counted from
    ``parameter_size``, left out when that cannot be read) and ``context_length``;
    ``/api/ps`` reports ``memory`` as the loaded model's size (0: the file's size plus a
    quarter, as weights with their KV cache and buffers). An embedding-only model has
    ``capabilities=("embedding",)``.
    """

    tag: str
    parameter_size: str = "1B"
    quantization: str = "Q4_K_M"
    family: str = "llama"
    size: int = 0
    digest: str = ""
    capabilities: tuple[str, ...] = ("completion",)
    param_count: int | None = None
    context_length: int = 131072
    memory: int = 0
    modified_at: str = field(default_factory=lambda: datetime.now(UTC).astimezone().isoformat())
    # A thinking model: with "thinking" in capabilities it streams ``message.thinking``
    # chunks (this text, or one made from the prompt) before its answer unless think is
    # false, like Ollama's parsed thinking; ``inline_think`` writes the thinking into the
    # answer as a <think> block instead, whatever think says (a template Ollama cannot parse).
    thinking: str | None = None
    inline_think: bool = False

    def __post_init__(self) -> None:
        if ":" not in self.tag.rsplit("/", 1)[-1]:
            self.tag += ":latest"
        if not self.size:
            bits = _BITS_PER_WEIGHT.get(self.quantization.upper(), 16.0)
            self.size = int(parameter_count(self.parameter_size) * bits / 8)
        if not self.digest:
            self.digest = hashlib.sha256(self.tag.encode()).hexdigest()
        if self.param_count is None and _PARAMETERS.fullmatch(self.parameter_size.upper()):
            self.param_count = parameter_count(self.parameter_size)
        if not self.memory:
            self.memory = self.size + self.size // 4

    def details(self) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization,
        }


DEFAULT_MODELS: tuple[FakeModel, ...] = (
    FakeModel("llama3.2:1b", "1.2B", "Q8_0", "llama"),
    FakeModel("qwen2.5:0.5b-instruct-q8_0", "494.03M", "Q8_0", "qwen2"),
    FakeModel("gemma3:4b", "4.3B", "Q4_K_M", "gemma3"),
)


@dataclass
class OllamaFault(Fault):
    """A fault of the fake Ollama; ``kind`` also mid_stream or truncate. Without ``path`` it
    applies to /api/chat and /api/generate; ``model`` (a :func:`model_key`) restricts it to
    one model. Stream faults (mid-stream error, truncation, a hang after N chunks) only match
    requests that generate text, not load/unload requests."""

    model: str | None = None  # model_key, None = any model

    def matches(self, path: str, model: str | None = None, generating: bool = True) -> bool:
        wanted_path = path == self.path if self.path else path in GENERATION_PATHS
        if not wanted_path:
            return False
        if self.model is not None and self.model != model:
            return False
        streaming_fault = self.kind in ("mid_stream", "truncate") or (
            self.kind == "hang" and self.after_chunks is not None
        )
        return generating or not streaming_fault


def split_pieces(text: str) -> list[str]:
    """Words with their leading whitespace: the streamed chunks."""
    return re.findall(r"\s*\S+|\s+$", text)
