"""Views: home, browsing, search, item pages, writing and publishing."""

from __future__ import annotations

import re

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import func, select

from .. import permissions, search, taxonomy
from ..errors import Conflict, ValidationFailed
from ..extensions import db
from ..markdown import library_link_target, render
from ..models import Item, Municipality, Region, TaxonomyTerm
from ..services import items as item_service
from ..services import people as people_service
from ..services.items import front_matter, normalise_newlines
from . import bp
from .filters import PATH_TYPES, TYPE_PATHS, item_url
from .resume import resumed_form

PHASES = list(taxonomy.BUILTIN["phase"])
TYPE_HEADINGS = {"practice": _l("Werkwijzen"), "lesson": _l("Geleerde lessen"), "profile": _l("Sleutelfiguren")}
MAX_QUERY = 500


def _int_arg(name: str, default: int, lo: int = 1, hi: int = 1000) -> int:
    from .paging import int_arg  # one rule for numbers in URLs (clamped, never a 500)

    return int_arg(name, default, lo, hi)


def _facet_names(facets: dict[str, dict[str, int]]) -> dict[str, dict[str, str]]:
    """Display names for facet keys that live in the database."""
    names: dict[str, dict[str, str]] = {"municipality": {}, "region": {}}
    codes = list(facets.get("municipality", {}))
    if codes:
        for m in db.session.scalars(select(Municipality).where(Municipality.cbs_code.in_(codes))):
            names["municipality"][m.cbs_code] = m.name
    ids = [int(i) for i in facets.get("region", {}) if i.isdigit()]
    if ids:
        for r in db.session.scalars(select(Region).where(Region.id.in_(ids))):
            names["region"][str(r.id)] = r.name
    return names


@bp.route("/")
def home():
    return render_template(
        "web/home.html",
        recent=item_service.recent_items(current_user, limit=6),
        featured=item_service.recent_items(current_user, limit=3, featured=True),
        featured_collections=_featured_collections(),
        phases=PHASES,
        counts=_type_counts(),
    )


def _featured_collections() -> list:
    """Featured dossiers with at least one entry the viewer may see (issue #4)."""
    from ..services.collections import featured_collections

    return featured_collections(current_user, limit=3)


def _type_counts() -> dict[str, int]:
    result = search.search(current_user, "", per_page=1, facets=True)
    return result.facets.get("type", {})


@bp.route("/zoeken")
def search_page(preset: dict[str, list[str]] | None = None, heading: str | None = None):
    text = request.args.get("q", "")
    too_long = len(text) > MAX_QUERY
    text = text[:MAX_QUERY]
    filters = {name: request.args.getlist(name) for name in search.FILTER_FIELDS if request.args.getlist(name)}
    for name, values in (preset or {}).items():
        filters[name] = values
    page = _int_arg("pagina", 1)
    sort = request.args.get("sorteer", "relevance")
    result = search.search(current_user, text, filters=filters, page=page, questions=True,
                           per_page=10, sort=sort if sort in search.SORTS else "relevance")
    if page > result.pages:  # beyond the last page: show the last one, not "Pagina 1000 van 2"
        page = result.pages
        result = search.search(current_user, text, filters=filters, page=page, questions=True,
                               per_page=10, sort=sort if sort in search.SORTS else "relevance")
    people_service.record_profile_search(current_user, [h.id for h in result.hits if h.type == "profile"])
    from ..search.suggestions import few_results, suggest_experts  # issue #9: nothing found

    few = few_results(text, result.total, result.facets.get("type", {}).get("question", 0))
    experts = suggest_experts(current_user, text) if few else []
    if preset is None and page == 1 and (text.strip() or filters):  # issue #9: anonymous statistics
        from ..services.insight import log_search

        log_search(text, filters, result.total)
    return render_template(
        "web/search.html", result=result, q=text, filters=filters, sort=sort,
        names=_facet_names(result.facets), heading=heading, too_long=too_long,
        preset=preset or {}, few=few, experts=experts,
    )


@bp.route("/<any(werkwijzen, lessen, sleutelfiguren):type_path>")
def browse_type(type_path: str):
    item_type = PATH_TYPES[type_path]
    if item_type == "profile" and not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return search_page(preset={"type": [item_type]}, heading=str(TYPE_HEADINGS[item_type]))


