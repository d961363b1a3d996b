"""Three concurrent full vote exports of a million votes under gunicorn, and GET / meanwhile.

Fills a fresh instance with a small pool of battles (a fake Ollama, so GET / is the real
battle page) and a million votes (bulk insert), serves it with gunicorn (this project's
gunicorn.conf.py: sync workers, 30 s timeout), measures GET / alone for a while, then runs at
once three clients that each download one whole export (CSV, JSON Lines, CSV with the answer
columns: three builds), following 202 + Retry-After until the file comes, while GET / goes on
in a loop. Prints each export's time, size and completeness (Content-Length, rows, last vote
id), and GET / latency percentiles before and during the exports, in one run.

    .venv/bin/python scripts/bench/exports.py [--votes 1000000] [--workers 4] [--same]
    .venv/bin/python scripts/bench/exports.py --streamed   # the old way: one request streams

``--same`` makes the three clients ask for the same export (one build); ``--streamed`` sets
EXPORTS_STREAM_MAX_ROWS above the votes, so each request streams its export itself, as before.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from arena import create_app
from arena.extensions import db
from arena.ops.setup import ensure_database
from tests.support.export_data import fill_votes
from tests.support.fake_ollama import FakeOllama
from tests.support.live_server import gunicorn

EXPORTS = ["/api/votes.csv", "/api/votes.jsonl", "/api/votes.csv?answers=1"]
MODELS = ("tiny:1b", "small:2b", "mid:3b", "big:4b")
#: Seconds of GET / alone, before the exports start.
BASELINE = 15.0


@dataclass
class Export:
    path: str
    began: float = 0.0
    status: int = 0
    seconds: float = 0.0
    polls: int = 0
    size: int = 0
    content_length: int | None = None
    rows: int = 0
    last_id: int | None = None
    error: str | None = None
    chunks: list[bytes] = field(default_factory=list, repr=False)

    def check(self) -> None:
        """Count the rows, after the run: parsing a million rows holds this process's GIL
        for seconds, which would stall the GET / probe of the same process meanwhile."""
        self.rows, self.last_id = _rows(self.chunks, self.path)
        self.chunks = []

    def line(self, votes: int, last_id: int) -> str:
        # A file says its length; a stream is whole when its chunked ending came (no error).
        sized = self.content_length == self.size if self.content_length is not None else True
        whole = sized and not self.error and self.rows == votes and self.last_id == last_id
        length = "none" if self.content_length is None else f"{self.content_length:,}"
        return (
            f"{self.path:<28} {self.status} after {self.seconds:6.1f} s ({self.polls} x 202)  "
            f"{self.size / 1e6:7.1f} MB, Content-Length {length}, {self.rows:,} rows, "
            f"last id {self.last_id}: {'COMPLETE' if whole else 'INCOMPLETE'}"
            + (f" ({self.error})" if self.error else "")
        )


def _rows(chunks: list[bytes], path: str) -> tuple[int, int | None]:
    """Rows and the last vote id of a downloaded export."""
    text = b"".join(chunks).decode("utf-8", errors="replace")
    if ".jsonl" in path:
        lines = text.splitlines()
        try:
            return len(lines), int(json.loads(lines[-1])["vote_id"]) if lines else None
        except (ValueError, KeyError):
            return len(lines), None  # a cut last line
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
    try:
        return len(rows), int(rows[-1][0]) if rows else None
    except (ValueError, IndexError):
        return len(rows), None


def download(base: str, export: Export) -> None:
    started = export.began = time.monotonic()
    chunks = export.chunks
    try:
        while True:
            response = requests.get(base + export.path, stream=True, timeout=300)
            if response.status_code != 202:
                break
            export.polls += 1
            response.close()
            time.sleep(float(response.headers.get("Retry-After", "5")))
        export.status = response.status_code
        length = response.headers.get("Content-Length")
        export.content_length = int(length) if length else None
        for chunk in response.iter_content(1 << 20):
            chunks.append(chunk)
    except requests.RequestException as error:
        export.error = type(error).__name__
    export.seconds = time.monotonic() - started
    export.size = sum(len(c) for c in chunks)


@dataclass
class Pages:
    times: list[tuple[float, float]] = field(default_factory=list)  # (started, seconds)
    statuses: dict[int, int] = field(default_factory=dict)

    def between(self, start: float, end: float) -> list[float]:
        return [seconds for began, seconds in self.times if start <= began < end]


def pages(base: str, stop: threading.Event, tally: Pages) -> None:
    """GET / as a new visitor would (a new connection each time), one after the other."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            status = requests.get(base + "/", timeout=60).status_code
        except requests.RequestException:
            status = 0
        tally.times.append((started, time.monotonic() - started))
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        time.sleep(0.05)


