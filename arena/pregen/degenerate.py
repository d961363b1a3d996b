"""Degenerate answers: the system prompt echoed, chat-template debris, runaway repetition.

Small models, and base models prompted as chat models, often stop answering and start
writing the conversation itself: they repeat the system prompt ("You are a helpful
assistant. Answer the user's request…"), open the next turn with the template's tokens
(``<end_of_turn>``, ``<|im_start|>``) or a bare role word ("user", "model"), or loop on one
sentence until the token limit. Such an answer spoils a blind battle: it looks broken, and
it tells which model wrote it.

:func:`find_degeneration` finds the earliest point where the answer degenerates:

- an **echo** of the system prompt: a run of at least :data:`ECHO_RUN` consecutive words of
  it (or the whole of a shorter one), or a third of its word 6-grams;
- **template debris**: a chat-template token outside code, a line that is only a role word,
  or a role word glued to the end of another word at a line's end ("mendatangmodel");
- a **loop**: the same stretch of words repeated back to back (at least three copies and
  :data:`LOOP_EXTRA_WORDS` repeated words; far more inside code, where repeated lines are
  normal), or one sentence of four or more words said at least four times when its extra
  copies make up a quarter of the answer (a poem's refrain does not: it is a small share).

The decision, for a voter who must judge blind: the answer is **cut** at that point (the
first copy of a looping sentence is kept, the repetition goes) when what comes before is a
fair answer of at least :data:`MIN_KEPT_WORDS` words; it is then kept, flagged (its
``status_reason`` starts with ``cut:``) and shown with a plain note. When too little comes
before (an answer that opens with the system prompt or loops from its first sentence), it
is **excluded** and regenerated with another seed, as identity leaks are.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

#: A run of this many consecutive words of the system prompt is an echo.
ECHO_RUN = 12
#: ...and so is a third of its distinct word 6-grams, in any order.
ECHO_SHARE = 1 / 3
_ECHO_N = 6
#: Back-to-back repetition counts once this many words are repeated (outside code).
LOOP_EXTRA_WORDS = 24
#: Inside fenced code, repeated lines are normal: far more is needed there.
LOOP_EXTRA_WORDS_CODE = 120
#: The longest repeated stretch looked for, in words.
MAX_PERIOD = 60
#: A sentence said this many times, whose extra copies make up this share of the words.
SENTENCE_REPEATS = 4
SENTENCE_SHARE = 0.25
MIN_SENTENCE_WORDS = 4
#: A cut answer is kept only if at least this many words come before the cut.
MIN_KEPT_WORDS = 25

_WORD = re.compile(r"\w+(?:['’]\w+)*")
_FENCE = re.compile(r"^[ \t]*(```|~~~).*?(?:^[ \t]*\1[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_TEMPLATE_TOKEN = re.compile(
    r"<\|(?:im_start|im_end|im_sep|endoftext|eot_id|start_header_id|end_header_id|"
    r"begin_of_text|end_of_text|assistant|user|system|end|eos|bos)\|>"
    r"|<(?:start_of_turn|end_of_turn)>|\[/?INST\]|<</?SYS>>",
    re.IGNORECASE,
)
# Lowercase, as template debris comes out: a heading "System" or a dialogue's "User:" is not.
_ROLE_LINE = re.compile(r"^[ \t]*(?:user|model|assistant)[ \t]*$", re.MULTILINE)
# "mendatangmodel", "peringkatmodel": a word with a role word glued on, ending a line.
_GLUED_ROLE = re.compile(r"\b([a-z]{3,})(model|user|assistant)[ \t]*$", re.MULTILINE)
#: Ordinary words that end with a role word.
GLUED_ALLOWED = frozenset(
    {
        "re", "super", "sub", "meta", "data", "pre", "auto", "view", "end", "multi", "non",
        "power", "co", "bio", "eco", "geo", "micro", "macro", "mini", "proto", "role", "user",
        "base", "world", "mental", "business", "language", "teaching",
    }
)  # fmt: skip
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


@dataclass(frozen=True)
class Degeneration:
    """Where and how an answer degenerates; ``kept`` is the text before that point."""

    kind: str  # "echo", "template", "loop"
    detail: str
    start: int  # character offset of the cut
    kept: str  # the answer before the cut, stripped

    @property
    def excluded(self) -> bool:
        """Too little is left before the cut to make a fair answer."""
        return len(_WORD.findall(self.kept)) < MIN_KEPT_WORDS

    def reason(self) -> str:
        """The ``status_reason`` stored: ``degenerate: ...`` when excluded, ``cut: ...`` when
        the answer was cut and kept."""
        if self.excluded:
            return f"degenerate answer ({self.kind}): {self.detail}"
        return f"cut: {self.kind} at character {self.start}: {self.detail}"


def find_degeneration(text: str, system_prompt: str | None = None) -> Degeneration | None:
    """The earliest degeneration in ``text`` (an answer given ``system_prompt``), or None."""
    code = _code_spans(text)
    found = [
        hit
        for hit in (
            _echo(text, system_prompt),
            _template(text, code),
            _back_to_back(text, code),
            _repeated_sentence(text, code),
        )
        if hit is not None
    ]
    if not found:
        return None
    kind, detail, start = min(found, key=lambda hit: hit[2])
    return Degeneration(kind, detail, start, text[:start].rstrip().rstrip(",;:").rstrip())


def is_cut(reason: str | None) -> bool:
    """Whether a usable answer's ``status_reason`` says it was cut by this filter."""
    return bool(reason) and str(reason).startswith("cut:")


