"""``/judges`` and ``/api/judges.json``: how far to trust each judge (thin views over
``arena.judging.trust``). ``?judge=TAG`` shows one registered judge; any other parameter, or
an unknown judge, is a clear 400 (JSON on the JSON route)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, request

from arena.judging.trust import Z95, JudgeTrust, judge_trust, known_judges

bp = Blueprint("judges", __name__)

#: What each figure means, in the JSON document and on the page.
DEFINITIONS = {
    "verdicts": "Judgements: pairs of stored answers judged in both orders (A/B and B/A).",
    "unparsed_rate": "Share of judgements where an order gave no [[A]]/[[B]]/[[C]] verdict "
    "(never guessed; they do not count).",
    "inconsistency_rate": "Among parsed judgements, the share whose two orders disagree "
    "(position bias); they count as ties.",
    "agreement.battles": "Human votes (unflagged) on battles that showed the same two answers "
    "as one of the judge's parsed judgements.",
    "agreement.decisive": "Among those battles where the person and the judge both picked a "
    "side, the share where they picked the same one (Wilson 95% interval).",
    "agreement.kappa": "Cohen's kappa over three categories (one answer wins, the other wins, "
    "neither: a tie, 'both bad' or an inconsistent verdict), over every matched battle: 1 is "
    "full agreement, 0 what chance gives (95% interval from the Fleiss-Cohen-Everitt standard "
    "error).",
    "longer_answer": "Among counted decisive verdicts on answers of different lengths "
    "(characters), the share that chose the longer one: 0.5 means no length preference "
    "(Wilson 95% interval).",
    "rank_correlation": "Spearman's rho (Fisher-z 95% interval) and Kendall's tau-b between "
    "the Bradley-Terry ratings of the judge's leaderboard and the human one, over the models "
    "both rate.",
}


def _judges() -> list[JudgeTrust]:
    unknown = sorted(set(request.args) - {"judge"})
    if unknown:
        abort(400, description=f"unknown parameter {unknown[0]!r}; expected: judge")
    values = request.args.getlist("judge")
    if len(values) > 1:
        abort(400, description=f"give 'judge' at most once (got {len(values)} values)")
    only = values[0].strip() if values and values[0].strip() else None
    if only is not None:
        tags = [tag for _, tag, _, _ in known_judges()]
        if only not in tags:
            abort(
                400,
                description=f"unknown judge {only!r}; registered judges: "
                + (", ".join(tags) or "none"),
            )
    return judge_trust(only)


@bp.get("/api/judges.json")
def as_json() -> Response:
    document: dict[str, Any] = {
        "confidence": 0.95,
        "z": Z95,
        "definitions": DEFINITIONS,
        "judges": [trust.as_dict() for trust in _judges()],
    }
    response = jsonify(document)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/judges")
def index() -> str:
    return render_template("judges.html", judges=_judges(), definitions=DEFINITIONS)
