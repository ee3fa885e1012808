"""Curation (issue #4): submitting for review, returning with a comment,
pending changes of published items, revision history with diffs and restore,
the curator's dashboard, notifications and the admins' audit log.

Every page here is for logged-in users only; every state change is a POST
with a CSRF token; permissions come from ``portal.permissions`` through the
services.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from .. import permissions
from ..errors import Conflict, ValidationFailed
from ..extensions import db
from ..services import attachments as attachment_service
from ..services import items as item_service
from ..services import notifications as notification_service
from .filters import PATH_TYPES, TYPE_PATHS, item_url
from .paging import MAX_ID, BadNumber, page_arg, parse_int

bp = Blueprint("curation", __name__)

TYPE_PATH = "<any(werkwijzen, lessen, sleutelfiguren):type_path>"
STATE_LABELS = {
    ("draft", ""): _l("Concept"),
    ("draft", "submitted"): _l("Ter beoordeling"),
    ("draft", "returned"): _l("Teruggestuurd"),
    ("draft", "archived"): _l("Gearchiveerd"),
    ("published", ""): _l("Gepubliceerd"),
}
REVISION_STATES = {"": "", "pending": _l("wacht op beoordeling"), "approved": _l("goedgekeurd"),
                   "returned": _l("teruggestuurd"), "superseded": _l("vervangen")}


@bp.app_template_global("state_label")
def state_label(item) -> str:
    """Name of an item's workflow state in the interface language."""
    return str(STATE_LABELS.get((item.status, item.review_state or ""), item.status))


@bp.app_context_processor
def _inject():
    return {"unread_notifications": lambda: notification_service.unread_count(current_user)}


@bp.app_template_global("workflow_for")
def workflow_for(item) -> dict:
    """What the current user may do with ``item`` in the workflow, for the
    item page's buttons: ``{"state", "pending", "submit", "return", ...}``."""
    user = current_user
    editor = permissions.can_edit(user, item)
    return {
        "state": state_label(item),
        "editor": editor,
        "pending": item_service.pending_revision(item) if editor and item.status == "published" else None,
        "submit": permissions.can_submit(user, item),
        "return": permissions.can_return(user, item),
        "archive": permissions.can_archive(user, item),
        "confirm": permissions.can_confirm_review(user, item),
        "history": permissions.can_view_history(user, item),
        "attach": permissions.can_attach(user, item),
    }


def _item(type_path: str, slug: str):
    return item_service.get_item(current_user, PATH_TYPES[type_path], slug)


def _int(name: str, default: int | None = None) -> int | None:
    """Whole number ``name`` from the query or form (a revision number):
    ``default`` when missing, not a number, or beyond any id."""
    try:
        return parse_int(request.values.get(name), default, 1, MAX_ID, clamp=False)
    except BadNumber:
        return default


# -- the workflow of a draft -------------------------------------------------------------
@bp.route(f"/{TYPE_PATH}/<slug>/indienen", methods=["POST"])
@login_required
def submit(type_path: str, slug: str):
    obj = _item(type_path, slug)
    item_service.submit_item(current_user, obj)
    flash(_("Ter beoordeling aangeboden. De regionale coördinator krijgt een melding."), "success")
    return redirect(item_url(obj.type, obj.slug))


@bp.route(f"/{TYPE_PATH}/<slug>/terugsturen", methods=["GET", "POST"])
@login_required
def return_item(type_path: str, slug: str):
    obj = _item(type_path, slug)
    if not permissions.can_return(current_user, obj):
        abort(403)
    comment = request.form.get("comment", "")
    if request.method == "POST":
        try:
            item_service.return_item(current_user, obj, comment)
        except ValidationFailed as exc:
            db.session.rollback()
            return render_template("curation/return.html", item=obj, comment=comment, errors=exc.errors), 400
        flash(_("Teruggestuurd naar de auteur, met uw commentaar."), "success")
        return redirect(url_for("curation.dashboard"))
    return render_template("curation/return.html", item=obj, comment="", errors={})


@bp.route(f"/{TYPE_PATH}/<slug>/archiveren", methods=["POST"])
@login_required
def archive(type_path: str, slug: str):
    obj = _item(type_path, slug)
    item_service.archive_item(current_user, obj)
    flash(_("Gearchiveerd: het item is niet meer te vinden voor lezers."), "success")
    return redirect(item_url(obj.type, obj.slug))


@bp.route(f"/{TYPE_PATH}/<slug>/nog-juist", methods=["POST"])
@login_required
def confirm(type_path: str, slug: str):
    obj = _item(type_path, slug)
    item_service.confirm_review(current_user, obj)
    flash(_("Bevestigd: dit item klopt nog. Volgende controle over twaalf maanden."), "success")
    return redirect(request.form.get("next") == "dashboard" and url_for("curation.dashboard")
                    or item_url(obj.type, obj.slug))


