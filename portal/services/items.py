"""Creating, changing, publishing and reading items."""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError

from .. import permissions, search
from ..database import begin_write
from ..errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from ..extensions import db
from ..models import ITEM_TYPES, AuditEvent, Item, Region, Revision, User
from ..models.base import utcnow
from ..validation import COLUMN_OF, LIST_KINDS, Vocabulary, allowed_keys, clean_text, validate_item
from . import notifications
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
#: ``save_item(expected_change=UNCHANGED)``: do not check the open change.
UNCHANGED = object()
#: Note of revisions written by the editor's autosave (see ``autosave_item``).
AUTOSAVE_NOTE = "automatisch opgeslagen"

# Keys written by the portal itself rather than by an author's form.
_MANAGED = {"status", "reviewed", "review_due"}


def normalise_newlines(text: str) -> str:
    """Browsers send textareas with CRLF line ends; store LF, like the files,
    without control characters (see :func:`portal.validation.clean_text`)."""
    return clean_text(text)


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


def opaque_profile_slug() -> str:
    """A slug for a profile made on the web or through the API: ``sf-`` and
    12 random hex digits (48 bits), never derived from the person's name, so
    the name stays out of URLs, server logs and referrers, and the slug a
    curator gets cannot tell that a hidden profile with that name exists (a
    name-derived slug got a suffix exactly then). A requested slug is
    ignored for the same reason. Imports and ``SYSTEM`` keep their slugs."""
    return f"sf-{secrets.token_hex(6)}"


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


def derived_region(item: Item) -> Region | None:
    """The region an item gets from its municipalities when it names none:
    that of the first municipality in a region, ``None`` when none is in one.
    ``apply_fields`` (saves, import) and ``library.set_region`` (a
    municipality moving to another region) derive it alike."""
    return next((m.region for m in item.municipalities if m.region is not None), None)


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
        item.region = derived_region(item)
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
    expected_change: Any = UNCHANGED,
) -> Item:
    """Create (``item=None``) or change an item from a front-matter mapping and
    a Markdown body, as ``actor``; one transaction, one new revision.

    Authors cannot publish through this call: unless ``actor`` may publish the
    item, a new item is saved as a draft and an existing item keeps its status,
    and the curator-managed keys (status, reviewed, review_due) are ignored.
    A change of a *published* item by such an actor becomes a pending revision
    (issue #4): the item itself, and so the live page and search index, stay
    as they are until a curator approves it (``approve_revision``).

    Whoever may publish must be allowed to publish the item both as it was
    and as it will be (``permissions.can_publish`` on a transient copy with
    the new municipalities and region): saving it published into a
    municipality or region outside the actor's area is refused with
    ``ValidationFailed({"municipality": ...})`` and nothing is written (a
    new item that asked for no status becomes a draft instead). A
    region-only item keeps its region when ``data`` names neither region nor
    municipality (the web form and the API cannot set a region).

    Raises ``PermissionDenied``, ``ValidationFailed`` (field -> messages) or
    ``Conflict`` when ``expected_version`` is given and someone saved first,
    or when ``expected_change`` (the id of the open change the editor started
    from, ``None`` for none; see ``open_change``) is given and another change
    was saved, approved or returned meanwhile.
    """
    if item_type not in ITEM_TYPES:
        raise ValidationFailed({"type": [_("Onbekend soort item '%(type)s'.", type=item_type)]})
    begin_write()
    if item is None and not permissions.can_create(actor, item_type):
        raise PermissionDenied(_("U mag dit soort item niet aanmaken."))
    if item is not None and not permissions.can_edit(actor, item):
        raise PermissionDenied(_("U mag dit item niet bewerken."))
    if item is not None and expected_version is not None and item.version != expected_version:
        raise Conflict(_("Iemand anders heeft dit item intussen opgeslagen."))

    data = dict(data)
    body = normalise_newlines(body or "")
    may_publish = item is not None and permissions.can_publish(actor, item) or actor is SYSTEM or (
        item is None and permissions.can_curate(actor)
    )
    if not may_publish:
        for key in _MANAGED:
            data.pop(key, None)
    if (item is not None and "region" not in data and item.region is not None and not item.municipalities
            and not data.get("municipality")):
        # A region-only item edited where the region is no field (web form,
        # API) stays in its region instead of becoming a national item.
        data["region"] = item.region.name
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
    if may_publish and actor is not SYSTEM and not _may_publish_result(actor, item_type, item, clean, extra, body):
        if item is None and "status" not in data:
            # Asked for no status (the web form): a draft, as a contributor's
            # new item, for the curators of its region to publish.
            clean["status"] = "draft"
        else:
            db.session.rollback()
            raise ValidationFailed(_publish_refusal(clean))

    if item is not None and item.status == "published" and not may_publish:
        # The published version stays live (page, search, feeds) until a
        # curator approves this change: it waits as a pending revision.
        if expected_change is not UNCHANGED:
            current = open_change(item)
            if (current.id if current is not None else None) != expected_change:
                raise Conflict(_("Iemand anders heeft intussen een wijziging van dit item opgeslagen of beoordeeld."))
        rev = _add_pending_revision(actor, item, clean, extra, body, note)
        audit(actor, "revision.submit", f"{item.type}/{item.slug}", revision=rev.number)
        notifications.notify(notifications.publishers_of(item), "revision.submitted",
                             f"Wijziging ter beoordeling: {item.title}", f"/curatie/wijzigingen/{rev.id}",
                             item=item, exclude=actor)
        _commit()
        return item

    creating = item is None
    # Pick the slug before touching the session: the lookup would autoflush.
    if creating and item_type == "profile" and actor is not SYSTEM:
        wanted = opaque_profile_slug()  # issue #5: see opaque_profile_slug
    else:
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
    last = item.revisions[-1] if not creating and item.revisions else None
    if (note == AUTOSAVE_NOTE and last is not None and last.note == AUTOSAVE_NOTE and last.state == ""
            and last.author_id == getattr(actor, "id", None)):
        # autosaves in a row by one person are one revision: the newest text
        last.title, last.body, last.meta, last.created_at = item.title, item.body, _snapshot(item), utcnow()
    else:
        add_revision(item, actor, note)
    log_search_change(item.id)
    audit(actor, "item.create" if creating else "item.update", f"{item.type}/{item.slug}",
          **({"autosave": True} if note == AUTOSAVE_NOTE else {}))
    _commit()
    search.nudge()
    return item


