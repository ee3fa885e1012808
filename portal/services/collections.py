"""Curated collections ("dossiers", issue #4): a curator's ordered selection of
practices, lessons and profiles across municipalities, with an introduction
in Markdown, optionally featured on the home page.

Reading: every entry is shown only to a viewer who may see its item
(``permissions.can_view``, published items only); an entry the viewer may not
see is left out silently and is not counted. Writing: curators of the
collection's region and admins (every curator for a national collection,
``permissions.can_manage_collection``); every writing function calls
``begin_write()`` first, writes an audit row and commits once.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from .. import permissions
from ..database import begin_write
from ..errors import NotFound, PermissionDenied, ValidationFailed
from ..extensions import db
from ..models import Collection, CollectionEntry, Item, Region
from ..models.base import utcnow
from ..validation import clean_text
from .common import audit
from .items import slugify

MAX_TITLE = 300
MAX_INTRODUCTION = 50_000
MAX_ENTRIES = 500
TYPE_PATHS = {"werkwijzen": "practice", "lessen": "lesson", "sleutelfiguren": "profile"}
_REF = re.compile(r"^(?:https?://[^/]+)?/?(werkwijzen|lessen|sleutelfiguren)/([a-z0-9-]{1,200})/?(?:[?#].*)?$")


@dataclass
class Summary:
    """A collection as a list shows it: ``count`` counts only the entries
    the viewer may see."""

    collection: Collection
    count: int


# -- reading ------------------------------------------------------------------------------
def _shown(actor: Any, item: Item) -> bool:
    return item.status == "published" and permissions.can_view(actor, item)


def visible_items(actor: Any, collection: Collection) -> list[Item]:
    """The items of ``collection`` that ``actor`` may see, in the curator's order."""
    return [e.item for e in collection.entries if _shown(actor, e.item)]


def managed_entries(actor: Any, collection: Collection) -> list[CollectionEntry]:
    """The entries a manager works with: those whose item ``actor`` may see
    (drafts included), in order. Entries hidden from them keep their place."""
    return [e for e in collection.entries if permissions.can_view(actor, e.item)]


def can_manage(actor: Any, collection: Collection) -> bool:
    return permissions.can_manage_collection(actor, collection.region_id)


def get_collection(slug: str) -> Collection:
    """The collection with ``slug``; ``NotFound`` when there is none."""
    found = db.session.scalar(select(Collection).where(Collection.slug == slug))
    if found is None:
        raise NotFound(_("Dit dossier bestaat niet."))
    return found


def list_collections(actor: Any) -> list[Summary]:
    """Collections by title with the number of entries ``actor`` may see; a
    collection with nothing ``actor`` may see is left out, unless they manage it."""
    out = []
    for coll in db.session.scalars(select(Collection).order_by(Collection.title)):
        count = len(visible_items(actor, coll))
        if count or can_manage(actor, coll):
            out.append(Summary(coll, count))
    return out


def featured_collections(actor: Any, limit: int = 3) -> list[Summary]:
    """Featured collections (last changed first) with at least one entry ``actor`` may see."""
    out = []
    stmt = select(Collection).where(Collection.featured.is_(True)).order_by(Collection.updated_at.desc())
    for coll in db.session.scalars(stmt):
        count = len(visible_items(actor, coll))
        if count:
            out.append(Summary(coll, count))
        if len(out) >= limit:
            break
    return out


def managed_regions(actor: Any) -> list[Region]:
    """Regions ``actor`` may make collections for, by name."""
    rows = db.session.scalars(select(Region).order_by(Region.name)).all()
    return [r for r in rows if permissions.can_manage_collection(actor, r.id)]


# -- writing ------------------------------------------------------------------------------
def _require(actor: Any, collection: Collection) -> None:
    if not can_manage(actor, collection):
        raise PermissionDenied(_("Alleen de regionale coördinatoren van dit dossier mogen het wijzigen."))


def _validate(actor: Any, data: dict[str, str]) -> dict[str, Any]:
    """``data`` (form strings ``title``, ``introduction``, ``region``) -> clean
    column values; ``ValidationFailed`` naming every bad field."""
    errors: dict[str, list[str]] = {}
    title = clean_text(data.get("title") or "").strip()
    intro = clean_text(data.get("introduction") or "").strip()
    if not title:
        errors.setdefault("title", []).append(_("Vul een titel in."))
    elif len(title) > MAX_TITLE:
        errors.setdefault("title", []).append(_("De titel is te lang: hoogstens %(n)s tekens.", n=MAX_TITLE))
    if len(intro) > MAX_INTRODUCTION:
        errors.setdefault("introduction", []).append(
            _("De inleiding is te lang: hoogstens %(n)s tekens.", n=MAX_INTRODUCTION))
    region_id = None
    raw = (data.get("region") or "").strip()
    if raw:
        region = db.session.get(Region, int(raw)) if raw.isdigit() and len(raw) < 10 else None
        if region is None:
            errors.setdefault("region", []).append(_("Kies een bestaande regio uit de lijst bij Regio."))
        else:
            region_id = region.id
    if "region" not in errors and not permissions.can_manage_collection(actor, region_id):
        errors.setdefault("region", []).append(_("U mag alleen dossiers maken voor uw eigen regio."))
    if errors:
        raise ValidationFailed(errors)
    return {"title": title, "introduction": intro, "region_id": region_id}


def _unique_slug(base: str) -> str:
    slug = base if base != "nieuw" else f"nieuw-{secrets.token_hex(3)}"  # /dossiers/nieuw is a page
    while db.session.scalar(select(Collection.id).where(Collection.slug == slug)) is not None:
        slug = f"{base[:70]}-{secrets.token_hex(3)}"
    return slug


