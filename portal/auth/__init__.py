"""Login, logout, password change and reset ("Wachtwoord vergeten?":
``/wachtwoord-vergeten`` mails a one-hour, single-use link; see
``accounts.request_password_reset``); session limits; audit of denied access.

Sessions (OWASP ASVS 5.0 V7): the session and remember cookie hold
``"<user id>.<session token>.<device token>"``; the user loader accepts
them only while the user token is the user's current one, the device
session (``UserSession``, issue #7) is live and the account is active. A
new user token (password reset, role change, deactivation, ``portal
end-sessions``) kills every copied cookie of the user; logout or "end this
session" on ``/sessies`` kills the cookies of one device. A session ends
after 30 minutes without a request and 12 hours after login, whatever the
cookie says.
"""

from __future__ import annotations

import hmac
import logging
import time
from datetime import timedelta
from urllib.parse import urlsplit

from flask import (Blueprint, current_app, flash, g, redirect, render_template, request, session,
                   url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from ..errors import ValidationFailed
from ..extensions import db, limiter, login_manager
from ..models import User
from ..models.users import hash_password, verify_password
from ..services import accounts

bp = Blueprint("auth", __name__)
_DUMMY_HASH = hash_password("not a real password: equal timing for unknown users")

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
_SEEN_RESOLUTION = 30  # seconds: the last-seen stamp is refreshed at most this often
LOGIN_ERROR = _l("Het e-mailadres of het wachtwoord klopt niet.")
CODE_ERROR = _l("De code klopt niet. Probeer het opnieuw met de nieuwste code uit uw app, of met een herstelcode.")
#: After a right password, the second step must follow within this time.
PENDING_LIFETIME = 300  # seconds
#: "Wachtwoord vergeten?" requests per client address (roomy: a town hall's staff share one
#: address), and per typed e-mail address (each mail is one request; this limit keeps a mailbox
#: from being flooded). Defaults; the environment (PORTAL_FORGOT_PASSWORD_LIMIT,
#: PORTAL_FORGOT_PASSWORD_EMAIL_LIMIT) or the app config overrides them.
FORGOT_PASSWORD_LIMIT = "20 per hour;100 per day"
FORGOT_PASSWORD_EMAIL_LIMIT = "3 per hour;6 per day"
#: Endpoints an admin or privacy officer without a second factor may reach
#: while REQUIRE_TOTP_FOR_ADMINS is on.
_ENROLMENT_ENDPOINTS = frozenset({"auth.totp_setup", "auth.totp_start", "auth.totp_confirm", "auth.logout", "static"})


@bp.record_once
def _configure(state) -> None:
    """Session settings this blueprint relies on (explicit config wins)."""
    config = state.app.config
    config.setdefault("IDLE_TIMEOUT", IDLE_TIMEOUT)
    config.setdefault("ABSOLUTE_TIMEOUT", ABSOLUTE_TIMEOUT)
    # Remember-me outlives a browser restart, never the absolute limit.
    config.setdefault("REMEMBER_COOKIE_DURATION", ABSOLUTE_TIMEOUT)
    config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    # Issue #7: admins and privacy officers must use a second factor
    # (PORTAL_REQUIRE_TOTP_FOR_ADMINS, read in portal.config).
    config.setdefault("REQUIRE_TOTP_FOR_ADMINS", True)
    # "Wachtwoord vergeten?": per client address and per typed address (Flask-Limiter notation)
    import os

    config.setdefault("FORGOT_PASSWORD_LIMIT", os.environ.get("PORTAL_FORGOT_PASSWORD_LIMIT") or FORGOT_PASSWORD_LIMIT)
    config.setdefault("FORGOT_PASSWORD_EMAIL_LIMIT",
                      os.environ.get("PORTAL_FORGOT_PASSWORD_EMAIL_LIMIT") or FORGOT_PASSWORD_EMAIL_LIMIT)
    if config.get("ENV") == "production":
        # __Host-: the browser accepts the cookie only over https, for this
        # host alone and path / (no subdomain can set or read it). ASVS 5.0 3.3.3
        if config.get("SESSION_COOKIE_NAME", "session") == "session":
            config["SESSION_COOKIE_NAME"] = "__Host-session"
        if config.get("REMEMBER_COOKIE_NAME", "remember_token") == "remember_token":
            config["REMEMBER_COOKIE_NAME"] = "__Host-remember_token"


@bp.app_template_filter("audit_label")
def _audit_label(code: str | None) -> str:
    """``{{ event.action|audit_label }}``: the Dutch label of an audit code
    (``portal.services.audit_labels``); an unknown code as is."""
    from ..services.audit_labels import audit_label

    return audit_label(code)


@login_manager.user_loader
def load_user(user_id: str):
    """``"<id>.<token>.<device token>"`` -> the active user whose current
    token it is and whose device session is live (started less than
    ABSOLUTE_TIMEOUT ago), else None. Sets ``g.device_session_id``."""
    parts = (user_id or "").split(".")
    if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) > 12 or not parts[1] or not parts[2]:
        return None
    user = db.session.get(User, int(parts[0]))
    if user is None or not user.active or not user.token_matches(parts[1]):
        return None
    row = accounts.device_session(user, parts[2], max_age=current_app.config["ABSOLUTE_TIMEOUT"])
    if row is None:
        return None
    g.device_session_id = row.id
    return user


