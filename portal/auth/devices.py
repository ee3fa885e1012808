""""Mijn sessies" (``/sessies``): the logged-in user's live sessions, one
per device, with "end this one" and "end all others" (OWASP ASVS 5.0
V7.5.2). Also the button that links a municipality's single sign-on to the
account (``portal.auth.sso``).

Ending *another* session asks who is at the keyboard first (ASVS 5.0
V7.5.2 / 4.0 V3.3.4: re-authentication before sessions are terminated; a
stolen session must not be able to throw the real owner out):

* an account with a password: the current password, with every request
  (``accounts.reauthenticate``: a wrong one counts as a failed login and
  the login throttle holds);
* an account without a password (made by single sign-on) has nothing to
  type: it may end other sessions within ``SSO_REAUTH_WINDOW`` seconds
  after presenting its credentials to its organisation, either at login or
  through the "confirm through your organisation" button on this page
  (``auth.oidc_reauth``: a new round at the provider with
  ``prompt=login``). A session restored from a remember cookie presented
  nothing and does not count.

Ending one's own current session is a logout and needs nothing.
"""

from __future__ import annotations

import time

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from ..errors import NotFound, ValidationFailed
from ..extensions import limiter
from ..services import accounts
from . import _login_limit, bp

#: Seconds after a login (or a confirmation) through the organisation during which an account
#: without a password may end its other sessions.
SSO_REAUTH_WINDOW = 300
#: The session key holding when (epoch seconds) the user last presented a credential.
REAUTH_KEY = "_reauth_at"


def reauth_is_fresh() -> bool:
    """True while the current session presented a credential (a login or a
    confirmation through the organisation) less than ``SSO_REAUTH_WINDOW``
    seconds ago."""
    at = session.get(REAUTH_KEY)
    return isinstance(at, int) and 0 <= int(time.time()) - at <= SSO_REAUTH_WINDOW


def reauthentication_errors(reason: str, sso_message: str) -> dict[str, list[str]] | None:
    """Has the user at the keyboard proved who they are for a sensitive
    action (OWASP ASVS 5.0 V7.5.1, V7.5.2)? ``None`` when they have; else
    the errors to show, ``{"current_password": [...]}``.

    An account with a password must type it (``current_password`` in the
    posted form; a wrong one counts as a failed login, audited
    ``auth.reauth_failed`` with ``purpose=reason``). An account without one
    must have presented a credential (a login, or a confirmation through
    its organisation) within ``SSO_REAUTH_WINDOW``; ``sso_message`` says
    what to do otherwise."""
    if accounts.has_password(current_user):
        try:
            accounts.reauthenticate(current_user, request.form.get("current_password", ""),
                                    field="current_password", reason=reason)
        except ValidationFailed as exc:
            return exc.errors
        return None
    if reauth_is_fresh():
        return None
    return {"current_password": [sso_message]}


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
                           tenants=tenants, linkable=[(k, t) for k, t in tenants.items() if k not in linked],
                           needs_password=accounts.has_password(current_user), reauth_fresh=reauth_is_fresh(),
                           reauth_tenants=[(k, tenants[k]) for k in sorted(linked) if k in tenants],
                           reauth_minutes=SSO_REAUTH_WINDOW // 60), status


def _check_reauthentication():
    """None when the user may end another session now (see the module
    docstring), else the page to answer with (400, the reason shown)."""
    errors = reauthentication_errors("session_end", _(
        "Bevestig eerst via uw organisatie dat u het bent; daarna kunt u %(n)s minuten lang sessies "
        "beëindigen.", n=SSO_REAUTH_WINDOW // 60))
    if errors is None:
        return None
    for message in errors["current_password"]:
        flash(message, "error")
    return _sessions_page(400)


@bp.route("/sessies")
@login_required
def sessions():
    return _sessions_page()


@bp.route("/sessies/<int:session_id>/beeindigen", methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda response: response.status_code == 400)
@login_required
def end_session(session_id: int):
    """End one of one's own sessions (the current one too: that is a
    logout). Another session needs re-authentication first."""
    if not FlaskForm().validate_on_submit():
        flash(_("Het formulier is verlopen; probeer het opnieuw."), "error")
        return _sessions_page(400)
    if session_id != g.get("device_session_id") and (refused := _check_reauthentication()) is not None:
        return refused
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
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda response: response.status_code == 400)
@login_required
def end_other_sessions():
    """End every other session of the user, after re-authentication."""
    if not FlaskForm().validate_on_submit():
        flash(_("Het formulier is verlopen; probeer het opnieuw."), "error")
        return _sessions_page(400)
    if (refused := _check_reauthentication()) is not None:
        return refused
    n = accounts.end_other_device_sessions(current_user, g.get("device_session_id"))
    flash(_("%(n)s andere sessies beëindigd.", n=n), "success")
    return redirect(url_for("auth.sessions"))
