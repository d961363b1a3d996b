"""Reading a GGUF file's header: its metadata and the size of its tensors, without loading it.

The layout (little-endian; GGUF versions 2 and 3): the magic ``GGUF``, a uint32 version, a
uint64 tensor count, a uint64 metadata count; then each metadata entry (a string key, a
uint32 value type, the value), then each tensor's description (a string name, a uint32
number of dimensions, that many uint64 dimensions, a uint32 type, a uint64 offset). Strings
are a uint64 length and UTF-8 bytes. Arrays (the tokenizer's vocabulary) are skipped, apart
from their length.

This module imports nothing outside the standard library.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["GGUFError", "GGUFHeader", "read_header"]

_MAGIC = b"GGUF"
#: Value types: struct format of the fixed-size ones (8 is a string, 9 an array).
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_STRING, _ARRAY = 8, 9
#: More than any real file holds: a header claiming more is not a GGUF file.
_MAX_ITEMS = 1 << 24
_MAX_STRING = 1 << 26


class GGUFError(ValueError):
    """The file is not a GGUF file this reader understands."""


@dataclass(frozen=True)
class GGUFHeader:
    """A GGUF file's metadata (arrays left out) and tensor figures."""

    version: int
    metadata: dict[str, Any] = field(default_factory=dict)
    tensor_count: int = 0
    parameter_count: int = 0  # every tensor's elements, summed

    @property
    def architecture(self) -> str | None:
        arch = self.metadata.get("general.architecture")
        return arch if isinstance(arch, str) else None

    def arch_value(self, name: str) -> Any:
        """``<architecture>.<name>``, e.g. ``context_length``; None when absent."""
        return self.metadata.get(f"{self.architecture}.{name}") if self.architecture else None


def _read(stream: IO[bytes], fmt: str) -> Any:
    size = struct.calcsize("<" + fmt)
    raw = stream.read(size)
    if len(raw) != size:
        raise GGUFError("the file ends inside its header")
    return struct.unpack("<" + fmt, raw)[0]


def _string(stream: IO[bytes]) -> str:
    length = _read(stream, "Q")
    if length > _MAX_STRING:
        raise GGUFError(f"a string of {length} bytes in the header")
    raw = stream.read(length)
    if len(raw) != length:
        raise GGUFError("the file ends inside its header")
    return raw.decode("utf-8", errors="replace")


def _value(stream: IO[bytes], kind: int) -> Any:
    if kind in _SCALARS:
        return _read(stream, _SCALARS[kind])
    if kind == _STRING:
        return _string(stream)
    if kind == _ARRAY:
        item_kind, count = _read(stream, "I"), _read(stream, "Q")
        if count > _MAX_ITEMS:
            raise GGUFError(f"an array of {count} items in the header")
        if item_kind in _SCALARS:
            stream.seek(struct.calcsize("<" + _SCALARS[item_kind]) * count, 1)
        else:
            for _ in range(count):
                _value(stream, item_kind)
        return None
    raise GGUFError(f"unknown metadata value type {kind}")


def read_header(path: str | Path) -> GGUFHeader:
    """The header of the GGUF file at ``path``; GGUFError when it is not one, OSError when
    it cannot be read."""
    with open(path, "rb") as stream:
        if stream.read(4) != _MAGIC:
            raise GGUFError(f"{path} is not a GGUF file (no GGUF magic)")
        version = _read(stream, "I")
        if version not in (2, 3):
            raise GGUFError(f"{path}: GGUF version {version} is not supported (2 or 3)")
        tensors, entries = _read(stream, "Q"), _read(stream, "Q")
        if tensors > _MAX_ITEMS or entries > _MAX_ITEMS:
            raise GGUFError(f"{path}: implausible counts in the header")
        metadata: dict[str, Any] = {}
        for _ in range(entries):
            key = _string(stream)
            value = _value(stream, _read(stream, "I"))
            if value is not None:
                metadata[key] = value
        parameters = 0
        for _ in range(tensors):
            _string(stream)
            dims = [_read(stream, "Q") for _ in range(_read(stream, "I"))]
            _read(stream, "I")  # the tensor's type
            _read(stream, "Q")  # its offset
            parameters += math.prod(dims)
    return GGUFHeader(version, metadata, tensors, parameters)