def _as_saved(item_type: str, item: Item | None, clean: dict[str, Any], extra: dict[str, Any],
              body: str) -> Item:
    """A transient copy of the item as this save would leave it (status,
    visibility, municipalities, region derived exactly as ``apply_fields``
    does), for permission checks; it never enters the session."""
    draft = Item(type=item_type, slug=item.slug if item is not None else "",
                 author_id=item.author_id if item is not None else None)
    draft.municipalities = list(clean.get("municipalities", []))
    apply_fields(draft, clean, extra, body)
    return draft


def _may_publish_result(actor: Any, item_type: str, item: Item | None, clean: dict[str, Any],
                        extra: dict[str, Any], body: str) -> bool:
    """Whoever saves an item as published (or keeps it published) must be
    allowed to publish it as it was (the caller's ``can_publish`` on
    ``item``) and as it will be: False when the save would leave the item
    published in a municipality or region outside ``actor``'s area."""
    if (clean.get("status") or "published") != "published":
        return True
    return permissions.can_publish(actor, _as_saved(item_type, item, clean, extra, body))


def _publish_refusal(clean: dict[str, Any]) -> dict[str, list[str]]:
    """The Dutch message (field -> messages) for a refused publication."""
    names = ", ".join(m.name for m in clean.get("municipalities", []))
    if names:
        return {"municipality": [_(
            "U mag geen items publiceren voor %(names)s: dat mag alleen een regionale coördinator van die "
            "regio. Kies een gemeente in uw eigen regio, of sla het item op als concept (status: concept) "
            "zodat een coördinator van die regio het kan publiceren.", names=names)]}
    return {"status": [_("U mag dit item zo niet publiceren: het hoort bij een regio waarvoor u geen "
                         "coördinator bent. Sla het op als concept.")]}