@bp.before_app_request
def enforce_session_limits():
    """End a session idle for 30 minutes or older than 12 hours."""
    if not current_user.is_authenticated or not hasattr(current_user, "session_token"):
        return None
    now = int(time.time())
    started = session.get("_auth_at")
    seen = session.get("_seen_at")
    if started is None:  # restored from a remember cookie: a new session starts
        session["_auth_at"] = session["_seen_at"] = now
        return None
    idle = current_app.config["IDLE_TIMEOUT"].total_seconds()
    absolute = current_app.config["ABSOLUTE_TIMEOUT"].total_seconds()
    if now - int(seen or started) > idle or now - int(started) > absolute:
        lang = session.get("lang")
        logout_user()
        session.clear()
        session["_remember"] = "clear"  # flask-login then deletes the remember cookie
        if lang:
            session["lang"] = lang
        flash(_("Uw sessie is verlopen. Log opnieuw in."), "info")
        return None
    if now - int(seen or 0) >= _SEEN_RESOLUTION:
        session["_seen_at"] = now
        if g.get("device_session_id"):
            accounts.touch_device_session(g.device_session_id)
    return None


@bp.before_app_request
def enforce_totp_enrollment():
    """While REQUIRE_TOTP_FOR_ADMINS is on, an admin or privacy officer
    without a second factor reaches only the enrollment page and logout."""
    if not current_user.is_authenticated or request.endpoint in _ENROLMENT_ENDPOINTS:
        return None
    if not accounts.totp_required(current_user, current_app.config):
        return None
    if request.path.startswith("/api/"):
        import json

        return current_app.response_class(
            json.dumps({"error": _("Stel eerst tweestapsverificatie in op /tweestapsverificatie.")}),
            status=403, mimetype="application/json")
    return redirect(url_for("auth.totp_setup"))


