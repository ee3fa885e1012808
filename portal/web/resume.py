"""An expired session while editing (issue #4): keep the posted item form,
send the author to the login page, and fill the form again afterwards.

``keep_posted_form`` runs before every request, after CSRF protection and
after ``portal.auth.enforce_session_limits`` (which logs out an idle
session); a valid POST to the item form (``web.create``, ``web.edit``) that
arrives without a login is kept (``portal.services.kept_forms``) and answered
with a redirect to ``/inloggen?next=<form>?hervat=<token>``. The form's GET
calls :func:`resumed_form`.

When the whole session cookie is gone (the browser was closed), the CSRF
check refuses the post before any of this runs; the CSRF error handler then
calls :func:`keep_form_after_csrf_failure`, which keeps the text without a
user under a token in an HttpOnly cookie (``COOKIE``, 2 hours) and shows a
page with a login link; the form's GET by a logged-in user in that browser
fills the form from it (once, and only for someone who may use that form).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (Blueprint, after_this_request, current_app, flash, g, redirect, render_template, request,
                   session, url_for)
from flask_babel import gettext as _
from flask_login import current_user, user_logged_out
from sqlalchemy import select

from ..extensions import db
from ..models import Item
from ..services import kept_forms
from .filters import PATH_TYPES

bp = Blueprint("resume", __name__)
FORM_ENDPOINTS = ("web.create", "web.edit")
#: The network's forms kept alike (``portal.network.kept``): where they are
#: posted, and the pages that show them.
NETWORK_ENDPOINTS = ("network.ask", "network.answer", "network.question")
RESUME_ARG = "hervat"
#: The cookie that carries the token of a form kept without a session.
COOKIE = "portal_bewaard"
#: Forms kept without a session, per client address (Flask-Limiter's storage).
KEEP_WITHOUT_SESSION_LIMIT = "20 per hour"


def _remember_logged_out_user(_app, user=None, **_extra) -> None:
    """``user_logged_out``: remember, for this request, whose session just ended."""
    uid = getattr(user, "id", None)
    if uid is not None:
        g.ended_session_user_id = uid


user_logged_out.connect(_remember_logged_out_user)


def _former_user_id() -> int | None:
    """The user whose session this request carried: logged out just now by the
    idle or absolute limit, or named by a session whose login is no longer valid."""
    uid = g.pop("ended_session_user_id", None)
    if uid is not None:
        return int(uid)
    raw = str(session.get("_user_id") or "").partition(".")[0]
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


@bp.before_app_request
def keep_posted_form():
    """Keep a valid POST of the item form that arrived without a login; on
    the form's GET with ``?hervat=``, take the kept form out (before the view
    checks permission, so a kept form its author may no longer use is
    discarded even when the view refuses them). The network's question and
    answer forms are handled alike by ``portal.network.kept``."""
    if request.endpoint in NETWORK_ENDPOINTS:
        from ..network import kept as network_kept

        return network_kept.keep_posted_form()
    if request.endpoint not in FORM_ENDPOINTS:
        return None
    if request.method == "GET" and request.args.get(RESUME_ARG) and current_user.is_authenticated:
        _take_kept_form()
        return None
    if request.method == "GET" and request.cookies.get(COOKIE) and current_user.is_authenticated:
        _take_form_kept_without_session()
        return None
    if request.method != "POST" or current_user.is_authenticated:
        return None
    user_id = _former_user_id()
    args = dict(request.view_args or {})
    item_type = PATH_TYPES.get(args.get("type_path", ""))
    if user_id is None or item_type is None:
        return None  # nobody to keep it for: login_required answers as before
    item = _page_item(item_type, args)
    if request.endpoint == "web.edit" and item is None:
        return None
    token = kept_forms.keep_form(user_id, item_type, item, list(request.form.items(multi=True)))
    if token is None:
        return None
    flash(_("Uw sessie was verlopen. Uw tekst is bewaard: log opnieuw in, dan staat hij weer in het formulier."),
          "info")
    return redirect(url_for("auth.login", next=url_for(request.endpoint, **args, **{RESUME_ARG: token})))


def _page_item(item_type: str, args: dict) -> Item | None:
    if request.endpoint != "web.edit":
        return None
    return db.session.scalar(select(Item).where(Item.type == item_type, Item.slug == args.get("slug")))


def _take_kept_form() -> None:
    args = dict(request.view_args or {})
    item_type = PATH_TYPES.get(args.get("type_path", ""))
    item = _page_item(item_type, args) if item_type else None
    if item_type is None or (request.endpoint == "web.edit" and item is None):
        g.resumed_fields = None
        return
    g.resumed_fields = kept_forms.take_form(current_user, request.args[RESUME_ARG], item_type, item)


def _take_form_kept_without_session() -> None:
    """A logged-in user opens the item form in the browser that holds the
    cookie of a form kept without a session: when it was kept for this page
    (and they may still use it), fill the form with it and drop the cookie."""
    args = dict(request.view_args or {})
    item_type = PATH_TYPES.get(args.get("type_path", ""))
    item = _page_item(item_type, args) if item_type else None
    if item_type is None or (request.endpoint == "web.edit" and item is None):
        return
    fields = kept_forms.take_form_without_session(current_user, request.cookies.get(COOKIE, ""),
                                                  request.endpoint, item_type, item)
    if fields is None:
        return
    g.resumed_fields = fields

    @after_this_request
    def _forget(response):
        response.delete_cookie(COOKIE, path="/")
        return response


def _same_origin() -> bool:
    """Was the post sent by a page of this site? (``Origin``, else ``Referer``.)
    A cross-site post also arrives without the session cookie (SameSite), and
    must not be able to put text into someone's form."""
    own = urlsplit(request.host_url)
    origin = request.headers.get("Origin") or request.headers.get("Referer") or ""
    theirs = urlsplit(origin)
    return bool(theirs.scheme) and (theirs.scheme, theirs.netloc) == (own.scheme, own.netloc)


