"""An expired session while editing (issue #4): keep the posted item form,
send the author to the login page, and fill the form again afterwards.

``keep_posted_form`` runs before every request, after CSRF protection and
after ``portal.auth.enforce_session_limits`` (which logs out an idle
session); a valid POST to the item form (``web.create``, ``web.edit``) that
arrives without a login is kept (``portal.services.kept_forms``) and answered
with a redirect to ``/inloggen?next=<form>?hervat=<token>``. The form's GET
calls :func:`resumed_form`.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, request, session, url_for
from flask_login import current_user, user_logged_out
from sqlalchemy import select

from ..extensions import db
from ..models import Item
from ..services import kept_forms
from .filters import PATH_TYPES

bp = Blueprint("resume", __name__)
FORM_ENDPOINTS = ("web.create", "web.edit")
RESUME_ARG = "hervat"


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
    discarded even when the view refuses them)."""
    if request.endpoint not in FORM_ENDPOINTS:
        return None
    if request.method == "GET" and request.args.get(RESUME_ARG) and current_user.is_authenticated:
        _take_kept_form()
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
    flash("Uw sessie was verlopen. Uw tekst is bewaard: log opnieuw in, dan staat hij weer in het formulier.",
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
        flash("Er is bij deze link geen bewaarde tekst (meer) voor u.", "info")
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
    flash("Uw tekst van daarnet is teruggezet; controleer en sla op.", "success")
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
