"""Import the original arena's ``leaderboard.json`` as votes, so an operator keeps their history.

The file is ``{model: {"wins": n, "losses": n, "opponents": {opponent: {"wins": n, "losses":
n}}}}`` and lists each battle twice, once under each model. Each pair's counts are taken from
one side (the model whose tag sorts first, or the only side present) and checked against the
other side and against the models' totals; every disagreement is reported, none is fatal.

Each win becomes one vote with ``source="imported"`` (no prompt, battle or voter). Importing
is idempotent: the votes already imported for each (winner, loser) are counted first and only
the difference is added, so the same file twice adds nothing and a newer file adds only the
battles fought since. Models unknown here are created disabled (size parsed from the tag when
possible).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import aliased

from arena.extensions import db
from arena.models import Model, Vote
from arena.models.core import count_votes, sides
from arena.play.catalogue import display_name, quantization_from_tag, size_from_tag

SOURCE = "imported"
_MAX_TAG = 200
_BATCH = 5000


class LegacyImportError(ValueError):
    """The file is not an original-arena leaderboard; the message says where and why."""


@dataclass
class ImportReport:
    models: int = 0
    models_created: list[str] = field(default_factory=list)
    pairs: int = 0
    battles: int = 0
    already: int = 0
    added: int = 0
    at: datetime | None = None
    dry_run: bool = False
    mismatches: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        verb = "would add" if self.dry_run else "added"
        out = [
            f"{self.models} models in the file"
            + (
                f", {len(self.models_created)} new (created disabled): "
                + ", ".join(self.models_created)
                if self.models_created
                else ", all known"
            ),
            f"{self.battles} battles between {self.pairs} pairs in the file",
            f"{self.already} already imported; {verb} {self.added} votes (source '{SOURCE}')"
            + (f", dated {self.at:%Y-%m-%d %H:%M:%S} UTC" if self.added and self.at else ""),
        ]
        if not self.added and not self.dry_run:
            out.append("nothing to add: this history is already imported")
        if self.mismatches:
            out.append(f"{len(self.mismatches)} inconsistencies in the file:")
            out.extend(f"  - {line}" for line in self.mismatches)
        return out


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LegacyImportError(f"{where}: expected a whole number >= 0, got {value!r}")
    return value


def _tag(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TAG:
        raise LegacyImportError(f"{where}: a model tag must be 1 to {_MAX_TAG} characters")
    return value


def _entry(data: Any, where: str) -> tuple[int, int, dict[str, Any]]:
    if not isinstance(data, dict):
        raise LegacyImportError(f"{where}: expected an object with wins, losses, opponents")
    opponents = data.get("opponents", {})
    if not isinstance(opponents, dict):
        raise LegacyImportError(f"{where}.opponents: expected an object")
    wins = _count(data.get("wins", 0), f"{where}.wins")
    return wins, _count(data.get("losses", 0), f"{where}.losses"), opponents


def parse_leaderboard(data: Any) -> tuple[Counter[tuple[str, str]], list[str], list[str]]:
    """``(wins[(winner, loser)], models, inconsistencies)`` from the decoded JSON."""
    if not isinstance(data, dict):
        raise LegacyImportError("expected a JSON object mapping each model to its record")
    sides: dict[tuple[str, str], tuple[int, int]] = {}
    mismatches: list[str] = []
    models = set()
    for model, record in data.items():
        model = _tag(model, "top level")
        models.add(model)
        wins, losses, opponents = _entry(record, model)
        sum_wins = sum_losses = 0
        for opponent, result in opponents.items():
            opponent = _tag(opponent, f"{model}.opponents")
            w, lost, _ = _entry(result, f"{model}.opponents.{opponent}")
            if opponent == model:
                mismatches.append(f"{model} lists itself as an opponent; ignored")
                continue
            models.add(opponent)
            sides[(model, opponent)] = (w, lost)
            sum_wins, sum_losses = sum_wins + w, sum_losses + lost
        if (sum_wins, sum_losses) != (wins, losses):
            mismatches.append(
                f"{model}: totals {wins} wins / {losses} losses, "
                f"but its opponents add up to {sum_wins} / {sum_losses}"
            )
    counts: Counter[tuple[str, str]] = Counter()
    for x, y in sorted({tuple(sorted(pair)) for pair in sides}):
        mine, theirs = sides.get((x, y)), sides.get((y, x))
        if mine is None:
            assert theirs is not None  # the pair was listed under one of the two
            mismatches.append(f"{x} vs {y}: listed only under {y}")
            mine = (theirs[1], theirs[0])
        elif theirs is None:
            mismatches.append(f"{x} vs {y}: listed only under {x}")
        elif theirs != (mine[1], mine[0]):
            mismatches.append(
                f"{x} vs {y}: {x} says {mine[0]}-{mine[1]}, {y} says {theirs[1]}-{theirs[0]} "
                f"(counted from {x}: {mine[0]}-{mine[1]})"
            )
        if mine[0]:
            counts[(x, y)] = mine[0]
        if mine[1]:
            counts[(y, x)] = mine[1]
    return counts, sorted(models), mismatches


def _imported_counts() -> Counter[tuple[str, str]]:
    """Votes already imported per (winner tag, loser tag), flagged ones included."""
    model_a, model_b = aliased(Model), aliased(Model)
    rows = db.session.execute(
        select(model_a.tag, model_b.tag, Vote.outcome, func.count())
        .join(model_a, model_a.id == Vote.model_a_id)
        .join(model_b, model_b.id == Vote.model_b_id)
        .where(Vote.source == SOURCE)
        .group_by(model_a.tag, model_b.tag, Vote.outcome)
    )
    counts: Counter[tuple[str, str]] = Counter()
    for a, b, outcome, n in rows:
        if outcome == "a":
            counts[(a, b)] += n
        elif outcome == "b":
            counts[(b, a)] += n
    return counts


def _ensure_models(tags: list[str]) -> tuple[dict[str, int], list[str]]:
    """Model ids by tag, creating the unknown models (disabled: no backend serves them)."""
    query = select(Model.tag, Model.id).where(Model.tag.in_(tags))
    ids: dict[str, int] = {tag: model_id for tag, model_id in db.session.execute(query)}
    created = [
        Model(
            tag=tag,
            display_name=display_name(tag),
            params_b=size_from_tag(tag),
            quantization=quantization_from_tag(tag),
            enabled=False,
            available=False,
        )
        for tag in tags
        if tag not in ids
    ]
    db.session.add_all(created)
    db.session.flush()
    ids.update({model.tag: model.id for model in created})
    return ids, [model.tag for model in created]


def import_leaderboard(
    data: Any, *, at: datetime | None = None, dry_run: bool = False, seed: int = 0
) -> ImportReport:
    """Add the file's battles not imported yet as votes; commit (unless ``dry_run``).

    Votes are dated ``at`` (default: now) and shuffled with ``seed`` so that sequential
    ratings (Elo) do not see one pair's battles all in a row; seats A/B are random too.
    """
    counts, models, mismatches = parse_leaderboard(data)
    at = at or datetime.now(UTC)
    if at.tzinfo is None:
        raise LegacyImportError("the import date needs a timezone (UTC)")
    already = _imported_counts()
    missing: list[tuple[str, str]] = []
    for (winner, loser), n in sorted(counts.items()):
        have = already.get((winner, loser), 0)
        if have > n:
            mismatches.append(
                f"{winner} over {loser}: {have} votes already imported, more than the file's "
                f"{n}; left as they are"
            )
        missing.extend([(winner, loser)] * max(0, n - have))
    report = ImportReport(
        models=len(models),
        pairs=len({frozenset(pair) for pair in counts}),
        battles=sum(counts.values()),
        already=sum(min(already.get(pair, 0), n) for pair, n in counts.items()),
        added=len(missing),
        at=at,
        dry_run=dry_run,
        mismatches=mismatches,
    )
    if dry_run:
        known = set(db.session.scalars(select(Model.tag).where(Model.tag.in_(models))))
        report.models_created = [tag for tag in models if tag not in known]
        return report
    ids, report.models_created = _ensure_models(models)
    rng = random.Random(seed)
    rng.shuffle(missing)
    rows, pairs = [], []
    for winner, loser in missing:
        seat_a = rng.random() < 0.5
        a, b = (winner, loser) if seat_a else (loser, winner)
        pairs.append((ids[a], ids[b]))
        outcome = "a" if seat_a else "b"
        rows.append(
            {
                "model_a_id": ids[a],
                "model_b_id": ids[b],
                "outcome": outcome,
                "source": SOURCE,
                "excluded": False,
                "created_at": at,
            }
        )
    for start in range(0, len(rows), _BATCH):
        db.session.execute(insert(Vote), rows[start : start + _BATCH])
    # A bulk insert bypasses the ORM's unit of work: the models' counters move here, in the
    # same transaction.
    count_votes(db.session.connection(), sides(pairs))
    db.session.commit()
    return report


def load_file(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise LegacyImportError(f"not valid JSON: {error}") from None
