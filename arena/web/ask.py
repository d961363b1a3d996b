"""A visitor's own prompt: the form, the waiting page (and its JSON), then the battle.

The web only queues and reports; the worker generates. The waiting page reloads itself with
``<meta http-equiv="refresh">`` (no JavaScript needed); ``static/ask.js`` polls the JSON
instead when scripts run. No web worker is held while the answers are generated.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as WerkzeugResponse

from arena.ops.heartbeat import worker_running
from arena.play import battles, visitors
from arena.play.prompts import PromptError
from arena.web.limits import client_address
from arena.web.session import current_voter

bp = Blueprint("ask", __name__)


def _form(error: str | None = None, text: str = "", status: int = 200) -> tuple[str, int]:
    page = render_template(
        "ask.html",
        error=error,
        text=text,
        max_chars=int(current_app.config["PROMPT_MAX_CHARS"]),
        worker=worker_running(current_app.config),
        shared=bool(current_app.config.get("VISITOR_PROMPTS_SHARED")),
    )
    return page, status


@bp.get("/ask")
def form() -> tuple[str, int]:
    return _form()


@bp.post("/ask")
def submit() -> WerkzeugResponse | tuple[str, int]:
    voter = current_voter()
    text = request.form.get("prompt", "")
    try:
        queued = visitors.submit(voter, text, current_app.config, address=client_address())
    except PromptError as error:
        return _form(f"Your prompt was not queued: {error}.", text, 400)
    except visitors.AlreadyWaiting as waiting:
        return redirect(url_for("ask.wait", request_id=waiting.request_id, already=1), code=303)
    except visitors.VisitorError as error:
        return _form(f"Your prompt was not queued: {error}.", text, error.status)
    return redirect(url_for("ask.wait", request_id=queued.id), code=303)


def _own_request(request_id: str) -> visitors.VisitorRequest:
    try:
        return visitors.get_request(request_id, current_voter())
    except visitors.VisitorError as error:
        abort(error.status, description=str(error))


@bp.get("/ask/<request_id>")
def wait(request_id: str) -> WerkzeugResponse | str:
    """The waiting page; once both answers are stored, the visitor's battle."""
    queued = _own_request(request_id)
    if queued.status == "done":
        if queued.battle_id is None:
            battle = battles.serve_battle(queued.voter, prompt_id=queued.prompt_id)
            if battle is not None:
                visitors.attach_battle(queued, battle.id)
        if queued.battle_id is not None:
            return redirect(url_for("battle.show", battle_id=queued.battle_id), code=303)
    status = visitors.queue_status(queued)
    return render_template(
        "ask_wait.html",
        status=status,
        no_battle=queued.status == "done" and visitors.battle_overdue(queued),
        prompt_html=queued.prompt.html if queued.prompt else "",
        worker=worker_running(current_app.config),
        refresh=int(current_app.config["VISITOR_REFRESH_SECONDS"]),
        already=bool(request.args.get("already")),
    )


@bp.get("/ask/<request_id>.json")
def wait_json(request_id: str) -> Response:
    queued = _own_request(request_id)
    data = visitors.queue_status(queued).to_json()
    data["worker_running"] = worker_running(current_app.config)
    data["url"] = url_for("ask.wait", request_id=queued.id)
    response = jsonify(data)
    response.headers["Cache-Control"] = "no-store"
    return response
