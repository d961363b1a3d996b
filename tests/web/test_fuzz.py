"""Property-based: whatever a client sends in any form field, query parameter or path part,
the arena answers with a page or a clear 4xx, never a 500."""

from __future__ import annotations

import string

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Every field the arena reads, with garbage and near-miss values.
QUERY_NAMES = [
    "sort", "category", "size", "from", "to", "exclude_ties", "already", "format", "x",
    "targeted", "ram_gb", "min_tps", "focus",
]  # fmt: skip
GET_PATHS = [
    "/",
    "/leaderboard",
    "/charts",
    "/ask",
    "/status",
    "/status.json",
    "/api/leaderboard.json",
    "/api/leaderboard.csv",
    "/api/votes.csv",
    "/api/votes.jsonl",
    "/pick",
    "/api/pick.json",
    "/pick/settle",
]
PATH_TEMPLATES = ["/battle/{}", "/ask/{}", "/ask/{}.json", "/static/{}"]

nasty_text = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=string.printable, max_size=20),
    st.sampled_from(
        ["", " ", "a", "b", "tie", "both_bad", "bt", "elo", "score", "2026-01-01", "2026-13-45",
         "1e309", "-1", "NaN", "true", "yes", "0", "le2", "gt9", "../../etc/passwd", "%00",
         "exclude", "include", "4", "0.5",
         "\x00", "' OR 1=1 --", "<script>alert(1)</script>", "x" * 5000, "ü" * 300]
    ),
)  # fmt: skip

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def fuzz_app(pool: Flask) -> Flask:
    pool.config["RATELIMIT_ENABLED"] = False
    return pool


@SETTINGS
@given(
    path=st.sampled_from(GET_PATHS),
    params=st.lists(st.tuples(st.sampled_from(QUERY_NAMES), nasty_text), max_size=5),
)
def test_query_parameters_never_cause_a_500(
    fuzz_app: Flask, path: str, params: list[tuple[str, str]]
) -> None:
    response = fuzz_app.test_client().get(path, query_string=params)
    assert response.status_code < 500, (path, params, response.status_code)


@SETTINGS
@given(template=st.sampled_from(PATH_TEMPLATES), part=nasty_text)
def test_path_parts_never_cause_a_500(fuzz_app: Flask, template: str, part: str) -> None:
    response = fuzz_app.test_client().get(template.format(part.replace("/", "%2F")))
    assert response.status_code < 500, (template, part, response.status_code)


@SETTINGS
@given(
    battle_id=nasty_text,
    outcome=nasty_text,
    extra=st.dictionaries(st.sampled_from(["battle_id", "outcome", "csrf_token", "z"]), nasty_text),
    use_real_battle=st.booleans(),
)
def test_vote_form_never_causes_a_500(
    fuzz_app: Flask, battle_id: str, outcome: str, extra: dict[str, str], use_real_battle: bool
) -> None:
    client = fuzz_app.test_client()
    if use_real_battle:
        page = client.get("/").get_data(as_text=True)
        marker = 'name="battle_id" value="'
        if marker in page:
            battle_id = page.split(marker, 1)[1].split('"', 1)[0]
    response = client.post("/vote", data={**extra, "battle_id": battle_id, "outcome": outcome})
    assert response.status_code < 500, (battle_id, outcome, extra, response.status_code)


@SETTINGS
@given(prompt=nasty_text, extra=st.dictionaries(st.sampled_from(["prompt", "z"]), nasty_text))
def test_prompt_form_never_causes_a_500(
    fuzz_app: Flask, prompt: str, extra: dict[str, str]
) -> None:
    response = fuzz_app.test_client().post("/ask", data={**extra, "prompt": prompt})
    assert response.status_code < 500, (prompt, extra, response.status_code)
