"""Query parameters shared by the leaderboard pages and the downloads, validated once."""

from __future__ import annotations

from flask import abort, current_app, request

from arena.leaderboard.filters import FilterError, Filters, parse_filters, parse_sort_arg


def request_filters(*, allow_sort: bool) -> tuple[Filters, str]:
    """The validated filters (and sort) of this request; a clear 400 otherwise."""
    bounds = current_app.config["SIZE_CLASS_BOUNDS_B"]
    try:
        filters = parse_filters(request.args, bounds, allowed=("sort",) if allow_sort else ())
        sort = parse_sort_arg(request.args) if allow_sort else "bt"
    except FilterError as error:
        abort(400, description=str(error))
    return filters, sort
