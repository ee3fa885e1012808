"""Profiles of key figures, private by design (issue #5).

The verbs here: find experts ("Wie kan helpen met ..."), record who looked at
which profile (the privacy audit), keep consent current (``consent_check``),
introduction requests through the region's curator, and the rights of the
person (export everything held about a profile as JSON, erase it).

Privacy audit rows all have an action starting with ``privacy.`` and carry
the profile's id, never its name, in ``target`` (``profile:<id>``) and
``detail["profile_id"]`` (or ``detail["profile_ids"]`` for a search): after
an erasure they say nothing about the person. Only the privacy officer reads
them (``permissions.can_read_privacy_log``); a general audit-log page must
leave ``privacy.*`` rows out.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import String, cast, delete, or_, select, update

from .. import permissions, search
from ..database import begin_write
from ..errors import NotFound, PermissionDenied, ValidationFailed
from ..extensions import db
from ..models import AuditEvent, IntroductionRequest, Item, Revision, User
from ..models.base import utcnow
from . import people_redaction as redaction
from .common import audit, log_search_change
from .items import SYSTEM, add_revision, front_matter, set_status

log = logging.getLogger(__name__)
PRIVACY_PREFIX = "privacy."
VIEW = "privacy.profile_view"
SEARCH = "privacy.profile_search"
REVEAL = "privacy.contact_reveal"
EXPORT = "privacy.export"
ERASE = "privacy.erase"
LISTED = "privacy.profile_listed"
REMIND_DAYS = 31
MAX_MESSAGE = 2000


def _target(item_id: int) -> str:
    return f"profile:{item_id}"


def _get_profile(profile_id: int) -> Item:
    item = db.session.get(Item, profile_id)
    if item is None or item.type != "profile":
        raise NotFound(_("Dit profiel bestaat niet."))
    return item


# -- the privacy audit ---------------------------------------------------------------------
#: Every place that shows a profile's name (or its name-bearing slug) to a
#: user -> the audit action its rows get. ``record_profiles_shown`` refuses
#: a place not listed here, so a new place has to be named (and counted).
SHOWN_IN = {
    "search": SEARCH,  # /zoeken, and the finder's suggestions on it
    "finder": SEARCH,  # /wie-kan-helpen
    "api_list": SEARCH,  # GET /api/v1/items
    "api_search": SEARCH,  # GET /api/v1/search
    "guide": LISTED,  # "Waar staat u?": key figures per sub-step
    "contact_choices": LISTED,  # the editor's contact field of a practice or lesson
    "collection": LISTED,  # a dossier's entries, and its manage page
    "contact_link": LISTED,  # a practice or lesson page's contact person
    "api_contact": LISTED,  # a practice or lesson's ``contact`` slug in the API
    "introduction": LISTED,  # the introduction request form names the person
}
#: Pages that show profile names *without* an audit row, and why: they are
#: shown only to the profile's stewards (those who may edit or publish it,
#: or handle its requests) as part of that duty, or are the privacy
#: officer's and admins' own oversight pages. tests/test_people_audit_places.py
#: fails when a template that links items is in neither list.
NOT_LOGGED = {
    "curation/dashboard.html": "curators' queue: items they may publish",
    "curation/history.html": "history of an item the viewer may edit",
    "curation/return.html": "returning an item the viewer may publish",
    "curation/revision.html": "a pending change the viewer may review",
    "web/drafts.html": "drafts the viewer may edit",
    "insight/dashboard.html": "curators' and admins' overdue list of items they look after",
    "people/introductions.html": "requests the curator handles for the profile",
    "people/persons.html": "admins: the rights of the person",
    "people/privacy.html": "the privacy officer's log itself",
    "people/privacy_profile.html": "the privacy officer's log itself",
    "people/erase.html": "admins: the erasure preview",
}


def _write_privacy(actor: Any, rows: list[tuple[str, str, dict[str, Any]]], fresh: bool = True) -> None:
    """The one writer of privacy audit rows ``(action, target, detail)``.
    ``fresh`` (pages being rendered): whatever the request's session still
    holds is rolled back first, so a half-done write that failed (a refused
    save re-rendering the editor) is never committed with the audit row;
    otherwise the caller's own transaction is committed with it."""
    if fresh:
        db.session.rollback()
    begin_write()
    for action, target, detail in rows:
        audit(actor, action, target, **detail)
    db.session.commit()


