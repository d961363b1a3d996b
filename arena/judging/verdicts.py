"""Reading a judge's output: the final verdict of one order, and the pair's judgement.

The judge is asked (MT-Bench's pairwise convention) to end with ``[[A]]``, ``[[B]]`` or
``[[C]]`` (a tie). The last verdict in the output wins (a judge often quotes the format before
it decides); letters may be lower case and spaced (``[[ b ]]``). An output without one is
``unparsed``: never guessed from words such as "Assistant A is better".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: ``[[A]]``, ``[[ b ]]``, ``[ [C] ]``: two brackets each side, one letter, any spacing.
VERDICT = re.compile(r"\[\s*\[\s*([abcABC])\s*\]\s*\]")
UNPARSED = "unparsed"

#: Each order's verdict as a side of the pair: A/B shows response_a first, B/A second.
_SIDE_AB = {"A": "a", "B": "b", "C": "tie"}
_SIDE_BA = {"A": "b", "B": "a", "C": "tie"}


def parse_verdict(output: str) -> str:
    """``A``, ``B``, ``C`` (a tie) or ``unparsed``: the last verdict in ``output``."""
    found = VERDICT.findall(output)
    return found[-1].upper() if found else UNPARSED


@dataclass(frozen=True)
class PairVerdict:
    """The judgement of a pair from its two orders' verdicts (see ``Judgement``)."""

    status: str  # counted, inconsistent, unparsed
    outcome: str | None  # a, b, tie; None when unparsed


def combine(verdict_ab: str, verdict_ba: str) -> PairVerdict:
    """A verdict counts only when both orders name the same answer (or both a tie).

    ``verdict_ab`` judged response_a shown first, ``verdict_ba`` response_b shown first: A/B
    saying A and B/A saying B is the same answer, counted. Any other mix (a side and its
    swap, a side and a tie) is position-inconsistent and counts as a tie; an order without a
    verdict makes the pair unparsed (it counts as nothing).
    """
    if verdict_ab not in _SIDE_AB or verdict_ba not in _SIDE_BA:
        return PairVerdict(UNPARSED, None)
    first, second = _SIDE_AB[verdict_ab], _SIDE_BA[verdict_ba]
    if first == second:
        return PairVerdict("counted", first)
    return PairVerdict("inconsistent", "tie")
