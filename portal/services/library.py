"""Library-level operations: reference data, import and export of the
content interchange format, and the first administrator."""

from __future__ import annotations

import csv
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from .. import permissions, search
from ..errors import PermissionDenied
from ..exchange import FOLDER_OF, FileProblem, write_private_file, Record, library_files, read_file, read_taxonomy, render_file, write_taxonomy
from ..exchange import ATTACHMENTS_KEY, export_attachments, stage_attachments
from ..database import begin_write
from ..extensions import db
from ..models import Item, Municipality, Region, TaxonomyTerm, User
from ..models.items import item_municipalities
from ..models.base import utcnow
from .common import audit, log_search_change, vocabulary
from .items import SYSTEM, add_revision, apply_fields, derived_region, front_matter

REFERENCE_CSV = Path(__file__).resolve().parent.parent / "data" / "gemeenten.csv"


def load_municipalities(path: Path = REFERENCE_CSV) -> int:
    """Insert or update every municipality of the CBS reference list
    (``cbs_code,name,province,...``; CBS Gebiedsindelingen 2025). Returns the
    number of rows in the file."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    begin_write()
    existing = {m.cbs_code: m for m in db.session.scalars(select(Municipality))}
    for row in rows:
        m = existing.get(row["cbs_code"])
        if m is None:
            db.session.add(Municipality(cbs_code=row["cbs_code"], name=row["name"], province=row["province"]))
        else:
            m.name, m.province = row["name"], row["province"]
    db.session.commit()
    return len(rows)


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    notes: list[FileProblem] = field(default_factory=list)  # imported, but worth knowing

    @property
    def ok(self) -> bool:
        return not self.problems


def _comparable(item: Item) -> tuple:
    return (front_matter(item), item.body)


def import_library(actor: Any, folder: str | Path, progress=None) -> ImportReport:
    """Import a library folder (``shared/content-format.md``) as ``actor``.

    Every file is validated on its own; good files are written, each in its
    own transaction (an item is written whole or not at all); bad files are
    reported with path, line and key. Idempotent: an item is found again by
    type and slug and updated (a new revision only when something changed).
    ``progress(n)`` is called once per file. Raises ``PermissionDenied`` for
    anyone but an admin (or the system).
    """
    if actor is not SYSTEM and not permissions.can_administer(actor):
        raise PermissionDenied(_("Alleen een beheerder mag een bibliotheek importeren."))
    folder = Path(folder)
    report = ImportReport()
    if not folder.is_dir():
        report.problems.append(FileProblem(str(folder), "Deze map bestaat niet."))
        return report
    terms, problems = read_taxonomy(folder)
    report.problems += problems
    _store_terms(terms)
    vocab = vocabulary(terms)
    seen: dict[tuple[str, str], str] = {}
    files = library_files(folder)
    if not files:
        report.problems.append(FileProblem(
            str(folder), "Geen items gevonden: een bibliotheek heeft de submappen practices/, "
                         "profiles/ en/of lessons/ met .md-bestanden."))
    for path in files:
        record, problems = read_file(path, vocab)
        if progress:
            progress(1)
        if record is None:
            report.problems += problems
            continue
        key = (record.type, record.slug)
        if key in seen:
            report.problems.append(FileProblem(record.path, f"De korte naam '{record.slug}' is al gebruikt door {seen[key]}.", key="slug"))
            continue
        seen[key] = record.path
        try:
            outcome = _write_record(actor, record)
        except SQLAlchemyError as exc:
            db.session.rollback()
            report.problems.append(FileProblem(record.path, f"Kon niet worden opgeslagen: {exc.__class__.__name__}"))
            continue
        getattr(report, outcome).append(f"{record.type}/{record.slug}")
        if record.type == "profile" and not record.fields.get("consent"):
            report.notes.append(FileProblem(record.path, "Geen datum van toestemming: geïmporteerd als concept, "
                                                         "niet zichtbaar tot er toestemming is.", key="consent"))
    search.nudge()
    return report


def _store_terms(terms: dict[str, dict[str, tuple[str, str]]]) -> None:
    begin_write()
    for kind, keys in terms.items():
        for key, (nl, en) in keys.items():
            term = db.session.scalar(select(TaxonomyTerm).where(TaxonomyTerm.kind == kind, TaxonomyTerm.key == key))
            if term is None:
                db.session.add(TaxonomyTerm(kind=kind, key=key, label_nl=nl, label_en=en))
            else:
                term.label_nl, term.label_en = nl, en
    db.session.commit()


def _write_record(actor: Any, record: Record) -> str:
    begin_write()
    item = db.session.scalar(select(Item).where(Item.type == record.type, Item.slug == record.slug))
    creating = item is None
    before = None if creating else _comparable(item)
    if creating:
        item = Item(type=record.type, slug=record.slug, author_id=getattr(actor, "id", None))
        db.session.add(item)
    item.municipalities = record.fields.get("municipalities", [])
    apply_fields(item, record.fields, record.extra, record.body)
    if creating and record.attachments:
        db.session.flush()  # the attachments need the item's id
    staged = stage_attachments(actor, item, record.attachments)  # same transaction (issue #4)
    try:
        outcome = _finish_record(actor, record, item, creating, before, staged.changed)
    except BaseException:
        staged.discard()
        raise
    if outcome == "unchanged":
        staged.discard()
    else:
        staged.finish()
    return outcome


def _finish_record(actor: Any, record: Record, item: Item, creating: bool, before: tuple | None,
                   attachments_changed: bool) -> str:
    if not creating and _comparable(item) == before and not attachments_changed:
        db.session.rollback()
        return "unchanged"
    now = utcnow()
    item.updated_at = now
    if item.status == "published" and item.published_at is None:
        item.published_at = now
    db.session.flush()
    add_revision(item, actor, "geïmporteerd")
    log_search_change(item.id)
    audit(actor, "item.import", f"{item.type}/{item.slug}", file=record.path)
    db.session.commit()
    return "created" if creating else "updated"


def export_library(actor: Any, folder: str | Path, progress=None) -> int:
    """Write every item ``actor`` may see into ``folder`` in the content
    format (``practices/``, ``profiles/``, ``lessons/`` and, where terms were
    added, ``taxonomy.yaml``). Returns the number of files written."""
    folder = Path(folder)
    begin_write()  # the export is audited
    for sub in FOLDER_OF.values():
        (folder / sub).mkdir(parents=True, exist_ok=True)
    terms: dict[str, dict[str, tuple[str, str]]] = {}
    for term in db.session.scalars(select(TaxonomyTerm)):
        terms.setdefault(term.kind, {})[term.key] = (term.label_nl, term.label_en)
    write_taxonomy(folder, terms)
    n = 0
    for item in db.session.scalars(select(Item).order_by(Item.type, Item.slug)):
        if not permissions.can_view(actor, item):
            continue
        path = folder / FOLDER_OF[item.type] / f"{item.slug}.md"
        meta = front_matter(item)
        meta.pop(ATTACHMENTS_KEY, None)  # written from the stored files only
        attached = export_attachments(folder, item)  # issue #4: files beside the item, listed in its front matter
        if attached:
            meta[ATTACHMENTS_KEY] = attached
        # Profiles carry contact details: created 0600, never through a planted symlink.
        write_private_file(folder, path.relative_to(folder).as_posix(),
                           render_file(meta, item.body or "").encode("utf-8"))
        n += 1
        if progress:
            progress(1)
    audit(actor, "library.export", str(folder), count=n)
    db.session.commit()
    return n


def create_user(actor: Any, email: str, role: str, *, name: str = "", password: str | None = None,
                municipality: str | None = None) -> tuple[User, str]:
    """Create a user; returns ``(user, password)``, generating a random
    password when none is given. Admins (and the system) only."""
    from ..errors import ValidationFailed
    from ..models.users import ALL_ROLES as ROLES

    if actor is not SYSTEM and not permissions.can_administer(actor):
        raise PermissionDenied(_("Alleen een beheerder mag gebruikers aanmaken."))
    begin_write()
    errors: dict[str, list[str]] = {}
    email = (email or "").strip().lower()
    from ..validation import valid_email

    if not valid_email(email):
        errors["email"] = [_("Vul een geldig e-mailadres in.")]
    elif db.session.scalar(select(User).where(User.email == email)):
        errors["email"] = [_("Er is al een gebruiker met dit e-mailadres.")]
    if role not in ROLES:
        errors["role"] = [_("Onbekende rol '%(role)s'; kies uit %(roles)s.", role=role, roles=", ".join(ROLES))]
    muni = None
    if municipality:
        muni = vocabulary().resolve_municipality(municipality)
        if muni is None:
            errors["municipality"] = [_("Onbekende gemeente '%(name)s'.", name=municipality)]
    if password is not None:
        from .accounts import password_problems

        if problems := password_problems(password, email=email, name=name):
            errors["password"] = problems
    if errors:
        raise ValidationFailed(errors)
    password = password or secrets.token_urlsafe(12)
    user = User(email=email, name=name or email.split("@")[0], role=role, municipality=muni)
    user.set_password(password)
    db.session.add(user)
    audit(actor, "user.create", email, role=role)
    db.session.commit()
    return user, password


def set_region(actor: Any, name: str, municipalities: list[str]) -> tuple[Region, list[Municipality]]:
    """Create the region ``name`` if needed and put ``municipalities`` (names
    or CBS codes) in it; their items are re-indexed (the region is a facet
    and decides which curators may publish them). An item whose region came
    from a moved municipality (``items.derived_region``) moves with it, so
    the old region's members and curators lose what was theirs through that
    municipality only. Admins only. Raises
    ``ValidationFailed`` naming every unknown municipality; nothing is
    written then."""
    from ..errors import ValidationFailed

    if actor is not SYSTEM and not permissions.can_administer(actor):
        raise PermissionDenied(_("Alleen een beheerder mag regio's indelen."))
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed({"name": [_("Geef de regio een naam van hoogstens 200 tekens.")]})
    begin_write()
    resolve = vocabulary().resolve_municipality
    found, unknown = [], []
    for value in municipalities:
        m = resolve(value)
        (found.append(m) if m is not None else unknown.append(value))
    if unknown:
        db.session.rollback()
        raise ValidationFailed({"municipality": [_("Onbekende gemeente '%(name)s'.", name=u) for u in unknown]})
    region = db.session.scalar(select(Region).where(Region.name == name))
    if region is None:
        region = Region(name=name)
        db.session.add(region)
    ids = {m.id for m in found}
    affected = db.session.scalars(select(Item).where(Item.id.in_(
        select(item_municipalities.c.item_id).where(item_municipalities.c.municipality_id.in_(ids))))
        .order_by(Item.id)).all() if ids else []
    derived_before = {item.id: getattr(derived_region(item), "id", None) for item in affected}
    for m in found:
        m.region = region
    db.session.flush()
    for item in affected:
        # An item whose region came from its municipalities (or had none)
        # follows them into the new region; a region named on purpose, other
        # than the municipalities' old one, stays.
        if item.region_id is None or item.region_id == derived_before[item.id]:
            new_region = derived_region(item)
            if item.region_id != getattr(new_region, "id", None):
                # A table-level UPDATE: moving a municipality is no edit of the
                # item's text, so its optimistic-locking version stays and a
                # form someone has open still saves without a conflict page.
                db.session.execute(update(Item.__table__).where(Item.__table__.c.id == item.id)
                                   .values(region_id=getattr(new_region, "id", None)))
                db.session.expire(item, ["region", "region_id"])
        log_search_change(item.id)  # its permission labels and region facet change
    audit(actor, "region.set", name, municipalities=[m.cbs_code for m in found])
    db.session.commit()
    search.nudge()
    return region, found
