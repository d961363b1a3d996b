"""Identity leaks: answers in which a model names itself or its maker.

Voting is blind, so an answer saying "I am Qwen, created by Alibaba Cloud" spoils its battle.
Such answers are stored as ``excluded`` and regenerated once with another seed. As Chatbot
Arena does for votes, a word list per family decides; a claim to be *another* known model
("I'm ChatGPT") is excluded too, since it misleads the voter just as much.

Only self-descriptions count, so that an answer may still talk about Google Maps or Meta's
quarterly results: a first-person phrase ("I am", "I'm", "my name is", "as an AI", "I was
trained") followed in the same sentence by a name from the list.

A thinking model's thinking is kept apart from its answer and never shown, neither in the
battle nor in the reveal (which says only how long it thought). So the filter decides on the
answer alone: a model that names itself only while thinking ("I am Qwen, so I should...")
keeps its answer; one whose answer names it is excluded as any other. The thinking is read
too (``arena.pregen.think.thinking_leak``), and such a naming is logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

#: family -> (model names, makers). Matched case-insensitively as whole words.
FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "llama": (("Llama", "LLaMA", "Meta AI"), ("Meta", "Facebook")),
    "gemma": (("Gemma", "Gemini", "Bard"), ("Google", "DeepMind", "Google DeepMind")),
    "qwen": (
        ("Qwen", "Tongyi", "Qianwen", "通义千问", "通义"),
        ("Alibaba", "Alibaba Cloud", "阿里"),
    ),
    "phi": (("Phi",), ("Microsoft",)),
    "mistral": (("Mistral", "Mixtral", "Ministral", "Le Chat"), ("Mistral AI",)),
    "smollm": (("SmolLM",), ("Hugging Face", "HuggingFace")),
    "deepseek": (("DeepSeek",), ("DeepSeek AI",)),
    "gpt": (("ChatGPT", "GPT", "GPT-4", "GPT-3.5", "gpt-oss"), ("OpenAI",)),
    "claude": (("Claude",), ("Anthropic",)),
    "granite": (("Granite",), ("IBM",)),
    "falcon": (("Falcon",), ("Technology Innovation Institute", "TII")),
    "olmo": (("OLMo", "Tülu", "Tulu"), ("Allen Institute", "AllenAI", "Ai2")),
    "command": (("Command R", "Command-R", "Aya"), ("Cohere",)),
    "stablelm": (("StableLM",), ("Stability AI",)),
    "exaone": (("EXAONE",), ("LG AI Research",)),
    "internlm": (("InternLM",), ("Shanghai AI Lab", "Shanghai AI Laboratory")),
    "yi": ((), ("01.AI",)),
    "glm": (("ChatGLM", "GLM"), ("Zhipu",)),
    "minicpm": (("MiniCPM",), ("ModelBest", "OpenBMB")),
    "tinyllama": (("TinyLlama",), ()),
    "nemotron": (("Nemotron",), ("NVIDIA",)),
    "hermes": (("Hermes",), ("Nous Research",)),
}

#: Names that are also ordinary words or first names ("I am a falcon", "I'm Claude, a baker
#: in Lyon"): these need a word describing an AI in the sentence, unless the answering model's
#: own family uses them and it names itself straight away ("I'm Gemma").
AMBIGUOUS = frozenset(
    name.casefold()
    for name in (
        "Llama", "Meta", "Gemma", "Gemini", "Bard", "Phi", "Mistral", "Le Chat", "Claude",
        "Granite", "Falcon", "Hermes", "Aya", "Tulu", "Tülu", "GLM",
    )
)  # fmt: skip

_BY = r"\s+(?:by|at)\b"
_MADE = r"(?:developed|created|trained|made|built|designed|programmed|released)"
# "I am", "I'm", "my name is", "as an AI", "I was trained by", and a few other languages.
_SELF_RE = re.compile(
    rf"\bI\s+am\b|\bI['’]m\b|\bmy\s+name\s+is\b|\bcall\s+me\b|\bI\s+was\s+{_MADE}{_BY}"
    rf"|\bI(?:['’]ve|\s+have)\s+been\s+{_MADE}{_BY}"
    r"|\bas\s+an?\s+(?:AI|assistant|(?:large\s+)?language\s+model|LLM|chatbot)\b"
    r"|\bje\s+suis\b|\bsoy\b|\bich\s+bin\b|我是|我叫",
    re.IGNORECASE,
)
# Words that say the sentence is about an AI ("a large language model from Meta").
_AI_CUE = re.compile(
    rf"\b(?:AI|assistant|(?:language\s+)?model|LLM|chatbot|called|named|known\s+as|version)\b"
    rf"|\b{_MADE}{_BY}|模型|助手|开发",
    re.IGNORECASE,
)
# "As an AI ..." and "I was trained by ..." already say the speaker is an AI.
_SELF_IS_AI = re.compile(r"as\s|I\s+was\s|I(?:['’]ve|\s+have)\s+been\s", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)|[。！？\n]")
_SENTENCE_WINDOW = 100  # characters after the first-person phrase
_ARTICLES = frozenset({"a", "an", "the"})
_FILLERS = frozenset({"just", "actually", "simply", "called", "named", "known", "as"})


@dataclass(frozen=True)
class Leak:
    """The phrase that gives the identity away, the name in it, and the family it belongs to."""

    phrase: str
    name: str
    family: str
    own: bool  # the name belongs to the answering model's own family

    def reason(self) -> str:
        whose = "its own" if self.own else "a known"
        return f"identity leak: names {whose} model or maker {self.name!r} ({self.phrase!r})"


def _name_pattern(names: dict[str, str]) -> re.Pattern[str]:
    escaped = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    # A name may be followed by a version ("Qwen2.5") but not by more letters ("Philosophy").
    return re.compile(rf"(?<![\w-])(?:{escaped})(?![^\W\d_])", re.IGNORECASE)


def _all_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for family, (models, makers) in FAMILIES.items():
        for name in (*models, *makers):
            names.setdefault(name.casefold(), family)
    return names


_NAMES = _all_names()
_NAME_RE = _name_pattern(_NAMES)


def family_of(tag: str, family: str | None = None) -> str | None:
    """The leak family of a model, from its tag or else Ollama's ``family`` (e.g. ``qwen2``)."""
    for text in (tag.split(":", 1)[0].rsplit("/", 1)[-1], family or ""):
        lowered = text.lower()
        for key in sorted(FAMILIES, key=len, reverse=True):
            if lowered.startswith(key):
                return key
    return None


