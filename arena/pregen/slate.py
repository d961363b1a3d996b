"""A model's slate with several requests at once (the backend's ``parallel`` > 1).

Still one model at a time and one load per model: up to ``parallel`` answers of the same
model are generated at once, each in a thread of its own with its own application context
(its own database session), each stored whole by ``store_answer`` as it completes (one
INSERT and commit, the unique index refusing a second usable answer). The runner's thread
does all the counting, so the summary, the run's record, the breaker and the estimator see
one answer at a time, in the order they complete.

New requests start only while the run may go on (deadline, stop flag) and the model has not
been given up (the breaker, a missing model, failures in a row); the requests under way
then end on their own, stored whole. Visitors' prompts (``RunControl.between_answers``) are
answered only when no request of the slate is under way, since they may need another
model: with ``RunControl.visitors_waiting`` the slate stops starting requests only while
visitors wait; without it, it runs in waves of ``parallel`` answers with the visitors
served between waves. Every request keeps the model loaded; it is unloaded once the slate
is over (unless a variant of it is next).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, current_app

from arena.pregen.breaker import Breaker
from arena.pregen.control import RunControl
from arena.pregen.generate import AnswerMaker, FailureNote, ModelRef, Outcome
from arena.pregen.summary import RunSummary
from arena.pregen.work import ModelWork

#: A model whose answers fail this many times in a row (after retries) is skipped.
MAX_CONSECUTIVE_FAILURES = 3
#: How often the runner's thread wakes while it waits for answers (it then sees a Ctrl-C).
POLL_SECONDS = 0.2

_Done = tuple[int, Outcome | None, BaseException | None]


class ParallelSlate:
    """The parallel slate as a part of the runner (``_Runner`` mixes it in): it uses the
    runner's maker, control, breaker, summary and its counting methods."""

    config: Mapping[str, Any]
    control: RunControl
    maker: AnswerMaker
    breaker: Breaker
    summary: RunSummary
    remaining: dict[int, int]
    texts: dict[int, str]
    _may_start: Callable[[], bool]
    _release: Callable[[str], None]
    _skip: Callable[[ModelRef, FailureNote | None], None]
    _fail: Callable[[ModelRef, FailureNote], None]
    _account: Callable[[ModelRef, Outcome], None]
    _report: Callable[[ModelRef, str], None]

    def _slate(self, item: ModelWork, parallel: int) -> bool:
        """Answer one model's prompts, up to ``parallel`` at once; False when the whole run
        must stop."""
        model = item.ref()
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        keep_alive = self.config["BACKEND_KEEP_ALIVE"]
        prompts = list(reversed(item.prompt_ids))
        done: queue.Queue[_Done] = queue.Queue()
        running = 0
        consecutive = 0
        stop_run = False
        given_up: str | None = None  # why the model's remaining prompts are skipped

        def answer(prompt_id: int) -> None:
            try:
                with app.app_context():
                    outcome = self.maker.answer(
                        model,
                        prompt_id,
                        keep_alive=keep_alive,
                        may_continue=lambda: self.control.stop_reason() is None,
                        prompt_text=self.texts.get(prompt_id),
                    )
                done.put((prompt_id, outcome, None))
            except BaseException as error:  # re-raised by the runner's thread
                done.put((prompt_id, None, error))

        while True:
            filling = False  # this pass started requests (a wave, when visitors are unknown)
            while prompts and running < parallel and given_up is None and not stop_run:
                if not self._may_start():
                    stop_run = True
                    break
                if self.control.between_answers is not None:
                    if running and self._visitors_first(filling):
                        break  # let the requests under way end first
                    if not running:
                        self.control.between_answers()  # visitors' prompts first
                        if not self._may_start():
                            stop_run = True
                            break
                filling = True
                prompt_id = prompts.pop()
                thread = threading.Thread(
                    target=answer, args=(prompt_id,), name=f"slate-{prompt_id}", daemon=True
                )
                thread.start()
                running += 1
            if not running:
                break
            try:
                _, outcome, error = done.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            running -= 1
            if error is not None:
                raise error
            assert outcome is not None
            consecutive = self._settle(model, outcome, consecutive)
            if given_up is None:
                given_up = self._give_up_why(outcome, consecutive)
        if given_up is not None:
            self._give_up(model, given_up)
        if stop_run or given_up is not None or not item.keep_warm:
            self._release(model.served_tag)
        return not stop_run

    def _visitors_first(self, filling: bool) -> bool:
        """With requests under way: whether to let them end and serve visitors before the
        next one. When some wait; not knowing, in waves: a wave, once started, fills the
        slots, then ends before the next one starts."""
        waiting = self.control.visitors_waiting
        return waiting() if waiting is not None else not filling

    def _settle(self, model: ModelRef, outcome: Outcome, consecutive: int) -> int:
        """Count one completed answer; the failures in a row after it."""
        self._account(model, outcome)
        failure = outcome.failure
        if failure is not None:
            self._fail(model, failure)
            self.summary.unanswered += 1
            consecutive += 1
            self.breaker.failed(model.tag, outcome.blames_server, failure.reason)
        elif outcome.response_id is not None or outcome.duplicate:
            consecutive = 0
            self.breaker.succeeded()
        self._report(model, outcome_label(outcome))
        return consecutive

    def _give_up_why(self, outcome: Outcome, consecutive: int) -> str | None:
        """Why no further request of this model may start, or None."""
        if self.breaker.open:
            return "breaker, own" if outcome.skip_model else "breaker"
        if outcome.skip_model:
            return "skip"  # its own failure says why
        if consecutive >= MAX_CONSECUTIVE_FAILURES:
            return f"after {consecutive} failed answers in a row"
        return None

    def _give_up(self, model: ModelRef, why: str) -> None:
        """Skip the model's prompts not tried (the requests under way have ended)."""
        left = self.remaining.get(model.id, 0)
        note = None
        if why.startswith("breaker"):
            self.summary.given_up[self.breaker.backend] = self.breaker.reason or ""
            reason = f"skipped the remaining {left} prompts: {self.breaker.reason}"
            own = why == "breaker, own"  # unless the model's own failure says why
            note = FailureNote(model.tag, None, "backend", reason) if left and not own else None
        elif why != "skip":
            reason = f"skipped the remaining {left} prompts {why}"
            note = FailureNote(model.tag, None, "skipped", reason)
        self._skip(model, note)


def outcome_label(outcome: Outcome) -> str:
    """What became of a planned answer, in the progress events' words."""
    if outcome.response_id is not None:
        return "stored"
    if outcome.duplicate:
        return "duplicate"
    if outcome.failure is not None:
        return "failed"
    if outcome.excluded:
        return "excluded"
    return "skipped"
