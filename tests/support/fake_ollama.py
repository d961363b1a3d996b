"""A fake Ollama server for tests and benches (see :mod:`tests.support.fakes.ollama`).

    with FakeOllama(["llama3.2:1b"], token_delay=0.01) as fake:
        requests.post(fake.url + "/api/chat", json={...})

Command line (prints the URL, then serves until interrupted)::

    python -m tests.support.fake_ollama --port 11434 --token-delay 0.01 --models a:1b,b:3b
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from tests.support.fakes.base import RecordedRequest
from tests.support.fakes.ollama import FakeOllama
from tests.support.fakes.ollama_api import (
    BUSY_MESSAGE,
    DEFAULT_MODELS,
    GENERATION_PATHS,
    RUNNER_DIED,
    FakeModel,
    model_key,
    parse_go_duration,
)

__all__ = [
    "BUSY_MESSAGE",
    "DEFAULT_MODELS",
    "GENERATION_PATHS",
    "RUNNER_DIED",
    "FakeModel",
    "FakeOllama",
    "RecordedRequest",
    "main",
    "model_key",
    "parse_go_duration",
]


def main(argv: list[str] | None = None) -> int:
    """Run a fake Ollama server in the foreground until interrupted or terminated."""
    parser = argparse.ArgumentParser(description="Run a fake Ollama server in the foreground.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds per chunk")
    parser.add_argument("--load-delay", type=float, default=0.0, help="seconds per model load")
    parser.add_argument("--models", default=None, help="comma-separated tags (default: 3 small)")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)
    tags = [t.strip() for t in args.models.split(",") if t.strip()] if args.models else None
    fake = FakeOllama(
        tags,
        token_delay=args.token_delay,
        load_delay=args.load_delay,
        host=args.host,
        port=args.port,
        verbose=args.verbose,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with fake:
        print(fake.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
