"""Atom feeds and ``sitemap.xml``: public, published practices and lessons only.

Feeds are built as the anonymous visitor: the search index's permission
labels choose the items (``portal.search.search(None, ...)``), and every item
is checked again with ``permissions.can_view(None, item)`` before it is
written, so a profile, a draft or a members-only item never reaches a feed,
whoever asks. Atom: RFC 4287 (https://www.rfc-editor.org/rfc/rfc4287),
written with feedgen; sitemaps: https://www.sitemaps.org/protocol.html.

Feeds are documents for other programs, cached publicly and declared Dutch
(``<language>nl``): their titles stay Dutch whatever the interface language
of the visitor who follows a feed link (issue #8: written files are not
translated).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET  # nosec B405: builds XML, never parses any

from flask import Blueprint, Response, abort, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import permissions, search, taxonomy
from ..extensions import db
from ..markdown import library_link_target, render
from ..models import Item, Municipality, TaxonomyTerm
from ..validation import clean_text
from .filters import PATH_TYPES, item_url

bp = Blueprint("feeds", __name__)

FEED_SIZE = 50
MAX_QUERY = 500
PUBLIC_TYPES = ("practice", "lesson")
ATOM = "application/atom+xml; charset=utf-8"
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
SITE_NAME = "Kennisportaal sleutelfiguren"


def public_items(text: str = "", filters: dict[str, list[str]] | None = None,
                 limit: int = FEED_SIZE) -> list[Item]:
    """The newest published items an anonymous visitor may see that match
    ``text`` and ``filters`` (facet field -> values), at most ``limit``."""
    filters = dict(filters or {})
    wanted = [t for t in filters.get("type", PUBLIC_TYPES) if t in PUBLIC_TYPES]
    if not wanted:
        return []
    filters["type"] = wanted
    result = search.search(None, text[:MAX_QUERY], filters=filters, per_page=limit,
                           sort="date", facets=False)
    ids = [h.id for h in result.hits]
    if not ids:
        return []
    rows = {i.id: i for i in db.session.scalars(
        select(Item).where(Item.id.in_(ids)).options(selectinload(Item.municipalities)))}
    return [rows[i] for i in ids if i in rows and _public(rows[i])]


def _public(item: Item) -> bool:
    return item.type in PUBLIC_TYPES and item.status == "published" and permissions.can_view(None, item)


def _aware(value: datetime | None) -> datetime:
    return (value or datetime(1970, 1, 1)).replace(tzinfo=UTC)


def _public_link(item_type: str):
    """Links between library files: to the item's page when it is public,
    otherwise dropped (a feed never names a hidden item)."""
    def resolve(href: str) -> str | None:
        target = library_link_target(href, item_type)
        if target is None:
            return None
        t, slug, anchor = target
        other = db.session.scalar(select(Item).where(Item.type == t, Item.slug == slug))
        if other is None or not _public(other):
            return "#"
        return item_url(t, slug, _external=True) + anchor

    return resolve


def _atom(title: str, alternate: str, items: list[Item]) -> Response:
    """An Atom feed of ``items``. Text goes through ``clean_text``: XML cannot
    carry control characters, and a row stored before they were refused (or a
    query in the title) must not break the feed."""
    from feedgen.feed import FeedGenerator

    self_url = request.url
    fg = FeedGenerator()
    fg.id(self_url)
    fg.title(clean_text(f"{title} · {SITE_NAME}"))
    fg.subtitle("Openbare werkwijzen en geleerde lessen van gemeenten tegen polarisatie en radicalisering.")
    fg.author({"name": SITE_NAME})
    fg.link(href=alternate, rel="alternate", type="text/html")
    fg.link(href=self_url, rel="self", type="application/atom+xml")
    fg.language("nl")
    fg.generator(SITE_NAME)
    fg.updated(max((_aware(i.updated_at) for i in items), default=_aware(None)))
    for item in items:
        url = item_url(item.type, item.slug, _external=True)
        entry = fg.add_entry(order="append")
        entry.id(url)
        entry.title(clean_text(item.title))
        entry.link(href=url, rel="alternate", type="text/html")
        entry.updated(_aware(item.updated_at))
        if item.published_at:
            entry.published(_aware(item.published_at))
        if item.summary:
            entry.summary(clean_text(item.summary))
        entry.content(clean_text(render(item.body or "", _public_link(item.type))), type="html")
        entry.category(term=item.type, label=taxonomy.label("type", item.type))
        for theme in item.themes or []:
            entry.category(term=theme, label=taxonomy.label("theme", theme))
        for m in item.municipalities:
            entry.category(term=m.cbs_code, label=m.name)
    return Response(fg.atom_str(pretty=True), mimetype="application/atom+xml",
                    headers={"Content-Type": ATOM, "Cache-Control": "public, max-age=300"})


@bp.get("/feeds/alles.atom")
def all_items():
    """Every public practice and lesson."""
    return _atom("Werkwijzen en geleerde lessen", url_for("web.home", _external=True), public_items())


@bp.get("/feeds/<any(werkwijzen, lessen):type_path>.atom")
def by_type(type_path: str):
    item_type = PATH_TYPES[type_path]
    title = "Werkwijzen" if item_type == "practice" else "Geleerde lessen"
    return _atom(title, url_for("web.browse_type", type_path=type_path, _external=True),
                 public_items(filters={"type": [item_type]}))


def _known_theme(key: str) -> bool:
    if key in taxonomy.BUILTIN["theme"]:
        return True
    return db.session.scalar(select(TaxonomyTerm.id).where(TaxonomyTerm.kind == "theme",
                                                           TaxonomyTerm.key == key)) is not None


@bp.get("/feeds/themas/<theme>.atom")
def by_theme(theme: str):
    if not _known_theme(theme):
        abort(404)
    return _atom("Thema: " + taxonomy.label("theme", theme),
                 url_for("web.browse_theme", theme=theme, _external=True),
                 public_items(filters={"theme": [theme]}))


@bp.get("/feeds/fasen/<phase>.atom")
def by_phase(phase: str):
    if phase not in taxonomy.BUILTIN["phase"]:
        abort(404)
    return _atom("Fase: " + taxonomy.label("phase", phase),
                 url_for("web.browse_phase", phase=phase, _external=True),
                 public_items(filters={"phase": [phase]}))


@bp.get("/feeds/gemeenten/<code>.atom")
def by_municipality(code: str):
    muni = db.session.scalar(select(Municipality).where(Municipality.cbs_code == code.upper()))
    if muni is None:
        abort(404)
    return _atom("Gemeente " + muni.name,
                 url_for("web.browse_municipality", code=muni.cbs_code, _external=True),
                 public_items(filters={"municipality": [muni.cbs_code]}))


@bp.get("/feeds/zoeken.atom")
def by_search():
    """A saved search as a feed: ``q`` and the search page's filters."""
    text = request.args.get("q", "")[:MAX_QUERY]
    filters = {name: request.args.getlist(name) for name in search.FILTER_FIELDS if request.args.getlist(name)}
    args: dict[str, Any] = {"q": text} if text else {}
    args.update(filters)
    heading = f"Zoeken: {text}" if text.strip() else "Zoeken"
    return _atom(heading, url_for("web.search_page", _external=True, **args), public_items(text, filters))


