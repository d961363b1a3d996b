"""Battle page latency as votes grow: ``GET /`` at 1,000 stored votes and at 1,000,000.

Fills two fresh instances the same way but for the size of the vote log: 50 models, 2,000
prompts, 20,000 stored answers (slates of ten models per prompt), plus a model added lately
(no vote yet, answers to 200 of the prompts: it goes first in every battle, as a new model
does), and 1,000 votes from 50 voters, or 1,000,000 from 5,000. The measuring voter has a
realistic history of 200 battles voted on (blind ones, as matchmaking serves them). It then
loads ``GET /`` and votes on each battle through Flask's test client, twice: with the
matchmaking cache on its default (``MATCHMAKING_CACHE_SECONDS`` 10) and with it off (every
page view rebuilds it: what a refresh costs, at every request).

Prints p50 and p99 of ``GET /`` (wall time, and the CPU time this process spent on it, which
a busy machine disturbs less) and of the vote ``POST`` per size, the ratio of the two sizes
(target: within 2x), ``GET /`` against a static file of the same size, what counting
the whole vote log costs (what each refresh of the cache did before the vote counters), and
how long ``/status``'s pool report takes, and what ``/status`` costs with it kept.

    .venv/bin/python scripts/bench/battle_page.py [--requests 400] [--votes 1000,1000000]
        [--matchmaking classic|active|uniform]

With ``--matchmaking active`` the default leaderboard is computed once after filling (as the
worker does), so each refresh of the cache reads its win table.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select, union_all, update

from arena import create_app
from arena.extensions import db
from arena.leaderboard import refresh_cache
from arena.models import Battle, Model, Prompt, Response, Vote, prompt_hash
from arena.models.core import count_votes, sides
from arena.ops import pool_report_cache
from arena.ops.setup import ensure_database
from arena.pregen.status import pool_report
from arena.rendering import RENDER_VERSION, render_markdown

MODELS, PROMPTS, PER_PROMPT, NEW_MODEL_PROMPTS = 50, 2_000, 10, 200
HISTORY = 200  # the measuring voter's battles voted on before the run
VOTER = "bench-voter"
CHUNK = 50_000


def answer_text(rng: random.Random) -> str:
    """A realistic answer of about 1,500 characters: prose, a list, a code block."""
    words = ("the", "model", "answers", "with", "care", "and", "some", "detail", "about", "a")
    para = " ".join(rng.choice(words) for _ in range(60)).capitalize() + "."
    code = "```python\ndef solve(items):\n    return sorted(set(items))[:10]\n```"
    return f"{para}\n\n- first point\n- second point\n\n{code}\n\n{para}\n\n**In short:** {para}"


def fill_pool(rng: random.Random) -> dict[int, dict[int, int]]:
    """Models, prompts and answers; returns prompt -> model -> answer id."""
    db.session.execute(
        insert(Model),
        [
            {"tag": f"model{i}:{1 + i % 9}b", "display_name": f"Model {i}", "params_b": 1 + i % 9}
            for i in range(MODELS + 1)  # the last one is the model added lately
        ],
    )
    texts = [answer_text(rng) for _ in range(40)]
    htmls = [str(render_markdown(t)) for t in texts]
    prompts = []
    for i in range(PROMPTS):
        text = f"Prompt number {i}: explain something interesting about topic {i}."
        prompts.append(
            {
                "text": text,
                "text_hash": prompt_hash(text),
                "html": str(render_markdown(text)),
                "html_version": RENDER_VERSION,
                "category": "knowledge",
                "source": "bank",
            }
        )
    db.session.execute(update(Prompt).values(shared=False))  # the bank out of the pool
    first = (db.session.scalar(select(func.max(Prompt.id))) or 0) + 1
    db.session.execute(insert(Prompt), prompts)
    ids = range(first, first + PROMPTS)
    slates = {p: rng.sample(range(1, MODELS + 1), PER_PROMPT) for p in ids}
    for p in rng.sample(sorted(slates), NEW_MODEL_PROMPTS):
        slates[p].append(MODELS + 1)
    responses = []
    for prompt_id, slate in slates.items():
        for model_id in slate:
            k = rng.randrange(len(texts))
            responses.append(
                {
                    "prompt_id": prompt_id,
                    "model_id": model_id,
                    "text": texts[k],
                    "html": htmls[k],
                    "html_version": RENDER_VERSION,
                    "eval_count": 300,
                    "eval_duration": 20_000_000_000,
                    "total_duration": 25_000_000_000,
                    "options": {},
                }
            )
    db.session.execute(insert(Response), responses)
    answers: dict[int, dict[int, int]] = {}
    for response_id, prompt_id, model_id in db.session.execute(
        select(Response.id, Response.prompt_id, Response.model_id)
    ):
        answers.setdefault(prompt_id, {})[model_id] = response_id
    return answers


def history(
    rng: random.Random, answers: dict[int, dict[int, int]], n: int, voters: int
) -> Iterator[tuple[str, int, int, int]]:
    """(voter, prompt, model a, model b) for ``n`` past votes; the measuring voter's 200 are
    blind (no answer twice, no revealed model again on a prompt), the others' are random."""
    mine: set[tuple[int, int]] = set()
    prompts = sorted(answers)
    made = 0
    while made < HISTORY:
        prompt = rng.choice(prompts)
        free = [m for m in answers[prompt] if m <= MODELS and (prompt, m) not in mine]
        if len(free) >= 2:
            a, b = rng.sample(free, 2)
            mine.update({(prompt, a), (prompt, b)})
            made += 1
            yield VOTER, prompt, a, b
    for _ in range(n - HISTORY):
        prompt = rng.choice(prompts)
        a, b = rng.sample([m for m in answers[prompt] if m <= MODELS], 2)
        yield f"voter{rng.randrange(voters)}", prompt, a, b


