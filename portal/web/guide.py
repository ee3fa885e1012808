"""'Waar staat u?' (issue #9): the guided entry through the handreiking's
phases and sub-steps, and a municipality's own progress through them."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from .. import permissions, taxonomy
from ..errors import ValidationFailed
from ..extensions import db
from ..models import PROGRESS_STATES, Municipality
from ..services import guide as guide_service

bp = Blueprint("guide", __name__)


def _page(errors: dict | None = None, typed: dict | None = None, status: int = 200):
    """Render the guide for the current visitor; ``typed`` (``{"step",
    "state"}``) is a refused form's choice, shown checked again."""
    user = current_user if current_user.is_authenticated else None
    municipality = getattr(user, "municipality", None)
    may_mark = permissions.can_mark_progress(user, municipality)
    states = guide_service.progress_of(municipality if may_mark else None)
    if typed and typed.get("step") in states:
        states[typed["step"]] = typed.get("state", "")
    steps = guide_service.steps()
    helpers = {key: guide_service.helpers(current_user, key) for _p, key, _l in steps}
    if user is not None:  # the privacy audit (issue #5): key figures named on this page
        from ..services.people import record_profiles_shown

        record_profiles_shown(user, [i for h in helpers.values() for i in h.get("people_ids", [])], "guide")
    questions = {p: guide_service.questions_for_phase(current_user, p) for p in taxonomy.BUILTIN["phase"]}
    headers = {"Cache-Control": "private, no-store"} if user else {}
    return render_template(
        "guide/index.html", steps=steps, phases=list(taxonomy.BUILTIN["phase"]), helpers=helpers,
        questions=questions, key_questions=guide_service.KEY_QUESTIONS, states=states,
        state_labels=PROGRESS_STATES, may_mark=may_mark, municipality=municipality if may_mark else None,
        upcoming=guide_service.next_step(states), errors=errors or {},
    ), status, headers


@bp.route("/waar-staat-u")
def index():
    return _page()


@bp.route("/waar-staat-u/voortgang", methods=["POST"])
@login_required
def mark():
    """Record where the member's municipality stands on one sub-step. The
    municipality comes from the form and must be the member's own (403 otherwise)."""
    code = request.form.get("municipality", "").strip().upper()[:6]
    step = request.form.get("step", "")[:10]
    state = request.form.get("state", "")[:20]
    municipality = db.session.scalar(select(Municipality).where(Municipality.cbs_code == code)) if code else None
    try:
        guide_service.set_progress(current_user, municipality, step, state)
    except ValidationFailed as exc:
        db.session.rollback()
        return _page(errors=exc.errors, typed={"step": step, "state": state}, status=400)
    flash(_("Opgeslagen: stap %(step)s staat op '%(state)s'.", step=step, state=_(PROGRESS_STATES[state]).lower()),
          "success")
    return redirect(url_for("guide.index") + f"#stap-{step.replace('.', '-')}")
