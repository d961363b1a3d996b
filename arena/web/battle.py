"""The battle page: two anonymous answers, a vote, then the reveal."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as WerkzeugResponse

from arena.backends.configured import ProbeResult, backend_specs, probe_cached
from arena.play import battles
from arena.pregen import fill_state
from arena.web.session import current_focus, current_voter, spend_focus

bp = Blueprint("battle", __name__)

VOTE_LABELS = {
    "a": "A is better",
    "b": "B is better",
    "tie": "Tie",
    "both_bad": "Both are bad",
}


@bp.get("/")
def index() -> str | tuple[str, int]:
    voter = current_voter()
    focus = current_focus()  # the picker's "settle it": nothing of it shows on the page
    battle = battles.serve_battle(voter, focus=focus)
    if battle is not None and focus:
        spend_focus()
    coming = fill_state.coming(current_app.instance_path, voter)  # the demo fills its pool
    if battle is None:
        empty = battles.explain_empty_pool(voter)
        probe = probe_cached()  # the last check: no backend is contacted on every view
        problem = probe.problem if probe.checked_at is not None else None
        page = render_template(
            "empty.html",
            empty=empty,
            coming=coming,
            servers=unreachable_heading(probe),
            servers_problem=problem,
            servers_age=probe.age_seconds(),
        )
        return page, 200
    return render_template("battle.html", battle=battle, labels=VOTE_LABELS, coming=coming)


def unreachable_heading(probe: ProbeResult) -> str:
    """The heading over the backends' problem, naming the configured backends that failed
    (Ollama only when an Ollama backend is configured)."""
    problems = probe.problems or {}
    failed = [spec for spec in backend_specs() if problems.get(spec.name)]
    names = [
        "Ollama" if spec.kind == "ollama" and spec.name == "ollama" else repr(spec.name)
        for spec in failed
    ]
    if not names:
        return "The model servers could not be checked"
    if len(names) == 1:
        prefix = "" if names[0] == "Ollama" else "The model server "
        return f"{prefix}{names[0]} is unreachable"
    return f"The model servers {', '.join(names)} are unreachable"


@bp.post("/vote")
def vote() -> WerkzeugResponse:
    voter = current_voter()
    battle_id = request.form.get("battle_id", "")
    outcome = request.form.get("outcome", "")
    try:
        battles.record_vote(
            battle_id, voter, outcome, battles.VoteRules.from_config(current_app.config)
        )
    except battles.BattleError as error:
        abort(error.status, description=str(error))
    return redirect(url_for("battle.show", battle_id=battle_id), code=303)


@bp.get("/battle/<battle_id>")
def show(battle_id: str) -> str:
    """The voter's own battle: the vote form while open, the reveal once voted."""
    try:
        battle = battles.get_battle(battle_id, current_voter())
    except battles.BattleError as error:
        abort(error.status, description=str(error))
    return render_template("battle.html", battle=battles.battle_view(battle), labels=VOTE_LABELS)
