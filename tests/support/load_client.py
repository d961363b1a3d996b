"""A voter over real HTTP, for the load test and the load benchmark."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser

import requests

OUTCOMES = ("a", "b", "tie", "both_bad")


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


def vote_loop(base: str, votes: int, deadline: float, rng: random.Random, tally: Tally) -> None:
    """One voter: fetch a battle, vote on it; now and then try a second vote on the same one.

    Stops after ``votes`` accepted votes or at ``deadline`` (monotonic seconds).
    """
    session = requests.Session()
    while len(tally.accepted) < votes and time.monotonic() < deadline:
        started = time.monotonic()
        page = session.get(base + "/", timeout=30)
        tally.page_seconds += time.monotonic() - started
        tally.pages += 1
        if page.status_code >= 500:
            tally.server_errors.append(f"GET / {page.status_code}")
            continue
        fields = vote_form(page.text)
        if "battle_id" not in fields:
            tally.refused[page.status_code] = tally.refused.get(page.status_code, 0) + 1
            break  # this voter has judged the whole pool
        data = {**fields, "outcome": rng.choice(OUTCOMES)}
        started = time.monotonic()
        voted = session.post(base + "/vote", data=data, allow_redirects=False, timeout=30)
        tally.vote_seconds += time.monotonic() - started
        if voted.status_code == 303:
            tally.accepted.append(fields["battle_id"])
            if rng.random() < 0.05:  # a double click: must be refused, never stored twice
                again = session.post(base + "/vote", data=data, allow_redirects=False, timeout=30)
                _refused(tally, again, "second vote")
        else:
            _refused(tally, voted, "vote")


def _refused(tally: Tally, response: requests.Response, what: str) -> None:
    if response.status_code >= 500 or response.status_code < 400:
        tally.server_errors.append(f"{what} {response.status_code}")
    else:
        tally.refused[response.status_code] = tally.refused.get(response.status_code, 0) + 1
