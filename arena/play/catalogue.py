"""The model registry: sync from a backend's list, add, enable, disable, and size parsing."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from arena.backends import Backend, BackendModel, missing_model_hint
from arena.backends.facts import ModelFacts
from arena.extensions import db
from arena.models import Model
from arena.play import variants
from arena.play.model_facts import fetch_facts, store_facts

_SIZE = re.compile(r"^\s*(?:(\d+)\s*x\s*)?(\d[\d,]*(?:\.\d+)?)\s*([KMBT])\s*$", re.IGNORECASE)
_TAG_SIZE = re.compile(r"(?<![\w.])(?:(\d+)x)?(\d+(?:\.\d+)?)([mb])(?![a-z0-9])", re.IGNORECASE)
_TAG_QUANT = re.compile(
    r"(?<![a-z0-9])(q\d(?:_[a-z0-9]+)*|i?q\d_[a-z0-9_]+|b?f16|fp16|f32)\b", re.I
)
_UNIT = {"K": 1e-6, "M": 1e-3, "B": 1.0, "T": 1e3}
#: The longest tag the ``model.tag`` column holds.
MAX_TAG_LENGTH = 200
#: Every character an Ollama model name may hold (ollama's ``types/model/name.go``: ASCII
#: letters, digits, ``.``, ``-`` and ``_`` in the parts, ``/ : + @`` between them).
_OLLAMA_NAME = re.compile(r"[A-Za-z0-9._\-/:+@]+")
#: Unicode categories no model name holds: control (newline, tab, escape), format
#: (zero-width space, byte order mark), surrogate (undecodable bytes from the command line),
#: line and paragraph separators.
_INVISIBLE = {"Cc", "Cf", "Cs", "Zl", "Zp"}
_EXAMPLES = "e.g. qwen2.5:0.5b-instruct-q8_0, hf.co/org/repo:Q4_K_M or Qwen/Qwen2.5-7B-Instruct"


class CatalogueError(ValueError):
    """A model operation that cannot be done; the message says what to do instead."""


class InvalidTag(CatalogueError):
    """A model tag that no backend can list; raised before any backend is asked."""


def validate_tag(tag: str, kind: str | None = None) -> str:
    """``tag`` when a backend of ``kind`` (``ollama``, ``openai``, ``embedded``; None: any)
    could list it; else InvalidTag saying what is wrong. Asks no backend.

    Every kind: not empty or blank, no space at either end, no control or invisible character
    (a newline, a tab, a zero-width space), at most 200 characters (the column). An Ollama
    name holds only ASCII letters, digits and ``. _ - / : + @`` (``hf.co/org/repo:Q4_K_M``),
    so no space. An OpenAI-compatible server's ids are free text (llama.cpp's server names a
    model by its file's path, spaces and all; vLLM's are ``Qwen/Qwen2.5-7B-Instruct``), and
    the embedded backend's are the operator's own keys: only the common rules apply to them.
    """
    if not tag.strip():
        raise InvalidTag(
            f"no model tag given ({tag!r}): give one as its backend lists it, {_EXAMPLES}"
        )
    if len(tag) > MAX_TAG_LENGTH:
        raise InvalidTag(
            f"the model tag {tag[:40]!r}... is {len(tag)} characters long; a tag holds at most "
            f"{MAX_TAG_LENGTH}"
        )
    for position, char in enumerate(tag, start=1):
        if unicodedata.category(char) in _INVISIBLE:
            raise InvalidTag(
                f"the model tag {tag!r} holds the control or invisible character {char!r} "
                f"at position {position}: give the tag alone, as the backend lists it"
            )
    if tag != tag.strip():
        raise InvalidTag(
            f"the model tag {tag!r} starts or ends with a space: no backend lists such a tag "
            "(leave the spaces out)"
        )
    if kind == "ollama" and not _OLLAMA_NAME.fullmatch(tag):
        wrong = "".join(dict.fromkeys(c for c in tag if not _OLLAMA_NAME.fullmatch(c)))
        raise InvalidTag(
            f"{tag!r} cannot be an Ollama model name, which holds only ASCII letters, digits "
            f"and . _ - / : + @ (not {wrong!r}): give it as `ollama list` shows it, "
            "e.g. qwen2.5:0.5b-instruct-q8_0 or hf.co/org/repo:Q4_K_M"
        )
    return tag


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    too_large: list[tuple[str, float]] = field(default_factory=list)
    # Tags this backend lists that are registered from another backend: (tag, that backend).
    elsewhere: list[tuple[str, str]] = field(default_factory=list)
    # Listed models that cannot chat (embedding models): (tag, why), never registered.
    not_chat: list[tuple[str, str]] = field(default_factory=list)
    # Models whose server does not report capabilities (taken as chat models).
    capabilities_unknown: list[str] = field(default_factory=list)
    # Models whose facts could not be read: (tag, the error); registered from the list alone.
    no_facts: list[tuple[str, str]] = field(default_factory=list)


def parse_parameter_size(text: str | None) -> float | None:
    """Billions of parameters from Ollama's ``parameter_size``: ``7.6B``, ``360M``, ``1,000M``.

    A mixture like ``8x7B`` counts every expert (56). Returns None when it cannot tell.
    """
    if not text:
        return None
    match = _SIZE.match(text)
    if not match:
        return None
    experts, number, unit = match.groups()
    value = float(number.replace(",", "")) * _UNIT[unit.upper()]
    return round(value * int(experts or 1), 6)


def size_from_tag(tag: str) -> float | None:
    """Billions of parameters from a tag like ``qwen2.5:0.5b-instruct`` or ``smollm2:135m``."""
    name, _, variant = tag.partition(":")
    for part in (variant, name.rsplit("/", 1)[-1]):
        match = _TAG_SIZE.search(part)
        if match:
            experts, number, unit = match.groups()
            return round(float(number) * _UNIT[unit.upper()] * int(experts or 1), 6)
    return None


def quantization_from_tag(tag: str) -> str | None:
    match = _TAG_QUANT.search(tag.partition(":")[2])
    return match.group(1).upper() if match else None


def display_name(tag: str) -> str:
    """``llama3.2:latest`` shows as ``llama3.2``; other tags show as they are."""
    return tag.removesuffix(":latest")


def _apply(model: Model, entry: BackendModel, facts: ModelFacts | None = None) -> None:
    model.params_b = parse_parameter_size(entry.parameter_size) or size_from_tag(entry.tag)
    model.quantization = entry.quantization or quantization_from_tag(entry.tag)
    model.family = entry.family
    model.digest = entry.digest
    model.available = True
    store_facts(model, entry, facts)  # exact figures from the backend, where it has them


def _facts(backend: Backend, entry: BackendModel, report: SyncReport) -> ModelFacts | None:
    """The backend's facts of a listed model, noting in ``report`` what is missing."""
    lookup = fetch_facts(backend, entry.tag)
    if lookup.error is not None:
        report.no_facts.append((entry.tag, lookup.error))
    elif lookup.facts is not None and not lookup.facts.capabilities_known:
        report.capabilities_unknown.append(entry.tag)
    return lookup.facts


