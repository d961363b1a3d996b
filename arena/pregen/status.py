"""How full the battle pool is, per pair of models, and what the recent batch runs did."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from sqlalchemy import select

from arena.extensions import db
from arena.models import GenerationRun
from arena.pregen.planner import capped_models, enabled_models, load_pool_state, pool_sizes


class PairRow(TypedDict):
    """One pair of models in :func:`pool_report` (display names, counts of battles)."""

    a: str
    b: str
    battles: int
    fresh: int
    short: int


def pool_report(config: Mapping[str, Any]) -> dict[str, Any]:
    """Battles and fresh battles per pair of enabled models, against the target."""
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
    return {
        "target": target,
        "models": len(models),
        "capped": sorted(tags[m] for m in capped),
        "active_voters": state.active_voters,
        "pairs": pairs,
        "pairs_short": sum(1 for row in pairs if row["short"]),
        "min_fresh": min((row["fresh"] for row in pairs), default=None),
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
