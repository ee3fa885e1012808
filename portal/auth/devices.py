""""Mijn sessies" (``/sessies``): the logged-in user's live sessions, one
per device, with "end this one" and "end all others" (OWASP ASVS 5.0
V7.5.2). Also the button that links a municipality's single sign-on to the
account (``portal.auth.sso``)."""

from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from ..errors import NotFound
from ..services import accounts
from . import bp


def _sessions_page(status: int = 200):
    from sqlalchemy import select

    from ..extensions import db
    from ..models import UserIdentity

    rows = accounts.list_device_sessions(current_user, idle=current_app.config["IDLE_TIMEOUT"],
                                         absolute=current_app.config["ABSOLUTE_TIMEOUT"])
    identities = list(db.session.scalars(select(UserIdentity).where(UserIdentity.user_id == current_user.id)
                                         .order_by(UserIdentity.id)))
    tenants = current_app.config.get("OIDC_TENANTS") or {}
    linked = {i.tenant for i in identities}
    return render_template("auth/sessions.html", rows=rows, current_id=g.get("device_session_id"),
                           describe=accounts.describe_user_agent, form=FlaskForm(), identities=identities,
                           tenants=tenants, linkable=[(k, t) for k, t in tenants.items() if k not in linked]), status


@bp.route("/sessies")
@login_required
def sessions():
    return _sessions_page()


@bp.route("/sessies/<int:session_id>/beeindigen", methods=["POST"])
@login_required
def end_session(session_id: int):
    """End one of one's own sessions (the current one too: that is a logout)."""
    if not FlaskForm().validate_on_submit():
        flash(_("Het formulier is verlopen; probeer het opnieuw."), "error")
        return _sessions_page(400)
    try:
        accounts.end_device_session(current_user, session_id)
    except NotFound as exc:
        flash(str(exc), "error")
        return _sessions_page(404)
    if session_id == g.get("device_session_id"):
        return redirect(url_for("web.home"))
    flash(_("De sessie is beëindigd."), "success")
    return redirect(url_for("auth.sessions"))


@bp.route("/sessies/andere-beeindigen", methods=["POST"])
@login_required
def end_other_sessions():
    if not FlaskForm().validate_on_submit():
        flash(_("Het formulier is verlopen; probeer het opnieuw."), "error")
        return _sessions_page(400)
    n = accounts.end_other_device_sessions(current_user, g.get("device_session_id"))
    flash(_("%(n)s andere sessies beëindigd.", n=n), "success")
    return redirect(url_for("auth.sessions"))