def get_model(tag: str) -> Model:
    model = db.session.scalar(select(Model).where(Model.tag == tag))
    if model is None:
        raise CatalogueError(
            f"no model {tag!r} is registered: see `flask --app arena models list`, "
            "or register it with `flask --app arena models add TAG`"
        )
    return model


def sync_models(backend: Backend, size_cap_b: float | None) -> SyncReport:
    """Register every model the backend lists up to the size cap; disable vanished ones.

    A vanished model is disabled and marked unavailable, never deleted: its votes stay.
    """
    report = SyncReport()
    listed = backend.list_models()
    mine = list(db.session.scalars(select(Model).where(Model.backend == backend.name)))
    known = {m.tag: m for m in mine if m.backend_tag is None}
    rows = db.session.execute(select(Model.tag, Model.backend).where(Model.backend != backend.name))
    others = {tag: name for tag, name in rows}
    found: dict[str, ModelFacts | None] = {}
    for entry in listed:
        size = parse_parameter_size(entry.parameter_size) or size_from_tag(entry.tag)
        model = known.get(entry.tag)
        if model is None and entry.tag in others:  # a tag names one model, on one backend
            report.elsewhere.append((entry.tag, others[entry.tag]))
            continue
        facts = found[entry.tag] = _facts(backend, entry, report)
        if facts is not None and not facts.chat_capable:  # only chat models compete
            report.not_chat.append((entry.tag, facts.why_not_chat()))
            if model is not None:
                model.enabled = False
            continue
        size = round(facts.param_count / 1e9, 6) if facts and facts.param_count else size
        if model is None:
            if size_cap_b is not None and size is not None and size > size_cap_b:
                report.too_large.append((entry.tag, size))
                continue
            model = Model(tag=entry.tag, backend=backend.name, display_name=display_name(entry.tag))
            db.session.add(model)
            report.added.append(entry.tag)
        elif not model.available:
            report.updated.append(entry.tag)
        _apply(model, entry, facts)
    listed_tags = {entry.tag for entry in listed}
    for tag, model in known.items():
        if tag not in listed_tags and model.available:
            model.available = False
            model.enabled = False
            report.disabled.append(tag)
    _sync_variants([m for m in mine if m.backend_tag is not None], listed, report, found)
    db.session.commit()
    return report


