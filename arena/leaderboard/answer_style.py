"""The style features of the two answers behind each vote, for the style-controlled rating.

A vote copies its prompt and its two models from its battle, and a (prompt, model) pair has at
most one usable answer, written once and never rewritten (``uq_response_ok_prompt_model``).
So a vote's answers are found without joining the battles: the key ``prompt * stride + model``
of each side is looked up (``numpy.searchsorted``) in the table of usable answers, a few
thousand rows where the votes are a million.

Each answer's features (:func:`arena.ratings.style.style_features`) are counted once per
process and kept by database, answer id and creation time (answers never change; the time
tells apart an answer of a restored or another database that reuses an id), so a board
computed again only counts the answers that are new. The length is in tokens when the model
server reported both answers' token counts, in characters otherwise (only the ratio of the
two matters). A vote without both answers stored (imported history, a vote without a prompt)
gets no style difference: zeros on both sides, so it still counts for the strengths.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from arena.models import Response
from arena.ratings.style import style_features

#: (database, answer id, created at) -> (tokens or NaN, characters, headers, lists, bold).
_COUNTED: dict[tuple[str, int, str], tuple[float, float, float, float, float]] = {}
_LOCK = threading.Lock()
_MAX_COUNTED = 1_000_000  # answers kept per process before the memo starts afresh
_BATCH = 500


def _count(text: str, tokens: int | None) -> tuple[float, float, float, float, float]:
    _, headers, lists, bold = style_features(text)
    known = float(tokens) if tokens is not None and tokens > 0 else math.nan
    return (known, float(len(text)), headers, lists, bold)


def answer_table(conn: Connection, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """``(keys, features)``: the usable answers' ``prompt_id * stride + model_id``, sorted,
    and their rows of (tokens or NaN, characters, headers, list items, bold spans)."""
    database = conn.engine.url.render_as_string(hide_password=True)
    answers = conn.execute(
        select(Response.id, Response.prompt_id, Response.model_id, Response.created_at).where(
            Response.status == "ok"
        )
    ).all()
    memo = {row.id: (database, row.id, str(row.created_at)) for row in answers}
    with _LOCK:
        if len(_COUNTED) > _MAX_COUNTED:
            _COUNTED.clear()
        missing = [answer for answer, key in memo.items() if key not in _COUNTED]
    for start in range(0, len(missing), _BATCH):
        batch = missing[start : start + _BATCH]
        rows = conn.execute(
            select(Response.id, Response.text, Response.eval_count).where(Response.id.in_(batch))
        ).all()
        counted = {memo[row.id]: _count(row.text or "", row.eval_count) for row in rows}
        with _LOCK:
            _COUNTED.update(counted)
    if not answers:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 5))
    keys = np.array([row.prompt_id * stride + row.model_id for row in answers], dtype=np.int64)
    with _LOCK:
        table = np.array([_COUNTED[memo[row.id]] for row in answers], dtype=np.float64)
    order = np.argsort(keys, kind="stable")
    return keys[order], table[order]


_DENSE_MAX = 20_000_000  # keys up to this: a direct index (80 MB at most), else a search


def _locator(keys: np.ndarray) -> Any:
    """A function: wanted keys (>= 0) -> (positions in the sorted, non-empty ``keys``, found).

    A direct index when the keys are small (prompt and model ids of an arena: a million
    lookups in ~10 ms), a binary search otherwise."""
    top = int(keys[-1]) + 1
    if top <= _DENSE_MAX:
        dense = np.full(top, -1, dtype=np.int32)
        dense[keys] = np.arange(len(keys), dtype=np.int32)

        def direct(wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            at = dense[np.minimum(wanted, top - 1)]
            found = (at >= 0) & (wanted < top)
            return np.where(found, at, 0), found

        return direct

    def search(wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        return at, keys[at] == wanted

    return search


def vote_features(
    keys: np.ndarray,
    table: np.ndarray,
    prompt: np.ndarray,
    model_a: np.ndarray,
    model_b: np.ndarray,
    stride: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per vote, ``(features_a, features_b, known)``: float32 ``(n, 4)`` arrays of (length,
    headers, list items, bold spans), zeros on both sides where either answer is unknown
    (``prompt`` < 0: the vote has no prompt), and whether both answers were found."""
    if len(keys) == 0:
        zeros = np.zeros((len(prompt), 4), dtype=np.float32)
        return zeros, zeros.copy(), np.zeros(len(prompt), dtype=bool)
    locate = _locator(keys)
    has_prompt = prompt >= 0
    base = np.where(has_prompt, prompt, 0) * stride
    at_a, found_a = locate(base + model_a)
    at_b, found_b = locate(base + model_b)
    known = found_a & found_b & has_prompt
    small = table.astype(np.float32)  # the gathers below are n x 5: half the memory
    fa, fb = small[at_a], small[at_b]
    tokens = ~np.isnan(fa[:, 0]) & ~np.isnan(fb[:, 0])
    out_a = np.empty((len(prompt), 4), dtype=np.float32)
    out_b = np.empty((len(prompt), 4), dtype=np.float32)
    out_a[:, 0] = np.where(tokens, fa[:, 0], fa[:, 1])
    out_b[:, 0] = np.where(tokens, fb[:, 0], fb[:, 1])
    out_a[:, 1:], out_b[:, 1:] = fa[:, 2:], fb[:, 2:]
    out_a[~known] = 0.0
    out_b[~known] = 0.0
    return out_a, out_b, known