def is_degenerate(reason: str | None) -> bool:
    """Whether an excluded answer's ``status_reason`` says this filter excluded it."""
    return bool(reason) and str(reason).startswith("degenerate answer")


# -- the checks: each returns (kind, detail, start) or None ------------------------------------

_Hit = tuple[str, str, int]


def _words(text: str) -> list[re.Match[str]]:
    return list(_WORD.finditer(text))


def _echo(text: str, system_prompt: str | None) -> _Hit | None:
    system = [w.lower() for w in _WORD.findall(system_prompt or "")]
    if len(system) < _ECHO_N:
        return None
    matches = _words(text)
    words = [m.group(0).lower() for m in matches]
    grams = {tuple(system[i : i + _ECHO_N]) for i in range(len(system) - _ECHO_N + 1)}
    hits = [i for i in range(len(words) - _ECHO_N + 1) if tuple(words[i : i + _ECHO_N]) in grams]
    if not hits:
        return None
    # The longest run of consecutive matching 6-grams, in words.
    longest, run_start, best_start = 0, hits[0], hits[0]
    previous = None
    for i in hits:
        if previous is None or i != previous + 1:
            run_start = i
        previous = i
        length = i - run_start + _ECHO_N
        if length > longest:
            longest, best_start = length, run_start
    found = {tuple(words[i : i + _ECHO_N]) for i in hits}
    share = len(found) / len(grams)
    needed = min(ECHO_RUN, len(system))
    if longest >= needed:
        detail = f"repeats {longest} words of the system prompt"
        return "echo", detail, matches[best_start].start()
    if share >= ECHO_SHARE:
        detail = f"repeats {share:.0%} of the system prompt's phrases"
        return "echo", detail, matches[hits[0]].start()
    return None


def _code_spans(text: str) -> list[tuple[int, int]]:
    spans = [m.span() for m in _FENCE.finditer(text)]
    return spans + [m.span() for m in _INLINE_CODE.finditer(text) if not _inside(m.start(), spans)]


def _inside(position: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= position < end for start, end in spans)


def _template(text: str, code: list[tuple[int, int]]) -> _Hit | None:
    hits: list[_Hit] = []
    for match in _TEMPLATE_TOKEN.finditer(text):
        if not _inside(match.start(), code):
            hits.append(("template", f"chat-template token {match.group(0)!r}", match.start()))
            break
    for match in _ROLE_LINE.finditer(text):
        if not _inside(match.start(), code):
            word = match.group(0).strip()
            hits.append(("template", f"a line that is only the role word {word!r}", match.start()))
            break
    for match in _GLUED_ROLE.finditer(text):
        if match.group(1) not in GLUED_ALLOWED and not _inside(match.start(), code):
            glued = match.group(0).strip()
            line_start = text.rfind("\n", 0, match.start()) + 1  # the turn it ends goes too
            hits.append(("template", f"role word glued to a word: {glued!r}", line_start))
            break
    return min(hits, key=lambda hit: hit[2]) if hits else None


def _back_to_back(text: str, code: list[tuple[int, int]]) -> _Hit | None:
    """The earliest stretch of words repeated back to back: at least three copies, and
    enough repeated words (more inside code)."""
    matches = _words(text)
    words = [m.group(0).lower() for m in matches]
    n = len(words)
    best: tuple[int, int, int] | None = None  # (start of the second copy, period, copies)
    for period in range(1, min(MAX_PERIOD, n // 3) + 1):
        run = 0
        for i in range(n - period - 1, -1, -1):  # run[i]: words equal to the one p ahead
            run = run + 1 if words[i] == words[i + period] else 0
            extra = run  # words repeated after the first copy, from i on
            if extra < 2 * period:
                continue
            in_code = _inside(matches[i].start(), code)
            if extra < (LOOP_EXTRA_WORDS_CODE if in_code else LOOP_EXTRA_WORDS):
                continue
            cut = i + period
            if best is None or cut <= best[0]:
                best = (cut, period, 1 + extra // period)
    if best is None:
        return None
    cut, period, copies = best
    phrase = " ".join(words[cut - period : cut])
    if len(phrase) > 60:
        phrase = phrase[:57] + "..."
    detail = f"{period} word(s) repeated {copies} times back to back ({phrase!r})"
    return "loop", detail, matches[cut].start()


def _repeated_sentence(text: str, code: list[tuple[int, int]]) -> _Hit | None:
    """A sentence said at least SENTENCE_REPEATS times whose extra copies are a large share
    of the answer's words (outside code)."""
    sentences: list[tuple[tuple[str, ...], int]] = []
    for match in _SENTENCE.finditer(text):
        if _inside(match.start(), code):
            continue
        words = tuple(w.lower() for w in _WORD.findall(match.group(0)))
        if words:
            start = match.start() + len(match.group(0)) - len(match.group(0).lstrip())
            sentences.append((words, start))
    total = sum(len(words) for words, _ in sentences)
    counts = Counter(words for words, _ in sentences if len(words) >= MIN_SENTENCE_WORDS)
    looping = [
        words
        for words, count in counts.items()
        if count >= SENTENCE_REPEATS and (count - 1) * len(words) >= SENTENCE_SHARE * total
    ]
    if not looping:
        return None
    cuts = []
    for words in looping:
        starts = [start for sentence, start in sentences if sentence == words]
        cuts.append((starts[1], words, len(starts)))
    cut, words, count = min(cuts)
    phrase = " ".join(words)
    if len(phrase) > 60:
        phrase = phrase[:57] + "..."
    return "loop", f"the sentence {phrase!r} said {count} times", cut
