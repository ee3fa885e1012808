"""Views of vetted membership (issue #9): thin, they parse, call
:mod:`portal.signup.service`, flash and redirect.

Anonymous: ``/account-aanvragen`` (form), ``/account-aanvragen/verstuurd``
(the one answer every sign-up gets), ``/account-bevestigen/<token>`` and
``/aanvraag-bevestigen/<token>`` (GET shows a button, POST confirms).
Curators and admins: ``/beheer/toegangsverzoeken``; admins:
``/beheer/domeinen``. Every page gets ``pending_access_requests()`` (the
count for the menu).

"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from .. import permissions
from ..errors import ValidationFailed
from ..extensions import db, limiter
from ..models import Municipality
from . import service

bp = Blueprint("signup", __name__)

#: Defaults (Flask-Limiter notation); PORTAL_SIGNUP_LIMIT / PORTAL_SIGNUP_EMAIL_LIMIT override them.
SIGNUP_LIMIT = "10 per hour;50 per day"
SIGNUP_EMAIL_LIMIT = "3 per hour;10 per day"


@bp.record_once
def _configure(state) -> None:
    import os

    state.app.config.setdefault("SIGNUP_LIMIT", os.environ.get("PORTAL_SIGNUP_LIMIT") or SIGNUP_LIMIT)
    state.app.config.setdefault("SIGNUP_EMAIL_LIMIT", os.environ.get("PORTAL_SIGNUP_EMAIL_LIMIT") or SIGNUP_EMAIL_LIMIT)
    from .cli import allow_domain_command

    state.app.cli.add_command(allow_domain_command)


def _signup_limit() -> str:
    return current_app.config["SIGNUP_LIMIT"]


def _signup_email_limit() -> str:
    return current_app.config["SIGNUP_EMAIL_LIMIT"]


def _email_key() -> str:
    """Rate-limit key of the address being signed up (per installation)."""
    raw = (request.form.get("email") or "").strip().lower()[:320]
    # the canonical form: look-alike spellings of one address share its limit
    email = service.canonical_email(raw) or raw
    return f"{current_app.instance_path}|signup|{email}"


def _municipalities() -> list[Municipality]:
    return list(db.session.scalars(select(Municipality).order_by(Municipality.name)))


@bp.app_context_processor
def _menu() -> dict:
    """``pending_access_requests()``: open requests the current user may
    decide (0 for others), computed only when a template asks."""
    return {"pending_access_requests": lambda: service.pending_count(current_user)}


# -- anonymous: sign up and confirm ----------------------------------------------------------


@bp.route("/account-aanvragen", methods=["GET", "POST"])
@limiter.limit(_signup_limit, methods=["POST"], deduct_when=lambda response: response.status_code == 302)
@limiter.limit(_signup_email_limit, methods=["POST"], key_func=_email_key,
               deduct_when=lambda response: response.status_code == 302)
def form():
    """The sign-up form; a valid sign-up always ends on the same page."""
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    errors: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    if request.method == "POST":
        data = {key: request.form.get(key, "") for key in service.SIGNUP_FIELDS}
        try:
            service.sign_up(data)
        except ValidationFailed as exc:
            errors = exc.errors
            values = {k: v for k, v in data.items() if k != "password"}
        else:
            return redirect(url_for("signup.sent"))
    return render_template("signup/form.html", errors=errors, values=values,
                           municipalities=_municipalities()), (400 if errors else 200)


@bp.route("/account-aanvragen/verstuurd")
def sent():
    return render_template("signup/sent.html")


def _link_page(template: str, token: str, errors: dict[str, list[str]], status: int = 200, **context):
    """A page opened from a mailed link (``token`` in its URL): never sends
    the URL on as a referrer."""
    response = current_app.make_response(
        (render_template(template, token=token, errors=errors, **context), status))
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return response


def _token_page(token: str, errors: dict[str, list[str]], user=None, status: int = 200):
    return _link_page("signup/confirm.html", token, errors, status, user=user)


@bp.route("/account-bevestigen/<token>", methods=["GET"])
def confirm(token: str):
    """Shows whom the link would confirm and a button; changes nothing."""
    try:
        user = service.check_confirmation(token)
    except ValidationFailed as exc:
        return _token_page(token, exc.errors, status=400)
    return _token_page(token, {}, user=user)


def _login_limit() -> str:
    return current_app.config["LOGIN_FAILURE_LIMIT"]


@bp.route("/account-bevestigen/<token>", methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda response: response.status_code != 302)
def confirm_post(token: str):
    try:
        service.confirm(token, request.form.get("password", ""))
    except ValidationFailed as exc:
        user = None if "token" in exc.errors else service.check_confirmation(token)
        return _token_page(token, exc.errors, user=user, status=400)
    flash(_("Uw account is bevestigd. U kunt nu inloggen."), "success")
    return redirect(url_for("auth.login"))


def _request_page(token: str, errors: dict[str, list[str]], row=None, status: int = 200):
    return _link_page("signup/confirm_request.html", token, errors, status, row=row)


@bp.route("/aanvraag-bevestigen/<token>", methods=["GET"])
def confirm_request(token: str):
    """Shows which access request the link would confirm and a button;
    changes nothing."""
    try:
        row = service.check_request_confirmation(token)
    except ValidationFailed as exc:
        return _request_page(token, exc.errors, status=400)
    return _request_page(token, {}, row=row)


@bp.route("/aanvraag-bevestigen/<token>", methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda response: response.status_code != 302)
def confirm_request_post(token: str):
    try:
        service.confirm_request(token, request.form.get("password", ""))
    except ValidationFailed as exc:
        row = None if "token" in exc.errors else service.check_request_confirmation(token)
        return _request_page(token, exc.errors, row=row, status=400)
    flash(_("Uw e-mailadres is bevestigd. Een regionale coördinator of beheerder beoordeelt nu uw aanvraag; "
            "u krijgt bericht zodra er een besluit is."), "success")
    return redirect(url_for("web.home"))


# -- curators and admins: access requests -----------------------------------------------------


@bp.route("/beheer/toegangsverzoeken")
@login_required
def requests():
    if not permissions.can_curate(current_user):
        abort(403)
    return render_template("signup/requests.html", rows=service.pending_requests(current_user),
                           is_admin=permissions.can_administer(current_user))


@bp.route("/beheer/toegangsverzoeken/<int:request_id>")
@login_required
def request_detail(request_id: int, errors: dict | None = None, reason: str = "", status: int = 200):
    if not permissions.can_curate(current_user):
        abort(403)
    row = service.get_request(current_user, request_id)
    return render_template("signup/request.html", row=row, errors=errors or {}, reason=reason), status


@bp.route("/beheer/toegangsverzoeken/<int:request_id>/goedkeuren", methods=["POST"])
@login_required
def approve(request_id: int):
    if not permissions.can_curate(current_user):
        abort(403)
    try:
        user = service.approve_request(current_user, request_id)
    except ValidationFailed as exc:
        return request_detail(request_id, errors=exc.errors, status=400)
    flash(_("De aanvraag is goedgekeurd; %(email)s kan nu inloggen.", email=user.email), "success")
    return redirect(url_for("signup.requests"))


@bp.route("/beheer/toegangsverzoeken/<int:request_id>/weigeren", methods=["POST"])
@login_required
def refuse(request_id: int):
    if not permissions.can_curate(current_user):
        abort(403)
    reason = request.form.get("reason", "")
    try:
        row = service.refuse_request(current_user, request_id, reason)
    except ValidationFailed as exc:
        return request_detail(request_id, errors=exc.errors, reason=reason, status=400)
    flash(_("De aanvraag van %(email)s is afgewezen; de reden is gemaild.", email=row.email), "success")
    return redirect(url_for("signup.requests"))


# -- admins: the domain allow-list --------------------------------------------------------------


def _domains_page(errors: dict | None = None, values: dict | None = None, status: int = 200):
    return render_template("signup/domains.html", rows=service.allowed_domains(), municipalities=_municipalities(),
                           errors=errors or {}, values=values or {}), status


@bp.route("/beheer/domeinen")
@login_required
def domains():
    if not permissions.can_administer(current_user):
        abort(403)
    return _domains_page()


@bp.route("/beheer/domeinen", methods=["POST"])
@login_required
def add_domain():
    if not permissions.can_administer(current_user):
        abort(403)
    values = {"municipality": request.form.get("municipality", ""), "domain": request.form.get("domain", "")}
    try:
        row = service.add_domain(current_user, values["municipality"], values["domain"])
    except ValidationFailed as exc:
        return _domains_page(exc.errors, values, 400)
    flash(_("%(domain)s is toegestaan voor %(municipality)s.", domain=row.domain,
            municipality=row.municipality.name), "success")
    return redirect(url_for("signup.domains"))


@bp.route("/beheer/domeinen/<int:domain_id>/verwijderen", methods=["POST"])
@login_required
def remove_domain(domain_id: int):
    if not permissions.can_administer(current_user):
        abort(403)
    service.remove_domain_by_id(current_user, domain_id)
    flash(_("Het domein is van de lijst gehaald."), "success")
    return redirect(url_for("signup.domains"))
