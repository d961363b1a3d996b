"""Benchmark /api/judges.json (how far to trust each judge) on a real SQLite database.

Run from the project root (builds a throw-away instance in a temporary folder):

    .venv/bin/python scripts/bench/judges_trust.py [--models 12] [--battles 200000] [--judges 3]

Stores one answer per (built-in prompt, model), ``--battles`` voted battles on random pairs
of those answers, and ``--judges`` judges each with a verdict on every pair of answers (the
pool judged whole). Prints the time of the first /api/judges.json (it computes the human
board and each judge's), of one with the boards cached (the trust figures' own queries), of
one on unchanged data (the figures kept in the process: a few counts), and of matching human
votes to verdicts alone, with the machine's load.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import itertools  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import sqlite3  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402

from arena import create_app  # noqa: E402
from arena.extensions import db  # noqa: E402
from arena.judging import trust  # noqa: E402
from arena.models import Judge, Model  # noqa: E402
from arena.ops.setup import ensure_database  # noqa: E402

WHEN = "2026-01-01 00:00:00.000000"


def fill(instance: Path, models: int, battles: int, judges: int) -> tuple[int, int]:
    """Models, answers, voted battles and verdicts; (answers, verdicts) stored."""
    app = create_app({"INSTANCE_PATH": str(instance), "OLLAMA_URL": "http://127.0.0.1:9"})
    ensure_database(app)
    with app.app_context():
        tags = [f"model-{i:02d}:1b" for i in range(models)]
        for tag in tags:
            db.session.add(Model(tag=tag, display_name=tag, params_b=1.0))
        db.session.flush()
        for i in range(judges):
            judge_model = Model(tag=f"judge-{i}:3b", display_name=f"judge {i}", enabled=False)
            db.session.add(judge_model)
            db.session.flush()
            db.session.add(Judge(model_id=judge_model.id, enabled=True))
        db.session.commit()
        model_ids = [m.id for m in db.session.query(Model).where(Model.tag.in_(tags))]
        judge_ids = [j.id for j in db.session.query(Judge)]
        db.engine.dispose()
    rng = random.Random(3)
    connection = sqlite3.connect(instance / "arena.db")
    prompts = [row[0] for row in connection.execute("SELECT id FROM prompt")]
    connection.executemany(
        "INSERT INTO response (prompt_id, model_id, text, html_version, status, options,"
        " created_at) VALUES (?, ?, ?, 0, 'ok', '{}', ?)",
        ((p, m, "answer " * rng.randrange(5, 200), WHEN) for p in prompts for m in model_ids),
    )
    answers = {
        (p, m): r for r, p, m in connection.execute("SELECT id, prompt_id, model_id FROM response")
    }
    pairs = [(p, a, b) for p in prompts for a, b in itertools.combinations(sorted(model_ids), 2)]
    outcomes = ("a", "a", "b", "b", "tie", "both_bad")

    def battle_rows() -> Iterator[tuple[object, ...]]:
        for k in range(battles):
            p, a, b = rng.choice(pairs)
            left, right = (a, b) if rng.random() < 0.5 else (b, a)
            yield (f"{k:032x}", p, answers[(p, left)], answers[(p, right)], f"v{k}", WHEN)

    connection.executemany(
        "INSERT INTO battle (id, prompt_id, left_response_id, right_response_id, voter,"
        " served_at) VALUES (?, ?, ?, ?, ?, ?)",
        battle_rows(),
    )
    connection.execute(
        "INSERT INTO vote (battle_id, prompt_id, model_a_id, model_b_id, outcome, voter, source,"
        " excluded, created_at) SELECT b.id, b.prompt_id, l.model_id, r.model_id, ?, b.voter,"
        " 'arena', 0, b.served_at FROM battle b JOIN response l ON l.id = b.left_response_id"
        " JOIN response r ON r.id = b.right_response_id",
        (outcomes[0],),
    )
    connection.execute(
        "UPDATE vote SET outcome = CASE abs(random()) % 6 WHEN 0 THEN 'a' WHEN 1 THEN 'a'"
        " WHEN 2 THEN 'b' WHEN 3 THEN 'b' WHEN 4 THEN 'tie' ELSE 'both_bad' END"
    )

    def verdict_rows() -> Iterator[tuple[object, ...]]:
        for judge_id in judge_ids:
            for p, a, b in pairs:
                outcome = rng.choice(("a", "b", "tie"))
                yield (judge_id, p, a, b, answers[(p, a)], answers[(p, b)], outcome, WHEN)

    connection.executemany(
        "INSERT INTO judgement (judge_id, prompt_id, model_a_id, model_b_id, response_a_id,"
        " response_b_id, status, outcome, verdict_ab, verdict_ba, output_ab, output_ba,"
        " truncated, self_judged, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, 'counted', ?, 'A', 'B', '', '', 0, 0, ?)",
        verdict_rows(),
    )
    connection.commit()
    connection.close()
    return len(answers), len(pairs) * len(judge_ids)


def timed(label: str, fn: object) -> object:
    started = time.perf_counter()
    result = fn()  # type: ignore[operator]
    print(f"{label:<52} {time.perf_counter() - started:8.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=12)
    parser.add_argument("--battles", type=int, default=200_000)
    parser.add_argument("--judges", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        instance = Path(folder)
        started = time.perf_counter()
        answers, verdicts = fill(instance, args.models, args.battles, args.judges)
        print(
            f"{answers:,} answers, {args.battles:,} voted battles, {verdicts:,} verdicts of "
            f"{args.judges} judges stored in {time.perf_counter() - started:.0f} s"
        )
        app = create_app({"INSTANCE_PATH": str(instance), "OLLAMA_URL": "http://127.0.0.1:9"})
        client = app.test_client()

        def get() -> dict[str, object]:
            response = client.get("/api/judges.json")
            assert response.status_code == 200, response.get_data(as_text=True)
            document: dict[str, object] = response.get_json()
            return document

        timed("GET /api/judges.json, first (boards computed)", get)
        app.extensions.pop(trust.MEMO_KEY, None)
        document = timed("GET /api/judges.json, figures computed, boards cached", get)
        timed("GET /api/judges.json, data unchanged (figures kept)", get)
        with app.app_context():
            judge_id = db.session.query(Judge.id).first()
            assert judge_id is not None
            matched = timed(
                "matching votes to one judge's verdicts",
                lambda: trust.matched_battles([judge_id[0]])[judge_id[0]],
            )
            db.engine.dispose()
        first = document["judges"][0]  # type: ignore[index]
        print(
            f"one judge: {len(matched[0]):,} matched battles, "  # type: ignore[index]
            f"kappa {first['agreement']['kappa']['value']:.3f}"
        )
        print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
