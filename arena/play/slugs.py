"""Model slugs: the ``<slug>`` of ``/models/<slug>``, derived from the tag.

A slug is the tag in lower case with every run of other characters than ASCII letters and
digits made one ``-`` (``qwen2.5:0.5b-instruct`` -> ``qwen2-5-0-5b-instruct``). Two tags may
give the same slug (``a:b`` and ``a-b``): the model registered first (lowest id) keeps it, the
others get their id appended (``a-b-7``). Models are never deleted, so a slug never changes
once given; a model registered later never takes an older model's slug.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from arena.extensions import db
from arena.models import Model

_OTHER = re.compile(r"[^a-z0-9]+")


def base_slug(tag: str) -> str:
    """The tag in lower case, other characters than ASCII letters and digits as single ``-``;
    ``model`` when nothing is left."""
    return _OTHER.sub("-", tag.lower()).strip("-") or "model"


def assign_slugs(models: list[tuple[int, str]]) -> dict[int, str]:
    """Model id -> unique slug, for (id, tag) pairs; the lower id keeps a shared slug."""
    slugs: dict[int, str] = {}
    taken: set[str] = set()
    for model_id, tag in sorted(models):
        slug = base_slug(tag)
        while slug in taken:
            slug = f"{slug}-{model_id}"
        taken.add(slug)
        slugs[model_id] = slug
    return slugs


def _tags() -> dict[int, str]:
    """Every registered model's tag, by id (one small query over the models)."""
    return {model_id: tag for model_id, tag in db.session.execute(select(Model.id, Model.tag))}


def model_slugs() -> dict[int, str]:
    """Every registered model's slug, by id."""
    return assign_slugs(list(_tags().items()))


def slugs_by_tag() -> dict[str, str]:
    """Every registered model's slug, by tag (what leaderboard rows name a model by)."""
    tags = _tags()
    return {tags[model_id]: slug for model_id, slug in assign_slugs(list(tags.items())).items()}


def model_by_slug(slug: str) -> Model | None:
    """The model whose slug this is, or None."""
    for model_id, candidate in model_slugs().items():
        if candidate == slug:
            return db.session.get(Model, model_id)
    return None
