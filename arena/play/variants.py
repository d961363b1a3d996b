"""Contestant variants: one backend model under other settings, competing as a contestant of
its own (``models add smollm2:135m --name "SmolLM2 135M, creative" --option temperature=1.1
--system FILE``).

A variant is a ``Model`` row whose ``tag`` is its contestant key, the backend's name, ``~``
and the slug of its name (``smollm2:135m~smollm2-135m-creative``): no Ollama name nor Hugging
Face id holds a ``~``, and the arena never splits the key (``backend_tag`` names the backend's
model). Its ``variant_options`` override the sampling options of each generation and its
``system_prompt`` replaces ``GEN_SYSTEM_PROMPT``. Only sampling options are accepted: an option
that changes how the runner loads the model (``num_ctx``, ``num_gpu``...) would force a reload
between the variants of one model, which share its load.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from arena.backends import GenerationOptions

#: Between the backend's model name and the variant's slug in a variant's contestant key.
VARIANT_SEPARATOR = "~"
#: The longest system prompt a variant may have (characters).
MAX_SYSTEM_PROMPT = 20_000


class VariantError(ValueError):
    """A variant that cannot be made as asked; the message says what is accepted."""


@dataclass(frozen=True)
class OptionRule:
    """One option a variant may set: its type, its range and what it does."""

    kind: type  # int, float or str (stop: a list of strings)
    low: float | None
    high: float | None
    help: str
    many: bool = False  # a list (``stop``): the option may be given several times

    def describe(self) -> str:
        if self.many:
            return "text, may be given several times"
        kind = "a whole number" if self.kind is int else "a number"
        if self.low is not None and self.high is not None:
            return f"{kind} from {self.low:g} to {self.high:g}"
        return f"{kind} of at least {self.low:g}" if self.low is not None else kind


#: Every option a variant may set, as ``GenerationOptions`` names it (Ollama's names).
OPTIONS: dict[str, OptionRule] = {
    "temperature": OptionRule(float, 0.0, 5.0, "randomness of sampling (0: greedy)"),
    "top_p": OptionRule(float, 0.0, 1.0, "nucleus sampling: the smallest set of this mass"),
    "top_k": OptionRule(int, 0, 1000, "sample among the k likeliest tokens (0: all)"),
    "min_p": OptionRule(float, 0.0, 1.0, "drop tokens below this share of the likeliest"),
    "repeat_penalty": OptionRule(float, 0.0, 5.0, "penalty on repeated tokens (1: none)"),
    "repeat_last_n": OptionRule(int, -1, 32768, "how many last tokens the penalty looks at"),
    "presence_penalty": OptionRule(float, -2.0, 2.0, "penalty on any token already present"),
    "frequency_penalty": OptionRule(float, -2.0, 2.0, "penalty growing with a token's count"),
    "num_predict": OptionRule(int, 1, 32768, "the most tokens an answer may have"),
    "stop": OptionRule(str, None, None, "a text that ends the answer", many=True),
}
#: Options that exist but no variant may set, and why.
REFUSED: dict[str, str] = {
    "seed": "the arena draws a new seed for every answer (a regeneration needs another one)",
    "think": "thinking is set with `flask --app arena models think TAG`, not as an option",
}
#: Ollama's runner options: changing one reloads the model, which its variants share.
RUNNER_OPTIONS = frozenset(
    {"num_ctx", "num_batch", "num_gpu", "main_gpu", "num_thread", "use_mmap", "use_mlock"}
    | {"numa", "low_vram", "f16_kv", "vocab_only", "rope_frequency_base", "rope_frequency_scale"}
)


def accepted_list() -> str:
    return ", ".join(OPTIONS)


def parse_options(pairs: Iterable[str]) -> dict[str, Any]:
    """``["temperature=1.1", "stop=###"]`` as validated overrides; VariantError when a pair
    is not ``KEY=VALUE``, a key is not accepted (the message lists those that are) or a
    value is of the wrong type or out of range."""
    raw: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise VariantError(
                f"{pair!r} is not an option: give KEY=VALUE, e.g. temperature=1.1 "
                f"(accepted keys: {accepted_list()})"
            )
        raw.setdefault(key, []).append(value)
    return validate_options(raw)


def validate_options(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Checked overrides from ``{key: value or list of values}`` (strings from the command
    line, or numbers from a stored row)."""
    checked: dict[str, Any] = {}
    for key, given in raw.items():
        rule = OPTIONS.get(key)
        if rule is None:
            raise VariantError(_unknown(key))
        values = list(given) if isinstance(given, list | tuple) else [given]
        if rule.many:
            stops = [str(value) for value in values]
            if not all(stops) or any(len(stop) > 200 for stop in stops):
                raise VariantError(f"{key}: each stop text must be 1 to 200 characters long")
            checked[key] = stops
            continue
        if len(values) != 1:
            raise VariantError(f"{key} is given {len(values)} times: give it once")
        checked[key] = _number(key, rule, values[0])
    return checked


def _unknown(key: str) -> str:
    if key in REFUSED:
        why = REFUSED[key]
    elif key in RUNNER_OPTIONS:
        why = (
            "it is a runner option: changing it reloads the model, whose load the variants "
            "of one model share"
        )
    else:
        why = "no such option"
    return f"a variant cannot set {key!r} ({why}); accepted options: {accepted_list()}"


def _number(key: str, rule: OptionRule, value: Any) -> int | float:
    try:
        if isinstance(value, bool):
            raise ValueError
        number: int | float = rule.kind(str(value).strip()) if rule.kind is int else float(value)
    except ValueError:
        raise VariantError(f"{key}={value!r}: expected {rule.describe()}") from None
    if number != number or (rule.low is not None and number < rule.low):  # NaN or too low
        raise VariantError(f"{key}={value!r}: expected {rule.describe()}")
    if rule.high is not None and number > rule.high:
        raise VariantError(f"{key}={value!r}: expected {rule.describe()}")
    return number


def apply_options(
    options: GenerationOptions, overrides: Mapping[str, Any] | None
) -> GenerationOptions:
    """``options`` with a variant's overrides (as :func:`validate_options` returns them)."""
    if not overrides:
        return options
    values: dict[str, Any] = {}
    for key, value in validate_options(overrides).items():
        values[key] = tuple(value) if key == "stop" else value
    return dataclasses.replace(options, **values)


def slug(name: str) -> str:
    """``SmolLM2 135M, creative`` -> ``smollm2-135m-creative`` (ASCII letters and digits)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def variant_key(backend_tag: str, name: str) -> str:
    """The contestant key of the variant ``name`` of the backend's model ``backend_tag``."""
    if not name.strip():
        raise VariantError("a variant needs a name (--name), shown after a vote")
    part = slug(name)
    if not part:
        raise VariantError(
            f"the name {name!r} has no letter or digit to make the variant's key of: "
            "give a name with some"
        )
    key = f"{backend_tag}{VARIANT_SEPARATOR}{part}"
    if len(key) > 200:
        raise VariantError(
            f"the variant's key {key[:60]!r}... is over 200 characters: shorten --name"
        )
    return key


def check_system_prompt(text: str) -> str:
    """A variant's system prompt, stripped; VariantError when it is empty or too long."""
    text = text.strip()
    if not text:
        raise VariantError("the system prompt file is empty")
    if len(text) > MAX_SYSTEM_PROMPT:
        raise VariantError(
            f"the system prompt is {len(text)} characters long; a variant's holds at most "
            f"{MAX_SYSTEM_PROMPT}"
        )
    return text
