"""Query parameters shared by the leaderboard pages and the downloads, validated once."""

from __future__ import annotations

from collections.abc import Iterable

from flask import abort, current_app, request

from arena.leaderboard.exports import VOTE_PAGE_PARAMS, VotePage, parse_vote_page
from arena.leaderboard.filters import FilterError, Filters, parse_filters, parse_sort_arg


def request_filters(
    *, allow_sort: bool, extra: Iterable[str] = (), sources: bool = False
) -> tuple[Filters, str]:
    """The validated filters (and sort) of this request; a clear 400 otherwise.

    ``extra`` names other parameters the caller reads itself; any other name is refused.
    ``sources`` accepts ``source`` (human, judge, judge:TAG: the leaderboard's routes).
    """
    bounds = current_app.config["SIZE_CLASS_BOUNDS_B"]
    allowed = (*extra, "sort") if allow_sort else tuple(extra)
    try:
        filters = parse_filters(request.args, bounds, allowed=allowed, sources=sources)
        sort = parse_sort_arg(request.args) if allow_sort else "bt"
    except FilterError as error:
        abort(400, description=str(error))
    return filters, sort


def request_vote_page() -> tuple[Filters, VotePage]:
    """The filters and the page (``limit``, ``after``, ``answers``) of a vote log request;
    a clear 400 otherwise."""
    filters, _ = request_filters(allow_sort=False, extra=VOTE_PAGE_PARAMS)
    try:
        page = parse_vote_page(request.args)
    except FilterError as error:
        abort(400, description=str(error))
    return filters, page
