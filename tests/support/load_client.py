"""Voters over real HTTP, for the load tests and the load benchmark: plain voters, racing
voters (one voter's several tabs posting the same vote at once) and a killer of gunicorn's
web workers (kill -9, which gunicorn answers by starting a new worker).

A request whose connection is cut (its worker was killed) is counted in ``Tally.dropped``
and sent again; a vote cut that way may have been stored before the worker died, so its
battle goes to ``Tally.unsure``: the retry answers 303 (it was not) or 409 (it was).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

OUTCOMES = ("a", "b", "tie", "both_bad")
#: Attempts of one request whose connection is cut (a killed worker) before giving up.
CUT_ATTEMPTS = 5


class _VoteForm(HTMLParser):
    """The hidden fields of the page's vote form (battle id, CSRF token, ...)."""

    def __init__(self) -> None:
        super().__init__()
        self.in_form = False
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form" and (attributes.get("action") or "").endswith("/vote"):
            self.in_form = True
        elif tag == "input" and self.in_form and attributes.get("type") == "hidden":
            self.fields[attributes.get("name") or ""] = attributes.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_form = False


def vote_form(html: str) -> dict[str, str]:
    parser = _VoteForm()
    parser.feed(html)
    return parser.fields


@dataclass
class Tally:
    pages: int = 0
    accepted: list[str] = field(default_factory=list)  # battle ids whose vote was stored
    refused: dict[int, int] = field(default_factory=dict)  # status -> count
    server_errors: list[str] = field(default_factory=list)
    page_seconds: float = 0.0
    vote_seconds: float = 0.0
    dropped: list[str] = field(default_factory=list)  # requests cut (a killed worker), resent
    unsure: set[str] = field(default_factory=set)  # battles whose vote POST was cut once
    raced: list[str] = field(default_factory=list)  # battles voted on by racing tabs
    race_errors: list[str] = field(default_factory=list)  # a race won twice, or never

    def refuse(self, status: int) -> None:
        self.refused[status] = self.refused.get(status, 0) + 1


def _send(
    session: requests.Session, method: str, url: str, tally: Tally, what: str, **kwargs: Any
) -> requests.Response | None:
    """One request, sent again when its connection is cut; None after CUT_ATTEMPTS cuts."""
    for _ in range(CUT_ATTEMPTS):
        try:
            return session.request(method, url, timeout=30, allow_redirects=False, **kwargs)
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
            tally.dropped.append(f"{what}: {type(error).__name__}")
            if what.startswith("vote"):
                tally.unsure.add(str(kwargs.get("data", {}).get("battle_id")))
            time.sleep(0.05)  # gunicorn starts a new worker meanwhile
    tally.server_errors.append(f"{what}: cut {CUT_ATTEMPTS} times")
    return None


def _battle(session: requests.Session, base: str, tally: Tally) -> dict[str, str] | None:
    """Fetch a battle page; its vote form's fields, or None (an error, or nothing left)."""
    started = time.monotonic()
    page = _send(session, "GET", base + "/", tally, "GET /")
    tally.page_seconds += time.monotonic() - started
    tally.pages += 1
    if page is None:
        return None
    if page.status_code >= 500:
        tally.server_errors.append(f"GET / {page.status_code}")
        return None
    fields = vote_form(page.text)
    if "battle_id" not in fields:
        tally.refuse(page.status_code)
        return {}  # this voter has judged the whole pool
    return fields


def vote_loop(
    base: str, votes: int, deadline: float, rng: random.Random, tally: Tally, racers: int = 1
) -> None:
    """One voter: fetch a battle, vote on it; now and then try a second vote on the same one.

    With ``racers`` > 1 the voter has that many tabs, which all post the vote at the same
    moment: exactly one must be accepted (303), the others refused (409). Stops after
    ``votes`` accepted votes or at ``deadline`` (monotonic seconds).
    """
    session = requests.Session()
    tabs = [requests.Session() for _ in range(racers)] if racers > 1 else []
    pool = ThreadPoolExecutor(max_workers=racers) if tabs else None
    try:
        while len(tally.accepted) < votes and time.monotonic() < deadline:
            fields = _battle(session, base, tally)
            if fields is None:
                continue
            if not fields:
                break
            data = {**fields, "outcome": rng.choice(OUTCOMES)}
            if pool is not None:
                _race(pool, tabs, session, base, data, tally)
                continue
            started = time.monotonic()
            voted = _send(session, "POST", base + "/vote", tally, "vote", data=data)
            tally.vote_seconds += time.monotonic() - started
            if voted is None:
                continue
            if voted.status_code == 303:
                tally.accepted.append(fields["battle_id"])
                if rng.random() < 0.05:  # a double click: must be refused, never stored twice
                    again = _send(session, "POST", base + "/vote", tally, "vote", data=data)
                    _refused(tally, again, "second vote")
            else:
                _refused(tally, voted, "vote")
    finally:
        if pool is not None:
            pool.shutdown()


def _race(
    pool: ThreadPoolExecutor,
    tabs: list[requests.Session],
    session: requests.Session,
    base: str,
    data: dict[str, str],
    tally: Tally,
) -> None:
    """Every tab posts ``data`` at once (a barrier lines them up); one may win."""
    cookies = session.cookies.get_dict()
    barrier = threading.Barrier(len(tabs))

    def post(tab: requests.Session) -> requests.Response | None:
        tab.cookies.clear()
        tab.cookies.update(cookies)
        barrier.wait(timeout=30)
        return _send(tab, "POST", base + "/vote", tally, "vote (race)", data=data)

    started = time.monotonic()
    answers = list(pool.map(post, tabs))
    tally.vote_seconds += time.monotonic() - started
    battle = data["battle_id"]
    tally.raced.append(battle)
    won = 0
    for answer in answers:
        if answer is not None and answer.status_code == 303:
            won += 1
        else:
            _refused(tally, answer, "vote (race)")
    if won == 1:
        tally.accepted.append(battle)
    elif won > 1 or battle not in tally.unsure:  # no winner: only if a cut vote was stored
        tally.race_errors.append(f"battle {battle}: {won} of {len(tabs)} racing votes accepted")


def _refused(tally: Tally, response: requests.Response | None, what: str) -> None:
    if response is None:
        return  # counted by _send
    if response.status_code >= 500 or response.status_code < 400:
        tally.server_errors.append(f"{what} {response.status_code}")
    else:
        tally.refuse(response.status_code)


# -- killing web workers ----------------------------------------------------------------------


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def gunicorn_workers(base: str) -> list[int]:
    """The pids of the web workers of the gunicorn serving ``base`` on this machine (Linux:
    read from /proc; the workers are forks of the master, with its command line)."""
    bind = f"{urlsplit(base).hostname}:{urlsplit(base).port}"
    ours = {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}
    ours = {pid for pid in ours if "gunicorn" in _command(pid) and bind in _command(pid)}
    parents = {pid: _parent(pid) for pid in ours}
    masters = {pid for pid, parent in parents.items() if parent not in ours}
    return sorted(pid for pid, parent in parents.items() if parent in masters)


class WorkerKiller(threading.Thread):
    """Every ``every`` seconds, kill -9 one of gunicorn's web workers (at most ``times``)."""

    def __init__(self, base: str, every: float, times: int, rng: random.Random) -> None:
        super().__init__(name="worker-killer", daemon=True)
        self.base, self.every, self.times, self.rng = base, every, times, rng
        self.killed: list[int] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while len(self.killed) < self.times and not self.stopping.wait(self.every):
            workers = gunicorn_workers(self.base)
            if not workers:
                continue
            pid = self.rng.choice(workers)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.killed.append(pid)

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)
