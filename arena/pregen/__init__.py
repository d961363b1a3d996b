"""Pre-generation: which (prompt, model) answers are missing, and producing them.

Answers are generated per (prompt, model), never per battle: a *slate* of prompts answered by
all M enabled models yields M(M-1)/2 battles per prompt. The run is grouped by model so each
model is loaded once. A response row is written only once its whole answer has arrived.

Modules: ``planner`` (what is missing), ``generate`` (one answer: retries, leak filter),
``runner`` (a plan, model by model, within a deadline), ``batch`` (the one entry point of the
CLI, the cron script and the worker), ``visitor`` (visitors' own prompts), ``status``
(the pool and the worker, for /status), ``leaks``, ``estimate``, ``clock``, ``records``.
"""

from arena.pregen.batch import BatchRequest, BatchResult, estimate_plan, run_batch
from arena.pregen.clock import SYSTEM_CLOCK, Clock, Deadline, LimitError, deadline_from
from arena.pregen.generate import MeteredBackend, store_answer
from arena.pregen.planner import ModelWork, Plan, PlanError, plan_batch
from arena.pregen.records import LockBusy
from arena.pregen.runner import ProgressEvent, RunControl, RunSummary, run_plan, summary_lines

__all__ = [
    "SYSTEM_CLOCK",
    "BatchRequest",
    "BatchResult",
    "Clock",
    "Deadline",
    "LimitError",
    "LockBusy",
    "MeteredBackend",
    "ModelWork",
    "Plan",
    "PlanError",
    "ProgressEvent",
    "RunControl",
    "RunSummary",
    "deadline_from",
    "estimate_plan",
    "plan_batch",
    "run_batch",
    "run_plan",
    "store_answer",
    "summary_lines",
]
