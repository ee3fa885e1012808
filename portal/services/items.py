"""Creating, changing, publishing and reading items."""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError

from .. import permissions, search
from ..errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from ..database import begin_write
from ..extensions import db
from ..models import ITEM_TYPES, Item, Region, Revision
from ..models.base import utcnow
from ..validation import COLUMN_OF, LIST_KINDS, Vocabulary, allowed_keys, validate_item
from .common import audit, log_search_change, vocabulary


class SystemActor:
    """The actor of command-line and start-up work: may do everything."""

    id = None
    is_authenticated = True
    is_active = True
    is_anonymous = False
    role = "admin"
    municipality = None
    region_id = None
    email = "system"

    def has_role(self, role: str) -> bool:
        return True


SYSTEM = SystemActor()

# Keys written by the portal itself rather than by an author's form.
_MANAGED = {"status", "reviewed", "review_due"}


def normalise_newlines(text: str) -> str:
    """Browsers send textareas with CRLF line ends; store LF, like the files."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def slugify(text: str, max_length: int = 80) -> str:
    """``'Sleutelfiguren werven in Súdwest-Fryslân'`` -> ``'sleutelfiguren-werven-in-sudwest-fryslan'``."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    return slug[:max_length].rstrip("-") or "item"


def _unique_slug(item_type: str, base: str, exclude_id: int | None = None) -> str:
    """``base``, or ``base`` with a random suffix when taken: a counter
    (``-2``) would tell an author that a hidden item with that name exists."""
    slug = base
    while True:
        existing = db.session.scalar(select(Item.id).where(Item.type == item_type, Item.slug == slug))
        if existing is None or existing == exclude_id:
            return slug
        slug = f"{base[:70]}-{secrets.token_hex(3)}"


def front_matter(item: Item) -> dict[str, Any]:
    """The item as a front-matter mapping in the content format's key order,
    empty values left out, unknown keys (``extra``) appended. Dates are ``date``."""
    out: dict[str, Any] = {"type": item.type, "title": item.title, "slug": item.slug}
    for key in allowed_keys(item.type):
        if key in ("type", "title", "slug"):
            continue
        if key == "municipality":
            names = [m.name for m in item.municipalities]
            value: Any = names[0] if len(names) == 1 else names
        elif key == "region":
            value = item.region.name if item.region else None
        else:
            value = getattr(item, COLUMN_OF.get(key, key))
        if value is None or value == "" or value == []:
            continue
        out[key] = value
    for key, value in (item.extra or {}).items():
        out.setdefault(key, value)
    return out


def _snapshot(item: Item) -> dict[str, Any]:
    meta = front_matter(item)
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in meta.items()}


def add_revision(item: Item, actor: Any, note: str = "") -> Revision:
    """Append a revision row holding the item's current state."""
    number = (max((r.number for r in item.revisions), default=0)) + 1
    rev = Revision(
        item=item, number=number, title=item.title, body=item.body,
        meta=_snapshot(item), note=note[:500],
        author_id=getattr(actor, "id", None),
    )
    db.session.add(rev)
    return rev


def apply_fields(item: Item, clean: dict[str, Any], extra: dict[str, Any], body: str | None) -> None:
    """Write validated values onto ``item``; keys absent from ``clean`` are
    reset to empty so an item always equals the data last saved."""
    for key, kind in allowed_keys(item.type).items():
        if key in ("type", "slug", "region", "municipality"):
            continue
        attr = COLUMN_OF.get(key, key)
        empty = [] if kind.startswith("list:") or kind in LIST_KINDS else None
        setattr(item, attr, clean.get(attr, empty))
    item.title = clean.get("title", item.title)
    item.summary = clean.get("summary") or ""
    item.visibility = clean.get("visibility") or ("members" if item.type == "profile" else "public")
    item.status = clean.get("status") or "published"
    item.language = clean.get("language") or "nl"
    region_name = clean.get("region")
    if region_name:
        region = db.session.scalar(select(Region).where(Region.name == region_name))
        if region is None:
            region = Region(name=region_name)
            db.session.add(region)
        item.region = region
    else:
        muni_regions = [m.region for m in item.municipalities if m.region]
        item.region = muni_regions[0] if muni_regions else None
    item.extra = dict(extra)
    if body is not None:
        item.body = body