@bp.after_app_request
def audit_denied(response):
    """Every 403 leaves an audit row: who, which path, which method."""
    if response.status_code == 403:
        try:
            db.session.rollback()  # a refused request writes nothing else
            from ..database import begin_write

            begin_write()
            actor = current_user if current_user.is_authenticated else None
            accounts.record(actor, "access.denied", request.path, method=request.method,
                            endpoint=request.endpoint or "")
            db.session.commit()
        except Exception:  # the answer stays a 403 even when the audit fails
            db.session.rollback()
            logging.getLogger("portal").exception("could not audit a denied request")
    return response


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mailadres"), validators=[DataRequired(_l("Vul uw e-mailadres in.")), Length(max=320)])
    password = PasswordField(_l("Wachtwoord"), validators=[DataRequired(_l("Vul uw wachtwoord in.")),
                                                           Length(max=accounts.MAX_PASSWORD_LENGTH)])
    remember = BooleanField(_l("Ingelogd blijven op dit apparaat"))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Huidig wachtwoord"),
                                     validators=[DataRequired(_l("Vul uw huidige wachtwoord in."))])
    new_password = PasswordField(_l("Nieuw wachtwoord"), validators=[DataRequired(_l("Vul een nieuw wachtwoord in."))])
    end_other_sessions = BooleanField(_l("Log mij uit op alle andere apparaten"), default=True)


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("E-mailadres"), validators=[DataRequired(_l("Vul uw e-mailadres in.")), Length(max=320)])


class ResetPasswordForm(FlaskForm):
    new_password = PasswordField(_l("Nieuw wachtwoord"), validators=[DataRequired(_l("Vul een nieuw wachtwoord in."))])


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: no scheme, no host, no ``//`` or ``\\`` tricks."""
    if not target:
        return None
    target = target.strip()
    if any(c in target for c in ("\\", "\r", "\n", "\t")) or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _login_limit() -> str:
    return current_app.config["LOGIN_FAILURE_LIMIT"]