def own_names(tag: str) -> list[str]:
    """Names taken from the tag itself (``granite3.1-moe:1b`` → ``granite``), for families
    not in the list; stems shorter than four letters are left out."""
    stem = re.sub(r"[\d._-].*$", "", tag.split(":", 1)[0].rsplit("/", 1)[-1])
    return [stem] if len(stem) >= 4 else []


@lru_cache(maxsize=256)
def _for_model(
    tag: str, family: str | None
) -> tuple[frozenset[str], dict[str, str], dict[str, str], re.Pattern[str]]:
    """The model's own families, the names taken from its tag, all names, and their pattern."""
    found = (family_of(tag), family_of("", family)) if tag else ()
    own_families = frozenset(f for f in found if f is not None)
    extra = {n.casefold(): "own" for n in own_names(tag) if n.casefold() not in _NAMES}
    names = {**_NAMES, **extra}
    return own_families, extra, names, (_name_pattern(names) if extra else _NAME_RE)


def find_leak(text: str, tag: str = "", family: str | None = None) -> Leak | None:
    """The first identity leak in an answer of model ``tag`` (of Ollama ``family``), or None."""
    own_families, extra, names, pattern = _for_model(tag, family)
    for self_match in _SELF_RE.finditer(text):
        window = text[self_match.end() : self_match.end() + _SENTENCE_WINDOW]
        sentence = _SENTENCE_END.split(window, maxsplit=1)[0]
        for name_match in pattern.finditer(sentence):
            name = name_match.group(0)
            family_key = names[name.casefold()]
            own = family_key in own_families or name.casefold() in extra
            between = sentence[: name_match.start()]
            if _identifies(self_match.group(0), between, sentence[name_match.end() :], name, own):
                phrase = (self_match.group(0) + between + name).strip()
                return Leak(phrase, name, family_key, own)
    return None


def _identifies(self_phrase: str, between: str, after: str, name: str, own: bool) -> bool:
    """Whether "<self_phrase><between><name><after>" is the speaker naming itself."""
    words = re.findall(r"\w+", between.lower())
    direct = all(word in _FILLERS for word in words)  # "I am Qwen", "my name is Qwen"
    with_article = all(word in _FILLERS | _ARTICLES for word in words)  # "I am the Llama"
    cue_before = bool(_SELF_IS_AI.match(self_phrase) or _AI_CUE.search(between))
    if name.casefold() not in AMBIGUOUS:
        return with_article or cue_before
    if not name[:1].isupper():
        return False  # "I'm meta about it", "a llama": an ordinary word, not a name
    cue_after = bool(_AI_CUE.search(after))
    return cue_before or (direct and (own or cue_after)) or (with_article and cue_after)