def save_item(
    actor: Any,
    item_type: str,
    data: dict[str, Any],
    body: str,
    *,
    item: Item | None = None,
    expected_version: int | None = None,
    vocab: Vocabulary | None = None,
    note: str = "",
) -> Item:
    """Create (``item=None``) or change an item from a front-matter mapping and
    a Markdown body, as ``actor``; one transaction, one new revision.

    Authors cannot publish through this call: unless ``actor`` may publish the
    item, a new item is saved as a draft and an existing item keeps its status,
    and the curator-managed keys (status, reviewed, review_due) are ignored.

    Raises ``PermissionDenied``, ``ValidationFailed`` (field -> messages) or
    ``Conflict`` when ``expected_version`` is given and someone saved first.
    """
    if item_type not in ITEM_TYPES:
        raise ValidationFailed({"type": [f"Onbekend soort item '{item_type}'."]})
    begin_write()
    if item is None and not permissions.can_create(actor, item_type):
        raise PermissionDenied("U mag dit soort item niet aanmaken.")
    if item is not None and not permissions.can_edit(actor, item):
        raise PermissionDenied("U mag dit item niet bewerken.")
    if item is not None and expected_version is not None and item.version != expected_version:
        raise Conflict("Iemand anders heeft dit item intussen opgeslagen.")

    data = dict(data)
    body = normalise_newlines(body or "")
    may_publish = item is not None and permissions.can_publish(actor, item) or actor is SYSTEM or (
        item is None and permissions.can_curate(actor)
    )
    if not may_publish:
        for key in _MANAGED:
            data.pop(key, None)
    result = validate_item(data, item_type, vocab or vocabulary(), body=body)
    clean, extra = result["fields"], result["extra"]
    if not may_publish:
        clean["status"] = item.status if item is not None else "draft"
        if item is not None:
            clean["reviewed"], clean["review_due"] = item.reviewed, item.review_due
        if item is not None and item.status == "published":
            # Who may read a published item is a curator's decision: an author
            # cannot widen (or move) its audience without review.
            clean["visibility"] = item.visibility
            clean["municipalities"] = list(item.municipalities)
            clean["region"] = item.region.name if item.region else None
    if item_type == "profile" and not clean.get("consent") and clean.get("status", "published") == "published":
        clean["status"] = "draft"  # no consent, never shown (content format)

    creating = item is None
    # Pick the slug before touching the session: the lookup would autoflush.
    wanted = clean.get("slug") or (slugify(clean["title"]) if creating else item.slug)
    slug = _unique_slug(item_type, wanted, exclude_id=None if creating else item.id)
    if creating:
        item = Item(type=item_type, author_id=getattr(actor, "id", None))
        db.session.add(item)
    item.slug = slug
    item.municipalities = clean.get("municipalities", [])
    apply_fields(item, clean, extra, body)
    if item.status == "published" and item.published_at is None:
        item.published_at = utcnow()
    item.updated_at = utcnow()
    db.session.flush()
    add_revision(item, actor, note)
    log_search_change(item.id)
    audit(actor, "item.create" if creating else "item.update", f"{item.type}/{item.slug}")
    _commit()
    search.nudge()
    return item


def _commit() -> None:
    """Commit; a concurrent save of the same item becomes a ``Conflict``."""
    try:
        db.session.commit()
    except StaleDataError as exc:
        db.session.rollback()
        raise Conflict("Iemand anders heeft dit item intussen opgeslagen.") from exc


def set_status(actor: Any, item: Item, status: str, note: str = "") -> Item:
    """Publish (``"published"``) or withdraw (``"draft"``) an item; curators
    of the item's region and admins only. A profile without consent cannot
    be published."""
    begin_write()
    if not permissions.can_publish(actor, item):
        raise PermissionDenied("Alleen een regionale coördinator of beheerder mag dit item publiceren.")
    if status not in ("draft", "published"):
        raise ValidationFailed({"status": [f"Onbekende status '{status}'."]})
    if status == "published" and item.type == "profile" and not item.consent:
        raise ValidationFailed({"consent": ["Dit profiel heeft geen datum van toestemming en kan niet gepubliceerd worden."]})
    item.status = status
    if status == "published" and item.published_at is None:
        item.published_at = utcnow()
    item.updated_at = utcnow()
    add_revision(item, actor, note or ("gepubliceerd" if status == "published" else "teruggezet naar concept"))
    log_search_change(item.id)
    audit(actor, "item.publish" if status == "published" else "item.unpublish", f"{item.type}/{item.slug}")
    _commit()
    search.nudge()
    return item


def get_item(actor: Any, item_type: str, slug: str) -> Item:
    """Return the item if ``actor`` may see it; otherwise ``NotFound`` (never
    ``PermissionDenied``, so a hidden item's existence is not revealed)."""
    item = db.session.scalar(select(Item).where(Item.type == item_type, Item.slug == slug))
    if item is None or not permissions.can_view(actor, item):
        raise NotFound("Dit item bestaat niet of u mag het niet zien.")
    return item


def items_by_slugs(actor: Any, slugs: list[str], types: tuple[str, ...] = ITEM_TYPES) -> list[Item]:
    """The items among ``slugs`` (any of ``types``) that ``actor`` may see, in the given order."""
    if not slugs:
        return []
    rows = db.session.scalars(select(Item).where(Item.slug.in_(slugs), Item.type.in_(types))).all()
    visible = [i for i in rows if permissions.can_view(actor, i)]
    order = {s: n for n, s in enumerate(slugs)}
    return sorted(visible, key=lambda i: (order.get(i.slug, 0), ITEM_TYPES.index(i.type)))


def recent_items(actor: Any, limit: int = 6, featured: bool = False) -> list[Item]:
    """Newest published items ``actor`` may see (profiles excluded from the
    home page's lists)."""
    stmt = select(Item).where(Item.status == "published", Item.type != "profile")
    if featured:
        stmt = stmt.where(Item.featured.is_(True))
    # Newest first by the date the item describes, or the day it was
    # published when it names none (a new item without a date is today's).
    when = func.coalesce(Item.date, func.date(Item.published_at))
    stmt = stmt.order_by(when.desc(), Item.published_at.desc(), Item.id.desc()).limit(limit * 4)
    return [i for i in db.session.scalars(stmt) if permissions.can_view(actor, i)][:limit]


def editable_drafts(actor: Any) -> list[Item]:
    """Drafts ``actor`` may edit or publish, newest first."""
    stmt = select(Item).where(Item.status == "draft").order_by(Item.updated_at.desc())
    return [i for i in db.session.scalars(stmt) if permissions.can_edit(actor, i)]