def _commit() -> None:
    """Commit; a concurrent save of the same item becomes a ``Conflict``."""
    try:
        db.session.commit()
    except StaleDataError as exc:
        db.session.rollback()
        raise Conflict(_("Iemand anders heeft dit item intussen opgeslagen.")) from exc


def set_status(actor: Any, item: Item, status: str, note: str = "") -> Item:
    """Publish (``"published"``) or withdraw (``"draft"``) an item; curators
    of the item's region and admins only. A profile without consent cannot
    be published."""
    begin_write()
    if not permissions.can_publish(actor, item):
        raise PermissionDenied(_("Alleen een regionale coördinator of beheerder mag dit item publiceren."))
    if status not in ("draft", "published"):
        raise ValidationFailed({"status": [_("Onbekende status '%(status)s'.", status=status)]})
    if status == "published" and item.type == "profile" and not item.consent:
        raise ValidationFailed({"consent": [
            _("Dit profiel heeft geen datum van toestemming en kan niet gepubliceerd worden.")]})
    if status == "published" and item.type == "profile" and not permissions.consent_valid(item):
        raise ValidationFailed({"consent": [
            _("De toestemming van dit profiel is verlopen; vraag eerst nieuwe toestemming.")]})
    was_waiting = item.status == "draft" and item.review_state in ("submitted", "returned", "archived")
    item.status = status
    item.review_state = ""
    item.review_comment = ""
    if status == "published" and item.published_at is None:
        item.published_at = utcnow()
    item.updated_at = utcnow()
    add_revision(item, actor, note or ("gepubliceerd" if status == "published" else "teruggezet naar concept"))
    log_search_change(item.id)
    audit(actor, "item.publish" if status == "published" else "item.unpublish", f"{item.type}/{item.slug}")
    if status == "published" and was_waiting:
        notifications.notify(_authors_of(item), "item.published", f"Gepubliceerd: {item.title}",
                             _path(item), item=item, exclude=actor)
    _commit()
    search.nudge()
    return item


def get_item(actor: Any, item_type: str, slug: str) -> Item:
    """Return the item if ``actor`` may see it; otherwise ``NotFound`` (never
    ``PermissionDenied``, so a hidden item's existence is not revealed)."""
    item = db.session.scalar(select(Item).where(Item.type == item_type, Item.slug == slug))
    if item is None or not permissions.can_view(actor, item):
        raise NotFound(_("Dit item bestaat niet of u mag het niet zien."))
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


# -- workflow (issue #4): submit, return, pending revisions, history, review dates -----
#: Sections of the editor's template per type (Markdown ``##`` headings); the
#: completeness indicator reports the ones missing or left empty.
TEMPLATE_SECTIONS = {
    "practice": ["Doel", "Doelgroep", "Aanpak", "Werkzame elementen", "Randvoorwaarden", "Resultaten", "Evaluatie"],
    "lesson": ["Situatie", "Wat er gebeurde", "Les", "Aanbeveling"],
}
REVIEW_INTERVAL_MONTHS = 12
_PATHS = {"practice": "werkwijzen", "lesson": "lessen", "profile": "sleutelfiguren"}
#: Linear: closing '#'s and spaces are stripped in Python (the old
#: ``(.+?)\s*#*\s*$`` was cubic: "## a" + 2,000 spaces + "b" took 11 s).
_HEADING = re.compile(r"^##\s+(\S.*)$")


def _path(item: Item) -> str:
    return f"/{_PATHS[item.type]}/{item.slug}"


def template_body(item_type: str) -> str:
    """The empty body the editor starts from: one ``## Section`` per
    template section of ``item_type`` ("" for types without a template)."""
    return "".join(f"## {name}\n\n" for name in TEMPLATE_SECTIONS.get(item_type, []))