def _term_label(kind: str, key: str) -> str:
    """The label of ``key`` in the controlled list ``kind`` in the interface
    language (built in, or added by a library's taxonomy.yaml:
    ``TaxonomyTerm``); 404 for a key in neither, so no page exists for a
    made-up theme or phase."""
    if key in taxonomy.BUILTIN[kind]:
        return taxonomy.display_label(kind, key)
    term = db.session.scalar(select(TaxonomyTerm).where(TaxonomyTerm.kind == kind, TaxonomyTerm.key == key))
    if term is None:
        abort(404)
    if taxonomy.interface_language() == "en" and term.label_en:
        return term.label_en
    return term.label_nl or key


@bp.route("/fasen/<phase>")
def browse_phase(phase: str):
    return search_page(preset={"phase": [phase]}, heading=_("Fase: %(label)s", label=_term_label("phase", phase)))


@bp.route("/themas/<theme>")
def browse_theme(theme: str):
    return search_page(preset={"theme": [theme]}, heading=_("Thema: %(label)s", label=_term_label("theme", theme)))


@bp.route("/gemeenten")
def municipalities():
    result = search.search(current_user, "", per_page=1)
    counts = result.facets.get("municipality", {})
    rows = db.session.scalars(select(Municipality).where(Municipality.cbs_code.in_(list(counts)))
                              .order_by(Municipality.name)).all() if counts else []
    return render_template("web/municipalities.html", rows=rows, counts=counts,
                           total=db.session.scalar(select(func.count(Municipality.id))))


@bp.route("/gemeenten/<code>")
def browse_municipality(code: str):
    muni = db.session.scalar(select(Municipality).where(Municipality.cbs_code == code.upper()))
    if muni is None:
        abort(404)
    return search_page(preset={"municipality": [muni.cbs_code]}, heading=_("Gemeente %(name)s", name=muni.name))


@bp.route("/over")
def about():
    return render_template("web/about.html")


#: href the resolver gives a link to an item the viewer may not see (or that
#: does not exist); ``_render_body`` then keeps only the link's text.
_HIDDEN_LINK = "#verborgen-koppeling"
_HIDDEN_ANCHOR = re.compile(r'<a\b[^>]*\bhref="' + re.escape(_HIDDEN_LINK) + r'"[^>]*>(.*?)</a>', re.S)


def _resolver(item_type: str):
    """Links between library files (``../profiles/x.md``) become page URLs,
    but only to items the current user may see (``permissions.can_view``):
    a link to a hidden or missing item must not name it (issue #5)."""
    def resolve(href: str):
        target = library_link_target(href, item_type)
        if target is None:
            return None
        t, slug, anchor = target
        if not item_service.items_by_slugs(current_user, [slug], types=(t,)):
            return _HIDDEN_LINK
        return item_url(t, slug) + anchor

    return resolve


def _render_body(body: str, item_type: str) -> str:
    """An item's Markdown body as HTML for the current user; a link to an
    item they may not see is reduced to its text."""
    return _HIDDEN_ANCHOR.sub(r"\1", render(body, _resolver(item_type)))