def record_profiles_shown(actor: Any, profiles: list[Any], where: str) -> None:
    """Log that ``actor`` was shown the names of ``profiles`` (``Item`` rows
    or ids; nothing when empty) at ``where`` (a key of ``SHOWN_IN``: raises
    ``ValueError`` for another). One row per page, ``target`` "profiles",
    ``detail`` ``{"profile_ids": [...], "where": where}``; never the query
    or the names. Own transaction."""
    if where not in SHOWN_IN:
        raise ValueError(f"unknown place {where!r}: add it to people.SHOWN_IN")
    ids = sorted({int(getattr(p, "id", p)) for p in profiles})
    if not ids:
        return
    _write_privacy(actor, [(SHOWN_IN[where], "profiles", {"profile_ids": ids, "where": where})])


def record_profile_view(actor: Any, profile: Item, contact_shown: bool) -> None:
    """Log that ``actor`` opened ``profile``'s page, and, when its contact
    details were on the page, that they were revealed. Own transaction."""
    profile_id = profile.id
    rows = [(VIEW, _target(profile_id), {"profile_id": profile_id})]
    if contact_shown:
        rows.append((REVEAL, _target(profile_id), {"profile_id": profile_id}))
    _write_privacy(actor, rows)


def record_profile_search(actor: Any, profile_ids: list[int], where: str = "search") -> None:
    """Log that a search by ``actor`` returned these profiles (nothing when
    none). The query text is not kept: it may hold a person's name."""
    record_profiles_shown(actor, list(profile_ids), where)


@dataclass
class ProfileActivity:
    profile_id: int
    title: str
    slug: str
    viewers: int = 0
    views: int = 0
    searches: int = 0
    reveals: int = 0
    exports: int = 0
    listings: int = 0  # pages that listed or linked the profile by name (``SHOWN_IN``)


def _privacy_rows(since: datetime | None = None) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.action.like(PRIVACY_PREFIX + "%")).order_by(AuditEvent.at.desc())
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    return list(db.session.scalars(stmt))


def _ids_of(row: AuditEvent) -> list[int]:
    detail = row.detail or {}
    if "profile_ids" in detail:
        return [int(i) for i in detail["profile_ids"]]
    if "profile_id" in detail:
        return [int(detail["profile_id"])]
    return []


def privacy_overview(actor: Any, days: int = 30) -> list[ProfileActivity]:
    """Per profile, over the last ``days`` days: distinct viewers, page views,
    searches that returned it, contact reveals, exports, other pages that
    listed it by name; busiest first.
    Raises ``PermissionDenied`` for anyone but the privacy officer."""
    if not permissions.can_read_privacy_log(actor):
        raise PermissionDenied(_("Alleen de privacyfunctionaris mag het privacylogboek lezen."))
    since = utcnow() - timedelta(days=days)
    profiles = {p.id: p for p in db.session.scalars(select(Item).where(Item.type == "profile"))}
    stats = {pid: ProfileActivity(pid, p.title, p.slug) for pid, p in profiles.items()}
    viewers: dict[int, set] = {}
    for row in _privacy_rows(since):
        for pid in _ids_of(row):
            s = stats.get(pid)
            if s is None:
                continue
            if row.action == VIEW:
                s.views += 1
                viewers.setdefault(pid, set()).add(row.actor_id)
            elif row.action == SEARCH:
                s.searches += 1
            elif row.action == REVEAL:
                s.reveals += 1
            elif row.action == EXPORT:
                s.exports += 1
            elif row.action == LISTED:
                s.listings += 1
    for pid, who in viewers.items():
        stats[pid].viewers = len(who)
    return sorted(stats.values(), key=lambda s: (-s.viewers, -s.views, s.title.casefold()))


