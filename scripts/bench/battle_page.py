"""Battle page latency with a large database, in-process.

Fills a fresh instance with 50 models, 2,000 prompts, 20,000 stored answers (slates of ten
models per prompt) and 100,000 votes, then times ``GET /`` and the vote ``POST`` through
Flask's test client, and compares ``GET /`` with a GET of a static file of the same size
served by the same app. Targets: p50 <= 10 ms, ratio <= 3.

    .venv/bin/python scripts/bench/battle_page.py [--requests 400]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import insert

from arena import create_app
from arena.extensions import db
from arena.models import Battle, Model, Prompt, Response, Vote, prompt_hash
from arena.ops.setup import ensure_database
from arena.rendering import RENDER_VERSION, render_markdown

MODELS, PROMPTS, PER_PROMPT, VOTES, VOTERS = 50, 2_000, 10, 100_000, 5_000


def answer_text(rng: random.Random) -> str:
    """A realistic answer of about 1,500 characters: prose, a list, a code block."""
    words = [
        "the",
        "model",
        "answers",
        "with",
        "care",
        "and",
        "some",
        "detail",
        "about",
        "a",
        "topic",
        "of",
        "interest",
    ]
    para = " ".join(rng.choice(words) for _ in range(60)).capitalize() + "."
    code = "```python\ndef solve(items):\n    return sorted(set(items))[:10]\n```"
    return f"{para}\n\n- first point\n- second point\n\n{code}\n\n{para}\n\n**In short:** {para}"


def fill(rng: random.Random) -> None:
    now = datetime.now(UTC)
    db.session.execute(
        insert(Model),
        [
            {"tag": f"model{i}:{1 + i % 9}b", "display_name": f"Model {i}", "params_b": 1 + i % 9}
            for i in range(MODELS)
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
    db.session.execute(insert(Prompt), prompts)
    responses, by_prompt = [], {}
    for prompt_id in range(1, PROMPTS + 1):
        slate = rng.sample(range(1, MODELS + 1), PER_PROMPT)
        by_prompt[prompt_id] = slate
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
    response_id = {(r["prompt_id"], r["model_id"]): i for i, r in enumerate(responses, 1)}
    battles, votes = [], []
    for i in range(VOTES):
        prompt_id = rng.randrange(1, PROMPTS + 1)
        a, b = rng.sample(by_prompt[prompt_id], 2)
        voter = f"voter{rng.randrange(VOTERS)}"
        when = now - timedelta(seconds=VOTES - i)
        battle_id = f"b{i:08d}"
        battles.append(
            {
                "id": battle_id,
                "prompt_id": prompt_id,
                "left_response_id": response_id[(prompt_id, a)],
                "right_response_id": response_id[(prompt_id, b)],
                "voter": voter,
                "served_at": when,
            }
        )
        votes.append(
            {
                "battle_id": battle_id,
                "prompt_id": prompt_id,
                "model_a_id": a,
                "model_b_id": b,
                "outcome": rng.choice(("a", "b", "tie", "both_bad")),
                "voter": voter,
                "created_at": when,
            }
        )
    db.session.execute(insert(Battle), battles)
    db.session.execute(insert(Vote), votes)
    db.session.commit()


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as instance:
        # One client posts hundreds of votes a second: per-client rate limits are off here.
        config = {"INSTANCE_PATH": instance, "OLLAMA_URL": "http://127.0.0.1:9"}
        app = create_app({**config, "RATELIMIT_ENABLED": False})
        ensure_database(app)
        started = time.perf_counter()
        with app.app_context():
            fill(rng)
        print(
            f"database: {MODELS} models, {PROMPTS} prompts, {PROMPTS * PER_PROMPT} answers, "
            f"{VOTES} votes (filled in {time.perf_counter() - started:.1f} s)"
        )
        client = app.test_client()
        page_ms, vote_ms, sizes = [], [], []
        for i in range(args.requests + 20):
            t0 = time.perf_counter()
            page = client.get("/")
            t1 = time.perf_counter()
            assert page.status_code == 200, page.status_code
            body = page.get_data()
            battle_id = re.search(rb'name="battle_id" value="([^"]+)"', body).group(1).decode()
            token = re.search(rb'name="csrf_token" value="([^"]+)"', body).group(1).decode()
            outcome = rng.choice(("a", "b", "tie", "both_bad"))
            form = {"battle_id": battle_id, "outcome": outcome, "csrf_token": token}
            t2 = time.perf_counter()
            voted = client.post("/vote", data=form)
            t3 = time.perf_counter()
            assert voted.status_code == 303, voted.status_code
            if i >= 20:  # warm-up excluded
                page_ms.append((t1 - t0) * 1000)
                vote_ms.append((t3 - t2) * 1000)
                sizes.append(len(body))

        size = int(statistics.median(sizes))
        static_file = Path(app.static_folder) / f"bench-{rng.randrange(10**9)}.html"
        static_file.write_bytes(b"x" * size)
        static_ms = []
        try:
            for i in range(args.requests + 20):
                t0 = time.perf_counter()
                response = client.get(f"/static/{static_file.name}")
                response.get_data()
                t1 = time.perf_counter()
                assert response.status_code == 200
                if i >= 20:
                    static_ms.append((t1 - t0) * 1000)
        finally:
            static_file.unlink()

    p50_page, p50_static = statistics.median(page_ms), statistics.median(static_ms)
    print(f"GET /         p50 {p50_page:6.2f} ms  p99 {percentile(page_ms, 0.99):6.2f} ms")
    p50_vote, p99_vote = statistics.median(vote_ms), percentile(vote_ms, 0.99)
    print(f"POST /vote    p50 {p50_vote:6.2f} ms  p99 {p99_vote:6.2f} ms")
    print(
        f"GET static    p50 {p50_static:6.2f} ms  p99 {percentile(static_ms, 0.99):6.2f} ms "
        f"({size} bytes, the battle page's median size)"
    )
    print(f"ratio GET / : GET static (p50) = {p50_page / p50_static:.2f}  (target <= 3)")
    print(f"target p50 <= 10 ms: GET / {'met' if p50_page <= 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