# -- pending changes of published items ------------------------------------------------------
def _revision_page(rev, comment: str = "", errors=None, status: int = 200):
    item = rev.item
    lines = item_service.diff_lines(item_service.live_snapshot(item), rev,
                                    _("gepubliceerde versie"), _("versie %(number)s", number=rev.number))
    return render_template("curation/revision.html", rev=rev, item=item, lines=lines, comment=comment,
                           errors=errors or {}, states=REVISION_STATES,
                           may_review=permissions.can_review_revision(current_user, item)), status


@bp.route("/curatie/wijzigingen/<int:revision_id>")
@login_required
def revision(revision_id: int):
    return _revision_page(item_service.get_revision(current_user, revision_id))


@bp.route("/curatie/wijzigingen/<int:revision_id>/goedkeuren", methods=["POST"])
@login_required
def approve_revision(revision_id: int):
    rev = item_service.get_revision(current_user, revision_id)
    item = item_service.approve_revision(current_user, rev)
    flash(_("Goedgekeurd: de nieuwe versie staat nu online en is vindbaar."), "success")
    return redirect(item_url(item.type, item.slug))


@bp.route("/curatie/wijzigingen/<int:revision_id>/terugsturen", methods=["POST"])
@login_required
def return_revision(revision_id: int):
    rev = item_service.get_revision(current_user, revision_id)
    comment = request.form.get("comment", "")
    try:
        item_service.return_revision(current_user, rev, comment)
    except ValidationFailed as exc:
        db.session.rollback()
        return _revision_page(item_service.get_revision(current_user, revision_id), comment, exc.errors, 400)
    flash(_("De wijziging is teruggestuurd naar de auteur; de gepubliceerde versie blijft staan."), "success")
    return redirect(url_for("curation.dashboard"))


# -- history -----------------------------------------------------------------------------------
@bp.route(f"/{TYPE_PATH}/<slug>/geschiedenis")
@login_required
def history(type_path: str, slug: str):
    obj = _item(type_path, slug)
    if not permissions.can_view_history(current_user, obj):
        abort(403)
    revs = list(obj.revisions)
    numbers = [r.number for r in revs]
    new_n = _int("naar", numbers[-1] if numbers else None)
    old_n = _int("van", numbers[-2] if len(numbers) > 1 else None)
    by_number = {r.number: r for r in revs}
    new, old = by_number.get(new_n), by_number.get(old_n)
    lines = item_service.diff_lines(old, new, _("versie %(number)s", number=old_n) if old else _("leeg"),
                                    _("versie %(number)s", number=new_n)) if new is not None else []
    return render_template("curation/history.html", item=obj, revisions=list(reversed(revs)), old=old, new=new,
                           lines=lines, states=REVISION_STATES, state=state_label(obj),
                           may_restore=permissions.can_restore(current_user, obj))


@bp.route(f"/{TYPE_PATH}/<slug>/geschiedenis/<int:number>/terugzetten", methods=["POST"])
@login_required
def restore(type_path: str, slug: str, number: int):
    obj = _item(type_path, slug)
    try:
        saved = item_service.restore_revision(current_user, obj, number)
    except (ValidationFailed, Conflict) as exc:
        db.session.rollback()
        flash(_("Terugzetten lukte niet: %(reason)s", reason=exc.message), "error")
        return redirect(url_for("curation.history", type_path=type_path, slug=slug))
    if saved.status == "published" and not permissions.can_publish(current_user, saved):
        flash(_("Versie %(number)s is als wijziging ter beoordeling aangeboden.", number=number), "success")
    else:
        flash(_("Versie %(number)s is teruggezet (als nieuwe versie).", number=number), "success")
    return redirect(url_for("curation.history", type_path=type_path, slug=slug))


# -- dashboard and audit log -----------------------------------------------------------------
@bp.route("/curatie")
@login_required
def dashboard():
    if not permissions.can_curate(current_user):
        abort(403)
    return render_template("curation/dashboard.html", queue=item_service.curation_queue(current_user),
                           states=REVISION_STATES, state_label=state_label,
                           can_read_audit_log=permissions.can_read_audit_log(current_user))


@bp.route("/beheer/logboek")
@login_required
def audit_log():
    if not permissions.can_read_audit_log(current_user):
        abort(403)
    action = request.args.get("actie", "")[:60]
    page = page_arg()
    return render_template("curation/audit.html", log=item_service.audit_log(current_user, action, page),
                           action=action)


