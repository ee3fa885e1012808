"""Single sign-on with a municipality's identity provider through OpenID
Connect (issue #7; OWASP ASVS 5.0 V10.1, V10.5, V10.6), with Authlib.

Authorization code flow with ``state`` (kept in the signed session, checked
by Authlib), ``nonce`` (checked against the ID token) and PKCE ``S256``
(the verifier goes to the token endpoint; the provider checks it). The ID
token's signature is checked against the provider's JWKS and ``iss`` (the
tenant's configured issuer, also required of the discovery document),
``aud`` (our client id), ``exp`` and ``iat`` are checked. Only tenants on
the allow-list (``OIDC_TENANTS``, from ``PORTAL_OIDC_*``) exist. The
account is found by ``(issuer, subject)``: ``accounts.sso_user`` (which
also lets a never-confirmed self sign-up of the same address give way).

Three kinds of round trip share the callback: a login, linking an identity
to the logged-in account (``/sessies/koppelen/<tenant>``), and a
re-authentication of the logged-in account (``/sessies/bevestigen/<tenant>``,
sent with ``prompt=login``) before an account without a password ends
other sessions (``portal.auth.devices``).
"""

from __future__ import annotations

import logging
import threading
import time

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from .. import links
from ..extensions import db
from ..models import User
from ..services import accounts
from . import _fresh_session, _token_digest, bp, safe_next

log = logging.getLogger("portal")
_LOCK = threading.Lock()
_PENDING = "_oidc_pending"
#: The provider must answer within this time (seconds) per request.
HTTP_TIMEOUT = 10
#: Signature algorithms accepted for ID tokens (no ``none``, no HMAC with a public key).
ID_TOKEN_ALGORITHMS = ("RS256", "PS256", "ES256")
#: Clock skew allowed on ``exp`` and ``iat`` (seconds).
LEEWAY = 60


def _tenant(key: str) -> dict:
    tenant = (current_app.config.get("OIDC_TENANTS") or {}).get(key)
    if tenant is None:
        abort(404)
    return tenant


def _client(key: str):
    """The Authlib client of tenant ``key`` in this app (registered once)."""
    from authlib.integrations.flask_client import OAuth

    tenant = _tenant(key)
    with _LOCK:
        oauth = current_app.extensions.get("portal_oidc")
        if oauth is None:
            oauth = current_app.extensions["portal_oidc"] = OAuth(current_app)
        client = oauth.create_client(key)
        if client is None:
            client = oauth.register(
                name=key, client_id=tenant["client_id"], client_secret=tenant["client_secret"],
                server_metadata_url=tenant["discovery_url"],
                client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256",
                               "default_timeout": HTTP_TIMEOUT})
    return client, tenant


def _begin(key: str, link_uid: int | None, reauth_uid: int | None = None):
    """Send the browser to tenant ``key``'s provider: a login, a link to
    the account ``link_uid``, or a re-authentication of the logged-in
    account ``reauth_uid`` (``prompt=login``: the provider asks again)."""
    client, tenant = _client(key)
    back = "auth.sessions" if (link_uid or reauth_uid) else "auth.login"
    try:
        metadata = client.load_server_metadata()
    except Exception:  # the provider is unreachable or answers nonsense
        log.exception("OIDC discovery failed for tenant %s", key)
        flash(_("De inlogdienst van de gemeente is nu niet bereikbaar. Probeer het later opnieuw."), "error")
        return redirect(url_for(back))
    if metadata.get("issuer") != tenant["issuer"]:
        log.error("OIDC tenant %s: discovery issuer %r is not the configured one", key, metadata.get("issuer"))
        flash(_("Deze inlog wordt niet vertrouwd."), "error")
        return redirect(url_for(back))
    session[_PENDING] = {"tenant": key, "link": link_uid, "reauth": reauth_uid, "at": int(time.time()),
                         "next": safe_next(request.args.get("next")) or ""}
    # the one link rule (portal.links): PORTAL_BASE_URL, never the visitor's Host header
    callback = links.external_url("auth.oidc_callback", tenant=key)
    if not callback.startswith(("https://", "http://")):  # production without BASE_URL: check-deploy says so
        log.error("OIDC tenant %s: PORTAL_BASE_URL is not set; no redirect_uri can be built", key)
        flash(_("De inlogdienst van de gemeente is nu niet bereikbaar. Probeer het later opnieuw."), "error")
        return redirect(url_for(back))
    if reauth_uid:
        # OpenID Connect Core 1.0, 3.1.2.1: prompt=login asks the provider to ask for the credentials
        # again; max_age=0 makes auth_time a required claim, checked in _finish_reauth
        return client.authorize_redirect(callback, prompt="login", max_age=0)
    return client.authorize_redirect(callback)