def body_sections(body: str) -> dict[str, str]:
    """``{heading (casefolded): text under it}`` for the ``##`` headings of ``body``."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in (body or "").split("\n"):
        m = _HEADING.match(line)
        if m:
            current = m.group(1).strip().rstrip("#").strip().casefold()
            sections.setdefault(current, [])
        elif current is not None:
            sections[current].append(line)
    return {k: "\n".join(v).strip() for k, v in sections.items()}


def completeness(item_type: str, values: dict[str, Any], body: str) -> dict[str, Any]:
    """What an item still lacks, in Dutch: ``{"missing": [str], "done": int,
    "total": int}``. ``values`` is a front-matter-like mapping (form values or
    ``front_matter(item)``). Checks the summary, the template's sections (a
    heading with nothing under it counts as missing), and for practices and
    lessons the themes and phase of the national guide."""
    missing: list[str] = []
    total = 1
    if not str(values.get("summary") or "").strip():
        missing.append(_("Samenvatting"))
    sections = body_sections(body)
    for name in TEMPLATE_SECTIONS.get(item_type, []):
        total += 1
        if not sections.get(name.casefold()):
            # the heading stays Dutch: it is what the author writes in the text
            missing.append(_("Sectie ‘%(name)s’", name=name))
    if item_type in ("practice", "lesson"):
        total += 2
        if not values.get("themes"):
            missing.append(_("Thema’s"))
        if not values.get("phase"):
            missing.append(_("Fase van de handreiking"))
    if item_type == "practice":
        total += 1
        if not values.get("evidence"):
            missing.append(_("Erkenningsniveau"))
    if item_type == "profile":
        total += 1
        if not values.get("consent"):
            missing.append(_("Datum van toestemming"))
    if not (body or "").strip():
        total += 1
        missing.append(_("Tekst"))
    return {"missing": missing, "done": total - len(missing), "total": total}


def _authors_of(item: Item, rev: Revision | None = None) -> list[User]:
    """Who hears about a decision: the revision's author, else the item's
    author, else whoever saved its latest revision."""
    for candidate in ((rev.author if rev is not None else None), item.author):
        if candidate is not None:
            return [candidate]
    latest = [r.author for r in item.revisions if r.author is not None]
    return latest[-1:]


def _add_pending_revision(actor: Any, item: Item, clean: dict[str, Any], extra: dict[str, Any],
                          body: str, note: str) -> Revision:
    """Snapshot validated values as a pending revision of ``item`` without
    changing ``item``: the values are applied to a transient copy that never
    enters the session. Older pending revisions of the item are superseded."""
    draft = Item(type=item.type, slug=item.slug, author_id=item.author_id)
    draft.municipalities = list(clean.get("municipalities", []))
    apply_fields(draft, clean, extra, body)
    for old in item.revisions:
        if old.state == "pending":
            old.state = "superseded"
    number = (max((r.number for r in item.revisions), default=0)) + 1
    rev = Revision(item_id=item.id, number=number, title=draft.title, body=draft.body,
                   meta=_snapshot(draft), note=(note or "wijziging ter beoordeling")[:500],
                   author_id=getattr(actor, "id", None), state="pending")
    db.session.add(rev)
    db.session.flush()
    db.session.expire(item, ["revisions"])
    return rev


def pending_revision(item: Item) -> Revision | None:
    """The change of ``item`` waiting for a curator, if any (the newest)."""
    waiting = [r for r in item.revisions if r.state == "pending"]
    return waiting[-1] if waiting else None


def open_change(item: Item) -> Revision | None:
    """The newest pending or returned revision when it is newer than every
    applied one: what an author continues editing instead of the live text."""
    for rev in reversed(item.revisions):
        if rev.state in ("pending", "returned"):
            return rev
        if rev.state in ("", "approved"):
            return None
    return None


def submit_item(actor: Any, item: Item, note: str = "") -> Item:
    """Submit the draft ``item`` for review (or resubmit it after a return):
    review state "submitted", and the curators who may publish it are told.
    Raises ``PermissionDenied`` when ``actor`` may not."""
    begin_write()
    if not permissions.can_submit(actor, item):
        raise PermissionDenied(_("U kunt dit item nu niet ter beoordeling aanbieden."))
    resubmit = item.review_state == "returned"
    item.review_state = "submitted"
    item.updated_at = utcnow()
    audit(actor, "item.resubmit" if resubmit else "item.submit", f"{item.type}/{item.slug}", note=note[:500])
    notifications.notify(notifications.publishers_of(item), "item.submitted",
                         f"{'Opnieuw ter beoordeling' if resubmit else 'Ter beoordeling'}: {item.title}",
                         _path(item), item=item, exclude=actor)
    _commit()
    return item


def _clean_comment(comment: str) -> str:
    text = normalise_newlines(comment or "").strip()
    if not text:
        raise ValidationFailed({"comment": [_("Schrijf bij het terugsturen wat er nog moet veranderen.")]})
    if len(text) > 5000:
        raise ValidationFailed({"comment": [_("Het commentaar is te lang (hoogstens 5000 tekens).")]})
    return text


def return_item(actor: Any, item: Item, comment: str) -> Item:
    """Send a submitted draft back to its author with ``comment`` (required;
    shown to the author on the item and in the editor). Raises
    ``PermissionDenied`` or ``ValidationFailed({"comment": ...})``."""
    begin_write()
    if not permissions.can_return(actor, item):
        raise PermissionDenied(_("Alleen een regionale coördinator van dit item kan het terugsturen."))
    text = _clean_comment(comment)
    item.review_state = "returned"
    item.review_comment = text
    item.updated_at = utcnow()
    audit(actor, "item.return", f"{item.type}/{item.slug}", comment=text[:500])
    notifications.notify(_authors_of(item), "item.returned", f"Teruggestuurd met commentaar: {item.title}",
                         _path(item), item=item, exclude=actor)
    _commit()
    return item


def archive_item(actor: Any, item: Item) -> Item:
    """Take a published item out of the library (status draft, review state
    "archived"; export writes ``status: draft``). Curators of its region."""
    begin_write()
    if not permissions.can_archive(actor, item):
        raise PermissionDenied(_("Alleen een regionale coördinator van dit item kan het archiveren."))
    item.status = "draft"
    item.review_state = "archived"
    item.updated_at = utcnow()
    add_revision(item, actor, "gearchiveerd")
    log_search_change(item.id)
    audit(actor, "item.archive", f"{item.type}/{item.slug}")
    _commit()
    search.nudge()
    return item


def get_revision(actor: Any, revision_id: int) -> Revision:
    """A revision whose item ``actor`` may see the history of; ``NotFound`` otherwise."""
    rev = db.session.get(Revision, revision_id)
    if rev is None or not permissions.can_view_history(actor, rev.item):
        raise NotFound(_("Deze versie bestaat niet of u mag haar niet zien."))
    return rev


def approve_revision(actor: Any, rev: Revision) -> Item:
    """Apply a pending revision to its published item: the new text goes live
    (and into the search index) now. Who may read the item and the
    curator-managed keys stay as they are. Raises ``PermissionDenied``,
    ``ValidationFailed`` (the revision no longer validates, or is not pending)."""
    begin_write()
    item = rev.item
    if not permissions.can_review_revision(actor, item):
        raise PermissionDenied(_("Alleen een regionale coördinator van dit item kan deze wijziging goedkeuren."))
    if rev.state != "pending":
        raise ValidationFailed({"revision": [_("Deze wijziging wacht niet (meer) op beoordeling.")]})
    data = {k: v for k, v in (rev.meta or {}).items()
            if k not in ("type", "slug", "status", "reviewed", "review_due", "visibility", "municipality", "region")}
    result = validate_item(data, item.type, vocabulary(), body=rev.body)
    clean, extra = result["fields"], result["extra"]
    # Where the item lives (municipalities, region) and who reads it stay as
    # they are, so the result is what ``can_review_revision`` just allowed.
    clean.update(status=item.status, reviewed=item.reviewed, review_due=item.review_due,
                 visibility=item.visibility, region=item.region.name if item.region else None)
    apply_fields(item, clean, extra, rev.body)
    item.updated_at = utcnow()
    rev.state = "approved"
    rev.meta = _snapshot(item)
    log_search_change(item.id)
    audit(actor, "revision.approve", f"{item.type}/{item.slug}", revision=rev.number)
    notifications.notify(_authors_of(item, rev), "revision.approved", f"Wijziging goedgekeurd: {item.title}",
                         _path(item), item=item, exclude=actor)
    _commit()
    search.nudge()
    return item


def return_revision(actor: Any, rev: Revision, comment: str) -> Revision:
    """Send a pending change back to its author with ``comment`` (required);
    the live version is untouched. Raises ``PermissionDenied``, ``ValidationFailed``."""
    begin_write()
    item = rev.item
    if not permissions.can_review_revision(actor, item):
        raise PermissionDenied(_("Alleen een regionale coördinator van dit item kan deze wijziging terugsturen."))
    if rev.state != "pending":
        raise ValidationFailed({"revision": [_("Deze wijziging wacht niet (meer) op beoordeling.")]})
    text = _clean_comment(comment)
    rev.state = "returned"
    rev.comment = text
    audit(actor, "revision.return", f"{item.type}/{item.slug}", revision=rev.number, comment=text[:500])
    notifications.notify(_authors_of(item, rev), "revision.returned",
                         f"Wijziging teruggestuurd met commentaar: {item.title}",
                         _path(item) + "/bewerken", item=item, exclude=actor)
    db.session.commit()
    return rev


def restore_revision(actor: Any, item: Item, number: int) -> Item:
    """Restore revision ``number`` of ``item`` as a new revision (its text and
    keys; status, review dates and slug stay as they are now). For a
    published item and an actor who may not publish it the restore waits for
    review like any other change. Raises ``NotFound``, ``PermissionDenied``,
    ``ValidationFailed``, ``Conflict``."""
    if not permissions.can_restore(actor, item):
        raise PermissionDenied(_("U mag dit item niet bewerken."))
    rev = next((r for r in item.revisions if r.number == number), None)
    if rev is None:
        raise NotFound(_("Deze versie bestaat niet."))
    # The region follows from the municipalities (or stays, for a region-only
    # item) as on every other save: an old revision's region may be stale.
    data = {k: v for k, v in (rev.meta or {}).items() if k not in ("type", "slug", "region")}
    data["status"] = item.status
    for key in ("reviewed", "review_due"):
        value = getattr(item, key)
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value.isoformat()
    return save_item(actor, item.type, data, rev.body, item=item, expected_version=item.version,
                     note=f"hersteld uit versie {number}")


def live_snapshot(item: Item) -> dict[str, Any]:
    """The item as it is now, shaped like a revision (``meta``, ``body``) for diffs."""
    return {"meta": _snapshot(item), "body": item.body}


def diff_lines(old: Any, new: Any, old_label: str = "", new_label: str = "") -> list[tuple[str, str]]:
    """A unified diff between two revisions (or ``live_snapshot`` dicts; any
    object with ``meta`` and ``body``) as ``[(kind, line)]`` with kind "add",
    "del", "hunk" or "same"; lines are plain text (the template escapes
    them). Keys come first as ``key: value`` lines, then the body."""
    import difflib
    import json

    def lines(rev: Any) -> list[str]:
        if rev is None:
            return []
        meta = rev["meta"] if isinstance(rev, dict) else rev.meta
        body = rev["body"] if isinstance(rev, dict) else rev.body
        out = [f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
               for k, v in (meta or {}).items()]
        return out + ["", *(body or "").split("\n")]

    result: list[tuple[str, str]] = []
    for line in difflib.unified_diff(lines(old), lines(new), old_label, new_label, n=3, lineterm=""):
        if line.startswith(("---", "+++")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        result.append((kind, line))
    return result


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clipped to the month's end
    (2024-02-29 + 12 -> 2025-02-28); clamped to ``date.min``/``date.max``."""
    import calendar

    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    if not date.min.year <= year <= date.max.year:  # never raises: clamp to the calendar's ends
        return date.max if year > date.max.year else date.min
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def confirm_review(actor: Any, item: Item, today: date | None = None) -> Item:
    """"Nog juist": a curator confirms the published item is still right;
    ``reviewed`` = today, ``review_due`` = today + 12 months."""
    begin_write()
    if not permissions.can_confirm_review(actor, item):
        raise PermissionDenied(_("Alleen een regionale coördinator van dit item kan dit bevestigen."))
    today = today or utcnow().date()
    item.reviewed = today
    item.review_due = add_months(today, REVIEW_INTERVAL_MONTHS)
    item.updated_at = utcnow()
    audit(actor, "item.confirm_review", f"{item.type}/{item.slug}", review_due=item.review_due.isoformat())
    _commit()
    return item