def summary(label: str, latencies: list[float]) -> str:
    if not latencies:
        return f"GET / {label}: no request"
    p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    return (
        f"GET / {label}: {len(latencies)} requests, p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms, mean {statistics.fmean(latencies) * 1000:.0f} ms"
    )


def prepare(instance: Path, fake: FakeOllama, votes: int) -> int:
    """A pool of battles and ``votes`` votes; the highest vote id."""
    for tag in MODELS:
        fake.add_model(tag, parameter_size=tag.split(":")[1].upper(), quantization="Q4_0")
    app = create_app({"INSTANCE_PATH": str(instance), "OLLAMA_URL": fake.url})
    ensure_database(app)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["models", "sync"]).exit_code == 0
    result = runner.invoke(args=["pregenerate", "--prompts", "10"])
    assert result.exit_code == 0, result.output
    last_id = fill_votes(app, votes)
    with app.app_context():
        db.engine.dispose()
    return last_id


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--same", action="store_true", help="three clients, one export")
    parser.add_argument("--streamed", action="store_true", help="the old way, for comparison")
    args = parser.parse_args()
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    with tempfile.TemporaryDirectory() as folder, FakeOllama(models=[]) as fake:
        instance = Path(folder) / "instance"
        started = time.monotonic()
        last_id = prepare(instance, fake, args.votes)
        print(f"{args.votes:,} votes inserted in {time.monotonic() - started:.0f} s")
        env = {"ARENA_RATELIMIT_EXPORTS": "100000 per minute"}
        if args.streamed:
            env["ARENA_EXPORTS_STREAM_MAX_ROWS"] = str(args.votes * 10)
        paths = [EXPORTS[0]] * 3 if args.same else EXPORTS
        exports = [Export(path) for path in paths]
        tally, stop = Pages(), threading.Event()
        with gunicorn(instance, fake.url, workers=args.workers, env=env) as base:
            requests.get(base + "/", timeout=30)  # warm up one worker
            pager = threading.Thread(target=pages, args=(base, stop, tally))
            begin = time.monotonic()
            pager.start()
            time.sleep(BASELINE)
            clients = [threading.Thread(target=download, args=(base, e)) for e in exports]
            started = time.monotonic()
            for client in clients:
                client.start()
            for client in clients:
                client.join()
            ended = time.monotonic()
            stop.set()
            pager.join()
        for export in exports:
            export.check()
        mode = "streamed by the request (old)" if args.streamed else "built into files"
        print(f"gunicorn {args.workers} sync workers (timeout 30 s), exports {mode}:")
        for export in exports:
            print("  " + export.line(args.votes, last_id))
        print(f"all three in {ended - started:.1f} s")
        print(summary(f"alone ({BASELINE:.0f} s before)", tally.between(begin, started)))
        print(summary("during the exports", tally.between(started, ended)))
        slow = [(b - started, t) for b, t in tally.times if t > 1.0 and started <= b < ended]
        if slow:
            print(
                "  slow ones (s into the exports: seconds):",
                ", ".join(f"{at:.0f}: {t:.1f}" for at, t in slow),
            )
        print(f"  statuses {tally.statuses}")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
