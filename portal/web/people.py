"""Pages about people (issue #5): the expert finder "Wie kan helpen met …",
introduction requests through the region's curator, the privacy officer's
log, and an admin's export and erasure of a person.

Every page here is for logged-in users only and is sent with
``Cache-Control: no-store``: they show profiles or data about them.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from .. import permissions, taxonomy
from ..errors import PermissionDenied, ValidationFailed
from ..extensions import db
from ..models import Region
from ..services import items as item_service
from ..services import people as people_service
from .filters import item_url
from .paging import int_arg, page_arg

bp = Blueprint("people", __name__)

NO_STORE = {"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex"}
MAX_QUERY = 500


@bp.app_context_processor
def _people_globals():
    """Template helpers for profile pages, bound to the current user."""
    return {
        "can_request_introduction": lambda item: permissions.can_request_introduction(current_user, item),
        "consent_expiry": permissions.consent_expiry,
        "can_read_privacy_log": lambda: permissions.can_read_privacy_log(current_user),
        "can_handle_introductions": lambda item: permissions.can_handle_introductions(current_user, item),
        "can_manage_person_data": lambda: permissions.can_manage_person_data(current_user),
    }


def _page(template: str, status: int = 200, **context):
    return render_template(template, **context), status, NO_STORE


def _yes_no(value: str) -> bool | None:
    return {"ja": True, "nee": False}.get((value or "").strip())


# -- the expert finder ---------------------------------------------------------------------
@bp.route("/wie-kan-helpen")
@login_required
def finder():
    text = request.args.get("q", "")[:MAX_QUERY]
    languages = [v for v in request.args.getlist("taal") if v][:20]
    kinds = [v for v in request.args.getlist("soort") if v][:20]
    regions = [v for v in request.args.getlist("regio") if v.isdigit()][:20]
    formal = _yes_no(request.args.get("formeel", ""))
    evening = _yes_no(request.args.get("buiten_kantooruren", ""))
    page = page_arg(hi=1000)
    searched = bool(text or languages or kinds or regions or formal is not None or evening is not None
                    or "q" in request.args)
    result = None
    if searched:
        result = people_service.find_experts(
            current_user, text, languages=languages, key_figure_types=kinds, regions=regions,
            formal=formal, outside_office_hours=evening, page=page)
    options = _finder_options()
    region_names = {str(r.id): r.name for r in db.session.scalars(select(Region))}
    return _page("people/finder.html", q=text, result=result, languages=languages, kinds=kinds,
                 regions=regions, formal=request.args.get("formeel", ""),
                 evening=request.args.get("buiten_kantooruren", ""), options=options,
                 region_names=region_names, own_region=current_user.region_id,
                 item_region_ids=permissions.item_region_ids)


def _finder_options() -> dict[str, list[tuple[str, str]]]:
    """Choices for the finder's filters: the values visible profiles carry
    (facet counts of the viewer's own search, so nothing hidden is named)."""
    from .. import search
    from ..search.documents import language_names

    facets = search.search(current_user, "", filters={"type": ["profile"]}, per_page=1).facets
    names = {str(r.id): r.name for r in db.session.scalars(select(Region))}
    langs = sorted(((c, (language_names([c]) or [c])[0]) for c in facets.get("profile_language", {})),
                   key=lambda kv: kv[1])
    kinds = sorted(((k, taxonomy.label("key_figure_type", k)) for k in facets.get("key_figure_type", {})),
                   key=lambda kv: kv[1])
    regions = sorted(((r, names.get(r, r)) for r in facets.get("region", {})), key=lambda kv: kv[1])
    return {"taal": langs, "soort": kinds, "regio": regions}


# -- introduction requests ---------------------------------------------------------------------
@bp.route("/sleutelfiguren/<slug>/introductie", methods=["GET", "POST"])
@login_required
def introduction(slug: str):
    profile = item_service.get_item(current_user, "profile", slug)
    if not permissions.can_request_introduction(current_user, profile):
        abort(404)
    message = request.form.get("message", "")
    if request.method == "POST":
        try:
            people_service.request_introduction(current_user, profile, message)
        except ValidationFailed as exc:
            db.session.rollback()
            return _page("people/introduction.html", 400, item=profile, message=message, errors=exc.errors)
        flash(_("Uw verzoek is naar de regionale coördinator gestuurd. U hoort van hen."), "success")
        return redirect(item_url("profile", profile.slug))
    people_service.record_profiles_shown(current_user, [profile], "introduction")  # names the person
    return _page("people/introduction.html", item=profile, message="", errors={})


@bp.route("/introductieverzoeken")
@login_required
def introductions():
    if not permissions.can_curate(current_user):
        abort(403)
    return _page("people/introductions.html", requests=people_service.introductions_for(current_user))


@bp.route("/introductieverzoeken/<int:request_id>", methods=["POST"])
@login_required
def handle_introduction(request_id: int):
    req = people_service.handle_introduction(current_user, request_id, request.form.get("action", ""))
    flash(_("Doorgestuurd.") if req.status == "forwarded" else _("Afgewezen."), "success")
    return redirect(url_for("people.introductions"))


# -- the privacy officer -----------------------------------------------------------------
@bp.route("/privacy")
@login_required
def privacy_overview():
    days = int_arg("dagen", 30, 1, 366)
    rows = people_service.privacy_overview(current_user, days=days)
    return _page("people/privacy.html", rows=rows, days=days)


@bp.route("/privacy/profielen/<int:profile_id>")
@login_required
def privacy_profile(profile_id: int):
    profile, events = people_service.privacy_log(current_user, profile_id)
    return _page("people/privacy_profile.html", profile=profile, events=events)


# -- rights of the person (admins) ---------------------------------------------------------
@bp.route("/beheer/personen")
@login_required
def persons():
    return _page("people/persons.html", profiles=people_service.profiles_for_admin(current_user))


@bp.route("/beheer/personen/<int:profile_id>/export", methods=["POST"])
@login_required
def export_person(profile_id: int):
    data = people_service.export_person(current_user, profile_id)
    body = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True)
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="persoon-{profile_id}.json"'}
    return Response(body, mimetype="application/json", headers=headers)


@bp.route("/beheer/personen/<int:profile_id>/wissen", methods=["GET", "POST"])
@login_required
def erase_person(profile_id: int):
    """GET: the preview (where the name occurs as free text) with the
    confirmation form; POST: the erasure."""
    if not permissions.can_manage_person_data(current_user):
        raise PermissionDenied(_("Alleen een beheerder mag een persoon wissen."))
    if request.method == "GET":
        preview = people_service.erasure_preview(current_user, profile_id)
        return _page("people/erase.html", preview=preview)
    if request.form.get("bevestig") != "ja":
        flash(_("Vink aan dat u dit profiel en alles eromheen definitief wilt wissen."), "error")
        return redirect(url_for("people.erase_person", profile_id=profile_id))
    people_service.erase_person(current_user, profile_id)
    flash(_("Het profiel en alle gegevens erover zijn gewist."), "success")
    return redirect(url_for("people.persons"))
