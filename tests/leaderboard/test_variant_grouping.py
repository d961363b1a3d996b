"""sort=model: the contestants of one backend model (a model and its variants) together."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from arena.leaderboard import Board, sorted_rows


def _row(model: str, base: str, bt: float, rank: int) -> dict[str, Any]:
    return {"model": model, "base_model": base, "bt": bt, "rank": rank, "group": 1,
            "score": 0.5, "battles": 10, "elo": bt}  # fmt: skip


def test_variants_sit_under_their_model_in_rating_order() -> None:
    rows = [
        _row("a:1b", "a:1b", 1100, 1),
        _row("b:1b", "b:1b", 1050, 2),
        _row("a:1b~cold", "a:1b", 1000, 3),
        _row("b:1b~warm", "b:1b", 990, 4),
        _row("a:1b~hot", "a:1b", 900, 6),
        _row("c:1b~only", "c:1b", 950, 5),
    ]
    board = cast(Board, SimpleNamespace(rows=rows))
    by_bt = [row["model"] for row in sorted_rows(board, "bt")]
    assert by_bt == ["a:1b", "b:1b", "a:1b~cold", "b:1b~warm", "c:1b~only", "a:1b~hot"]
    by_model = [row["model"] for row in sorted_rows(board, "model")]
    assert by_model == ["a:1b", "a:1b~cold", "a:1b~hot", "b:1b", "b:1b~warm", "c:1b~only"]