def _within_limit() -> bool:
    """Count one kept form against the client address's limit; False when over it."""
    from limits import parse

    from ..extensions import _client_key, limiter

    if not limiter.enabled:
        return True
    return limiter.limiter.hit(parse(KEEP_WITHOUT_SESSION_LIMIT), "kept-form-without-session", _client_key())


def keep_form_after_csrf_failure():
    """Called by the CSRF error handler: a POST of the item form whose CSRF
    check failed because the whole session is gone. Keep its text fields
    server-side (``kept_forms.keep_form_without_session``) under a token in
    an HttpOnly cookie and answer with a Dutch page and a login link;
    ``None`` when this is not such a post (the usual CSRF error page then).
    CSRF is never bypassed: nothing is saved as an item here.

    Kept only when the post came from the form itself: the endpoint is the
    item form, it carries a ``csrf_token`` field (the form had one), it was
    sent by a page of this site, it came without any session cookie,
    and the client address is within ``KEEP_WITHOUT_SESSION_LIMIT``.
    The network's question and answer forms: ``portal.network.kept``."""
    if request.method == "POST" and request.endpoint in NETWORK_ENDPOINTS:
        from ..network import kept as network_kept

        return network_kept.keep_form_after_csrf_failure()
    if request.method != "POST" or request.endpoint not in FORM_ENDPOINTS:
        return None
    if request.cookies.get(current_app.session_interface.get_cookie_name(current_app)):
        return None  # a session came with it: a bad token, not a lost session
    if not request.form.get("csrf_token") or not _same_origin():
        return None
    args = dict(request.view_args or {})
    item_type = PATH_TYPES.get(args.get("type_path", ""))
    if item_type is None:
        return None
    fields = list(request.form.items(multi=True))
    if not kept_forms.fits_without_session(fields) or not _within_limit():
        return None
    slug = args.get("slug") if request.endpoint == "web.edit" else None
    token = kept_forms.keep_form_without_session(request.endpoint, item_type, slug, fields)
    if token is None:
        return None
    return kept_without_session_response(token, url_for(request.endpoint, **args))


def kept_without_session_response(token: str, form_url: str):
    """The 400 page "your text is kept, log in again" with a login link back
    to ``form_url``, setting the HttpOnly cookie ``COOKIE`` to ``token``."""
    response = current_app.make_response((render_template(
        "web/kept_without_session.html", login_url=url_for("auth.login", next=form_url)), 400))
    response.set_cookie(COOKIE, token, max_age=int(kept_forms.KEEP_WITHOUT_SESSION_FOR.total_seconds()),
                        path="/", httponly=True, samesite="Lax",
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
    response.headers["Cache-Control"] = "no-store"
    return response


def resumed_form(item_type: str, obj: Item | None):
    """On the item form's GET with ``?hervat=<token>`` (taken out by
    :func:`keep_posted_form`): the form filled with the kept text (a
    response; 409 with both versions when the item changed meanwhile), or
    ``None`` to show the form as usual (no token, or none usable by the
    current user for this page)."""
    if "resumed_fields" not in g:
        return None
    fields = g.pop("resumed_fields")
    if fields is None:
        flash(_("Er is bij deze link geen bewaarde tekst (meer) voor u."), "info")
        return None
    from werkzeug.datastructures import MultiDict

    from ..services import items as item_service
    from . import views

    form = MultiDict(fields)
    data, body = views._form_data(item_type, form)
    shown = dict(data)
    for key in views.FORM_WORDS:
        if key in shown:
            shown[key] = ", ".join(shown[key])
    flash(_("Uw tekst van daarnet is teruggezet; controleer en sla op."), "success")
    if obj is not None:
        db.session.refresh(obj)
        kept_version = form.get("version", "")
        if kept_version.isdigit() and int(kept_version) != obj.version:
            # Changed by someone else meanwhile: the conflict view, as on a save.
            change = item_service.open_change(obj) if obj.status == "published" else None
            from .. import permissions

            conflict = change if change is not None and not permissions.can_publish(current_user, obj) else obj
            return views._form_context(item_type, shown, body, obj=obj, change=change, conflict=conflict), 409
    return views._form_context(item_type, shown, body, obj=obj)