def _fresh_session(user: User, remember: bool = False, method: str = "password") -> None:
    """Clear all session data (keeping only the language) and log ``user``
    in with a new device session (``UserSession``; ``method``: ``password``
    or ``oidc:<tenant>``)."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    device = accounts.start_device_session(user, user_agent=request.headers.get("User-Agent", ""),
                                           method=method, remember=remember)
    login_user(user, remember=remember)
    # flask-login writes this value into the remember cookie as well
    session["_user_id"] = f"{user.get_id()}.{device}"
    session["_auth_at"] = session["_seen_at"] = int(time.time())
    # a credential was just presented (not a remember cookie): see ``devices.reauth_is_fresh``
    session["_reauth_at"] = session["_auth_at"]


@bp.route("/inloggen", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda response: response.status_code != 302)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        password = form.password.data
        user = db.session.scalar(select(User).where(User.email == email))
        throttled = user is not None and accounts.login_delay(user).total_seconds() > 0
        # Same answer, and the same work, for an unknown user, a throttled
        # account and a wrong password: the response tells nothing.
        if user is None or throttled:
            verify_password(_DUMMY_HASH, password)
            ok = False
        else:
            ok = user.check_password(password) and user.is_active
        if ok and user.totp_enabled:
            # Second step: not logged in until the code is right.
            next_url = safe_next(request.args.get("next"))
            lang = session.get("lang")
            session.clear()
            if lang:
                session["lang"] = lang
            session["_totp_pending"] = {"uid": user.id, "token": _token_digest(user.session_token),
                                        "at": int(time.time()), "remember": bool(form.remember.data),
                                        "next": next_url or ""}
            if user.needs_rehash():  # the password was right: upgrade an old-style hash now
                accounts.rehash_password(user, password)
            return redirect(url_for("auth.login_code"))
        if ok:
            next_url = safe_next(request.args.get("next"))
            _fresh_session(user, remember=bool(form.remember.data))
            accounts.record_login(user, password)
            flash(_("U bent ingelogd."), "success")
            return redirect(next_url or url_for("web.home"))
        accounts.record_failed_login(user, email, throttled=throttled)
        error = LOGIN_ERROR
    return render_template("auth/login.html", form=form, error=error,
                           oidc_tenants=current_app.config.get("OIDC_TENANTS") or {}), (400 if error else 200)


@bp.route("/uitloggen", methods=["POST"])
def logout():
    """End this device's session here and server-side: every copy of its
    cookies dies; the user's other devices stay logged in (``/sessies``
    ends those)."""
    if current_user.is_authenticated:
        if g.get("device_session_id"):
            accounts.end_device_session(current_user, g.device_session_id, reason="auth.logout")
        else:  # pragma: no cover - every live session has a device row
            accounts.end_sessions(current_user, reason="auth.logout")
    logout_user()
    session.clear()
    session["_remember"] = "clear"  # flask-login then deletes the remember cookie
    flash(_("U bent uitgelogd."), "success")
    return redirect(url_for("web.home"))


@bp.route("/wachtwoord-wijzigen", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda response: response.status_code != 302)
@login_required
def change_password():
    form = ChangePasswordForm()
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        try:
            user = accounts.change_password(current_user, form.current_password.data, form.new_password.data,
                                            end_other_sessions=bool(form.end_other_sessions.data))
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            if form.end_other_sessions.data:  # this session goes on with the new token
                _fresh_session(user)
            flash(_("Uw wachtwoord is gewijzigd."), "success")
            return redirect(url_for("web.home"))
    elif request.method == "POST":
        errors = {name: list(f.errors) for name, f in form._fields.items() if f.errors}
    return render_template("auth/change_password.html", form=form, errors=errors), (400 if errors else 200)


def _forgot_limit() -> str:
    return current_app.config["FORGOT_PASSWORD_LIMIT"]


def _forgot_email_limit() -> str:
    return current_app.config["FORGOT_PASSWORD_EMAIL_LIMIT"]


def _forgot_email_key() -> str:
    """Rate-limit key of the typed address (per installation), in its
    canonical form: look-alike spellings of one address share its limit."""
    from ..signup.service import canonical_email

    raw = (request.form.get("email") or "").strip()[:320]
    return f"{current_app.instance_path}|forgot-password|{canonical_email(raw) or raw.lower()}"


@bp.route("/wachtwoord-vergeten", methods=["GET", "POST"])
@limiter.limit(_forgot_limit, methods=["POST"])
@limiter.limit(_forgot_email_limit, methods=["POST"], key_func=_forgot_email_key,
               deduct_when=lambda response: response.status_code == 302)
def forgot_password():
    """"Wachtwoord vergeten?": ask for the e-mail address, then always the
    same answer (a redirect to ``forgot_password_sent``), whether or not
    an account has that address (no account enumeration, OWASP ASVS 5.0
    V6.3.8 / 4.0 2.5.x). What is mailed: ``accounts.request_password_reset``.
    Limited per client address (every POST counts) and per typed address."""
    if current_user.is_authenticated:
        return redirect(url_for("auth.change_password"))
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data)
        return redirect(url_for("auth.forgot_password_sent"))
    errors = {name: list(f.errors) for name, f in form._fields.items() if f.errors} if request.method == "POST" else {}
    return render_template("auth/forgot_password.html", form=form, errors=errors), (400 if errors else 200)


@bp.route("/wachtwoord-vergeten/verstuurd")
def forgot_password_sent():
    """The one answer every valid "Wachtwoord vergeten?" request gets."""
    return render_template("auth/forgot_password_sent.html")


@bp.route("/wachtwoord-herstellen/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Set a new password with a reset link (``portal password-reset`` or
    "Wachtwoord vergeten?"). The link works once (``accounts.reset_password``
    clears the token in the same transaction) and for one hour; afterwards
    every session and API key of the user has ended, this one too."""
    from flask_babel import force_locale

    from ..web.language import COOKIE, LANGUAGES

    user = accounts.user_for_reset_token(token)
    # The link came by e-mail in the account's language: the page follows it
    # when this browser has not chosen a language yet.
    wanted = getattr(user, "language", None)
    if request.cookies.get(COOKIE) in LANGUAGES or wanted not in LANGUAGES:
        return _reset_password_page(token, user)
    with force_locale(wanted):
        return _reset_password_page(token, user)


