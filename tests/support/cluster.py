"""Several web nodes as real processes, and voters that use them as nginx would: for the
scale-out test and the load benchmark's ``--nodes``.

A web node is a gunicorn (its own instance folder, port and processes) started with
:func:`web_node`; :meth:`Node.kill` ends it with kill -9, master and workers at once, as a
machine that dies. :class:`Balancer` hands out the live nodes in turn and takes a node out
once its connection fails (what nginx's ``max_fails`` does); :func:`cross_vote_loop` is a
voter whose battle pages come from one node while its racing tabs post the vote through the
others, so a battle served by one node is voted on through another.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support.live_server import start_gunicorn, stop, wait_until_up
from tests.support.load_client import OUTCOMES, Tally, vote_form

#: Attempts of one request over the live nodes before it counts as an error.
ATTEMPTS = 6


@dataclass
class Node:
    """A running web node: its URL and its gunicorn master."""

    url: str
    process: subprocess.Popen[bytes]

    def workers(self) -> list[int]:
        """The pids of the master's children (its web workers), from /proc."""
        children = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                children.append(int(entry.name))
        return children

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the master and its workers have used so far."""
        total = 0
        for pid in [self.process.pid, *self.workers()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return total / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        """kill -9 the master and its workers at once (a machine that dies)."""
        workers = self.workers()
        for pid in [self.process.pid, *workers]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@contextmanager
def web_node(
    instance: Path,
    ollama_url: str,
    env: Mapping[str, str],
    *,
    workers: int = 2,
    log: Path | None = None,
) -> Iterator[Node]:
    """gunicorn serving ``wsgi:app`` on ``instance`` with ``env`` (ARENA_DATABASE_URL there
    names the shared database); stopped on the way out unless it was killed."""
    url, process, output = start_gunicorn(instance, ollama_url, workers=workers, env=env, log=log)
    node = Node(url, process)
    try:
        wait_until_up(node.url + "/static/style.css", process)
        yield node
    finally:
        stop(process)
        output.close()


class Balancer:
    """The live nodes in turn; a node whose connection fails is taken out for good."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = list(urls)
        self.down: set[str] = set()
        self._lock = threading.Lock()

    def pick(self, turn: int) -> str:
        with self._lock:
            live = [url for url in self.urls if url not in self.down] or self.urls
            return live[turn % len(live)]

    def fail(self, url: str) -> None:
        with self._lock:
            self.down.add(url)


def send(
    balancer: Balancer,
    turn: int,
    session: requests.Session,
    method: str,
    path: str,
    tally: Tally,
    **kwargs: Any,
) -> tuple[str, requests.Response] | None:
    """One request to node ``turn``, sent to the next live node when its connection fails
    (a vote cut that way may have been stored: its battle goes to ``tally.unsure``)."""
    for attempt in range(ATTEMPTS):
        url = balancer.pick(turn + attempt)
        try:
            response = session.request(
                method, url + path, timeout=30, allow_redirects=False, **kwargs
            )
            return url, response
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
            tally.dropped.append(f"{method} {path} on {url}: {type(error).__name__}")
            if method == "POST" and path == "/vote":
                tally.unsure.add(str(kwargs.get("data", {}).get("battle_id")))
            balancer.fail(url)
            time.sleep(0.05)
    tally.server_errors.append(f"{method} {path}: no node answered {ATTEMPTS} times")
    return None


def voter_session(address: str | None) -> requests.Session:
    """A browser's session; ``address`` is sent as X-Forwarded-For (behind PROXY_HOPS=1 the
    nodes take it for the client's address, as behind nginx)."""
    session = requests.Session()
    if address:
        session.headers["X-Forwarded-For"] = address
    return session


def cross_vote_loop(
    balancer: Balancer,
    votes: int,
    deadline: float,
    rng: random.Random,
    tally: Tally,
    *,
    tabs: int = 2,
    address: str | None = None,
    first_turn: int = 0,
) -> None:
    """One voter with ``tabs`` tabs: each battle page comes from one node, then every tab
    posts the same vote at the same moment, tab k through the k-th node after it. Exactly
    one must be accepted (303), the others refused (409). Stops after ``votes`` accepted
    votes or at ``deadline`` (monotonic seconds)."""
    session = voter_session(address)
    sessions = [voter_session(address) for _ in range(tabs)]
    turn = first_turn
    with ThreadPoolExecutor(max_workers=tabs) as pool:
        while len(tally.accepted) < votes and time.monotonic() < deadline:
            turn += 1
            sent = send(balancer, turn, session, "GET", "/", tally)
            tally.pages += 1
            if sent is None:
                continue
            page = sent[1]
            if page.status_code >= 500:
                tally.server_errors.append(f"GET / {page.status_code}")
                continue
            fields = vote_form(page.text)
            if "battle_id" not in fields:
                tally.refuse(page.status_code)
                break  # this voter has judged the whole pool
            data = {**fields, "outcome": rng.choice(OUTCOMES)}
            _race(pool, balancer, turn, session, sessions, data, tally)


def _race(
    pool: ThreadPoolExecutor,
    balancer: Balancer,
    turn: int,
    session: requests.Session,
    tabs: list[requests.Session],
    data: dict[str, str],
    tally: Tally,
) -> None:
    cookies = session.cookies.get_dict()
    barrier = threading.Barrier(len(tabs))

    def post(k: int) -> requests.Response | None:
        tab = tabs[k]
        tab.cookies.clear()
        tab.cookies.update(cookies)
        barrier.wait(timeout=30)
        sent = send(balancer, turn + 1 + k, tab, "POST", "/vote", tally, data=data)
        return sent[1] if sent else None

    answers = list(pool.map(post, range(len(tabs))))
    battle = data["battle_id"]
    tally.raced.append(battle)
    won = 0
    for answer in answers:
        if answer is None:
            continue
        if answer.status_code == 303:
            won += 1
        elif 400 <= answer.status_code < 500:
            tally.refuse(answer.status_code)
        else:
            tally.server_errors.append(f"vote (race) {answer.status_code}")
    if won == 1:
        tally.accepted.append(battle)
    elif won > 1 or battle not in tally.unsure:  # no winner: only if a cut vote was stored
        tally.race_errors.append(f"battle {battle}: {won} of {len(tabs)} racing votes accepted")


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    if found is None:
        raise AssertionError("no CSRF token on the page")
    return found.group(1)