def fill_votes(rng: random.Random, answers: dict[int, dict[int, int]], n: int, voters: int) -> None:
    """``n`` battles with their votes, the measuring voter's first, oldest first, in chunks;
    the models' vote counters are kept as every vote writer keeps them."""
    now = datetime.now(UTC)
    battles: list[dict[str, object]] = []
    votes: list[dict[str, object]] = []
    pairs: list[tuple[int, int]] = []

    def flush() -> None:
        if not battles:
            return
        db.session.execute(insert(Battle), battles)
        db.session.execute(insert(Vote), votes)
        count_votes(db.session.connection(), sides(pairs))
        battles.clear()
        votes.clear()
        pairs.clear()

    for i, (voter, prompt, a, b) in enumerate(history(rng, answers, n, voters)):
        when = now - timedelta(seconds=2 * (n - i))
        battle_id = f"b{i:08d}"
        battles.append(
            {
                "id": battle_id,
                "prompt_id": prompt,
                "left_response_id": answers[prompt][a],
                "right_response_id": answers[prompt][b],
                "voter": voter,
                "served_at": when,
            }
        )
        votes.append(
            {
                "battle_id": battle_id,
                "prompt_id": prompt,
                "model_a_id": a,
                "model_b_id": b,
                "outcome": rng.choice(("a", "b", "tie", "both_bad")),
                "voter": voter,
                "created_at": when + timedelta(seconds=1),
            }
        )
        pairs.append((a, b))
        if len(battles) >= CHUNK:
            flush()
    flush()
    db.session.commit()


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(
    app: Flask, requests: int, rng: random.Random
) -> tuple[list[float], list[float], list[float]]:
    """GET / then a vote on its battle, ``requests`` times after 20 warm-up rounds: GET /'s
    wall time, its CPU time (this process: robust to a busy machine), the vote's wall time."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["voter"] = VOTER
    page_ms, cpu_ms, vote_ms = [], [], []
    for i in range(requests + 20):
        c0, t0 = time.process_time(), time.perf_counter()
        page = client.get("/")
        body = page.get_data()
        t1, c1 = time.perf_counter(), time.process_time()
        assert page.status_code == 200, page.status_code
        found = re.search(rb'name="battle_id" value="([^"]+)"', body)
        assert found, "no battle served: the measuring voter ran out of blind battles"
        token = re.search(rb'name="csrf_token" value="([^"]+)"', body)
        assert token
        form = {
            "battle_id": found.group(1).decode(),
            "csrf_token": token.group(1).decode(),
            "outcome": rng.choice(("a", "b", "tie")),
        }
        t2 = time.perf_counter()
        voted = client.post("/vote", data=form)
        t3 = time.perf_counter()
        assert voted.status_code == 303, voted.status_code
        if i >= 20:  # warm-up excluded
            page_ms.append((t1 - t0) * 1000)
            cpu_ms.append((c1 - c0) * 1000)
            vote_ms.append((t3 - t2) * 1000)
    return page_ms, cpu_ms, vote_ms


def static_ms(app: Flask, client: FlaskClient, size: int, requests: int) -> list[float]:
    """GET of a static file of ``size`` bytes served by the same app (ms)."""
    static_file = Path(app.static_folder or ".") / f"bench-{random.randrange(10**9)}.html"
    static_file.write_bytes(b"x" * size)
    samples = []
    try:
        for i in range(requests + 20):
            t0 = time.perf_counter()
            response = client.get(f"/static/{static_file.name}")
            response.get_data()
            t1 = time.perf_counter()
            assert response.status_code == 200
            if i >= 20:
                samples.append((t1 - t0) * 1000)
    finally:
        static_file.unlink()
    return samples


def count_the_log_ms() -> float:
    """One count of every vote per model: what each refresh of the cache used to cost."""
    sides_ = union_all(
        select(Vote.model_a_id.label("model_id")), select(Vote.model_b_id.label("model_id"))
    ).subquery()
    t0 = time.perf_counter()
    db.session.execute(select(sides_.c.model_id, func.count()).group_by(sides_.c.model_id)).all()
    return (time.perf_counter() - t0) * 1000


def status_requests(app: Flask) -> None:
    """What ``GET /status.json`` and ``GET /status`` cost now the pool report is kept
    (``arena.ops.pool_report_cache``): 20 requests after a first one, and one when the kept
    report has expired (it starts the computation, in a process of its own when slow)."""
    client = app.test_client()
    pool_report_cache.refresh(app)  # as the worker does after a batch run
    for path in ("/status.json", "/status"):
        samples = []
        for _ in range(21):
            t0 = time.perf_counter()
            response = client.get(path)
            response.get_data()
            samples.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, response.status_code
        print(line(f"GET {path} (kept report)", samples[1:]) + f"  first {samples[0]:.0f} ms")
    app.config["STATUS_POOL_CACHE_SECONDS"] = 0
    t0 = time.perf_counter()
    pool = client.get("/status.json").get_json()["pool"]
    expired_ms = (time.perf_counter() - t0) * 1000
    app.config["STATUS_POOL_CACHE_SECONDS"] = 60
    print(
        f"GET /status.json, report expired: {expired_ms:.0f} ms (shown updating: "
        f"{pool['updating']}; the last computation took {pool['compute_seconds']:.2f} s)"
    )
    ended = pool_report_cache.wait_for_computations(300)
    after = client.get("/status.json").get_json()["pool"]
    print(
        f"  its computation {'ended' if ended else 'still runs'} after "
        f"{time.perf_counter() - t0:.1f} s: report of {after['computed_at']} "
        f"(computed in {after['compute_seconds']:.2f} s; failed: {after['failed']})"
    )


def line(name: str, samples: list[float]) -> str:
    p50, p99 = statistics.median(samples), percentile(samples, 0.99)
    return f"{name:34s} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms"


def run_size(n: int, args: argparse.Namespace) -> dict[str, list[float]]:
    rng = random.Random(args.seed)
    voters = max(50, n // 200)
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as instance:
        # One client posts hundreds of votes a second: per-client rate limits are off here.
        config = {"INSTANCE_PATH": instance, "OLLAMA_URL": "http://127.0.0.1:9"}
        app = create_app(
            {
                **config,
                "RATELIMIT_ENABLED": False,
                "MIN_READ_SECONDS": 0,
                "MATCHMAKING": args.matchmaking,
            }
        )
        ensure_database(app)
        started = time.perf_counter()
        with app.app_context():
            answers = fill_pool(rng)
            fill_votes(rng, answers, n, voters)
            stored = db.session.scalar(select(func.count(Vote.id)))
            if args.matchmaking == "active":
                t0 = time.perf_counter()
                refresh_cache()
                print(f"default leaderboard computed in {time.perf_counter() - t0:.1f} s")
        print(
            f"\n{stored:,} votes from {voters:,} voters; {MODELS + 1} models, {PROMPTS} prompts, "
            f"{sum(map(len, answers.values())):,} answers (filled in "
            f"{time.perf_counter() - started:.0f} s)"
        )
        for ttl, name in ((10, "cache 10 s (default)"), (0, "cache off")):
            app.config["MATCHMAKING_CACHE_SECONDS"] = ttl
            app.extensions.pop("arena_pool_snapshot", None)
            page_ms, cpu_ms, vote_ms = measure(app, args.requests, rng)
            results[f"GET / {name}"] = page_ms
            results[f"GET / CPU {name}"] = cpu_ms
            print(line(f"GET /       {name}", page_ms))
            print(line("  its CPU time", cpu_ms))
            print(line(f"POST /vote  {name}", vote_ms))
        size = len(app.test_client().get("/").get_data())
        results["static"] = static_ms(app, app.test_client(), size, args.requests)
        print(line(f"GET static ({size:,} bytes)", results["static"]))
        with app.app_context():
            print(f"counting the whole vote log once: {count_the_log_ms():.0f} ms")
            t0 = time.perf_counter()
            report = pool_report(app.config)
            seconds = time.perf_counter() - t0
            blind = report["blind"]
            print(
                f"/status pool report: {seconds:.2f} s ({report['active_voters']:,} active "
                f"voters; blind battles left: least {blind['least']}, median {blind['median']})"
            )
        status_requests(app)
        with app.app_context():
            db.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--votes", default="1000,1000000", help="two sizes, comma-separated")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--matchmaking", default="classic", choices=("active", "classic", "uniform")
    )
    args = parser.parse_args()
    small, large = (int(v) for v in args.votes.split(","))
    first, second = run_size(small, args), run_size(large, args)
    print(f"\n{large:,} votes against {small:,} (target: GET / within 2x):")
    for key in (
        "GET / cache 10 s (default)",
        "GET / CPU cache 10 s (default)",
        "GET / cache off",
        "GET / CPU cache off",
    ):
        a, b = first[key], second[key]
        p50, p99 = (
            statistics.median(b) / statistics.median(a),
            percentile(b, 0.99) / percentile(a, 0.99),
        )
        verdict = "met" if max(p50, p99) <= 2 else "NOT met"
        print(f"{key:32s} p50 x{p50:.2f}  p99 x{p99:.2f}  ({verdict})")
    page = statistics.median(second["GET / cache 10 s (default)"])
    ratio = page / statistics.median(second["static"])
    print(f"GET / : GET static (p50, {large:,} votes) = {ratio:.2f}  (target <= 3)")
    print(f"GET / p50 <= 10 ms at {large:,} votes: {'met' if page <= 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
