"""How many battles a voter may still be served from the stored answers (for the page that
says what is coming while the pool fills; one pass over the usable answers, so it is for
small pools such as the demo's, not for every view of a large arena)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from arena.extensions import db
from arena.models import Model, Prompt, Response
from arena.play.blindness import voter_history


def battles_ready(voter: str) -> int:
    """Blind battles left for ``voter``: on each shared prompt, half the usable answers of
    enabled models the blindness rule still allows them (:mod:`arena.play.blindness`)."""
    history = voter_history(voter)
    rows = db.session.execute(
        select(Response.id, Response.prompt_id, Response.model_id)
        .join(Model, Model.id == Response.model_id)
        .join(Prompt, Prompt.id == Response.prompt_id)
        .where(
            Response.status == "ok",
            Model.enabled.is_(True),
            Model.available.is_(True),
            Prompt.shared.is_(True),
            Prompt.showcase.is_(False),
        )
    )
    allowed: Counter[int] = Counter()
    seen: set[tuple[int, int]] = set()
    for response_id, prompt_id, model_id in rows:
        if (prompt_id, model_id) in seen or not history.allows(prompt_id, response_id, model_id):
            continue
        seen.add((prompt_id, model_id))  # one answer per model and prompt in a battle
        allowed[prompt_id] += 1
    return sum(count // 2 for count in allowed.values())
