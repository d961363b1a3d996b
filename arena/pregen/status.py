"""How full the battle pool is (per pair of models, per active voter, per prompt) and what
the recent batch runs did."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from sqlalchemy import and_, case, func, select

from arena.extensions import db
from arena.models import GenerationRun, Model, Response
from arena.pregen.planner import capped_models, enabled_models, load_pool_state, pool_sizes


class PromptRow(TypedDict):
    """One prompt of the pool in :func:`pool_report`: blind battles it can still give."""

    id: int
    category: str
    answers: int  # usable answers by enabled models
    per_voter: int  # blind battles for a voter who has seen none of it
    left: int  # blind battles left for the active voters, all together
    spent: int  # active voters it has no battle left for


class PairRow(TypedDict):
    """One pair of models in :func:`pool_report` (display names, counts of battles)."""

    a: str
    b: str
    battles: int
    fresh: int
    short: int


class AnswerRow(TypedDict):
    """One enabled model's stored answers in :func:`pool_report`: usable ones, those cut by
    the degenerate-answer filter or stopped at the token limit, and those excluded."""

    model: str
    usable: int
    cut: int  # usable, cut where it degenerated (a loop, template debris, an echo)
    at_limit: int  # usable, stopped at the token limit (done_reason "length")
    leaks: int  # excluded: named its model or maker
    degenerate: int  # excluded: degenerate with no fair answer before (echo, debris, loop)


#: How many of the least-supplied active voters the report lists (their numbers only).
LEAST_SUPPLIED = 5


def answer_counts(models: list[Model]) -> list[AnswerRow]:
    """Per enabled model, its answers by what became of them (one grouped query)."""
    ok = Response.status == "ok"
    excluded = Response.status == "excluded"
    degenerate = Response.status_reason.like("degenerate answer%")

    def count(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    rows = db.session.execute(
        select(
            Response.model_id,
            count(ok),
            count(and_(ok, Response.status_reason.like("cut:%"))),
            count(and_(ok, Response.done_reason == "length")),
            count(and_(excluded, ~degenerate)),
            count(and_(excluded, degenerate)),
        )
        .where(Response.model_id.in_([m.id for m in models]))
        .group_by(Response.model_id)
    ).all()
    found = {row[0]: [int(n or 0) for n in row[1:]] for row in rows}
    result: list[AnswerRow] = []
    for model in sorted(models, key=lambda m: m.display_name):
        usable, cut, at_limit, leaks, bad = found.get(model.id, [0, 0, 0, 0, 0])
        result.append(
            {
                "model": model.display_name,
                "usable": usable,
                "cut": cut,
                "at_limit": at_limit,
                "leaks": leaks,
                "degenerate": bad,
            }
        )
    return result


def pool_report(config: Mapping[str, Any]) -> dict[str, Any]:
    """Battles and fresh battles per pair of enabled models, against the target; blind
    battles left per active voter (``blind``) and per prompt of the pool (``prompts``, the
    emptiest first); each model's answers by what became of them (``answers``)."""
    models = enabled_models()
    tags = {m.id: m.display_name for m in models}
    capped = capped_models(models, config.get("BATTLE_CAP"))
    state = load_pool_state(list(tags), active_days=float(config.get("POOL_ACTIVE_VOTER_DAYS", 30)))
    target = int(config.get("POOL_TARGET", 20))
    pairs: list[PairRow] = [
        {
            "a": tags[a],
            "b": tags[b],
            "battles": total,
            "fresh": fresh,
            "short": max(0, target - fresh) if not ({a, b} & capped) else 0,
        }
        for (a, b), (total, fresh) in sorted(pool_sizes(state, tags).items())
    ]
    pairs.sort(key=lambda row: (row["fresh"], row["a"], row["b"]))
    supply = state.supply
    prompts: list[PromptRow] = [
        {
            "id": row.prompt_id,
            "category": row.category,
            "answers": row.answers,
            "per_voter": row.per_voter,
            "left": row.left,
            "spent": row.spent,
        }
        for row in sorted(supply.prompts.values(), key=lambda r: (r.left, r.prompt_id))
    ]
    median = supply.median
    blind = {
        "target": target,
        "per_new_voter": supply.per_new_voter,
        "least": supply.least,
        "median": median if median is None or median % 1 else int(median),
        "least_supplied": supply.voters[:LEAST_SUPPLIED],
        "below_target": supply.below(target),
        "out": supply.below(1),
        "left": sum(row["left"] for row in prompts),
    }
    return {
        "target": target,
        "models": len(models),
        "capped": sorted(tags[m] for m in capped),
        "active_voters": state.active_voters,
        "pairs": pairs,
        "pairs_short": sum(1 for row in pairs if row["short"]),
        "min_fresh": min((row["fresh"] for row in pairs), default=None),
        "blind": blind,
        "prompts": prompts,
        "answers": answer_counts(models),
    }


def run_report(run: GenerationRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "trigger": run.trigger,
        "status": run.status,
        "stop_reason": run.stop_reason,
        "planned": run.planned,
        "stored": run.stored,
        "started_at": run.started_at.isoformat(timespec="seconds"),
        "updated_at": run.updated_at.isoformat(timespec="seconds"),
        "finished_at": run.finished_at.isoformat(timespec="seconds") if run.finished_at else None,
        "summary": run.summary,
    }


def recent_runs(limit: int = 5) -> list[dict[str, Any]]:
    runs = db.session.scalars(
        select(GenerationRun).order_by(GenerationRun.started_at.desc()).limit(limit)
    )
    return [report for run in runs if (report := run_report(run)) is not None]
