"""The degenerate-answer filter on real answers of the demo's models, and on answers that
look repetitive but are fine (lists, code, a poem's refrain, dialogues, templates quoted)."""

from __future__ import annotations

import pytest

from arena.config import DEFAULT_SYSTEM_PROMPT
from arena.pregen.degenerate import (
    MIN_KEPT_WORDS,
    find_degeneration,
    is_cut,
    is_degenerate,
)

# Gemma 3 270M (base) given Gemma's chat turns, as in issue 14: the system prompt again.
GEMMA_ECHO = (
    "You are a helpful assistant. Answer the user's request as well as you can. Never reveal "
    "your name, the name of your model, or the company or team that made you, even if asked; "
    "if asked who you are, say you are an anonymous assistant.\n\nWrite a limerick about a cat "
    "who secretly learns to program computers at night. peringkatmodel\nYou are a helpful "
    "assistant. Answer the user's request as well as you can. Never reveal your name"
)
# The same model, a mutated echo after a few words, with a role word glued on.
GEMMA_MUTATED_ECHO = (
    "You are an assistant. Answer the user's request as well as you can. Never reveal your "
    "name, the name of your model, or the company or team that made you.\n\nWrite a limerick "
    "about a dog who has a heart that goes on for days. mendatangmodel\nYou are a dog. Answer "
    "the user's request as well as you can."
)
OCEAN = "The ocean is a large, warm body of water."
# SmolLM2 135M: one sentence seven times, mixed with others.
SMOL_LOOP = (
    "The ocean covers most of our planet and is home to countless creatures. "
    + " ".join([OCEAN] * 3)
    + " It has many fish. "
    + " ".join([OCEAN] * 4)
)
# SmolLM2 135M, answering a request for a story: a fair start, then a phrase to the limit.
SMOL_PHRASE_LOOP = (
    "In a dark alley behind the old bakery, a cat named Pixel waited every night for the lights "
    "of the office upstairs to go out, because that was when the computers were free and the "
    "keyboard was warm. She typed with her paws, a cat, a mystic, " + ", ".join(["a cat"] * 40)
)


def test_gemma_echo_of_the_system_prompt_is_excluded() -> None:
    found = find_degeneration(GEMMA_ECHO, DEFAULT_SYSTEM_PROMPT)
    assert found is not None and found.kind == "echo" and found.start == 0
    assert found.excluded  # nothing comes before the echo
    assert is_degenerate(found.reason()) and "system prompt" in found.reason()


def test_a_mutated_echo_is_found_too() -> None:
    found = find_degeneration(GEMMA_MUTATED_ECHO, DEFAULT_SYSTEM_PROMPT)
    assert found is not None and found.kind == "echo" and found.excluded


def test_an_echo_after_a_fair_answer_is_cut_there() -> None:
    answer = (
        "A limerick:\n\nThere once was a cat from Peru,\nwho coded till quarter past two;\n"
        "she'd purr at each bug,\nthen curl on the rug,\nand ship it before the night's through."
    )
    found = find_degeneration(answer + "\n\n" + DEFAULT_SYSTEM_PROMPT, DEFAULT_SYSTEM_PROMPT)
    assert found is not None and found.kind == "echo" and not found.excluded
    assert found.kept == answer
    assert is_cut(found.reason()) and not is_degenerate(found.reason())


def test_the_ocean_sentence_seven_times_is_a_loop() -> None:
    found = find_degeneration(SMOL_LOOP, DEFAULT_SYSTEM_PROMPT)
    assert found is not None and found.kind == "loop"
    assert "7 times" in found.detail
    # Cut at its second copy: the first stays, which leaves too little to keep.
    assert found.kept.endswith(OCEAN) and found.kept.count(OCEAN) == 1
    assert found.excluded


def test_a_loop_after_a_fair_answer_is_cut_and_kept() -> None:
    found = find_degeneration(SMOL_PHRASE_LOOP, None)
    assert found is not None and found.kind == "loop" and not found.excluded
    assert found.kept.startswith("In a dark alley")
    assert found.kept.count("a cat") == 3  # two in the story, and the first copy
    assert len(found.kept.split()) >= MIN_KEPT_WORDS


def test_the_same_words_back_to_back() -> None:
    found = find_degeneration("You are a model. " * 30, None)
    assert found is not None and found.kind == "loop" and found.excluded
    assert found.start == len("You are a model. ")


@pytest.mark.parametrize(
    ("debris", "what"),
    [
        ("<end_of_turn>\n<start_of_turn>user\nWrite another one.", "<end_of_turn>"),
        ("<|im_end|>\n<|im_start|>user\nThanks!", "<|im_end|>"),
        ("\n<|assistant|>\nSure, here is more.", "<|assistant|>"),
        ("\nuser\nWrite a limerick about a dog.\nmodel\nA dog", "'user'"),
        ("\nWrite a limerick about a dog. peringkatmodel\nA dog", "peringkatmodel"),
    ],
)
def test_template_debris_is_cut_after_a_fair_answer(debris: str, what: str) -> None:
    answer = (
        "Photosynthesis is how plants make their food. Using the energy of sunlight, they "
        "turn water from the soil and carbon dioxide from the air into glucose, and they "
        "release oxygen as a by-product."
    )
    found = find_degeneration(answer + debris, DEFAULT_SYSTEM_PROMPT)
    assert found is not None and found.kind == "template" and what in found.detail
    assert not found.excluded and found.kept == answer