@bp.route("/inloggen/sso/<tenant>", methods=["POST"])
def oidc_start(tenant: str):
    """Log in through the tenant's identity provider (a button on the login page)."""
    if not FlaskForm().validate_on_submit():
        flash(_("Het formulier is verlopen; probeer het opnieuw."), "error")
        return redirect(url_for("auth.login"))
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    return _begin(tenant, None)


@bp.route("/sessies/koppelen/<tenant>", methods=["POST"])
@login_required
def oidc_link(tenant: str):
    """Link the tenant's single sign-on to the logged-in account, after the
    user proved who is at the keyboard (OWASP ASVS 5.0 V7.5.1: a new way to
    log in is added only after re-authentication): the current password
    (``current_password``; a wrong one counts as a failed login), or, for an
    account without a password, a confirmation through the organisation
    within ``devices.SSO_REAUTH_WINDOW``. Otherwise a stolen session could
    link the thief's own identity and log in as the owner for good."""
    from .devices import reauthentication_errors

    if not FlaskForm().validate_on_submit():
        flash(_("Het formulier is verlopen; probeer het opnieuw."), "error")
        return redirect(url_for("auth.sessions"))
    errors = reauthentication_errors("identity_link", _(
        "Bevestig eerst via uw organisatie dat u het bent; daarna kunt u een andere inlog koppelen."))
    if errors is not None:
        for message in errors["current_password"]:
            flash(message, "error")
        return redirect(url_for("auth.sessions"))
    return _begin(tenant, current_user.id)


@bp.route("/sessies/bevestigen/<tenant>", methods=["POST"])
@login_required
def oidc_reauth(tenant: str):
    """Confirm through the organisation's provider that the logged-in user
    is at the keyboard (an account without a password, before ending other
    sessions: ``portal.auth.devices``). Only a tenant linked to the account
    answers for it."""
    if not FlaskForm().validate_on_submit():
        flash(_("Het formulier is verlopen; probeer het opnieuw."), "error")
        return redirect(url_for("auth.sessions"))
    return _begin(tenant, None, reauth_uid=current_user.id)


