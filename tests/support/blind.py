"""Blind battles in tests: a voter's history kept by the test itself, to check every battle
served against it, and a pool of full slates written straight to the database."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask
from sqlalchemy import update

from arena.extensions import db
from arena.models import Battle, Model, Prompt, Response, prompt_hash
from arena.rendering import RENDER_VERSION, render_markdown


@dataclass
class Witness:
    """What one voter was shown, as the test saw it: answers served, models named per prompt."""

    served: set[int] = field(default_factory=set)
    revealed: set[tuple[int, int]] = field(default_factory=set)
    battles: int = 0

    def check(self, app: Flask, battle_id: str) -> tuple[int, int, int]:
        """Assert the battle breaks no rule; record it as served; (prompt, model, model)."""
        with app.app_context():
            battle = db.session.get_one(Battle, battle_id)
            sides = [(battle.left_response_id, battle.left.model_id)]
            sides.append((battle.right_response_id, battle.right.model_id))
            prompt = battle.prompt_id
        for response, model in sides:
            assert response not in self.served, f"answer {response} shown a second time"
            assert (prompt, model) not in self.revealed, (
                f"model {model} was already revealed on prompt {prompt}"
            )
        assert sides[0][1] != sides[1][1]
        self.served.update(response for response, _ in sides)
        self.battles += 1
        return prompt, sides[0][1], sides[1][1]

    def voted(self, prompt: int, a: int, b: int) -> None:
        self.revealed.update({(prompt, a), (prompt, b)})


def slate_pool(app: Flask, n_models: int, n_prompts: int) -> tuple[list[int], list[int]]:
    """Models s0..s{n-1}, each with one usable answer to each of ``n_prompts`` prompts (the
    only shared prompts: the bank is moved out of the pool)."""
    with app.app_context():
        db.session.execute(update(Prompt).values(shared=False))
        models = [
            Model(tag=f"s{i}:1b", display_name=f"Slate model {i}", params_b=1.0)
            for i in range(n_models)
        ]
        prompts = [
            Prompt(text=f"slate question {i}", text_hash=prompt_hash(f"slate question {i}"))
            for i in range(n_prompts)
        ]
        db.session.add_all(models + prompts)
        db.session.flush()
        html = str(render_markdown("A stored answer."))  # rendered, as pre-generation does
        db.session.add_all(
            Response(
                prompt_id=p.id,
                model_id=m.id,
                text="A stored answer.",
                html=html,
                html_version=RENDER_VERSION,
            )
            for m in models
            for p in prompts
        )
        db.session.commit()
        return [m.id for m in models], [p.id for p in prompts]