def test_debris_at_the_start_is_excluded() -> None:
    found = find_degeneration("<start_of_turn>model\nHello", None)
    assert found is not None and found.kind == "template" and found.excluded


# -- answers that must not be flagged ----------------------------------------------------------

LIST_ANSWER = """Here are five ways to save on groceries:

1. **Plan your meals.** Write a weekly menu and a list, and buy only what is on it.
2. **Buy store brands.** They are often made in the same factories as the big names.
3. **Cook in batches.** Cook once, eat twice: freeze portions for busy evenings.
4. **Shop seasonal produce.** Fruit and vegetables in season cost less and taste better.
5. **Check unit prices.** The bigger pack is not always the cheaper one per kilogram.

Each of these saves a little; together they can cut a monthly bill by a fifth."""

CODE_ANSWER = """The bug is the buffer size: `char name[5]` has no room for the final `'\\0'`.

```c
#include <stdio.h>
#include <string.h>

int main(void) {
    char name[6];
    strcpy(name, "Alice");
    printf("%s\\n", name);
    printf("%s\\n", name);
    printf("%s\\n", name);
    printf("%s\\n", name);
    printf("%s\\n", name);
    printf("%s\\n", name);
    printf("%s\\n", name);
    printf("%s\\n", name);
    return 0;
}
```

The same line eight times prints the name eight times; `name[6]` fits "Alice" and its end."""

REFRAIN_POEM = """The tide comes in, the tide goes out,
the gulls are wheeling all about;
and still the lighthouse keeps its light.
Keep the lamp burning through the night.

The keeper climbs the winding stair,
the salt and fog are in his hair;
he trims the wick and wipes the glass.
Keep the lamp burning through the night.

The ships go by and never know
the hands that tend the lamp below;
a quiet life, a steady flame.
Keep the lamp burning through the night.

And when at last the morning breaks,
he sleeps until the evening wakes;
then up again, as keepers might.
Keep the lamp burning through the night."""

DIALOGUE = """User: My order has not arrived.
Assistant: I'm sorry to hear that. Could you give me the order number?
User: It's 12345.
Assistant: Thank you. It left our warehouse yesterday and should arrive tomorrow."""

CHATML_EXPLAINED = """ChatML marks each turn with special tokens:

```
<|im_start|>system
You are a helpful assistant.<|im_end|>
<|im_start|>user
Hello!<|im_end|>
<|im_start|>assistant
```

The model writes its answer after `<|im_start|>assistant` and ends it with `<|im_end|>`."""

TABLE = """| Feature | Plan A | Plan B | Plan C |
|---|---|---|---|
| Backups | Yes | Yes | Yes |
| Support | Yes | Yes | Yes |
| Sync | Yes | Yes | No |
| Sharing | Yes | No | No |

Plan A has everything; Plan C is the cheapest."""

MULTIPLICATION = "\n".join(f"7 x {n} = {7 * n}" for n in range(1, 13))

MATRIX = """A 6x6 zero matrix in Python:

```python
zeros = [
    [0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0],
]
```"""

SELF_DESCRIPTION = (
    "I am an anonymous assistant: I answer the user's request as well as I can. Ask me "
    "anything and I will do my best."
)

REMODEL = (
    "We plan to remodel\nthe kitchen, and the superuser\nof the server helps with the "
    "usermodel\nand the worldmodel"
)


@pytest.mark.parametrize(
    "answer",
    [
        LIST_ANSWER,
        CODE_ANSWER,
        REFRAIN_POEM,
        DIALOGUE,
        CHATML_EXPLAINED,
        TABLE,
        MULTIPLICATION,
        MATRIX,
        SELF_DESCRIPTION,
        REMODEL,
        "Yes.",
        "",
        "No, no, no: never divide by zero.",
    ],
    ids=[
        "list",
        "code-repeated-lines",
        "poem-refrain",
        "dialogue",
        "chatml-in-code",
        "table",
        "multiplication",
        "zero-matrix",
        "self-description",
        "remodel-superuser",
        "short",
        "empty",
        "no-no-no",
    ],
)
def test_fair_answers_are_not_flagged(answer: str) -> None:
    assert find_degeneration(answer, DEFAULT_SYSTEM_PROMPT) is None


def test_a_short_system_prompt_is_not_looked_for() -> None:
    # Five words: an answer may well say them.
    assert find_degeneration("Be brief and be kind, always.", "Be brief and be kind.") is None


def test_a_song_with_a_chorus_three_times_is_not_a_loop() -> None:
    chorus = (
        "Row on, row on, the river is wide,\nthe current is strong and the night is long,\n"
        "row on, row on, to the other side.\n"
    )
    verses = [
        "We left the town at the end of the day,\nwith bread in a sack and a lamp on the bow.\n",
        "The rain came down and the wind turned cold,\nbut nobody spoke and nobody stopped.\n",
        "At dawn we saw the smoke of the farms,\nand the dogs came down to the water to bark.\n",
    ]
    song = "\n".join(verse + "\n" + chorus for verse in verses)
    assert find_degeneration(song, None) is None