def _reset_password_page(token: str, user):
    form = ResetPasswordForm()
    errors: dict[str, list[str]] = {}
    valid = user is not None
    if valid and form.validate_on_submit():
        try:
            accounts.reset_password(token, form.new_password.data)
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            if current_user.is_authenticated:
                logout_user()
            session.clear()
            flash(_("Uw wachtwoord is ingesteld. Log in met het nieuwe wachtwoord."), "success")
            return redirect(url_for("auth.login"))
    elif valid and request.method == "POST":
        errors = {name: list(f.errors) for name, f in form._fields.items() if f.errors}
    if not valid:
        errors = {"token": [_(accounts.RESET_LINK_INVALID)]}
    response = current_app.make_response((
        render_template("auth/reset_password.html", form=form, errors=errors, valid=valid),
        200 if valid and not errors else (404 if not valid else 400)))
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return response



# --- TOTP second factor (issue #7) ------------------------------------------------

class CodeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(_l("Vul de code in.")), Length(max=40)])


class DisableTotpForm(FlaskForm):
    current_password = PasswordField(_l("Huidig wachtwoord"),
                                     validators=[DataRequired(_l("Vul uw huidige wachtwoord in."))])
    code = StringField(_l("Code uit uw app"), validators=[DataRequired(_l("Vul de code in.")), Length(max=40)])


class RecoveryCodesForm(DisableTotpForm):
    """New recovery codes: the current password and a current app code."""


def _token_digest(token: str) -> str:
    """What the pending marker keeps of the session token (the signed
    cookie is readable by the client: never the token itself)."""
    import hashlib

    return hashlib.sha256(("totp-pending:" + token).encode()).hexdigest()


def _pending_user() -> User | None:
    """The user whose password was right in this session and who still has
    to give a code; None when there is none or it expired (5 minutes)."""
    pending = session.get("_totp_pending")
    if not isinstance(pending, dict) or int(time.time()) - int(pending.get("at", 0)) > PENDING_LIFETIME:
        session.pop("_totp_pending", None)
        return None
    user = db.session.get(User, int(pending.get("uid", 0)))
    if (user is None or not user.is_active or not user.totp_enabled
            or not hmac.compare_digest(_token_digest(user.session_token or ""), str(pending.get("token")))):
        return None
    return user


@bp.route("/inloggen/code", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda response: response.status_code != 302)
def login_code():
    """Second login step: a 6-digit TOTP code or a recovery code."""
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    user = _pending_user()
    if user is None:
        flash(_("Log opnieuw in."), "info")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        throttled = accounts.login_delay(user).total_seconds() > 0
        if not throttled and accounts.check_second_factor(user, form.code.data):
            pending = session.get("_totp_pending") or {}
            method = str(pending.get("method") or "password")
            _fresh_session(user, remember=bool(pending.get("remember")), method=method)  # drops the marker
            if method == "password":
                accounts.record_login(user)
            else:
                accounts.record_login(user, method="oidc", tenant=method.partition(":")[2])
            flash(_("U bent ingelogd."), "success")
            return redirect(safe_next(pending.get("next")) or url_for("web.home"))
        if throttled:  # refused without counting, so waiting helps
            from ..database import begin_write

            begin_write()
            accounts.record(user, "auth.totp_failed", user.email, purpose="login", throttled=True)
            db.session.commit()
        error = CODE_ERROR
    elif request.method == "POST":
        error = _("Vul de code in.")
    return render_template("auth/login_code.html", form=form, error=error), (400 if error else 200)


def _setup_page(*, secret: str | None = None, codes: list[str] | None = None, errors=None, status: int = 200):
    user = db.session.get(User, current_user.id)
    secret = secret or (None if user.totp_enabled else accounts.totp_secret(user))
    qr = uri = None
    if secret:
        import segno

        uri = accounts.totp_uri(user, secret)
        qr = segno.make(uri, error="m").svg_inline(scale=4, light="white", title=_("QR-code voor uw authenticator-app"))
    return render_template("auth/totp.html", user=user, secret=secret, grouped=accounts.group_secret(secret or ""),
                           uri=uri, qr=qr, codes=codes, errors=errors or {}, form=CodeForm(),
                           disable_form=DisableTotpForm(), recovery_form=RecoveryCodesForm(prefix="herstel"),
                           required=accounts.totp_required(user, current_app.config),
                           needs_password=accounts.has_password(user)), status