# -- notifications -------------------------------------------------------------------------------
@bp.route("/meldingen")
@login_required
def notifications():
    page = page_arg()
    rows, total = notification_service.list_notifications(current_user, page)
    pages = max(1, (total + notification_service.PER_PAGE - 1) // notification_service.PER_PAGE)
    if page > pages:  # beyond the last page: show the last one
        page = pages
        rows, total = notification_service.list_notifications(current_user, page)
    return render_template("curation/notifications.html", rows=rows, total=total, page=page, pages=pages)


@bp.route("/meldingen/<int:notification_id>/openen", methods=["POST"])
@login_required
def open_notification(notification_id: int):
    note = notification_service.mark_read(current_user, notification_id)
    link = note.link if note.link.startswith("/") and not note.link.startswith("//") else ""
    return redirect(link or url_for("curation.notifications"))


@bp.route("/meldingen/gelezen", methods=["POST"])
@login_required
def read_all():
    notification_service.mark_all_read(current_user)
    flash(_("Alle meldingen zijn als gelezen gemarkeerd."), "success")
    return redirect(url_for("curation.notifications"))


# -- attachments ---------------------------------------------------------------------------------
@bp.app_template_global("attachments_for")
def attachments_for(item) -> list:
    return attachment_service.attachments_of(current_user, item)


@bp.route(f"/{TYPE_PATH}/<slug>/bijlagen", methods=["POST"])
@login_required
def upload_attachment(type_path: str, slug: str):
    obj = _item(type_path, slug)
    upload = request.files.get("bijlage")
    try:
        att = attachment_service.add_attachment(current_user, obj, upload.stream if upload else None,
                                                upload.filename if upload else "")
    except ValidationFailed as exc:
        db.session.rollback()
        flash(_("Bijlage niet toegevoegd: %(reason)s",
                reason=" ".join(str(m) for m in exc.errors.get("bijlage", [exc.message]))), "error")
        return redirect(item_url(obj.type, obj.slug)), 303
    flash(_("Bijlage %(name)s toegevoegd.", name=att.filename), "success")
    return redirect(item_url(obj.type, obj.slug))


@bp.route(f"/{TYPE_PATH}/<slug>/bijlagen/<int:attachment_id>")
def download_attachment(type_path: str, slug: str, attachment_id: int):
    """A download (never shown inline), for whoever may see the item."""
    from flask import send_file

    obj = _item(type_path, slug)
    att, path = attachment_service.get_attachment(current_user, obj, attachment_id)
    response = send_file(path, mimetype=att.content_type, as_attachment=True, download_name=att.filename,
                         max_age=0, etag=att.sha256)
    if permissions.effective_visibility(obj) != "public" or obj.status != "published":
        response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.route(f"/{TYPE_PATH}/<slug>/bijlagen/<int:attachment_id>/verwijderen", methods=["POST"])
@login_required
def remove_attachment(type_path: str, slug: str, attachment_id: int):
    obj = _item(type_path, slug)
    attachment_service.remove_attachment(current_user, obj, attachment_id)
    flash(_("Bijlage verwijderd."), "success")
    return redirect(item_url(obj.type, obj.slug))


# -- autosave (the editor's script posts the form every 30 seconds) ----------------------------
def _autosave(item_type: str, obj):
    from flask import jsonify

    from .views import _form_data

    data, body = _form_data(item_type)
    try:
        version = int(request.form["version"]) if request.form.get("version") else None
    except ValueError:
        version = None
    try:
        saved = item_service.autosave_item(current_user, item_type, data, body, item=obj, expected_version=version)
    except ValidationFailed as exc:
        db.session.rollback()
        first = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
        return jsonify(ok=False, error=_("Niet automatisch opgeslagen (%(reason)s). Uw tekst staat nog in het "
                                         "formulier.", reason=first)), 400
    except Conflict:
        db.session.rollback()
        return jsonify(ok=False, error=_("Niet automatisch opgeslagen: iemand anders heeft dit item intussen "
                                         "opgeslagen. Sla zelf op om beide versies te vergelijken.")), 409
    type_path = TYPE_PATHS[saved.type]
    return jsonify(ok=True, version=saved.version, saved_at=saved.updated_at.strftime("%H:%M"),
                   edit_url=url_for("web.edit", type_path=type_path, slug=saved.slug),
                   autosave_url=url_for("curation.autosave", type_path=type_path, slug=saved.slug))


@bp.route("/nieuw/<any(werkwijzen, lessen, sleutelfiguren):type_path>/autosave", methods=["POST"])
@login_required
def autosave_new(type_path: str):
    return _autosave(PATH_TYPES[type_path], None)


@bp.route(f"/{TYPE_PATH}/<slug>/autosave", methods=["POST"])
@login_required
def autosave(type_path: str, slug: str):
    obj = _item(type_path, slug)
    if not permissions.can_edit(current_user, obj):  # who may, before what state (tests/test_permission_matrix.py)
        abort(403)
    return _autosave(obj.type, obj)