def privacy_log(actor: Any, profile_id: int, days: int = 365) -> tuple[Item, list[dict[str, Any]]]:
    """``(profile, events)``: the privacy events about one profile, newest
    first, each ``{"at", "action", "actor"}`` (the actor's e-mail address or
    ``"systeem"``). Privacy officer only (``PermissionDenied``); ``NotFound``
    for an unknown profile."""
    if not permissions.can_read_privacy_log(actor):
        raise PermissionDenied(_("Alleen de privacyfunctionaris mag het privacylogboek lezen."))
    profile = _get_profile(profile_id)
    since = utcnow() - timedelta(days=days)
    users = {u.id: u.email for u in db.session.scalars(select(User))}
    events = [{"at": r.at, "action": r.action, "actor": users.get(r.actor_id, "systeem")}
              for r in _privacy_rows(since) if profile_id in _ids_of(r)]
    return profile, events


# -- the expert finder -----------------------------------------------------------------
#: filters of the finder beyond the free text: form name -> search facet
FINDER_FACETS = {"taal": "profile_language", "soort": "key_figure_type", "regio": "region"}


@dataclass
class FinderResult:
    profiles: list[Item] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = 20
    facets: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def find_experts(actor: Any, text: str = "", *, languages: list[str] | None = None,
                 key_figure_types: list[str] | None = None, regions: list[str] | None = None,
                 formal: bool | None = None, outside_office_hours: bool | None = None,
                 page: int = 1, per_page: int = 20) -> FinderResult:
    """Profiles ``actor`` may see that match ``text`` (expertise, community,
    role, organisation, language names ...) and the filters, those of the
    actor's own region first, then by relevance (by name without text).

    ``languages``: ISO 639-1 codes; ``key_figure_types``: keys; ``regions``:
    region ids as strings; ``formal`` / ``outside_office_hours``: ``None`` for
    either. Each profile is checked again with ``permissions.can_view``
    against the database (the index may lag behind an expiry). The search is
    written to the privacy audit. Members only (``PermissionDenied``).
    """
    if not getattr(actor, "is_authenticated", False):
        raise PermissionDenied(_("Log in om sleutelfiguren te zoeken."))
    filters = {"type": ["profile"]}
    for name, values in (("profile_language", languages), ("key_figure_type", key_figure_types),
                         ("region", regions)):
        if values:
            filters[name] = list(values)
    ids: list[int] = []
    facets: dict[str, dict[str, int]] = {}
    for n in range(1, 51):  # at most 5,000 profiles; a portal has hundreds
        res = search.search(actor, text or "", filters=filters, page=n, per_page=100, facets=n == 1)
        if n == 1:
            facets = res.facets
        ids += [h.id for h in res.hits]
        if n >= res.pages:
            break
    rows = {i.id: i for i in db.session.scalars(select(Item).where(Item.id.in_(ids)))} if ids else {}
    found = []
    for pid in ids:
        item = rows.get(pid)
        if item is None or not permissions.can_view(actor, item):
            continue
        if formal is not None and item.formal is not formal:
            continue
        if outside_office_hours is not None and bool(item.outside_office_hours) is not outside_office_hours:
            continue
        found.append(item)
    if not text:
        found.sort(key=lambda i: i.title.casefold())
    own = getattr(actor, "region_id", None)
    found.sort(key=lambda i: not (own is not None and own in permissions.item_region_ids(i)))  # stable
    page = max(1, min(page, -(-len(found) // max(per_page, 1)) or 1))  # beyond the last page: the last
    shown = found[(page - 1) * per_page: page * per_page]
    record_profiles_shown(actor, shown, "finder")
    return FinderResult(profiles=shown, total=len(found), page=page, per_page=per_page, facets=facets)


def contact_for(actor: Any, profile: Item) -> list[Item]:
    """Practices and lessons naming ``profile`` as their contact that
    ``actor`` may see, by title."""
    rows = db.session.scalars(select(Item).where(Item.contact == profile.slug, Item.type != "profile"))
    return sorted((r for r in rows if permissions.can_view(actor, r)), key=lambda r: r.title.casefold())


# -- personal data in practices and lessons -------------------------------------------
#: Dutch phone numbers: 06-12345678, 06 1234 5678, 010-1234567, +31 6 12345678, 0031 ...
#: Every quantifier is bounded, so each start position costs a few steps: linear.
PHONE_RE = re.compile(r"(?<![\w+])(?:(?:\+|00)31[\s.-]?(?:\(0\))?[\s.-]?|0)[1-9](?:[\s.-]?\d){8}(?!\d)")
#: E-mail addresses. The lookbehind lets a match start only where a run of
#: address characters starts, and every quantifier is bounded (64 for the
#: local part, 63 per domain label, RFC 5321), so the search is linear: the
#: old ``[\w.+-]+@`` tried every position of a long run of letters without
#: '@' and scanned to the run's end from each (60,000 letters: 6 seconds).
EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,10}(?![\w-])")
_WORD_RE = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    """The words (runs of ``\\w``) of ``text``, in order: linear."""
    return _WORD_RE.findall(text)


def _contains(words: list[str], needle: tuple[str, ...]) -> bool:
    """True when ``needle`` occurs as consecutive items of ``words``
    (Knuth-Morris-Pratt: linear in ``len(words) + len(needle)``)."""
    fail = [0] * len(needle)
    k = 0
    for i in range(1, len(needle)):
        while k and needle[i] != needle[k]:
            k = fail[k - 1]
        if needle[i] == needle[k]:
            k += 1
        fail[i] = k
    k = 0
    for word in words:
        while k and word != needle[k]:
            k = fail[k - 1]
        if word == needle[k]:
            k += 1
            if k == len(needle):
                return True
    return False


def personal_data_warnings(text: str, names: list[str]) -> list[str]:
    """Warnings (interface language; Dutch outside a request) about personal data in ``text`` (a practice or lesson
    before publishing): phone numbers, e-mail addresses, and any of ``names``
    (display names of people with a profile) as whole words, ignoring case
    and what separates the words ("Gerrit-Jan" also finds "gerrit jan").
    Warns, never blocks. ``[]`` when nothing was found. Runs in time linear
    in ``len(text)`` (it runs on every editor render).

    >>> personal_data_warnings("Bel 06-12345678 of mail a@b.nl", [])
    ['De tekst bevat een telefoonnummer (06-12345678).', 'De tekst bevat een e-mailadres (a@b.nl).']
    """
    text = text or ""
    warnings = []
    for match in dict.fromkeys(m.group(0).strip() for m in PHONE_RE.finditer(text)):
        warnings.append(_("De tekst bevat een telefoonnummer (%(match)s).", match=match))
    for match in dict.fromkeys(m.group(0) for m in EMAIL_RE.finditer(text)):
        warnings.append(_("De tekst bevat een e-mailadres (%(match)s).", match=match))
    wanted = {n.strip(): tuple(_words(n.strip().casefold()))
              for n in names if n and len(n.strip()) >= 3}
    wanted = {name: words for name, words in wanted.items() if words}
    if wanted:
        words = _words(text.casefold())
        present = set(words)
        for name, name_words in wanted.items():
            if all(w in present for w in name_words) and _contains(words, name_words):
                warnings.append(_("De tekst noemt %(name)s, die een profiel als sleutelfiguur heeft.", name=name))
    if warnings:
        warnings.append(_("Staat de persoon hier zelf achter? Noem geen gegevens die iemand kunnen schaden."))
    return warnings


def profile_names(actor: Any) -> list[str]:
    """Display names of the profiles ``actor`` may see (for the check above:
    naming a profile the author may not see would reveal that it exists)."""
    rows = db.session.scalars(select(Item).where(Item.type == "profile"))
    return [p.title for p in rows if permissions.can_view(actor, p)]


# -- consent ---------------------------------------------------------------------------
@dataclass
class ConsentReport:
    reminded: list[str] = field(default_factory=list)  # "title (expires YYYY-MM-DD)"
    unpublished: list[str] = field(default_factory=list)


def _curators_of(item: Item) -> list[User]:
    """The region's curators (admins when it has none): issue #4's ``publishers_of``."""
    from .notifications import publishers_of

    return publishers_of(item)


def _notify(users: list[User], kind: str, message: str, link: str, item: Item) -> None:
    """In-app notifications plus the e-mail outbox (issue #4's ``notify``;
    its e-mails never name a key figure)."""
    from .notifications import notify

    notify(users, kind, message, link, item=item)


def _profile_link(item: Item) -> str:
    return f"/sleutelfiguren/{item.slug}"


def consent_check(today: date | None = None) -> ConsentReport:
    """Run daily (``portal consent-check``): remind the curators of a
    profile's region a month (31 days) before its consent expires, once per
    expiry date, with an in-app notification; unpublish every published
    profile whose consent has expired or is missing (through
    ``set_status``: revision, search change log, audit). One transaction per
    profile."""
    today = today or permissions._today()
    report = ConsentReport()
    ids = list(db.session.scalars(select(Item.id).where(Item.type == "profile", Item.status == "published")))
    for pid in ids:
        item = db.session.get(Item, pid)
        if not permissions.consent_valid(item, today):
            set_status(SYSTEM, item, "draft", note="toestemming verlopen")
            report.unpublished.append(item.title)
            continue
        expiry = permissions.consent_expiry(item)
        # never raises, even for a row stored before dates were range-checked
        window = expiry - timedelta(days=REMIND_DAYS) if expiry > date.min + timedelta(days=REMIND_DAYS) else date.min
        if today >= window and (item.consent_reminded is None or item.consent_reminded < window):
            begin_write()
            item = db.session.get(Item, pid)
            item.consent_reminded = today
            _notify(_curators_of(item), "consent_expiring",
                    f"De toestemming van sleutelfiguur {item.title} verloopt op {expiry.isoformat()}. "
                    "Vraag om nieuwe toestemming, anders verdwijnt het profiel.",
                    _profile_link(item), item)
            audit(SYSTEM, "profile.consent_reminder", _target(item.id), profile_id=item.id,
                  expires=expiry.isoformat())
            db.session.commit()
            report.reminded.append(f"{item.title} (verloopt {expiry.isoformat()})")
    return report


# -- introduction requests -------------------------------------------------------------
def request_introduction(actor: Any, profile: Item, message: str) -> IntroductionRequest:
    """Ask the curators of ``profile``'s region to introduce ``actor`` to the
    person. ``message``: 10-2000 characters on who you are and why.
    Raises ``PermissionDenied`` when ``actor`` may not ask (anonymous, or may
    see the contact details already) and ``ValidationFailed`` (``message``)."""
    message = (message or "").replace("\r\n", "\n").strip()
    begin_write()
    if not permissions.can_request_introduction(actor, profile):
        raise PermissionDenied(_("U kunt voor dit profiel geen introductie vragen."))
    if len(message) < 10:
        raise ValidationFailed({"message": [_("Schrijf in een paar zinnen wie u bent en waarvoor u contact zoekt.")]})
    if len(message) > MAX_MESSAGE:
        raise ValidationFailed({"message": [_("Uw bericht is te lang: hoogstens %(n)s tekens.", n=MAX_MESSAGE)]})
    req = IntroductionRequest(profile_id=profile.id, requester_id=actor.id, message=message)
    db.session.add(req)
    _notify(_curators_of(profile), "introduction_request",
            f"Nieuw verzoek om kennis te maken met sleutelfiguur {profile.title}.",
            "/introductieverzoeken", profile)
    audit(actor, "introduction.request", _target(profile.id), profile_id=profile.id)
    db.session.commit()
    return req


def introductions_for(actor: Any) -> list[IntroductionRequest]:
    """Requests about profiles ``actor`` handles (curators of the region,
    admins), open ones first, then newest first."""
    if not permissions.can_curate(actor):
        raise PermissionDenied(_("Alleen een regionale coördinator ziet introductieverzoeken."))
    rows = db.session.scalars(select(IntroductionRequest).order_by(IntroductionRequest.created_at.desc()))
    return sorted((r for r in rows if permissions.can_handle_introductions(actor, r.profile)),
                  key=lambda r: r.status != "open")


def handle_introduction(actor: Any, request_id: int, action: str) -> IntroductionRequest:
    """``action``: ``forward`` (the curator passed the request on to the
    person, who contacts the requester if they agree) or ``decline``. The
    requester gets a notification. ``NotFound``, ``PermissionDenied``,
    ``ValidationFailed`` (``action``)."""
    begin_write()
    req = db.session.get(IntroductionRequest, request_id)
    if req is None or not permissions.can_handle_introductions(actor, req.profile):
        raise NotFound(_("Dit verzoek bestaat niet of is niet voor u."))
    if action not in ("forward", "decline"):
        raise ValidationFailed({"action": [_("Onbekende handeling '%(action)s'.", action=action[:40])]})
    req.status = "forwarded" if action == "forward" else "declined"
    req.handled_at = utcnow()
    req.handled_by_id = actor.id
    if req.requester is not None:
        text = ("Uw verzoek om kennis te maken is doorgestuurd; de persoon neemt contact met u op als die dat wil."
                if action == "forward" else "Uw verzoek om kennis te maken is niet doorgestuurd.")
        _notify([req.requester], "introduction_" + req.status, text, _profile_link(req.profile), req.profile)
    audit(actor, "introduction." + req.status, _target(req.profile_id), profile_id=req.profile_id)
    db.session.commit()
    return req


# -- rights of the person: export and erasure ---------------------------------------------
#: How an erasure treats each column that refers to ``items.id`` (table.column
#: -> "delete" the row or "null" the column). tests/test_people.py walks the
#: schema and fails when a table refers to items without an entry here.
ERASE_POLICY = {
    "revisions.item_id": "delete",
    "item_municipalities.item_id": "delete",
    "introduction_requests.profile_id": "delete",
    "notifications.item_id": "delete",
    "attachments.item_id": "delete",  # and the stored files, after the commit
    "collection_entries.item_id": "delete",  # the dossier stays, without the person
    "kept_forms.item_id": "delete",  # a form kept across an expired session
    "follow_news.item_id": "delete",  # news for followers' digests (issue #9)
    # no foreign key: rows hold only an id and an action; erasure appends a "delete"
    "search_changes.item_id": "keep",
}


def item_references() -> list[tuple[Any, Any]]:
    """``(table, column)`` for every column of the schema with a foreign key to ``items.id``."""
    out = []
    for table in db.metadata.sorted_tables:
        for col in table.columns:
            if any(fk.column.table.name == "items" and fk.column.name == "id" for fk in col.foreign_keys):
                out.append((table, col))
    return out


def _json(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return value


def export_person(actor: Any, profile_id: int) -> dict[str, Any]:
    """Everything held about one profile, as a JSON-ready mapping:
    ``profile`` (front matter, body, consent, status), ``revisions``,
    ``views`` (privacy audit events with who and when), ``mentioned_by``
    (items naming the profile as contact) and ``other`` (rows of every other
    table referring to it). Admins only (``PermissionDenied``); the export
    itself is logged."""
    if not permissions.can_manage_person_data(actor):
        raise PermissionDenied(_("Alleen een beheerder mag de gegevens van een persoon uitvoeren."))
    begin_write()
    item = _get_profile(profile_id)
    users = {u.id: u.email for u in db.session.scalars(select(User))}
    profile = {k: _json(v) for k, v in front_matter(item).items()}
    profile.update(id=item.id, body=item.body, status=item.status,
                   consent_expiry=_json(permissions.consent_expiry(item)),
                   consent_reminded=_json(item.consent_reminded),
                   created_at=_json(item.created_at), updated_at=_json(item.updated_at))
    revisions = [{"number": r.number, "at": _json(r.created_at), "by": users.get(r.author_id),
                  "title": r.title, "body": r.body, "meta": _json(r.meta), "note": r.note}
                 for r in item.revisions]
    views = [{"at": _json(r.at), "action": r.action, "by": users.get(r.actor_id, "systeem")}
             for r in reversed(_privacy_rows()) if profile_id in _ids_of(r)]
    mentioned = [{"type": i.type, "slug": i.slug, "title": i.title}
                 for i in db.session.scalars(select(Item).where(Item.contact == item.slug, Item.type != "profile"))]
    other: dict[str, list[dict[str, Any]]] = {}
    for table, col in item_references():
        if table.name in ("revisions", "item_municipalities"):
            continue
        rows = db.session.execute(select(table).where(col == profile_id)).mappings().all()
        if rows:
            other.setdefault(table.name, []).extend({k: _json(v) for k, v in r.items()} for r in rows)
    _write_privacy(actor, [(EXPORT, _target(profile_id), {"profile_id": profile_id})], fresh=False)
    return {"exported_at": _json(utcnow()), "profile": profile, "revisions": revisions,
            "views": views, "mentioned_by": mentioned, "other": other}


def _scrub_slug(meta: dict, slug: str) -> dict | None:
    """``meta`` without references to ``slug`` (contact, related), or None if unchanged."""
    changed = dict(meta or {})
    if changed.get("contact") == slug:
        changed.pop("contact")
    if slug in (changed.get("related") or []):
        changed["related"] = [s for s in changed["related"] if s != slug]
    return changed if changed != (meta or {}) else None


def erase_person(actor: Any, profile_id: int) -> None:
    """Erase a person (GDPR article 17): the profile, its revisions and
    drafts, its search index entry (a ``delete`` in the change log, then the
    index is rebuilt so no segment file keeps its words), its name, e-mail
    address and phone number typed as free text anywhere else, redacted in
    place to "[naam verwijderd]" in current texts *and* their revision
    history, pending changes, kept forms, questions, answers, meeting notes,
    notifications, outbox e-mails and the audit log (``people_redaction``;
    article 17 overrides the history's integrity; every touched item is
    reindexed), every
    row of another table referring to it (``ERASE_POLICY``) and attached
    files, rows of free-text logs naming it (``TEXT_LOGS``), its slug in
    other items' contact and related fields (current and in their revisions)
    and its traces in the audit log (privacy events about it are removed,
    other events lose the name). One audit row ``privacy.erase`` records that
    an erasure happened, by whom, without any data. Admins only
    (``PermissionDenied``); ``NotFound`` for an unknown profile."""
    if not permissions.can_manage_person_data(actor):
        raise PermissionDenied(_("Alleen een beheerder mag een persoon wissen."))
    begin_write()
    item = _get_profile(profile_id)
    slug = item.slug
    names_to_redact = redaction.needles_for(item)  # before the revisions (earlier names) go
    # 1. rows of other tables that refer to the profile
    files = _attachment_files(profile_id)
    for table, col in item_references():
        if table.name in ("revisions", "item_municipalities"):
            continue  # below, with the item (ORM cascade and collection)
        how = ERASE_POLICY.get(f"{table.name}.{col.name}", "null" if col.nullable else "delete")
        if how == "null":
            db.session.execute(update(table).where(col == profile_id).values({col.name: None}))
        else:
            db.session.execute(delete(table).where(col == profile_id))
    # 2. other items naming the profile by slug (contact, related)
    touched = set()
    for other in db.session.scalars(select(Item).where(Item.type != "profile")):
        if other.contact == slug:
            other.contact = None
            touched.add(other.id)
        if slug in (other.related or []):
            other.related = [s for s in other.related if s != slug]
            touched.add(other.id)
    for rev in db.session.scalars(select(Revision).where(
            Revision.item_id != profile_id, cast(Revision.meta, String).contains(slug, autoescape=True))):
        scrubbed = _scrub_slug(rev.meta, slug)
        if scrubbed is not None:
            rev.meta = scrubbed
    # 3. free-text logs naming the person (the search log, the e-mail outbox)
    values = [v for v in (item.title, item.contact_email, item.contact_phone, slug) if v]
    needles = sorted(set(values) | {v.casefold() for v in values})
    for table_name, columns in TEXT_LOGS.items():
        table = db.metadata.tables.get(table_name)
        if table is None:
            continue
        for column in columns:
            for needle in needles:
                db.session.execute(delete(table).where(table.c[column].contains(needle, autoescape=True)))
    # 4. the audit log: privacy events about the person go, other events lose the name
    names = {f"profile/{slug}", _target(profile_id)}
    about = or_(AuditEvent.action.like(PRIVACY_PREFIX + "%"), AuditEvent.target.in_(names),
                cast(AuditEvent.detail, String).contains(str(profile_id)))
    for row in db.session.scalars(select(AuditEvent).where(about)):
        ids = _ids_of(row)
        if row.action.startswith(PRIVACY_PREFIX) and profile_id in ids:
            if row.action in (SEARCH, LISTED) and len(ids) > 1:
                row.detail = {**row.detail, "profile_ids": [i for i in ids if i != profile_id]}
            else:
                db.session.delete(row)
        elif row.target in names or profile_id in ids:
            row.target, row.detail = _target(profile_id), {}
    # 5. the profile itself with its revisions; the index follows the change log
    # (search_changes rows hold only an id and an action: they stay)
    item.municipalities = []
    db.session.delete(item)
    db.session.flush()
    for other_id in sorted(touched):
        other = db.session.get(Item, other_id)
        other.updated_at = utcnow()
        add_revision(other, actor, "contactpersoon gewist")
    # 6. the name typed as free text anywhere else, history included (people_redaction)
    db.session.flush()
    touched |= redaction.apply(redaction.scan(names_to_redact))
    db.session.expire_all()
    for other_id in sorted(i for i in touched if i is not None):
        log_search_change(other_id)
    log_search_change(profile_id, "delete")
    audit(actor, ERASE, _target(profile_id))
    db.session.commit()
    _remove_files(files)
    # Whoosh only marks a deleted document; its stored fields and terms stay
    # in the segment files until a merge. A fresh index (built in a new
    # folder, swapped in, the old one removed) leaves nothing on disk.
    try:
        search.rebuild()
    except Exception:  # the database is done; `portal reindex` finishes the index
        log.exception("rebuilding the search index after an erasure failed; run `portal reindex`")
        search.nudge()


@dataclass
class ErasurePreview:
    """What ``erase_person`` would do with the free text: ``places`` (one
    ``people_redaction.Hit`` per row and column, with a Dutch ``label`` naming
    the item or row, never the text itself), the names it redacts (``names``)
    and those it leaves alone as too unspecific (``ignored``, with the reason)."""

    profile: Item
    places: list[Any] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    ignored: list[Any] = field(default_factory=list)


def erasure_preview(actor: Any, profile_id: int) -> ErasurePreview:
    """Where the person's name (and e-mail address, phone number) occurs as
    free text outside the profile, for the admin to see before erasing.
    Rows the erasure deletes anyway (the profile, its revisions, rows
    referring to it) are left out. Admins only (``PermissionDenied``);
    ``NotFound`` for an unknown profile. Reads only."""
    if not permissions.can_manage_person_data(actor):
        raise PermissionDenied(_("Alleen een beheerder mag een persoon wissen."))
    item = _get_profile(profile_id)
    needles = redaction.needles_for(item)
    refs: dict[str, list[str]] = {}
    for table, col in item_references():
        if ERASE_POLICY.get(f"{table.name}.{col.name}", "delete") == "delete":
            refs.setdefault(table.name, []).append(col.name)

    def skip(table: str, row: Any) -> bool:
        if table == "items":
            return row["id"] == profile_id
        return any(row.get(c) == profile_id for c in refs.get(table, ()))

    places = redaction.scan(needles, skip=skip)
    return ErasurePreview(item, places, [n for n, _ in needles.names], needles.ignored)


#: Tables of free text without a reference to the item -> the columns whose
#: rows are deleted when they hold an erased person's name, e-mail address,
#: phone number or slug (as typed, or case-folded).
TEXT_LOGS = {"search_log": ("query",), "outbox_messages": ("subject", "body")}


def _attachment_files(profile_id: int) -> list[str]:
    """Paths of the files attached to the profile (issue #4's attachments)."""
    table = db.metadata.tables.get("attachments")
    if table is None:
        return []
    from .attachments import storage_dir

    names = db.session.scalars(select(table.c.stored_name).where(table.c.item_id == profile_id)).all()
    return [os.path.join(storage_dir(), n) for n in names]


def _remove_files(paths: list[str]) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def profiles_for_admin(actor: Any) -> list[Item]:
    """Every profile (any status) by name, for the person-rights page. Admins only."""
    if not permissions.can_manage_person_data(actor):
        raise PermissionDenied(_("Alleen een beheerder mag dit zien."))
    return sorted(db.session.scalars(select(Item).where(Item.type == "profile")), key=lambda i: i.title.casefold())


__all__ = [
    "ERASE_POLICY", "FinderResult", "ConsentReport", "ErasurePreview", "consent_check", "contact_for",
    "erase_person", "erasure_preview",
    "export_person", "find_experts", "handle_introduction", "introductions_for", "item_references",
    "personal_data_warnings", "privacy_log", "privacy_overview", "profile_names", "profiles_for_admin",
    "record_profile_search", "record_profile_view", "record_profiles_shown", "request_introduction",
]
