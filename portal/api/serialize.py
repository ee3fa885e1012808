"""Items, search results and places as JSON-ready dicts, through the
permission predicates: what a caller may not see is left out, never masked.

* ``contact_email`` / ``contact_phone`` only when ``can_view_contact`` allows;
* a practice's ``contact`` (a profile's slug, which is often a person's name)
  and ``related`` slugs only where the caller may see the item they name.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from .. import permissions
from ..markdown import library_link_target, render
from ..models import Item
from ..services import items as item_service
from ..web.filters import TYPE_PATHS, item_url

CONTACT_KEYS = ("contact_email", "contact_phone")


def jsonable(value: Any) -> Any:
    """Dates as ISO strings, recursively; a NaN or infinite float (only in a
    row stored before validation refused them) as ``None``, since JSON has
    no such numbers (RFC 8259, section 6); everything else as is."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def api_url(item_type: str, slug: str) -> str:
    from flask import url_for

    return url_for("api.get_item", item_type=item_type, slug=slug, _external=True)


def visible_front_matter(actor: Any, item: Item) -> dict[str, Any]:
    """The item's front matter (content format) as ``actor`` may see it."""
    meta = item_service.front_matter(item)
    if not permissions.can_view_contact(actor, item):
        for key in CONTACT_KEYS:
            meta.pop(key, None)
    if meta.get("contact"):
        if not item_service.items_by_slugs(actor, [meta["contact"]], types=("profile",)):
            meta.pop("contact")
    if meta.get("related"):
        seen = {i.slug for i in item_service.items_by_slugs(actor, list(meta["related"]), types=("practice", "lesson"))}
        kept = [s for s in meta["related"] if s in seen]
        if kept:
            meta["related"] = kept
        else:
            meta.pop("related")
    return jsonable(meta)


def _resolver(actor: Any, item_type: str):
    """Links between library files become page URLs, but only for items
    ``actor`` may see (a link to a hidden profile keeps its relative href)."""
    def resolve(href: str) -> str | None:
        target = library_link_target(href, item_type)
        if target is None:
            return None
        t, slug, anchor = target
        if not item_service.items_by_slugs(actor, [slug], types=(t,)):
            return "#"
        return item_url(t, slug, _external=True) + anchor

    return resolve


def item_summary(item: Item) -> dict[str, Any]:
    """The fields a list shows (no contact details, no body)."""
    return {
        "type": item.type,
        "slug": item.slug,
        "title": item.title,
        "summary": item.summary or "",
        "status": item.status,
        "date": jsonable(item.date),
        "themes": list(item.themes or []),
        "phase": list(item.phases or []),
        "municipalities": [{"code": m.cbs_code, "name": m.name} for m in item.municipalities],
        "updated_at": jsonable(item.updated_at),
        "url": item_url(item.type, item.slug, _external=True),
        "api_url": api_url(item.type, item.slug),
    }


def item_detail(actor: Any, item: Item) -> dict[str, Any]:
    """One item in full for ``actor`` (who may see it): front matter, the
    Markdown body and its rendered, sanitised HTML."""
    out = item_summary(item)
    out.update({
        "visibility": permissions.effective_visibility(item),
        "version": item.version,
        "published_at": jsonable(item.published_at),
        "front_matter": visible_front_matter(actor, item),
        "body": item.body or "",
        "html": render(item.body or "", _resolver(actor, item.type)),
        "editable": permissions.can_edit(actor, item),
    })
    return out


def hit_json(hit: Any) -> dict[str, Any]:
    return {
        "type": hit.type,
        "slug": hit.slug,
        "title": hit.title,
        "summary": hit.summary or "",
        "snippet": hit.snippet or "",
        "score": float(hit.score or 0.0),
        "date": jsonable(hit.date.date() if isinstance(hit.date, datetime) else hit.date),
        "url": item_url(hit.type, hit.slug, _external=True),
        "api_url": api_url(hit.type, hit.slug),
    }


__all__ = ["TYPE_PATHS", "item_detail", "item_summary", "hit_json", "jsonable", "visible_front_matter"]
