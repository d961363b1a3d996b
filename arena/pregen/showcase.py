"""Showcase prompts in the night's plan: answered by every working model, never in battles.

A showcase prompt (``Prompt.showcase``, marked with ``flask --app arena prompts showcase``) is
kept out of the battle pool (matchmaking and the planner's pool skip it), so its answers may
be shown to anyone on the model pages. The planner adds the answers they still lack after the
battle slate (:func:`missing_showcase`), within the run's ``--prompts`` cap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select, true

from arena.extensions import db
from arena.models import Prompt, Response


def missing_showcase(
    model_ids: Sequence[int], given_up: Mapping[int, set[int]], room: int | None = None
) -> tuple[list[int], dict[int, list[int]]]:
    """The showcase prompts some of these models lack a usable answer to (at most ``room`` of
    them, lowest id first), and model id -> those it lacks (``given_up``: prompt id -> models
    that leaked twice on it, never asked again)."""
    if not model_ids or room == 0:
        return [], {}
    prompts = list(
        db.session.scalars(select(Prompt.id).where(Prompt.showcase == true()).order_by(Prompt.id))
    )
    if not prompts:
        return [], {}
    rows = db.session.execute(
        select(Response.prompt_id, Response.model_id).where(
            Response.status == "ok",
            Response.model_id.in_(model_ids),
            Response.prompt_id.in_(prompts),
        )
    )
    answered = {(prompt_id, model_id) for prompt_id, model_id in rows}
    missing: dict[int, list[int]] = {}
    chosen: list[int] = []
    for prompt_id in prompts:
        lacking = [
            m
            for m in model_ids
            if (prompt_id, m) not in answered and m not in given_up.get(prompt_id, ())
        ]
        if not lacking:
            continue
        if room is not None and len(chosen) >= room:
            break
        chosen.append(prompt_id)
        for model_id in lacking:
            missing.setdefault(model_id, []).append(prompt_id)
    return chosen, missing
