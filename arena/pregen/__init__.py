"""Pre-generation: which (prompt, model) answers are missing, and producing them.

Answers are generated per (prompt, model), never per battle: a *slate* of prompts answered by
all M enabled models yields M(M-1)/2 battles per prompt. The run is grouped by model so each
model is loaded once. A response row is written only once its whole answer has arrived.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from arena.backends import (
    Backend,
    BackendError,
    BackendUnreachable,
    ChatResult,
    GenerationOptions,
    ModelNotFound,
)
from arena.extensions import db
from arena.models import Model, Prompt, Response
from arena.rendering import RENDER_VERSION, render_markdown

#: A model whose requests fail this many times in a row is skipped for the rest of the run.
MAX_CONSECUTIVE_FAILURES = 3


@dataclass
class ModelWork:
    model_id: int
    tag: str
    prompt_ids: list[int]


@dataclass
class Plan:
    """Work grouped by model, in the order it will run."""

    work: list[ModelWork]

    @property
    def total(self) -> int:
        return sum(len(item.prompt_ids) for item in self.work)


@dataclass
class RunSummary:
    stored: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failures: list[tuple[str, int | None, str]] = field(default_factory=list)  # tag, prompt, why
    model_loads: int = 0
    wall_seconds: float = 0.0
    backend_seconds: float = 0.0

    @property
    def total_stored(self) -> int:
        return sum(self.stored.values())


def selected_models(tags: Sequence[str] | None = None) -> list[Model]:
    query = select(Model).where(Model.enabled.is_(True)).order_by(Model.params_b, Model.tag)
    if tags:
        query = query.where(Model.tag.in_(tags))
    return list(db.session.scalars(query))


def answered_pairs(model_ids: Sequence[int]) -> set[tuple[int, int]]:
    """(prompt id, model id) pairs that already have a usable answer."""
    rows = db.session.execute(
        select(Response.prompt_id, Response.model_id).where(
            Response.status == "ok", Response.model_id.in_(model_ids)
        )
    )
    return {(prompt_id, model_id) for prompt_id, model_id in rows}


def choose_slate(n_prompts: int, models: Sequence[Model], rng: random.Random) -> list[int]:
    """N shared prompts to be answered by every given model.

    Prompts some models already answered come first (finishing a slate is cheapest), then new
    prompts taken round-robin across categories so the pool stays balanced.
    """
    model_ids = [m.id for m in models]
    done = answered_pairs(model_ids)
    answered: dict[int, int] = defaultdict(int)
    for prompt_id, _ in done:
        answered[prompt_id] += 1
    prompts = db.session.execute(
        select(Prompt.id, Prompt.category).where(Prompt.shared.is_(True)).order_by(Prompt.id)
    ).all()
    partial = [pid for pid, _ in prompts if 0 < answered[pid] < len(model_ids)]
    partial.sort(key=lambda pid: -answered[pid])
    by_category: dict[str, list[int]] = defaultdict(list)
    for pid, category in prompts:
        if answered[pid] == 0:
            by_category[category].append(pid)
    for ids in by_category.values():
        rng.shuffle(ids)
    categories = sorted(by_category)
    rng.shuffle(categories)
    fresh = [
        pid
        for group in itertools.zip_longest(*(by_category[c] for c in categories))
        for pid in group
        if pid is not None
    ]
    return (partial + fresh)[:n_prompts]


def plan_batch(
    n_prompts: int, tags: Sequence[str] | None = None, rng: random.Random | None = None
) -> Plan:
    """The missing answers for a slate of N prompts, grouped by model."""
    models = selected_models(tags)
    slate = choose_slate(n_prompts, models, rng or random.Random())
    done = answered_pairs([m.id for m in models])
    work = [
        ModelWork(m.id, m.tag, [pid for pid in slate if (pid, m.id) not in done]) for m in models
    ]
    return Plan([item for item in work if item.prompt_ids])


def generation_options(config: Mapping[str, Any], seed: int) -> GenerationOptions:
    return GenerationOptions(
        temperature=float(config["GEN_TEMPERATURE"]),
        num_predict=int(config["GEN_NUM_PREDICT"]),
        num_ctx=int(config["GEN_NUM_CTX"]) if config.get("GEN_NUM_CTX") else None,
        seed=seed,
    )


def messages_for(prompt: str, system: str | None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": prompt}]


def store_answer(
    prompt_id: int, model_id: int, result: ChatResult, options: GenerationOptions
) -> Response | None:
    """Write one complete answer; None if a usable one was stored meanwhile (no duplicates)."""
    response = Response(
        prompt_id=prompt_id,
        model_id=model_id,
        text=result.text,
        html=str(render_markdown(result.text)),
        html_version=RENDER_VERSION,
        status="ok",
        options=options.to_ollama(),
        seed=options.seed,
        done_reason=result.done_reason,
        eval_count=result.eval_count,
        eval_duration=result.eval_duration,
        prompt_eval_count=result.prompt_eval_count,
        load_duration=result.load_duration,
        total_duration=result.total_duration,
    )
    db.session.add(response)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    return response


ProgressCallback = Callable[[ModelWork, int, Response | None], None]


def run_plan(
    plan: Plan,
    backend: Backend,
    config: Mapping[str, Any],
    *,
    progress: ProgressCallback | None = None,
    rng: random.Random | None = None,
) -> RunSummary:
    """Generate the planned answers model by model, loading each model once.

    The model is kept loaded while it has work and unloaded (``keep_alive=0``) after its last
    request, so RAM is free for the next one. A failing model never stops the others.
    """
    rng = rng or random.Random()
    summary = RunSummary()
    started = time.monotonic()
    system = config.get("GEN_SYSTEM_PROMPT") or None
    for item in plan.work:
        summary.model_loads += 1
        _run_model(item, backend, config, system, summary, progress, rng)
    summary.wall_seconds = time.monotonic() - started
    return summary


def _run_model(
    item: ModelWork,
    backend: Backend,
    config: Mapping[str, Any],
    system: str | None,
    summary: RunSummary,
    progress: ProgressCallback | None,
    rng: random.Random,
) -> None:
    consecutive = 0
    for index, prompt_id in enumerate(item.prompt_ids):
        last = index == len(item.prompt_ids) - 1
        prompt = db.session.get(Prompt, prompt_id)
        options = generation_options(config, seed=rng.randrange(1, 2**31))
        keep_alive = 0 if last else config["OLLAMA_KEEP_ALIVE"]
        asked = time.monotonic()
        try:
            result = backend.chat(
                item.tag, messages_for(prompt.text, system), options, keep_alive=keep_alive
            )
        except (ModelNotFound, BackendUnreachable) as error:
            summary.backend_seconds += time.monotonic() - asked
            summary.failures.append((item.tag, prompt_id, str(error)))
            return
        except BackendError as error:
            summary.backend_seconds += time.monotonic() - asked
            summary.failures.append((item.tag, prompt_id, str(error)))
            consecutive += 1
            if consecutive >= MAX_CONSECUTIVE_FAILURES:
                summary.failures.append((item.tag, None, "skipped after repeated failures"))
                return
            continue
        summary.backend_seconds += time.monotonic() - asked
        consecutive = 0
        stored = store_answer(prompt_id, item.model_id, result, options)
        if stored is not None:
            summary.stored[item.tag] += 1
        if progress:
            progress(item, index, stored)
