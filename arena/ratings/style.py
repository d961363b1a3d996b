"""Style features of an answer, and their per-vote normalised differences.

LMArena's style control ("Does style matter? Disentangling style and substance in Chatbot
Arena", Li, Angelopoulos & Chiang, LMSYS blog, 2024-08-29) adds to the Bradley-Terry
regression, per vote, the normalised difference of four features of the two answers:
answer length in tokens, number of Markdown headers, of list items and of bold spans,

    z = normalize((f_A - f_B) / (f_A + f_B))

We do the same (0 when both answers have none of a feature). ``(f_A - f_B) / (f_A + f_B)``
is ``tanh(log(f_A / f_B) / 2)``: a bounded log-ratio, so 520 against 500 tokens is a small
difference and 40 against 20 a large one, and the unit of the length (tokens or characters)
cancels out. ``normalize`` divides each column by its root mean square over the votes, so a
coefficient is the effect of one typical difference; unlike a z-score it does not subtract
the mean, which would add a left/right seat effect the model does not have.

Counting (:func:`style_features`) uses simple line patterns, robust to sloppy Markdown:

- a header is a line starting with 1-6 ``#`` then a space (up to 3 spaces of indent);
- a list item is a line starting with ``-``, ``*``, ``+`` or ``1.``/``1)`` then a space
  (any indent, so nested items count);
- a bold span is ``**text**`` or ``__text__`` on one line;
- fenced code blocks (``` or ~~~) are skipped, and inline code spans are ignored for bold.
"""

from __future__ import annotations

import re

import numpy as np

STYLE_FEATURES: tuple[str, ...] = ("length", "headers", "lists", "bold")
"""Names of the feature columns, in order."""

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_HEADER = re.compile(r"^\s{0,3}#{1,6}\s+\S")
_LIST = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s+\S")
_RULE = re.compile(r"^\s{0,3}(?:[-*_]\s*){3,}$")  # a thematic break, not a list item
_BOLD = re.compile(r"\*\*(?=\S)[^*\n]+?(?<=\S)\*\*|(?<!\w)__(?=\S)[^_\n]+?(?<=\S)__(?!\w)")
_INLINE_CODE = re.compile(r"`[^`\n]*`")


def style_features(text: str, tokens: int | None = None) -> tuple[float, float, float, float]:
    """``(length, headers, lists, bold)`` of one answer.

    ``length`` is ``tokens`` when known (the answer's generated token count), else the
    number of characters; only ratios between the two answers of a vote matter.
    """
    headers = lists = bold = 0
    fence: str | None = None
    for line in text.splitlines():
        opened = _FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
            continue
        if opened:
            fence = opened.group(1)
            continue
        if _HEADER.match(line):
            headers += 1
        elif _LIST.match(line) and not _RULE.match(line):
            lists += 1
        bold += len(_BOLD.findall(_INLINE_CODE.sub("", line)))
    length = float(tokens) if tokens is not None else float(len(text))
    return (length, float(headers), float(lists), float(bold))


def normalized_differences(
    features_a: np.ndarray, features_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-vote ``(f_A - f_B) / (f_A + f_B)`` scaled to unit root mean square per column.

    Returns ``(z, scale)``: ``z`` float64 ``(n, K)`` and ``scale`` ``(K,)``, the root mean
    square each column was divided by (1.0 for a column that is zero throughout).
    """
    fa = np.asarray(features_a, dtype=np.float64)
    fb = np.asarray(features_b, dtype=np.float64)
    total = fa + fb
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.where(total > 0, (fa - fb) / total, 0.0)
    scale = np.sqrt((diff**2).mean(axis=0)) if len(diff) else np.ones(diff.shape[1])
    scale = np.where(scale > 0, scale, 1.0)
    z: np.ndarray = diff / scale
    return z, scale
