"""The API's routes: thin views that parse JSON or query arguments, call the
same services as the web pages, and answer with JSON.

Reading goes through the search index (its permission labels decide what a
caller sees, as on the web) and ``portal.permissions``; writing goes through
``portal.services.items.save_item``, so validation, permissions, revisions,
the audit log and the search change log are those of the web form.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import permissions, search, taxonomy
from ..errors import PermissionDenied, ValidationFailed
from ..extensions import db, limiter
from ..models import ITEM_TYPES, Item, Municipality, TaxonomyTerm
from ..services import items as item_service
from . import _limit_key, api_actor, bp, json_error, write_limit
from ..web.paging import MAX_PAGE, BadNumber, parse_int
from .serialize import hit_json, item_detail, item_summary

MAX_QUERY = 500
MAX_PER_PAGE = 100
#: Fields of the portal's own, never set through the API (mass assignment).
RESERVED = {"id", "author", "author_id", "featured", "version", "created_at", "updated_at",
            "published_at", "revisions", "editable", "url", "api_url"}
#: Content-format keys a writer may not change through the API, as on the
#: web form: the type and slug name the item, the region follows from the
#: municipality (a curator assigns regions).
FIXED = ("type", "slug", "region")
LIST_FILTERS = ("type", "theme", "phase", "municipality")


# -- query arguments -----------------------------------------------------------------
def _int_arg(name: str, default: int, lo: int, hi: int, errors: dict[str, str]) -> int:
    """Query argument ``name`` in ``lo..hi`` (``portal.web.paging``'s rule);
    a bad one is named in ``errors`` (a 400), never clamped silently."""
    try:
        return parse_int(request.args.get(name), default, lo, hi, clamp=False)
    except BadNumber as exc:
        errors[name] = exc.message
        return default


def _filters(names: tuple[str, ...], errors: dict[str, str]) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for name in names:
        values = [v.strip() for v in request.args.getlist(name) if v.strip()]
        if not values:
            continue
        if name == "type" and any(v not in ITEM_TYPES for v in values):
            errors[name] = f"Onbekend soort; kies uit {', '.join(ITEM_TYPES)}."
        if name == "phase" and any(v not in taxonomy.BUILTIN["phase"] for v in values):
            errors[name] = f"Onbekende fase; kies uit {', '.join(taxonomy.BUILTIN['phase'])}."
        if name == "municipality":
            values = [v.upper() for v in values]
        filters[name] = values
    return filters


def _paging(errors: dict[str, str]) -> tuple[int, int]:
    page = _int_arg("page", 1, 1, MAX_PAGE, errors)
    per_page = _int_arg("per_page", 20, 1, MAX_PER_PAGE, errors)
    return page, per_page


def _page_links(endpoint: str, page: int, pages: int, known: tuple[str, ...]) -> dict[str, str | None]:
    """Links to the next and previous page, keeping the query's own
    arguments (only those: ``url_for`` would read others as its options)."""
    args = {k: v for k, v in request.args.to_dict(flat=False).items() if k in known}

    def link(n: int) -> str:
        return url_for(endpoint, **args, page=n, _external=True)

    return {"next": link(page + 1) if page < pages else None, "prev": link(page - 1) if page > 1 else None}


def _load(ids: list[int]) -> dict[int, Item]:
    if not ids:
        return {}
    rows = db.session.scalars(select(Item).where(Item.id.in_(ids))
                              .options(selectinload(Item.municipalities))).all()
    return {i.id: i for i in rows}


# -- reading ---------------------------------------------------------------------------
@bp.get("/items")
def list_items():
    """Items the caller may see, newest first, filtered and paged."""
    errors: dict[str, str] = {}
    filters = _filters(LIST_FILTERS, errors)
    page, per_page = _paging(errors)
    if errors:
        return json_error(400, "De zoekvraag is niet in orde.", errors=errors)
    actor = api_actor()
    result = search.search(actor, "", filters=filters, page=page, per_page=per_page,
                           sort="date", facets=False)
    rows = _load([h.id for h in result.hits])
    # The index decided; the predicates confirm (an index a moment behind
    # never shows what the database now hides).
    items = [item_summary(rows[h.id]) for h in result.hits
             if h.id in rows and permissions.can_view(actor, rows[h.id])]
    from ..services.people import record_profile_search  # the privacy audit (issue #5)

    record_profile_search(actor, [h.id for h in result.hits if h.type == "profile" and h.id in rows], "api_list")
    return jsonify({
        "total": result.total, "page": page, "per_page": per_page, "pages": result.pages,
        "items": items,
        "links": _page_links("api.list_items", page, result.pages, (*LIST_FILTERS, "per_page")),
    })


@bp.get("/items/<any(practice, lesson, profile):item_type>/<slug>")
def get_item(item_type: str, slug: str):
    """One item: front matter, Markdown and HTML; 404 when the caller may not see it."""
    actor = api_actor()
    item = item_service.get_item(actor, item_type, slug)
    if item.type == "profile":  # the privacy audit (issue #5)
        from ..services.people import record_profile_view

        record_profile_view(actor, item, contact_shown=permissions.can_view_contact(actor, item))
    detail = item_detail(actor, item)
    if item.type != "profile" and detail.get("front_matter", {}).get("contact"):
        from ..services.people import record_profiles_shown  # the contact's slug may be a name

        record_profiles_shown(actor, [p for p in item_service.items_by_slugs(
            actor, [detail["front_matter"]["contact"]], types=("profile",))], "api_contact")
    return jsonify(detail)


@bp.get("/search")
def search_items():
    """Full-text search with filters, facets and paging (the web search's engine)."""
    errors: dict[str, str] = {}
    text = request.args.get("q", "")
    if len(text) > MAX_QUERY:
        errors["q"] = f"De zoekvraag is te lang: hoogstens {MAX_QUERY} tekens."
    filters = _filters(tuple(search.FILTER_FIELDS), errors)
    page, per_page = _paging(errors)
    sort = request.args.get("sort", "relevance")
    if sort not in search.SORTS:
        errors["sort"] = f"Onbekende volgorde; kies uit {', '.join(search.SORTS)}."
    if errors:
        return json_error(400, "De zoekvraag is niet in orde.", errors=errors)
    result = search.search(api_actor(), text, filters=filters, page=page, per_page=per_page, sort=sort)
    from ..services.people import record_profile_search  # the privacy audit (issue #5)

    record_profile_search(api_actor(), [h.id for h in result.hits if h.type == "profile"], "api_search")
    return jsonify({
        "query": text, "total": result.total, "page": page, "per_page": per_page,
        "pages": result.pages, "hits": [hit_json(h) for h in result.hits],
        "facets": result.facets, "suggestion": result.suggestion, "fuzzy": bool(result.fuzzy),
        "no_words": bool(result.no_words),
        "links": _page_links("api.search_items", page, result.pages,
                             (*search.FILTER_FIELDS, "q", "sort", "per_page")),
    })


@bp.get("/municipalities")
def municipalities():
    """All municipalities (CBS), each with the number of items the caller may see."""
    counts = search.search(api_actor(), "", per_page=1).facets.get("municipality", {})
    only_with_items = request.args.get("with_items", "").lower() in ("1", "true", "ja", "yes")
    rows = db.session.scalars(select(Municipality).options(selectinload(Municipality.region))
                              .order_by(Municipality.name)).all()
    out = [{"code": m.cbs_code, "name": m.name, "province": m.province or "",
            "region": m.region.name if m.region else None, "items": counts.get(m.cbs_code, 0)}
           for m in rows if not only_with_items or counts.get(m.cbs_code)]
    return jsonify({"total": len(out), "municipalities": out})


@bp.get("/taxonomy")
def taxonomy_lists():
    """Every controlled list: ``{kind: [{key, nl, en}]}``, built-in keys first."""
    extra: dict[str, list[tuple[str, str, str]]] = {}
    for term in db.session.scalars(select(TaxonomyTerm).order_by(TaxonomyTerm.kind, TaxonomyTerm.key)):
        extra.setdefault(term.kind, []).append((term.key, term.label_nl, term.label_en))
    out = {}
    for kind in taxonomy.BUILTIN:
        merged = taxonomy.vocabulary(kind, extra.get(kind, ()))
        out[kind] = [{"key": k, "nl": nl, "en": en} for k, (nl, en) in merged.items()]
    return jsonify(out)


@bp.get("/openapi.json")
def openapi():
    from .openapi import document

    return jsonify(document())


# -- writing ---------------------------------------------------------------------------
#: Deepest nesting of arrays and objects a request body may have; the
#: content format needs three (front_matter -> list -> value), and Python's
#: parser hits its recursion limit near 1,000 (a RecursionError, a 500).
MAX_JSON_DEPTH = 32


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)  # NaN, Infinity, -Infinity: not JSON (RFC 8259, section 6)


def _json_problem(data: Any) -> str | None:
    """A Dutch reason why parsed JSON ``data`` cannot be taken, or ``None``:
    nesting deeper than ``MAX_JSON_DEPTH``, or a lone UTF-16 surrogate
    (``"\\ud800"``) in a key or string, which no database or UTF-8 page can
    hold. Iterative, so it cannot itself run out of stack."""
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if any("\ud800" <= ch <= "\udfff" for ch in value):
                return "De JSON bevat een losse surrogaat-code (zoals \\ud800): dat is geen geldige Unicode-tekst."
        elif isinstance(value, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                return f"De JSON is te diep genest: hoogstens {MAX_JSON_DEPTH} niveaus."
            items = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
            for key, item in items:
                if key is not None:
                    stack.append((key, depth + 1))
                stack.append((item, depth + 1))
    return None


def _json_body() -> dict[str, Any]:
    """The request's JSON object. Raises ``ValidationFailed`` (a 400 JSON
    error, field ``body``) for another content type, text that is not JSON
    (NaN and Infinity included), nesting deeper than ``MAX_JSON_DEPTH``, a
    lone surrogate, or a JSON value that is not an object."""
    import json

    if not request.is_json:
        raise ValidationFailed({"body": ["Stuur JSON met Content-Type: application/json."]})
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:  # the parser recurses once per "[" or "{"
        raise ValidationFailed({"body": [f"De JSON is te diep genest: hoogstens {MAX_JSON_DEPTH} niveaus."]}) from None
    except ValueError:  # UnicodeDecodeError included
        raise ValidationFailed({"body": ["Het verzoek is geen geldige JSON (NaN en Infinity zijn geen JSON)."]}) from None
    if not isinstance(data, dict):
        raise ValidationFailed({"body": ["Het verzoek is geen geldig JSON-object."]})
    problem = _json_problem(data)
    if problem:
        raise ValidationFailed({"body": [problem]})
    return data


def _front_matter_arg(data: dict[str, Any], required: bool) -> dict[str, Any]:
    meta = data.get("front_matter", None if required else {})
    if not isinstance(meta, dict):
        raise ValidationFailed({"front_matter": ["Geef front_matter als JSON-object (sleutel -> waarde)."]})
    refused = sorted(k for k in meta if k in RESERVED)
    if refused:
        raise ValidationFailed({k: ["Dit veld beheert het portaal zelf; u kunt het niet meesturen."] for k in refused})
    return dict(meta)


def _body_arg(data: dict[str, Any], default: str | None) -> str:
    body = data.get("body", default)
    if not isinstance(body, str):
        raise ValidationFailed({"body": ["Geef de tekst (Markdown) als tekenreeks."]})
    return body


def _unknown_keys(data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(k for k in data if k not in allowed)
    if unknown:
        raise ValidationFailed({k: ["Onbekend veld in het verzoek."] for k in unknown})


@bp.post("/items")
@limiter.limit(write_limit, key_func=_limit_key)
def create_item():
    """Create an item (a draft unless the caller may publish and asks for it)."""
    data = _json_body()
    _unknown_keys(data, {"type", "front_matter", "body"})
    item_type = data.get("type")
    if item_type not in ("practice", "lesson", "profile"):
        raise ValidationFailed({"type": ["Kies het soort item: practice, lesson of profile."]})
    meta = _front_matter_arg(data, required=False)
    if meta.get("type") not in (None, item_type):
        raise ValidationFailed({"type": ["Het soort in front_matter verschilt van 'type'."]})
    meta.pop("type", None)
    meta.pop("region", None)  # follows from the municipality, as on the web form
    meta.setdefault("status", "draft")
    actor = api_actor()
    item = item_service.save_item(actor, item_type, meta, _body_arg(data, ""), note="via API")
    response = jsonify(item_detail(actor, item))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_item", item_type=item.type, slug=item.slug, _external=True)
    return response


def _editable_item(item_type: str, slug: str) -> Item:
    actor = api_actor()
    item = item_service.get_item(actor, item_type, slug)  # NotFound when hidden
    if not permissions.can_edit(actor, item):
        raise PermissionDenied("U mag dit item niet bewerken.")
    return item


def _version_arg(data: dict[str, Any]) -> int:
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValidationFailed({"version": ["Geef het versienummer mee dat u het laatst las (veld 'version' van het item)."]})
    return version


def _check_fixed(meta: dict[str, Any], item: Item) -> None:
    current = item_service.front_matter(item)
    errors = {k: ["Dit veld kan via de API niet veranderen."] for k in FIXED
              if k in meta and meta[k] not in (None, current.get(k))}
    if errors:
        raise ValidationFailed(errors)
    for key in FIXED:
        meta.pop(key, None)


@bp.route("/items/<any(practice, lesson, profile):item_type>/<slug>", methods=["PUT", "PATCH"])
@limiter.limit(write_limit, key_func=_limit_key)
def update_item(item_type: str, slug: str):
    """PUT replaces the item's front matter and body; PATCH changes only the
    keys sent (a ``null`` value removes a key), as JSON Merge Patch (RFC 7396).
    ``version`` must be the item's version as last read: 409 when someone
    saved in between."""
    data = _json_body()
    _unknown_keys(data, {"version", "front_matter", "body"})
    item = _editable_item(item_type, slug)
    version = _version_arg(data)
    patch = request.method == "PATCH"
    meta = _front_matter_arg(data, required=not patch)
    _check_fixed(meta, item)
    if patch:
        merged = {k: v for k, v in item_service.front_matter(item).items() if k not in FIXED}
        for key, value in meta.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        meta = merged
        body = _body_arg(data, item.body or "")
    else:
        body = _body_arg(data, None)
    meta.setdefault("status", item.status)
    actor = api_actor()
    saved = item_service.save_item(actor, item_type, meta, body, item=item,
                                   expected_version=version, note="via API")
    return jsonify(item_detail(actor, saved))