def curation_queue(actor: Any, today: date | None = None, recent: int = 20) -> dict[str, list]:
    """The curator's dashboard for ``actor``: ``{"submitted": [Item],
    "pending": [Revision], "due": [Item], "recent": [Revision]}``, each only
    for items ``actor`` may publish. Raises ``PermissionDenied`` for non-curators."""
    if not permissions.can_curate(actor):
        raise PermissionDenied(_("Alleen regionale coördinatoren en beheerders zien het overzicht."))
    today = today or utcnow().date()

    def may(item: Item) -> bool:
        return permissions.can_publish(actor, item)

    submitted = db.session.scalars(select(Item).where(Item.status == "draft", Item.review_state == "submitted")
                                   .order_by(Item.updated_at)).all()
    pending = db.session.scalars(select(Revision).where(Revision.state == "pending")
                                 .order_by(Revision.created_at)).all()
    due = db.session.scalars(select(Item).where(Item.status == "published", Item.review_due.is_not(None),
                                                Item.review_due <= today).order_by(Item.review_due)).all()
    latest = db.session.scalars(select(Revision).order_by(Revision.created_at.desc(), Revision.id.desc())
                                .limit(recent * 10)).all()
    return {
        "submitted": [i for i in submitted if may(i)],
        "pending": [r for r in pending if may(r.item)],
        "due": [i for i in due if may(i)],
        "recent": [r for r in latest if may(r.item)][:recent],
    }