def _sync_variants(
    variants: list[Model],
    listed: list[BackendModel],
    report: SyncReport,
    found: Mapping[str, ModelFacts | None],
) -> None:
    """A variant is listed when its backend model is (matched by ``served_tag``): it shares
    that model's facts, and is disabled when it vanishes. Sync never adds a variant."""
    entries = {entry.tag: entry for entry in listed}
    for variant in variants:
        entry = entries.get(variant.served_tag)
        facts = found.get(entry.tag) if entry is not None else None
        if entry is None or (facts is not None and not facts.chat_capable):
            if variant.available:
                variant.available = False
                variant.enabled = False
                report.disabled.append(variant.tag)
            continue
        if not variant.available:
            report.updated.append(variant.tag)
        _apply(variant, entry, facts)


def add_model(backend: Backend, tag: str, name: str | None = None) -> Model:
    """Register one model the backend has, whatever its size (the operator asked for it).

    A tag registered from another backend moves to this one (the same model, served
    elsewhere now): its answers and votes stay. A tag no backend can list (see
    :func:`validate_tag`) is refused before the backend is asked.
    """
    entry, facts = _chat_entry(backend, tag)
    model = db.session.scalar(select(Model).where(Model.tag == entry.tag))
    if model is None:
        model = Model(tag=entry.tag, backend=backend.name, display_name=display_name(entry.tag))
        db.session.add(model)
    model.backend = backend.name
    if name:
        model.display_name = name
    _apply(model, entry, facts)
    model.enabled = True
    db.session.commit()
    return model


def _listed_entry(backend: Backend, tag: str) -> BackendModel:
    """The backend's entry of ``tag`` (or ``tag:latest``); CatalogueError when it has none."""
    validate_tag(tag)
    entries = {entry.tag: entry for entry in backend.list_models()}
    entry = entries.get(tag) or entries.get(f"{tag}:latest")
    if entry is None:
        listed = ", ".join(sorted(entries)[:8]) or "none"
        raise CatalogueError(
            f"the backend {backend.name!r} has no model {tag!r} (it lists: {listed}): "
            f"{missing_model_hint(backend, tag)}, then add it by its tag exactly as the "
            "backend lists it"
        )
    return entry


def _chat_entry(backend: Backend, tag: str) -> tuple[BackendModel, ModelFacts | None]:
    """The backend's entry of ``tag`` and its facts; CatalogueError when it cannot chat."""
    entry = _listed_entry(backend, tag)
    facts = fetch_facts(backend, entry.tag).facts
    if facts is not None and not facts.chat_capable:
        raise CatalogueError(facts.why_not_chat())
    return entry, facts


def add_variant(
    backend: Backend,
    tag: str,
    name: str,
    options: Mapping[str, Any] | None = None,
    system_prompt: str | None = None,
) -> Model:
    """Register (or update) a contestant variant of the backend's model ``tag``: its own
    name, sampling overrides and system prompt (:mod:`arena.play.variants`). Its key is
    made of the tag and the name, so adding it again with other settings updates it."""
    checked = variants.validate_options(options or {})
    system = variants.check_system_prompt(system_prompt) if system_prompt is not None else None
    if not checked and system is None:
        raise variants.VariantError(
            "a variant needs at least one --option or a --system prompt; without either, "
            f"add the model itself (accepted options: {variants.accepted_list()})"
        )
    entry, facts = _chat_entry(backend, tag)
    key = variants.variant_key(entry.tag, name)
    model = db.session.scalar(select(Model).where(Model.tag == key))
    if model is None:
        model = Model(tag=key, backend=backend.name, display_name=name.strip())
        db.session.add(model)
    elif model.backend_tag != entry.tag:
        raise CatalogueError(f"{key!r} is already registered, and is not a variant of {tag!r}")
    model.backend = backend.name
    model.backend_tag = entry.tag
    model.display_name = name.strip()
    model.variant_options = checked or None
    model.system_prompt = system
    _apply(model, entry, facts)
    model.enabled = True
    db.session.commit()
    return model


def variants_of(model: Model) -> list[Model]:
    """The contestant variants of ``model`` (a backend model registered as itself)."""
    if model.backend_tag is not None:
        return []
    query = select(Model).where(Model.backend_tag == model.tag, Model.backend == model.backend)
    return list(db.session.scalars(query.order_by(Model.tag)))


def set_enabled(tag: str, enabled: bool) -> Model:
    """Enable or disable a model; disabling a model disables its variants too."""
    model = get_model(tag)
    if enabled and not model.available:
        raise CatalogueError(
            f"{tag!r} is no longer listed by the backend: pull it again, then run "
            "`flask --app arena models sync`"
        )
    model.enabled = enabled
    if not enabled:
        for variant in variants_of(model):
            variant.enabled = False
    db.session.commit()
    return model


def list_models(enabled_only: bool = False) -> Sequence[Model]:
    query = select(Model).order_by(Model.params_b.is_(None), Model.params_b, Model.tag)
    if enabled_only:
        query = query.where(Model.enabled.is_(True))
    return db.session.scalars(query).all()
