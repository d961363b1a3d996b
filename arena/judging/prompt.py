"""The judge prompt: a text file in the instance folder, its placeholders, and fitting long
answers into the judge's context.

The file holds the system text, a line ``---`` alone, then the user message with the
placeholders ``{question}``, ``{answer_a}`` and ``{answer_b}`` (without a ``---`` line the
whole file is the user message). The package's default (``arena/data/judge_prompt.txt``,
MT-Bench's pairwise prompt) is copied to ``<instance>/judge_prompt.txt`` on first use, so an
operator edits it there; ``JUDGE_PROMPT_FILE`` names another file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

PLACEHOLDERS = ("{question}", "{answer_a}", "{answer_b}")
SEPARATOR = "---"
DEFAULT_NAME = "judge_prompt.txt"
#: Characters per token, counted low so an estimate never exceeds the context: real
#: tokenisers give about 4 characters a token for English, fewer for code and other scripts.
CHARS_PER_TOKEN = 3
#: Tokens kept free beyond the prompt and the verdict (chat template, rounding).
CONTEXT_MARGIN = 64
#: The least room for the question and both answers a judge context must leave, in tokens.
MIN_ROOM = 192
CUT_MARK = "\n[... cut to fit the judge's context]"
_FIELDS = re.compile(r"\{(question|answer_a|answer_b)\}")


class JudgePromptError(ValueError):
    """A judge prompt file that cannot be used; the message says what to fix."""


def default_text() -> str:
    return resources.files("arena").joinpath(f"data/{DEFAULT_NAME}").read_text("utf-8")


def prompt_path(config: Mapping[str, Any], instance_path: str) -> Path:
    configured = config.get("JUDGE_PROMPT_FILE")
    return Path(configured) if configured else Path(instance_path) / DEFAULT_NAME


@dataclass(frozen=True)
class JudgePrompt:
    system: str | None
    user: str
    path: Path

    def messages(self, question: str, answer_a: str, answer_b: str) -> list[dict[str, str]]:
        """The chat messages for one order; the texts are put in once (an answer holding
        ``{answer_b}`` is not filled in again)."""
        values = {"question": question, "answer_a": answer_a, "answer_b": answer_b}
        user = _FIELDS.sub(lambda match: values[match.group(1)], self.user)
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, {"role": "user", "content": user}]

    @property
    def fixed_chars(self) -> int:
        """Characters of the prompt without the three texts."""
        return len(self.system or "") + len(_FIELDS.sub("", self.user))


def parse_prompt(text: str, path: Path) -> JudgePrompt:
    lines = text.splitlines()
    if SEPARATOR in (line.strip() for line in lines):
        at = next(i for i, line in enumerate(lines) if line.strip() == SEPARATOR)
        system: str | None = "\n".join(lines[:at]).strip() or None
        user = "\n".join(lines[at + 1 :]).strip("\n")
    else:
        system, user = None, text.strip("\n")
    missing = [p for p in PLACEHOLDERS if p not in user]
    if missing:
        where = "after its --- line" if system is not None else "in it"
        raise JudgePromptError(
            f"the judge prompt {path} lacks {', '.join(missing)} {where}: the user part must "
            f"hold {', '.join(PLACEHOLDERS)} (delete the file to get the default back)"
        )
    return JudgePrompt(system, user, path)


def load_prompt(config: Mapping[str, Any], instance_path: str) -> JudgePrompt:
    """The judge prompt in use; the default is copied to the instance folder on first use.
    Raises JudgePromptError for a file that is missing (a configured one), unreadable or
    without the placeholders."""
    path = prompt_path(config, instance_path)
    if not path.exists() and not config.get("JUDGE_PROMPT_FILE"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(default_text(), encoding="utf-8")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise JudgePromptError(f"cannot read the judge prompt {path}: {error}") from None
    return parse_prompt(text, path)


@dataclass(frozen=True)
class Fitted:
    question: str
    answer_a: str
    answer_b: str
    truncated: bool


def estimate_tokens(text: str) -> int:
    """A conservative token count (``CHARS_PER_TOKEN`` characters a token, rounded up)."""
    return -(-len(text) // CHARS_PER_TOKEN)


def check_room(prompt: JudgePrompt, num_ctx: int, num_predict: int) -> None:
    """JudgePromptError when the context leaves under MIN_ROOM tokens for the texts."""
    room = _room(prompt, num_ctx, num_predict)
    if room < MIN_ROOM:
        raise JudgePromptError(
            f"the judge's context ({num_ctx} tokens: JUDGE_NUM_CTX, else GEN_NUM_CTX) leaves "
            f"{max(room, 0)} tokens for the question and both answers after the judge prompt "
            f"{prompt.path} and the verdict (JUDGE_NUM_PREDICT {num_predict}); at least "
            f"{MIN_ROOM} are needed: raise JUDGE_NUM_CTX or shorten the prompt"
        )


def _room(prompt: JudgePrompt, num_ctx: int, num_predict: int) -> int:
    return num_ctx - num_predict - CONTEXT_MARGIN - estimate_tokens("x" * prompt.fixed_chars)


def fit(
    prompt: JudgePrompt, question: str, a: str, b: str, num_ctx: int, num_predict: int
) -> Fitted:
    """The three texts cut so that prompt and verdict fit in ``num_ctx`` tokens.

    The question keeps at most a third of the room; the answers share the rest evenly (a
    short one leaves its unused share to the other). Cut texts end with ``CUT_MARK``.
    """
    room = _room(prompt, num_ctx, num_predict)
    room_chars = max(0, room) * CHARS_PER_TOKEN
    if len(question) + len(a) + len(b) <= room_chars:
        return Fitted(question, a, b, False)
    q = _cut(question, room_chars // 3)
    left = max(0, room_chars - len(q))
    half = left // 2
    if len(a) <= half:
        b_room = left - len(a)
        a_room = half
    elif len(b) <= half:
        a_room = left - len(b)
        b_room = half
    else:
        a_room = b_room = half
    return Fitted(q, _cut(a, a_room), _cut(b, b_room), True)


def _cut(text: str, chars: int) -> str:
    if len(text) <= chars:
        return text
    keep = max(0, chars - len(CUT_MARK))
    return text[:keep] + CUT_MARK