def _finish_reauth(tenant: str, claims: dict, pending: dict):
    """The provider answered a re-authentication: it counts only for the
    logged-in account that asked, when the ID token's ``(iss, sub)`` is one
    of its linked identities and its ``auth_time`` (required: the request
    carried ``max_age=0``) is recent. Sets the re-authentication moment (``devices.REAUTH_KEY``)."""
    from sqlalchemy import select

    from ..models import UserIdentity
    from .devices import REAUTH_KEY, SSO_REAUTH_WINDOW

    if not current_user.is_authenticated or current_user.id != pending.get("reauth"):
        return _refuse(tenant, "reauth_session_changed", _("Log opnieuw in."))
    identity = db.session.scalar(select(UserIdentity).where(UserIdentity.issuer == str(claims.get("iss") or ""),
                                                            UserIdentity.subject == str(claims.get("sub") or "")))
    if identity is None or identity.user_id != current_user.id:
        return _refuse(tenant, "reauth_other_account", _(
            "U bent bij uw organisatie ingelogd met een ander account dan dit. Er is niets veranderd."))
    now = int(time.time())
    auth_time = claims.get("auth_time")
    # a provider that ignores prompt and max_age would turn its open session into a "confirmation":
    # without a recent auth_time it does not count
    if not isinstance(auth_time, (int, float)) or isinstance(auth_time, bool) \
            or now - int(auth_time) > SSO_REAUTH_WINDOW + LEEWAY:
        return _refuse(tenant, "reauth_not_fresh", _(
            "Uw organisatie heeft niet opnieuw om uw gegevens gevraagd. Probeer het opnieuw."))
    session[REAUTH_KEY] = now
    flash(_("Bevestigd. U kunt nu %(n)s minuten lang sessies beëindigen.", n=SSO_REAUTH_WINDOW // 60), "success")
    return redirect(url_for("auth.sessions"))


def _refuse(key: str, reason: str, message: str, *, email: str = "", user=None, error: str = ""):
    """Audit a refused single sign-on as a failed login and send the user back."""
    from ..database import begin_write

    db.session.rollback()
    begin_write()
    accounts.record(None, "auth.login_failed", email[:200], known=user is not None, method="oidc",
                    tenant=key, reason=reason, **({"error": error[:160]} if error else {}))
    db.session.commit()
    flash(message, "error")
    # a failed link goes back to the account's sessions page, a failed login to the login page
    return redirect(url_for("auth.sessions" if current_user.is_authenticated else "auth.login"))


@bp.route("/inloggen/sso/<tenant>/terug")
def oidc_callback(tenant: str):
    """The provider sends the browser back here with ``code`` and ``state``."""
    client, conf = _client(tenant)
    pending = session.pop(_PENDING, None)
    if not isinstance(pending, dict) or pending.get("tenant") != tenant:
        # No login was started here in this browser: nothing to check or record.
        flash(_("Log opnieuw in."), "info")
        return redirect(url_for("auth.login"))
    try:
        token = client.authorize_access_token(
            claims_options={"iss": {"essential": True, "values": [conf["issuer"]]},
                            "aud": {"essential": True, "values": [conf["client_id"]]},
                            "sub": {"essential": True}, "nonce": {"essential": True}},
            leeway=LEEWAY)
        claims = dict(token.get("userinfo") or {})
        _check_algorithm(token.get("id_token") or "")
        if not claims:
            raise ValueError("no ID token in the token response")
    except Exception as exc:  # any failure of the exchange or of a check refuses the login
        reason = type(exc).__name__
        log.warning("OIDC login refused for tenant %s: %s", tenant, reason)
        # the exception's text names the failed check (claim names, OAuth error codes), never a token
        return _refuse(tenant, reason, _("Inloggen via uw gemeente is niet gelukt. Probeer het opnieuw."),
                       error=str(exc))
    if pending.get("reauth"):
        return _finish_reauth(tenant, claims, pending)
    link_to = None
    if pending.get("link"):
        if not current_user.is_authenticated or current_user.id != pending["link"]:
            return _refuse(tenant, "link_session_changed", _("Log opnieuw in."))
        link_to = db.session.get(User, current_user.id)
    try:
        user, created = accounts.sso_user(tenant, conf, claims, link_to=link_to)
    except accounts.SsoRefused as exc:
        return _refuse(tenant, exc.reason, exc.message, email=str(claims.get("email") or ""))
    if link_to is not None:
        flash(_("Uw gemeentelijke inlog is gekoppeld aan dit account."), "success")
        return redirect(url_for("auth.sessions"))
    next_url = safe_next(pending.get("next"))
    if user.totp_enabled:  # the second factor is still asked, as after a password
        lang = session.get("lang")
        session.clear()
        if lang:
            session["lang"] = lang
        session["_totp_pending"] = {"uid": user.id, "token": _token_digest(user.session_token),
                                    "at": int(time.time()), "remember": False, "next": next_url or "",
                                    "method": f"oidc:{tenant}"}
        return redirect(url_for("auth.login_code"))
    _fresh_session(user, method=f"oidc:{tenant}")
    accounts.record_login(user, method="oidc", tenant=tenant, new_account=created)
    flash(_("U bent ingelogd."), "success")
    return redirect(next_url or url_for("web.home"))


def _check_algorithm(id_token: str) -> None:
    """Refuse an ID token signed with anything but ``ID_TOKEN_ALGORITHMS``
    (Authlib accepts what the provider's discovery document lists)."""
    import base64
    import json

    header = id_token.split(".")[0]
    data = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    if data.get("alg") not in ID_TOKEN_ALGORITHMS:
        raise ValueError(f"ID token algorithm {data.get('alg')!r} refused")
