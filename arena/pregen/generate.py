"""One answer, done right: retries with backoff, the identity-leak and degenerate-answer
filters, storing it whole.

Shared by the batch runner and the visitors' queue. A response row is written only once
the whole answer has arrived, so a killed process never leaves a partial answer behind.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from requests import ConnectTimeout
from sqlalchemy import Insert, Table, insert
from sqlalchemy.exc import IntegrityError

from arena.backends import (
    BackendBusy,
    BackendError,
    BackendHTTPError,
    BackendTimeout,
    BackendUnreachable,
    ChatResult,
    GenerationOptions,
    MalformedReply,
    ModelNotFound,
    StreamError,
    ThinkRefused,
)
from arena.extensions import db
from arena.models import Model, Prompt, Response, utcnow
from arena.play.variants import apply_options
from arena.pregen.clock import SYSTEM_CLOCK, Clock
from arena.pregen.degenerate import find_degeneration
from arena.pregen.leaks import find_leak
from arena.pregen.metered import MeteredBackend as MeteredBackend  # re-exported
from arena.pregen.think import no_answer_reason, remember_refused, think_plan, thinking_leak
from arena.rendering import RENDER_VERSION, render_markdown

#: Excluded answers (an identity leak, a degenerate answer) are regenerated this many times
#: with another seed, then given up.
LEAK_REGENERATIONS = 1


@dataclass(frozen=True)
class ModelRef:
    """A contestant as generation needs it. ``tag`` is its key in the arena; a variant
    (:mod:`arena.play.variants`) also has ``served`` (the backend's name for its model), its
    option overrides and its own system prompt (None: ``GEN_SYSTEM_PROMPT``)."""

    id: int
    tag: str
    family: str | None = None
    served: str | None = None
    options: Mapping[str, Any] | None = field(default=None, compare=False)
    system: str | None = None

    @property
    def served_tag(self) -> str:
        """What is sent to the backend."""
        return self.served or self.tag

    @classmethod
    def of(cls, model: Model) -> ModelRef:
        return cls(
            model.id,
            model.tag,
            model.family,
            model.backend_tag,
            model.variant_options or None,
            model.system_prompt or None,
        )


@dataclass(frozen=True)
class FailureNote:
    """Why one answer (or a whole model, when ``prompt_id`` is None) could not be had."""

    tag: str
    prompt_id: int | None
    kind: str
    reason: str
    attempts: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.tag,
            "prompt": self.prompt_id,
            "kind": self.kind,
            "reason": self.reason,
            "attempts": self.attempts,
        }

    @staticmethod
    def line(note: dict[str, Any]) -> str:
        """One failure of a run's summary (:meth:`to_json`), as the commands print it."""
        where = f" prompt {note['prompt']}" if note.get("prompt") is not None else ""
        tries = f" after {note['attempts']} attempts" if note.get("attempts", 1) > 1 else ""
        return f"failed {note['model']}{where} [{note['kind']}]{tries}: {note['reason']}"


@dataclass
class Outcome:
    """What became of one planned answer."""

    response_id: int | None = None  # the usable answer stored now
    duplicate: bool = False  # a usable answer was stored meanwhile by someone else
    excluded: int = 0  # answers stored as excluded (identity leak, degenerate)
    failure: FailureNote | None = None
    skip_model: bool = False  # the model cannot answer at all (missing, backend gone)
    blames_server: bool = False  # the failure says the server is at fault, not the model
    interrupted: bool = False  # stopped before a clean answer (a leak left to the next run)
    result: ChatResult | None = None  # the last complete reply, for speed figures


#: HTTP statuses on a generation request that say the server is not the one we think (a wrong
#: URL, another server, a proxy refusing us): no retry helps, and no other model will fare better.
SERVER_REFUSALS = frozenset({401, 403, 404, 405, 501})


def failure_kind(error: BackendError) -> tuple[str, bool, bool]:
    """(kind, worth retrying, give up on the model) for a backend error.

    Retried: what may pass (a timeout, a dropped stream, 503/429 busy, other 5xx). Not retried:
    what the same request meets again (a reply that is not the protocol, any 4xx, 501).
    """
    if isinstance(error, ModelNotFound):
        return "not_found", False, True
    if isinstance(error, BackendUnreachable) or _connect_timeout(error):
        return "unreachable", False, True  # the client already retried with backoff
    if isinstance(error, BackendTimeout):
        return "timeout", True, False
    if isinstance(error, StreamError):
        return "stream", True, False
    if isinstance(error, BackendBusy):
        return "busy", True, False
    if isinstance(error, MalformedReply):
        return "malformed", False, False
    if isinstance(error, BackendHTTPError):
        return "http", error.status >= 500 and error.status not in SERVER_REFUSALS, False
    return "error", True, False


def blames_server(error: BackendError) -> bool:
    """Whether an error says the server itself is at fault rather than one model or prompt:
    unreachable, a reply that is not the protocol, HTTP 401/403/404/405/501, a 5xx or still
    busy (after the retries); not a missing model, a read timeout, a stream cut, nor a 4xx
    about the request."""
    if isinstance(error, ModelNotFound):
        return False
    if isinstance(error, BackendUnreachable | MalformedReply | BackendBusy):
        return True
    if isinstance(error, BackendHTTPError):
        return error.status in SERVER_REFUSALS or error.status >= 500
    return _connect_timeout(error)


def _connect_timeout(error: BackendError) -> bool:
    """A connection that could not even be opened (after the client's retries), unlike a
    read timeout, which a slow model may cause."""
    return isinstance(error, BackendTimeout) and isinstance(error.__cause__, ConnectTimeout)


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


@cache
def _insert_response() -> Insert:
    table = Response.__table__
    assert isinstance(table, Table)  # typed FromClause (a class may map a join): here a Table
    return insert(table)


def store_answer(
    prompt_id: int,
    model_id: int,
    result: ChatResult,
    options: GenerationOptions,
    *,
    status: str = "ok",
    reason: str | None = None,
    concurrency: int | None = None,
) -> int | None:
    """Write one complete answer and return its id; None if a usable one was stored
    meanwhile (the partial unique index allows one 'ok' answer per prompt and model).

    ``reason`` says why an answer is excluded, or on a usable one that it was cut (the
    degenerate-answer filter). ``concurrency`` (requests under way on the backend while it
    was generated) is kept in ``options`` beside the sampling options, for the speed shown.

    A single INSERT and commit (no ORM unit of work): this runs once per answer."""
    usable = status == "ok"
    # A NUL byte means nothing in an answer, and PostgreSQL refuses one in text: drop it.
    text = result.text.replace("\x00", "")
    values = {
        "prompt_id": prompt_id,
        "model_id": model_id,
        "text": text,
        "html": str(render_markdown(text)) if usable else None,
        "html_version": RENDER_VERSION if usable else 0,
        "status": status,
        "status_reason": reason,
        "options": options.to_ollama()
        | ({"concurrency": concurrency} if concurrency else {})
        | ({"think": options.think} if options.think is not None else {}),
        "seed": options.seed,
        "done_reason": result.done_reason,
        "eval_count": result.eval_count,
        "eval_duration": result.eval_duration,
        "prompt_eval_count": result.prompt_eval_count,
        "load_duration": result.load_duration,
        "total_duration": result.total_duration,
        "prompt_eval_duration": result.prompt_eval_duration,
        "first_token_ns": result.first_token_ns,
        "thinking": result.thinking.replace("\x00", "") if result.thinking else None,
        "thinking_tokens": result.thinking_tokens,
        "thinking_ns": result.thinking_duration,
        "created_at": utcnow(),
    }
    try:
        inserted = db.session.connection().execute(_insert_response(), values)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    key = inserted.inserted_primary_key
    assert key is not None  # always set after a single-row INSERT
    return int(key[0])


class AnswerMaker:
    """Generates and stores one model's answer to one prompt."""

    def __init__(
        self,
        backend: MeteredBackend,
        config: Mapping[str, Any],
        *,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self.backend = backend
        self.config = config
        self.clock = clock
        self.rng = rng or random.Random()
        self.system = config.get("GEN_SYSTEM_PROMPT") or None
        self.retries = max(0, int(config.get("GEN_RETRIES", 2)))
        self.backoff = float(config.get("GEN_RETRY_BACKOFF", 5.0))
        self.leak_filter = bool(config.get("LEAK_FILTER", True))
        self.degenerate_filter = bool(config.get("DEGENERATE_FILTER", True))

    def answer(
        self,
        model: ModelRef,
        prompt_id: int,
        *,
        keep_alive: int | str | None,
        may_continue: Callable[[], bool] = lambda: True,
        on_token: Callable[[str], None] | None = None,
        prompt_text: str | None = None,
    ) -> Outcome:
        """Generate until a clean answer is stored, the retries run out, or it must stop.

        ``may_continue`` is asked before each retry or regeneration (not before the first
        attempt): a run past its deadline leaves the rest to the next run. ``prompt_text``
        saves a query when the caller already has it.
        """
        if prompt_text is None:
            prompt = db.session.get(Prompt, prompt_id)
            if prompt is None:
                note = FailureNote(model.tag, prompt_id, "error", "the prompt was deleted")
                return Outcome(failure=note)
            prompt_text = prompt.text
        messages = messages_for(prompt_text, model.system or self.system)
        outcome = Outcome()
        failures = 0
        seeds: set[int] = set()
        plan = think_plan(model.id, self.config)
        while True:
            seed = self._new_seed(seeds)
            options = apply_options(generation_options(self.config, seed), model.options)
            options = plan.apply(options, self.config)
            try:
                result = self.backend.chat(
                    model.served_tag, messages, options, keep_alive=keep_alive, on_token=on_token
                )
            except BackendError as error:
                if isinstance(error, ThinkRefused) and options.think not in (None, False):
                    remember_refused(model.id, model.tag, error.message)  # then sent without
                    plan = think_plan(model.id, self.config)
                    continue
                failures += 1
                kind, retry, skip = failure_kind(error)
                if skip or not retry or failures > self.retries:
                    outcome.failure = FailureNote(model.tag, prompt_id, kind, str(error), failures)
                    outcome.skip_model = skip
                    outcome.blames_server = blames_server(error)
                    return outcome
                self.clock.sleep(self.backoff * 2 ** (failures - 1))
                if not may_continue():
                    outcome.interrupted = True
                    return outcome
                continue
            outcome.result = result
            concurrency = self.backend.concurrency
            kept, cut, excluded = self.screen(result, model)
            if excluded is None:
                outcome.response_id = store_answer(
                    prompt_id, model.id, kept, options, reason=cut, concurrency=concurrency
                )
                outcome.duplicate = outcome.response_id is None
                return outcome
            kind, reason = excluded
            store_answer(
                prompt_id,
                model.id,
                result,
                options,
                status="excluded",
                reason=reason,
                concurrency=concurrency,
            )
            outcome.excluded += 1
            if outcome.excluded > LEAK_REGENERATIONS:
                outcome.failure = FailureNote(
                    model.tag, prompt_id, kind, f"{reason}, again with another seed"
                )
                return outcome
            if not may_continue():
                outcome.interrupted = True
                return outcome

    def screen(
        self, result: ChatResult, model: ModelRef
    ) -> tuple[ChatResult, str | None, tuple[str, str] | None]:
        """(the answer to store, why it was cut or None, (kind, why) it is excluded or None).

        A degenerate answer (``arena.pregen.degenerate``) is cut where it degenerates when a
        fair answer comes before, else excluded; the identity-leak filter then reads what
        is kept (the answer: a model naming itself only while thinking is kept, see
        ``arena.pregen.think``). A reply that thought and never answered is degenerate."""
        if (empty := no_answer_reason(result)) is not None:
            return result, None, ("degenerate", empty)
        kept, cut = result, None
        if self.degenerate_filter:
            found = find_degeneration(result.text, model.system or self.system)
            if found is not None and found.excluded:
                return result, None, ("degenerate", found.reason())
            if found is not None:
                kept, cut = replace(result, text=found.kept), found.reason()
        leak = find_leak(kept.text, model.served_tag, model.family) if self.leak_filter else None
        if leak is not None:
            return result, None, ("leak", leak.reason())
        if self.leak_filter:
            thinking_leak(result, model.served_tag, model.family)
        return kept, cut, None

    def _new_seed(self, used: set[int]) -> int:
        seed = self.rng.randrange(1, 2**31)
        while seed in used:
            seed = self.rng.randrange(1, 2**31)
        used.add(seed)
        return seed
