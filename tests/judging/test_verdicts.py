"""Reading a judge's verdict: the last ``[[A]]``/``[[B]]``/``[[C]]`` wins, any case and
spacing; no verdict is ``unparsed`` (never guessed); both orders must agree to count."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena.judging.verdicts import VERDICT, combine, parse_verdict


@pytest.mark.parametrize(
    ("output", "verdict"),
    [
        ("My final verdict is: [[A]]", "A"),
        ("[[b]]", "B"),
        ("Final verdict: [[ c ]]", "C"),
        ("[ [B] ]", "B"),
        ("[[\tA\n]]", "A"),
        ('Output "[[A]]" if A is better, "[[B]]" if B... My verdict: [[B]]', "B"),
        ("[[A]] at first, but on reflection [[C]]", "C"),
        ("Assistant A is clearly better.", "unparsed"),
        ("[A]", "unparsed"),
        ("[[D]]", "unparsed"),
        ("[[AB]]", "unparsed"),
        ("[[A", "unparsed"),
        ("", "unparsed"),
    ],
)
def test_parse_verdict(output: str, verdict: str) -> None:
    assert parse_verdict(output) == verdict


# Noise: brackets, spaces, punctuation and phrases naming a side in words, which can never
# form a verdict (no letter a/b/c stands alone between brackets), wherever it is put.
PHRASES = ["Assistant A is better", "B wins", "a tie (C)", "[[D]]", "[[AB]]", "(A)", "[[ x ]]"]
NOISE = st.lists(
    st.one_of(
        st.text(alphabet=st.sampled_from([*"[] xyz\n\t.:\"'", "é", "\x00"]), max_size=8),
        st.sampled_from(PHRASES),
    ),
    max_size=4,
).map(" ".join)
LETTER = st.sampled_from("AaBbCc")
SPACE = st.text(alphabet=" \t\n", max_size=3)


@st.composite
def verdict_text(draw: st.DrawFn) -> str:
    letter = draw(LETTER)
    a, b, c, d = (draw(SPACE) for _ in range(4))
    outer = draw(st.booleans())
    return f"[{a}[{b}{letter}{c}]{d}]" if outer else f"[[{b}{letter}{c}]]"


@settings(max_examples=400, deadline=None)
@given(
    parts=st.lists(st.tuples(NOISE, st.one_of(st.none(), verdict_text())), max_size=6),
    tail=NOISE,
)
def test_the_last_verdict_wins_whatever_surrounds_it(
    parts: list[tuple[str, str | None]], tail: str
) -> None:
    text = "".join(noise + " " + (verdict or "") for noise, verdict in parts) + " " + tail
    verdicts = [v for _, v in parts if v is not None]
    expected = re.findall(r"[abcABC]", verdicts[-1])[0].upper() if verdicts else "unparsed"
    assert parse_verdict(text) == expected  # no verdict written: unparsed, never guessed


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_gives_a_known_verdict(text: str) -> None:
    result = parse_verdict(text)
    assert result in {"A", "B", "C", "unparsed"}
    assert (result == "unparsed") == (VERDICT.search(text) is None)


@settings(max_examples=200, deadline=None)
@given(before=NOISE, verdict=verdict_text(), after=st.text(alphabet="xyz .!\n", max_size=20))
def test_a_verdict_followed_by_plain_text_is_read(before: str, verdict: str, after: str) -> None:
    letter = re.findall(r"[abcABC]", verdict)[0].upper()
    assert parse_verdict(before + " " + verdict + after) == letter


@pytest.mark.parametrize(
    ("ab", "ba", "status", "outcome"),
    [
        ("A", "B", "counted", "a"),  # A shown first wins, then B shown first loses: a
        ("B", "A", "counted", "b"),
        ("C", "C", "counted", "tie"),
        ("A", "A", "inconsistent", "tie"),  # always the first position: position bias
        ("B", "B", "inconsistent", "tie"),
        ("A", "C", "inconsistent", "tie"),
        ("C", "B", "inconsistent", "tie"),
        ("unparsed", "B", "unparsed", None),
        ("A", "unparsed", "unparsed", None),
        ("unparsed", "unparsed", "unparsed", None),
    ],
)
def test_both_orders_must_agree(ab: str, ba: str, status: str, outcome: str | None) -> None:
    result = combine(ab, ba)
    assert (result.status, result.outcome) == (status, outcome)