# -- sitemap -------------------------------------------------------------------------
def _url(parent: ET.Element, loc: str, lastmod: datetime | None = None) -> None:
    node = ET.SubElement(parent, "url")
    ET.SubElement(node, "loc").text = loc
    if lastmod is not None:
        ET.SubElement(node, "lastmod").text = lastmod.date().isoformat()


@bp.get("/sitemap.xml")
def sitemap():
    """The main listing pages, the listing pages with public items (themes,
    phases, municipalities), and every public practice and lesson."""
    root = ET.Element("urlset", xmlns=SITEMAP_NS)
    for endpoint, values in (("web.home", {}), ("web.browse_type", {"type_path": "werkwijzen"}),
                             ("web.browse_type", {"type_path": "lessen"}), ("web.municipalities", {}),
                             ("web.about", {})):
        _url(root, url_for(endpoint, **values, _external=True))
    facets = search.search(None, "", per_page=1).facets
    for phase in taxonomy.BUILTIN["phase"]:
        if facets.get("phase", {}).get(phase):
            _url(root, url_for("web.browse_phase", phase=phase, _external=True))
    for theme in sorted(facets.get("theme", {})):
        _url(root, url_for("web.browse_theme", theme=theme, _external=True))
    for code in sorted(facets.get("municipality", {})):
        _url(root, url_for("web.browse_municipality", code=code, _external=True))
    rows = db.session.scalars(select(Item).where(Item.status == "published", Item.type.in_(PUBLIC_TYPES))
                              .options(selectinload(Item.municipalities)).order_by(Item.type, Item.slug))
    for item in rows:
        if _public(item):
            _url(root, item_url(item.type, item.slug, _external=True), item.updated_at)
    xml = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")
    return Response(xml, mimetype="application/xml",
                    headers={"Cache-Control": "public, max-age=3600"})