@bp.route("/<any(werkwijzen, lessen, sleutelfiguren):type_path>/<slug>")
def item(type_path: str, slug: str):
    item_type = PATH_TYPES[type_path]
    obj = item_service.get_item(current_user, item_type, slug)
    contact = None
    if obj.contact:
        found = item_service.items_by_slugs(current_user, [obj.contact], types=("profile",))
        contact = found[0] if found else None
        if contact is not None:  # the privacy audit (issue #5): the page names the person
            people_service.record_profiles_shown(current_user, [contact], "contact_link")
    related_items = item_service.items_by_slugs(current_user, obj.related or [], types=("practice", "lesson"))
    try:
        similar = [h for h in search.related(current_user, obj, limit=5)
                   if h.slug not in {r.slug for r in related_items}]
    except Exception:  # the index is derived data; an item page must not fail on it
        similar = []
    contact_for = []
    if obj.type == "profile":
        rows = db.session.scalars(select(Item).where(Item.contact == obj.slug, Item.type != "profile")).all()
        contact_for = [r for r in rows if permissions.can_view(current_user, r)]
    show_contact = permissions.can_view_contact(current_user, obj)
    if obj.type == "profile":  # the privacy audit (issue #5)
        people_service.record_profile_view(current_user, obj, contact_shown=show_contact)
    response = render_template(
        "web/item.html", item=obj, html=_render_body(obj.body, obj.type),
        contact=contact, related=related_items, similar=similar, contact_for=contact_for,
        show_contact=show_contact,
    )
    if obj.type == "profile" or contact is not None:
        return response, 200, {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
    return response


# -- writing ---------------------------------------------------------------------------
FORM_LISTS = {"themes", "phase", "steps", "target_groups", "key_figure_types"}
FORM_WORDS = {"tags", "expertise", "languages", "communities"}
FORM_BOOLS = {"formal", "outside_office_hours"}


def _form_data(item_type: str, form=None) -> tuple[dict, str]:
    """Read the item form (``form``, default the request's) into a front-matter
    mapping (what the importer also validates) and the Markdown body. Unknown
    form fields are ignored."""
    from ..validation import allowed_keys

    f = request.form if form is None else form
    data: dict = {}
    for key in allowed_keys(item_type):
        if key in ("type", "slug", "region"):  # not on the form: never taken from a request
            continue
        if key in FORM_LISTS:
            data[key] = f.getlist(key)
        elif key in FORM_WORDS:
            data[key] = [w.strip() for w in f.get(key, "").replace("\n", ",").split(",") if w.strip()]
        elif key in FORM_BOOLS:
            value = f.get(key, "")
            if value:
                data[key] = value
        elif key in f and f.get(key, "").strip():
            data[key] = normalise_newlines(f.get(key).strip())
    return data, normalise_newlines(f.get("body", ""))


def _form_context(item_type: str, values: dict, body: str, errors=None, preview=None, obj=None,
                  conflict=None, change=None):
    munis = db.session.scalars(select(Municipality).order_by(Municipality.name)).all()
    if change is None and obj is not None and obj.status == "published":
        change = item_service.open_change(obj)
    return render_template(
        "web/edit.html", item_type=item_type, values=values, body=body, errors=errors or {},
        preview=preview, item=obj, municipalities=munis, taxonomy=taxonomy, conflict=conflict,
        profiles=_contact_choices(), change=change,
        completeness=item_service.completeness(item_type, values, body),
        privacy_warnings=_privacy_warnings(item_type, values, body),
    )


def _privacy_warnings(item_type: str, values: dict, body: str) -> list[str]:
    """Personal data in a practice or lesson being written (issue #5): warns, never blocks."""
    if item_type == "profile":
        return []
    text = "\n".join([str(values.get("title", "")), str(values.get("summary", "")), body or ""])
    return people_service.personal_data_warnings(text, people_service.profile_names(current_user))


def _contact_choices() -> list[Item]:
    """Published profiles the current user may see, for the contact field
    (their names are on the page: written to the privacy audit, issue #5)."""
    rows = db.session.scalars(select(Item).where(Item.type == "profile", Item.status == "published")
                              .order_by(Item.title)).all()
    shown = [p for p in rows if permissions.can_view(current_user, p)]
    people_service.record_profiles_shown(current_user, shown, "contact_choices")
    return shown


def _values_of(obj: Item, meta: dict | None = None) -> dict:
    meta = dict(meta) if meta is not None else front_matter(obj)
    if isinstance(meta.get("municipality"), list):
        meta["municipality"] = meta["municipality"][0] if meta["municipality"] else ""
    for key in FORM_WORDS:
        if isinstance(meta.get(key), list):
            meta[key] = ", ".join(meta[key])
    return meta


@bp.route("/nieuw/<any(werkwijzen, lessen, sleutelfiguren):type_path>", methods=["GET", "POST"])
@login_required
def create(type_path: str):
    item_type = PATH_TYPES[type_path]
    if not permissions.can_create(current_user, item_type):
        abort(403)
    if request.method == "GET":
        resumed = resumed_form(item_type, None)  # text kept when the session expired (issue #4)
        if resumed is not None:
            return resumed
        values = {"municipality": current_user.municipality.name if current_user.municipality else ""}
        return _form_context(item_type, values, item_service.template_body(item_type))
    return _save(item_type, None)


@bp.route("/<any(werkwijzen, lessen, sleutelfiguren):type_path>/<slug>/bewerken", methods=["GET", "POST"])
@login_required
def edit(type_path: str, slug: str):
    item_type = PATH_TYPES[type_path]
    obj = item_service.get_item(current_user, item_type, slug)
    if not permissions.can_edit(current_user, obj):
        abort(403)
    if request.method == "GET":
        resumed = resumed_form(item_type, obj)  # text kept when the session expired (issue #4)
        if resumed is not None:
            return resumed
        change = item_service.open_change(obj) if obj.status == "published" else None
        if change is not None and not permissions.can_publish(current_user, obj):
            # An author continues from their change waiting for (or returned
            # from) review, not from the live text: nothing typed is lost.
            return _form_context(item_type, _values_of(obj, change.meta), change.body, obj=obj, change=change)
        return _form_context(item_type, _values_of(obj), obj.body, obj=obj, change=change)
    return _save(item_type, obj)


def _save(item_type: str, obj: Item | None):
    data, body = _form_data(item_type)
    shown = dict(data)
    for key in FORM_WORDS:
        if key in shown:
            shown[key] = ", ".join(shown[key])
    if request.form.get("action") == "preview":
        return _form_context(item_type, shown, body, preview=_render_body(body, item_type), obj=obj)
    if obj is not None:
        data.setdefault("status", obj.status)
    else:
        # "Opslaan als concept" makes a draft for everyone, curators and
        # admins too (the content format's default, published, is for
        # imports). Curators also get "Opslaan en publiceren"; whether they
        # may publish this item is the service's check (a refusal names the
        # field).
        data.setdefault("status", "published" if request.form.get("action") == "publish" else "draft")
    try:
        version = int(request.form["version"]) if request.form.get("version") else None
    except ValueError:
        version = None
    expected_change = item_service.UNCHANGED
    if "change" in request.form:
        expected_change = int(request.form["change"]) if request.form["change"].isdigit() else None
    try:
        saved = item_service.save_item(current_user, item_type, data, body, item=obj,
                                       expected_version=version, expected_change=expected_change)
    except ValidationFailed as exc:
        return _form_context(item_type, shown, body, errors=exc.errors, obj=obj), 400
    except Conflict:
        # Nothing typed is lost: the form comes back with this user's text,
        # the version saved meanwhile beside it, and the new version number so
        # that saving again (after merging) is a deliberate choice.
        db.session.rollback()
        current = db.session.get(Item, obj.id)
        change = item_service.open_change(current) if current.status == "published" else None
        return _form_context(item_type, shown, body, obj=current, change=change,
                             conflict=change if change is not None and not permissions.can_publish(current_user, current)
                             else current), 409
    if obj is not None and saved.status == "published" and not permissions.can_publish(current_user, saved):
        flash(_("Uw wijziging is opgeslagen en wacht op beoordeling door een regionale coördinator. "
                "Tot die tijd blijft de gepubliceerde versie zichtbaar."), "success")
        return redirect(item_url(saved.type, saved.slug))
    flash(_("Opgeslagen.") if saved.status == "published" else _("Opgeslagen als concept."), "success")
    return redirect(item_url(saved.type, saved.slug))


@bp.route("/<any(werkwijzen, lessen, sleutelfiguren):type_path>/<slug>/publiceren", methods=["POST"])
@login_required
def publish(type_path: str, slug: str):
    obj = item_service.get_item(current_user, PATH_TYPES[type_path], slug)
    status = "draft" if request.form.get("action") == "unpublish" else "published"
    item_service.set_status(current_user, obj, status)
    flash(_("Gepubliceerd: het item is nu vindbaar.") if status == "published" else _("Teruggezet naar concept."),
          "success")
    return redirect(item_url(obj.type, obj.slug))


@bp.route("/concepten")
@login_required
def drafts():
    return render_template("web/drafts.html", items=item_service.editable_drafts(current_user))


@bp.route("/voorbeeld", methods=["POST"])
@login_required
def preview():
    """Server-side Markdown preview (returns an HTML fragment)."""
    return render(request.form.get("body", "")[:200_000])


__all__ = ["TYPE_PATHS"]


@bp.route("/healthz")
def healthz():
    """Database and index state for load balancers and monitoring."""
    from flask import jsonify

    from ..ops import health

    report, healthy = health()
    return jsonify(report), (200 if healthy else 503), {"Cache-Control": "no-store"}
