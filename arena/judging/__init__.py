"""Batch evaluation: local models judging stored pairs of answers, both orders, at night.

Judges are registered models (:mod:`arena.judging.judges`); the batch
(:mod:`arena.judging.batch`) plans the pairs least certain on the leaderboard first and
writes one :class:`~arena.models.judges.Judgement` per pair, whole, after both orders.
"""