AUDIT_PER_PAGE = 50


def audit_log(actor: Any, action: str = "", page: int = 1) -> dict[str, Any]:
    """A page of the audit log, newest first: ``{"rows": [(AuditEvent, email
    or None)], "total": int, "actions": [str], "pages": int}``; ``action``
    filters on one action. Admins only (``PermissionDenied``)."""
    if not permissions.can_read_audit_log(actor):
        raise PermissionDenied(_("Alleen beheerders lezen het logboek."))
    stmt = select(AuditEvent, User.email).outerjoin(User, User.id == AuditEvent.actor_id)
    count = select(func.count(AuditEvent.id))
    # who viewed which profile (privacy.*) is for the privacy officer only (issue #5)
    stmt = stmt.where(~AuditEvent.action.like("privacy.%"))
    count = count.where(~AuditEvent.action.like("privacy.%"))
    if action:
        stmt = stmt.where(AuditEvent.action == action)
        count = count.where(AuditEvent.action == action)
    total = db.session.scalar(count) or 0
    pages = max(1, (total + AUDIT_PER_PAGE - 1) // AUDIT_PER_PAGE)
    page = max(1, min(page, pages))
    rows = db.session.execute(stmt.order_by(AuditEvent.id.desc()).offset((page - 1) * AUDIT_PER_PAGE)
                              .limit(AUDIT_PER_PAGE)).all()
    actions = db.session.scalars(select(AuditEvent.action).where(~AuditEvent.action.like("privacy.%"))
                                 .distinct().order_by(AuditEvent.action)).all()
    return {"rows": [(r[0], r[1]) for r in rows], "total": total, "actions": list(actions),
            "pages": pages, "page": page}


def autosave_item(actor: Any, item_type: str, data: dict[str, Any], body: str, *, item: Item | None = None,
                  expected_version: int | None = None) -> Item:
    """The editor's autosave (every 30 seconds): save a draft, creating it
    when ``item`` is None, always as a draft. Autosaves in a row by the same
    person replace each other's revision, so the history keeps the manual
    saves and the newest autosave. Published items are not autosaved (their
    changes are reviewed). Raises like ``save_item``, and
    ``ValidationFailed({"autosave": ...})`` for a published item."""
    if item is not None and item.status != "draft":
        raise ValidationFailed({"autosave": [_("Alleen concepten worden automatisch opgeslagen; "
                                               "gebruik de knop om op te slaan.")]})
    data = dict(data, status="draft")
    return save_item(actor, item_type, data, body, item=item, expected_version=expected_version,
                     note=AUTOSAVE_NOTE)
