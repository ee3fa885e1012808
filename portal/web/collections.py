"""Curated collections ("dossiers", issue #4): /dossiers (list),
/dossiers/<slug> (view), and the curators' pages to create, edit, reorder
and feature them. Thin: parse input, call ``portal.services.collections``,
render. Every state-changing route is POST with CSRF."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import permissions
from ..errors import ValidationFailed
from ..markdown import render
from ..services import collections as service

bp = Blueprint("collections", __name__)
FIELDS = ("title", "introduction", "region")


def _values(coll) -> dict[str, str]:
    return {"title": coll.title, "introduction": coll.introduction,
            "region": str(coll.region_id) if coll.region_id else ""}


def _form(values: dict, errors: dict | None = None, coll=None, status: int = 200):
    return render_template(
        "collections/form.html", values=values, errors=errors or {}, collection=coll,
        regions=service.managed_regions(current_user),
        national=permissions.can_manage_collection(current_user, None),
    ), status


def _managed(dossier: str):
    coll = service.get_collection(dossier)
    if not service.can_manage(current_user, coll):
        abort(403)
    return coll


@bp.route("/dossiers")
def index():
    return render_template("collections/index.html", rows=service.list_collections(current_user),
                           may_create=permissions.can_curate(current_user))


@bp.route("/dossiers/<dossier>")
def view(dossier: str):
    coll = service.get_collection(dossier)
    items = service.visible_items(current_user, coll)
    from ..services.people import record_profiles_shown  # the privacy audit (issue #5)

    record_profiles_shown(current_user, [i for i in items if i.type == "profile"], "collection")
    response = render_template("collections/view.html", collection=coll, items=items,
                               introduction=render(coll.introduction),
                               may_manage=service.can_manage(current_user, coll))
    if any(i.type == "profile" for i in items):
        return response, 200, {"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex"}
    return response


@bp.route("/dossiers/nieuw", methods=["GET", "POST"])
@login_required
def create():
    if not permissions.can_curate(current_user):
        abort(403)
    if request.method == "GET":
        first = service.managed_regions(current_user)
        return _form({"region": str(first[0].id) if first and current_user.region_id else ""})
    values = {k: request.form.get(k, "") for k in FIELDS}
    try:
        coll = service.create_collection(current_user, values)
    except ValidationFailed as exc:
        return _form(values, exc.errors, status=400)
    flash(_("Het dossier is aangemaakt. Voeg nu werkwijzen, lessen en sleutelfiguren toe."), "success")
    return redirect(url_for("collections.manage", dossier=coll.slug))


@bp.route("/dossiers/<dossier>/bewerken", methods=["GET", "POST"])
@login_required
def edit(dossier: str):
    coll = _managed(dossier)
    if request.method == "GET":
        return _form(_values(coll), coll=coll)
    values = {k: request.form.get(k, "") for k in FIELDS}
    try:
        service.update_collection(current_user, coll, values)
    except ValidationFailed as exc:
        return _form(values, exc.errors, coll=coll, status=400)
    flash(_("Het dossier is opgeslagen."), "success")
    return redirect(url_for("collections.manage", dossier=coll.slug))


def _manage_page(coll, errors: dict | None = None, ref: str = "", status: int = 200):
    from ..services.people import record_profiles_shown  # the privacy audit (issue #5)

    entries = service.managed_entries(current_user, coll)
    record_profiles_shown(current_user, [e.item for e in entries if e.item.type == "profile"], "collection")
    return render_template("collections/manage.html", collection=coll, errors=errors or {}, ref=ref,
                           entries=entries), status, {"Cache-Control": "private, no-store"}


@bp.route("/dossiers/<dossier>/beheren")
@login_required
def manage(dossier: str):
    return _manage_page(_managed(dossier))


@bp.route("/dossiers/<dossier>/items", methods=["POST"])
@login_required
def add(dossier: str):
    coll = _managed(dossier)
    ref = request.form.get("item", "")[:500]
    try:
        service.add_entry(current_user, coll, ref)
    except ValidationFailed as exc:
        return _manage_page(coll, exc.errors, ref=ref, status=400)
    flash(_("Het item is aan het dossier toegevoegd."), "success")
    return redirect(url_for("collections.manage", dossier=coll.slug))


@bp.route("/dossiers/<dossier>/items/<int:entry_id>/verplaatsen", methods=["POST"])
@login_required
def move(dossier: str, entry_id: int):
    coll = _managed(dossier)
    direction = request.form.get("richting")
    raw = request.form.get("positie", "").strip()
    position = int(raw) if raw.isdigit() and len(raw) < 7 else None
    if direction not in ("up", "down") and position is None:
        return _manage_page(coll, {"position": [_("Vul bij Positie een getal in (1 is bovenaan).")]}, status=400)
    service.move_entry(current_user, coll, entry_id, direction=direction if direction in ("up", "down") else None,
                       position=position)
    return redirect(url_for("collections.manage", dossier=coll.slug) + f"#item-{entry_id}")


@bp.route("/dossiers/<dossier>/items/<int:entry_id>/verwijderen", methods=["POST"])
@login_required
def remove(dossier: str, entry_id: int):
    coll = _managed(dossier)
    service.remove_entry(current_user, coll, entry_id)
    flash(_("Het item is uit het dossier gehaald."), "success")
    return redirect(url_for("collections.manage", dossier=coll.slug))


@bp.route("/dossiers/<dossier>/uitlichten", methods=["POST"])
@login_required
def feature(dossier: str):
    coll = _managed(dossier)
    on = request.form.get("uitgelicht") == "1"
    service.set_featured(current_user, coll, on)
    flash(_("Het dossier staat nu op de startpagina.") if on else _("Het dossier staat niet meer op de startpagina."),
          "success")
    return redirect(url_for("collections.manage", dossier=coll.slug))