@bp.route("/tweestapsverificatie")
@login_required
def totp_setup():
    """Status of the second factor; the pending secret, or a start button."""
    return _setup_page()


@bp.route("/tweestapsverificatie/starten", methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda response: response.status_code == 400)
@login_required
def totp_start():
    """Make a pending secret. The user proves who is at the keyboard first
    (OWASP ASVS 5.0 V7.5.1: full re-authentication before a change to the
    MFA configuration): the current password
    (``current_password``; a wrong one counts as a failed login), or, for an
    account without a password, a confirmation through the organisation
    within ``devices.SSO_REAUTH_WINDOW``. Otherwise a stolen session could
    switch on a second factor of the thief's and lock the owner out of
    their next login."""
    from .devices import reauthentication_errors

    form = FlaskForm()  # the CSRF token; the password is read by reauthentication_errors
    if not form.validate_on_submit():
        return _setup_page(errors={"code": [_("Het formulier is verlopen; probeer het opnieuw.")]}, status=400)
    errors = reauthentication_errors("totp_start", _(
        "Bevestig eerst via uw organisatie dat u het bent (op de pagina Mijn sessies); daarna kunt u "
        "tweestapsverificatie instellen."))
    if errors is not None:
        return _setup_page(errors=errors, status=400)
    try:
        accounts.start_totp_enrollment(current_user)
    except ValidationFailed as exc:
        return _setup_page(errors=exc.errors, status=400)
    return redirect(url_for("auth.totp_setup"))


@bp.route("/tweestapsverificatie/bevestigen", methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda response: response.status_code != 200)
@login_required
def totp_confirm():
    form = CodeForm()
    if not form.validate_on_submit():
        return _setup_page(errors={name: list(f.errors) for name, f in form._fields.items() if f.errors}, status=400)
    try:
        codes = accounts.confirm_totp(current_user, form.code.data)
    except ValidationFailed as exc:
        return _setup_page(errors=exc.errors, status=400)
    flash(_("Tweestapsverificatie staat aan."), "success")
    return _setup_page(codes=codes)


@bp.route("/tweestapsverificatie/uitzetten", methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda response: response.status_code != 302)
@login_required
def totp_disable():
    form = DisableTotpForm()
    if not form.validate_on_submit():
        return _setup_page(errors={name: list(f.errors) for name, f in form._fields.items() if f.errors}, status=400)
    try:
        accounts.disable_totp(current_user, form.current_password.data, form.code.data)
    except ValidationFailed as exc:
        return _setup_page(errors=exc.errors, status=400)
    flash(_("Tweestapsverificatie staat uit."), "success")
    return redirect(url_for("auth.totp_setup"))


@bp.route("/tweestapsverificatie/herstelcodes", methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda response: response.status_code == 400)
@login_required
def totp_recovery_codes():
    """New recovery codes (the old ones stop working at once), shown once."""
    form = RecoveryCodesForm(prefix="herstel")
    if not form.validate_on_submit():
        return _setup_page(errors={name: list(f.errors) for name, f in form._fields.items() if f.errors}, status=400)
    try:
        codes = accounts.regenerate_recovery_codes(current_user, form.current_password.data, form.code.data)
    except ValidationFailed as exc:
        return _setup_page(errors=exc.errors, status=400)
    flash(_("Er zijn nieuwe herstelcodes gemaakt; de oude werken niet meer."), "success")
    response = current_app.make_response(_setup_page(codes=codes))
    response.headers["Cache-Control"] = "no-store"
    return response


from . import devices, sso  # noqa: E402,F401  (routes on ``bp``: /sessies, /inloggen/sso/...)