def create_collection(actor: Any, data: dict[str, str]) -> Collection:
    """A new collection from form strings (``title``, ``introduction``,
    ``region``: a region id, or empty for national). ``PermissionDenied``
    for a non-curator; ``ValidationFailed`` for bad input (nothing written)."""
    begin_write()
    if not permissions.can_curate(actor):
        raise PermissionDenied(_("Alleen regionale coördinatoren maken dossiers."))
    clean = _validate(actor, data)
    coll = Collection(slug=_unique_slug(slugify(clean["title"])), created_by_id=actor.id,
                      featured=False, **clean)
    db.session.add(coll)
    db.session.flush()
    audit(actor, "collection.create", f"collection:{coll.id}", title=coll.title, region_id=coll.region_id)
    db.session.commit()
    return coll


def update_collection(actor: Any, collection: Collection, data: dict[str, str]) -> Collection:
    """Change title, introduction and region (the actor must manage both the
    old and the new region). Errors as :func:`create_collection`."""
    begin_write()
    _require(actor, collection)
    clean = _validate(actor, data)
    for key, value in clean.items():
        setattr(collection, key, value)
    collection.updated_at = utcnow()
    audit(actor, "collection.update", f"collection:{collection.id}", title=collection.title,
          region_id=collection.region_id)
    db.session.commit()
    return collection


def set_featured(actor: Any, collection: Collection, featured: bool) -> None:
    """Show (or stop showing) ``collection`` on the home page."""
    begin_write()
    _require(actor, collection)
    collection.featured = bool(featured)
    collection.updated_at = utcnow()
    audit(actor, "collection.feature" if featured else "collection.unfeature", f"collection:{collection.id}")
    db.session.commit()


def resolve_reference(actor: Any, ref: str) -> Item | None:
    """An item's page address (``/werkwijzen/slug``, with or without host)
    or ``werkwijzen/slug`` -> the item, if ``actor`` may see it; else ``None``."""
    m = _REF.match((ref or "").strip())
    if not m:
        return None
    item = db.session.scalar(select(Item).where(Item.type == TYPE_PATHS[m.group(1)], Item.slug == m.group(2)))
    if item is None or not permissions.can_view(actor, item):
        return None
    return item


def add_entry(actor: Any, collection: Collection, ref: str) -> CollectionEntry:
    """Append the item at address ``ref`` (see :func:`resolve_reference`) to
    ``collection``. ``ValidationFailed`` (field ``item``) for an unknown or
    hidden item, one already in the collection, or a full collection."""
    begin_write()
    _require(actor, collection)
    item = resolve_reference(actor, ref)
    if item is None:
        raise ValidationFailed({"item": [_(
            "Dit item is niet gevonden. Plak het adres van een werkwijze, les of sleutelfiguur, "
            "bijvoorbeeld /werkwijzen/naam-van-de-werkwijze.")]})
    if any(e.item_id == item.id for e in collection.entries):
        raise ValidationFailed({"item": [_("Dit item staat al in het dossier.")]})
    if len(collection.entries) >= MAX_ENTRIES:
        raise ValidationFailed({"item": [_("Een dossier heeft hoogstens %(n)s items.", n=MAX_ENTRIES)]})
    last = max((e.position for e in collection.entries), default=0)
    entry = CollectionEntry(item_id=item.id, position=last + 1)
    collection.entries.append(entry)
    collection.updated_at = utcnow()
    db.session.flush()
    audit(actor, "collection.add", f"collection:{collection.id}", item_id=item.id)
    db.session.commit()
    return entry


def _entry(actor: Any, collection: Collection, entry_id: int) -> CollectionEntry:
    for e in managed_entries(actor, collection):
        if e.id == entry_id:
            return e
    raise NotFound(_("Dit item staat niet in het dossier."))


def remove_entry(actor: Any, collection: Collection, entry_id: int) -> None:
    """Take an entry (one ``actor`` may see) out of ``collection``."""
    begin_write()
    _require(actor, collection)
    entry = _entry(actor, collection, entry_id)
    item_id = entry.item_id
    collection.entries.remove(entry)
    collection.updated_at = utcnow()
    audit(actor, "collection.remove", f"collection:{collection.id}", item_id=item_id)
    db.session.commit()


def move_entry(actor: Any, collection: Collection, entry_id: int, *, direction: str | None = None,
               position: int | None = None) -> None:
    """Move an entry one place ``direction`` ("up"/"down") or to ``position``
    (1 = first, clamped) among the entries ``actor`` may see; entries hidden
    from ``actor`` keep their places. ``ValidationFailed`` without either."""
    begin_write()
    _require(actor, collection)
    entry = _entry(actor, collection, entry_id)
    shown = managed_entries(actor, collection)
    index = shown.index(entry)
    if direction in ("up", "down"):
        target = index - 1 if direction == "up" else index + 1
    elif position is not None:
        target = position - 1
    else:
        raise ValidationFailed({"position": [_("Vul een positie in (een getal, 1 is bovenaan).")]})
    target = max(0, min(len(shown) - 1, target))
    slots = [e.position for e in shown]  # the places the visible entries hold
    reordered = shown[:index] + shown[index + 1:]
    reordered.insert(target, entry)
    for slot, e in zip(slots, reordered, strict=True):
        e.position = slot
    collection.updated_at = utcnow()
    audit(actor, "collection.move", f"collection:{collection.id}", item_id=entry.item_id, position=target + 1)
    db.session.commit()
