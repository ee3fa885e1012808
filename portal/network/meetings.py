"""Meetings (bijeenkomsten): creating and editing them, signing up with a
waiting list, attendee lists, CSV export and iCalendar files.

Every writing function takes the actor explicitly, calls ``begin_write()``
first, checks permission through ``portal.permissions``, writes an audit
row and commits once.

Times: forms and pages use Europe/Amsterdam wall-clock time; the database
stores naive UTC (like every other timestamp of the portal).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import func, select

from .. import permissions
from ..database import begin_write
from ..errors import NotFound, PermissionDenied, ValidationFailed
from ..extensions import db
from ..markdown import plain_text
from ..models import MEETING_KINDS, Item, Meeting, MeetingRegistration, Region
from ..models.base import utcnow
from ..services.common import audit
from ..services.notifications import notify
from .common import long_datetime, parse_int, valid_id

TZ = ZoneInfo("Europe/Amsterdam")
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends
#: Accepted in the form: the ``datetime-local`` value, the same with a space
#: (what the hint shows and people type), each with or without seconds.
INPUT_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")
MAX_DESCRIPTION = 50_000
MAX_CAPACITY = 100_000


# -- time ------------------------------------------------------------------------------
def to_local(value: datetime | None) -> datetime | None:
    """Naive UTC (as stored) -> aware Europe/Amsterdam time."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC).astimezone(TZ)


def parse_local(text: str) -> datetime:
    """``'2026-12-10T19:30'`` or ``'2026-12-10 19:30'``, optionally with
    seconds (``'19:30:00'``), in Amsterdam wall-clock time -> naive UTC.

    Raises ``ValueError`` for anything else (``INPUT_FORMATS``). A time in
    the autumn's repeated hour is read as the first (summer-time) one
    (``fold=0``).
    """
    text = " ".join(text.split())  # also a double space or a tab between date and time
    for fmt in INPUT_FORMATS:
        try:
            local = datetime.strptime(text, fmt).replace(tzinfo=TZ)
        except ValueError:
            continue
        return local.astimezone(UTC).replace(tzinfo=None)
    raise ValueError(f"not a date and time: {text[:40]!r}")


def long_local(value: datetime | None) -> str:
    """Naive UTC -> ``'10 december 2026 19:30'`` (Amsterdam time, Dutch
    long date as the ``nldate`` filter writes it, plus the time)."""
    return long_datetime(to_local(value))


def local_input(value: datetime | None) -> str:
    """Naive UTC -> the ``datetime-local`` form value in Amsterdam time."""
    local = to_local(value)
    return local.strftime(LOCAL_FORMAT) if local else ""


# -- validation ------------------------------------------------------------------------
def valid_web_url(text: str) -> bool:
    """An absolute http(s) URL with a host and no spaces or control characters."""
    if not text or len(text) > 500 or any(c.isspace() or ord(c) < 32 for c in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def validate_meeting(actor: Any, data: dict[str, str]) -> dict[str, Any]:
    """Check the meeting form (``title``, ``kind``, ``description``,
    ``starts_at``, ``ends_at``, ``place``, ``online_url``, ``capacity``,
    ``region`` as strings) and return clean values for the ``Meeting`` columns.

    Raises ``ValidationFailed`` (field -> Dutch messages) naming every bad field.
    """
    errors: dict[str, list[str]] = {}

    def err(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    clean: dict[str, Any] = {}
    title = (data.get("title") or "").strip()
    if not title:
        err("title", _("Vul een titel in."))
    elif len(title) > 300:
        err("title", _("De titel is te lang: hoogstens %(n)s tekens.", n=300))
    clean["title"] = title

    kind = (data.get("kind") or "").strip()
    if kind not in MEETING_KINDS:
        err("kind", _("Kies het soort bijeenkomst."))
    clean["kind"] = kind

    description = (data.get("description") or "").replace("\r\n", "\n")
    if len(description) > MAX_DESCRIPTION:
        err("description", _("De beschrijving is te lang: hoogstens 50.000 tekens."))
    clean["description"] = description

    times = (("starts_at", _("Vul de begintijd in (datum en tijd)."),
              _("'%(value)s' is geen geldige begintijd; gebruik JJJJ-MM-DD UU:MM, bijvoorbeeld 2026-12-10 19:30.")),
             ("ends_at", _("Vul de eindtijd in (datum en tijd)."),
              _("'%(value)s' is geen geldige eindtijd; gebruik JJJJ-MM-DD UU:MM, bijvoorbeeld 2026-12-10 19:30.")))
    for field, empty, invalid in times:
        value = (data.get(field) or "").strip()
        if not value:
            err(field, empty)
            continue
        try:
            clean[field] = parse_local(value)
        except ValueError:
            err(field, invalid % {"value": value[:40]})
    if clean.get("starts_at") and clean.get("ends_at") and clean["ends_at"] <= clean["starts_at"]:
        err("ends_at", _("De eindtijd moet na de begintijd liggen."))

    place = (data.get("place") or "").strip()
    if len(place) > 300:
        err("place", _("De plaats is te lang: hoogstens %(n)s tekens.", n=300))
    clean["place"] = place
    online_url = (data.get("online_url") or "").strip()
    if online_url and not valid_web_url(online_url):
        err("online_url", _("De onlinelink moet een volledig webadres zijn dat begint met https:// of http://."))
    clean["online_url"] = online_url
    if not place and not online_url:
        err("place", _("Vul een plaats in, een onlinelink, of allebei."))

    capacity = (data.get("capacity") or "").strip()
    clean["capacity"] = None
    if capacity:
        clean["capacity"] = parse_int(capacity, 1, MAX_CAPACITY)
        if clean["capacity"] is None:
            err("capacity", _("Het aantal plaatsen is een heel getal van 1 tot en met 100.000; "
                              "laat het leeg voor onbeperkt."))

    region_value = (data.get("region") or "").strip()
    region_id = None
    if region_value:
        number = parse_int(region_value)
        region = db.session.get(Region, number) if number is not None else None
        if region is None:
            err("region", _("Kies een bestaande regio uit de lijst bij Regio."))
        else:
            region_id = region.id
    clean["region_id"] = region_id
    if "region" not in errors and not permissions.can_organise_meeting(actor, region_id):
        err("region", _("U mag alleen bijeenkomsten organiseren voor uw eigen regio."))
    if errors:
        raise ValidationFailed(errors)
    return clean


# -- reading ---------------------------------------------------------------------------
def get_meeting(meeting_id: int) -> Meeting:
    """The meeting, or ``NotFound``. Meetings themselves are public; their
    members-only details are left out by the views (``can_view_meeting_details``)."""
    meeting = db.session.get(Meeting, meeting_id) if valid_id(meeting_id) else None
    if meeting is None:
        raise NotFound(_("Deze bijeenkomst bestaat niet."))
    return meeting


def list_meetings(region_id: int | None = None, upcoming: bool = True, limit: int = 200) -> list[Meeting]:
    """Meetings not yet ended (soonest first) or past ones (latest first),
    optionally of one region only."""
    now = utcnow()
    stmt = select(Meeting)
    if region_id is not None:
        stmt = stmt.where(Meeting.region_id == region_id)
    if upcoming:
        stmt = stmt.where(Meeting.ends_at >= now).order_by(Meeting.starts_at, Meeting.id)
    else:
        stmt = stmt.where(Meeting.ends_at < now).order_by(Meeting.starts_at.desc(), Meeting.id.desc())
    return list(db.session.scalars(stmt.limit(limit)))


def organisable_regions(actor: Any) -> list[Region]:
    """Regions ``actor`` may organise meetings for, by name."""
    rows = db.session.scalars(select(Region).order_by(Region.name)).all()
    return [r for r in rows if permissions.can_organise_meeting(actor, r.id)]


@dataclass
class Seats:
    confirmed: int
    waiting: int
    capacity: int | None

    @property
    def free(self) -> int | None:
        return None if self.capacity is None else max(0, self.capacity - self.confirmed)


def seats(meeting: Meeting) -> Seats:
    """Counts of confirmed seats and waiting-list places."""
    rows = db.session.execute(
        select(MeetingRegistration.status, func.count(MeetingRegistration.id))
        .where(MeetingRegistration.meeting_id == meeting.id).group_by(MeetingRegistration.status)
    ).all()
    counts = dict(rows)
    return Seats(counts.get("confirmed", 0), counts.get("waiting", 0), meeting.capacity)


def registration_of(actor: Any, meeting: Meeting) -> tuple[MeetingRegistration | None, int | None]:
    """``actor``'s registration for ``meeting`` and, when waiting, their
    place on the waiting list (1 = next in line)."""
    if not getattr(actor, "is_authenticated", False) or getattr(actor, "id", None) is None:
        return None, None
    reg = db.session.scalar(select(MeetingRegistration).where(
        MeetingRegistration.meeting_id == meeting.id, MeetingRegistration.user_id == actor.id))
    if reg is None or reg.status != "waiting":
        return reg, None
    ahead = db.session.scalar(select(func.count(MeetingRegistration.id)).where(
        MeetingRegistration.meeting_id == meeting.id, MeetingRegistration.status == "waiting",
        MeetingRegistration.id < reg.id))
    return reg, (ahead or 0) + 1


def related_items(actor: Any, meeting: Meeting) -> list[Item]:
    """The practices and lessons linked to ``meeting`` that ``actor`` may see."""
    from ..services.items import items_by_slugs

    return items_by_slugs(actor, list(meeting.related or []), types=("practice", "lesson"))


# -- writing ---------------------------------------------------------------------------
def save_meeting(actor: Any, data: dict[str, str], meeting: Meeting | None = None) -> Meeting:
    """Create (``meeting=None``) or change a meeting from the form's strings.

    Raises ``PermissionDenied`` (not an organiser of this meeting's region) or
    ``ValidationFailed``. Raising the capacity moves people up from the waiting
    list in the same transaction; lowering it takes no seat away.
    """
    begin_write()
    if meeting is not None:
        meeting = _locked(meeting.id)
        if not permissions.can_manage_meeting(actor, meeting):
            raise PermissionDenied(_("Alleen de organisatoren van deze regio mogen deze bijeenkomst wijzigen."))
    elif not permissions.can_curate(actor):
        raise PermissionDenied(_("Alleen een regionale coördinator of beheerder mag bijeenkomsten organiseren."))
    clean = validate_meeting(actor, data)
    creating = meeting is None
    if creating:
        meeting = Meeting(organiser_id=getattr(actor, "id", None), related=[], notes="")
        db.session.add(meeting)
    for key, value in clean.items():
        setattr(meeting, key, value)
    meeting.updated_at = utcnow()
    db.session.flush()
    promoted = [] if creating else _promote(meeting)
    audit(actor, "meeting.create" if creating else "meeting.update", f"meeting/{meeting.id}",
          promoted=[r.user_id for r in promoted])
    db.session.commit()
    return meeting


def save_report(actor: Any, meeting: Meeting, notes: str, related: list[str]) -> Meeting:
    """Attach the organiser's notes (Markdown) and the slugs of practices and
    lessons that came out of the meeting. Raises ``PermissionDenied`` or
    ``ValidationFailed`` (unknown slugs, notes too long)."""
    from ..services.items import items_by_slugs

    begin_write()
    meeting = _locked(meeting.id)
    if not permissions.can_manage_meeting(actor, meeting):
        raise PermissionDenied(_("Alleen de organisatoren van deze regio mogen het verslag bijwerken."))
    notes = (notes or "").replace("\r\n", "\n")
    errors: dict[str, list[str]] = {}
    if len(notes) > MAX_DESCRIPTION:
        errors["notes"] = [_("Het verslag is te lang: hoogstens 50.000 tekens.")]
    slugs = list(dict.fromkeys(s.strip() for s in related if s.strip()))
    found = {i.slug for i in items_by_slugs(actor, slugs, types=("practice", "lesson"))}
    missing = [s for s in slugs if s not in found]
    if missing:
        errors["related"] = [_("Geen werkwijze of les gevonden met de korte naam: %(names)s.",
                               names=", ".join(missing))]
    if errors:
        raise ValidationFailed(errors)
    meeting.notes = notes
    meeting.related = slugs
    meeting.updated_at = utcnow()
    audit(actor, "meeting.report", f"meeting/{meeting.id}", related=slugs)
    db.session.commit()
    return meeting


def _locked(meeting_id: int) -> Meeting:
    """Re-read the meeting inside the write transaction, locking its row on
    PostgreSQL (``SELECT ... FOR UPDATE``) so sign-ups for one meeting take
    turns; SQLite's ``BEGIN IMMEDIATE`` (``begin_write``) already serialises
    writers."""
    if not valid_id(meeting_id):
        raise NotFound(_("Deze bijeenkomst bestaat niet."))
    stmt = (select(Meeting).where(Meeting.id == meeting_id).with_for_update()
            .execution_options(populate_existing=True))
    meeting = db.session.scalar(stmt)
    if meeting is None:
        raise NotFound(_("Deze bijeenkomst bestaat niet."))
    return meeting


def _promote(meeting: Meeting) -> list[MeetingRegistration]:
    """Give free seats to the waiting list, first come first served, and
    tell each person moved up (in-app notification and outbox e-mail with
    the meeting's title, date and link) in the caller's transaction, so the
    seat and the message are committed together or not at all."""
    info = seats(meeting)
    if info.capacity is None:
        free = info.waiting
    else:
        free = max(0, info.capacity - info.confirmed)
    if not free:
        return []
    waiting = db.session.scalars(
        select(MeetingRegistration).where(MeetingRegistration.meeting_id == meeting.id,
                                          MeetingRegistration.status == "waiting")
        .order_by(MeetingRegistration.created_at, MeetingRegistration.id).limit(free)).all()
    for reg in waiting:
        reg.status = "confirmed"
    db.session.flush()
    if waiting:
        notify([reg.user for reg in waiting], "meeting.promoted",
               f"Er is een plaats vrijgekomen: u bent nu aangemeld voor {meeting.title} "
               f"op {long_local(meeting.starts_at)}.", f"/bijeenkomsten/{meeting.id}")
    return list(waiting)


def register(actor: Any, meeting_id: int) -> MeetingRegistration:
    """Sign ``actor`` up: a seat while there is one, else a place on the
    waiting list. Signing up twice returns the existing registration.

    The meeting's row is locked (PostgreSQL) or the write transaction is
    immediate (SQLite) before seats are counted, so two people taking the
    last seat at the same time cannot both get it. Raises ``PermissionDenied``
    (not logged in), ``NotFound`` or ``ValidationFailed`` (meeting over).
    """
    begin_write()
    meeting = _locked(meeting_id)
    if not permissions.can_register(actor, meeting):
        raise PermissionDenied(_("Log in om u aan te melden."))
    if meeting.ends_at < utcnow():
        raise ValidationFailed({"registration": [_("Deze bijeenkomst is al voorbij; aanmelden kan niet meer.")]})
    existing = db.session.scalar(select(MeetingRegistration).where(
        MeetingRegistration.meeting_id == meeting.id, MeetingRegistration.user_id == actor.id))
    if existing is not None:
        db.session.rollback()
        return existing
    info = seats(meeting)
    full = info.capacity is not None and info.confirmed >= info.capacity
    reg = MeetingRegistration(meeting_id=meeting.id, user_id=actor.id, status="waiting" if full else "confirmed")
    db.session.add(reg)
    audit(actor, "meeting.register", f"meeting/{meeting.id}", status=reg.status)
    db.session.commit()
    return reg


def cancel(actor: Any, meeting_id: int) -> list[MeetingRegistration]:
    """Cancel ``actor``'s registration; a freed seat goes to the first on the
    waiting list in the same transaction. Returns the registrations moved up
    (empty when nobody was). Raises ``NotFound`` when ``actor`` was not
    signed up."""
    begin_write()
    meeting = _locked(meeting_id)
    if not permissions.can_register(actor, meeting):
        raise PermissionDenied(_("Log in om u af te melden."))
    reg = db.session.scalar(select(MeetingRegistration).where(
        MeetingRegistration.meeting_id == meeting.id, MeetingRegistration.user_id == actor.id))
    if reg is None:
        raise NotFound(_("U was niet aangemeld voor deze bijeenkomst."))
    status = reg.status
    db.session.delete(reg)
    db.session.flush()
    promoted = _promote(meeting)
    audit(actor, "meeting.cancel", f"meeting/{meeting.id}", status=status,
          promoted=[r.user_id for r in promoted])
    db.session.commit()
    return promoted


# -- organiser's views -----------------------------------------------------------------
def attendees(actor: Any, meeting: Meeting) -> list[MeetingRegistration]:
    """All registrations (seats first, then the waiting list in order); the
    meeting's organisers only, else ``PermissionDenied``."""
    if not permissions.can_manage_meeting(actor, meeting):
        raise PermissionDenied(_("Alleen de organisatoren van deze bijeenkomst zien wie er komt."))
    rows = db.session.scalars(select(MeetingRegistration).where(MeetingRegistration.meeting_id == meeting.id)
                              .order_by(MeetingRegistration.created_at, MeetingRegistration.id)).all()
    return sorted(rows, key=lambda r: 0 if r.status == "confirmed" else 1)


#: A cell starting with one of these is read as a formula by spreadsheet programs
#: (OWASP, "CSV Injection"); tab and carriage return are on OWASP's list too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> str:
    """Text for a CSV cell that a spreadsheet will not run as a formula:
    a leading ``'`` before any of ``= + - @`` (and tab, CR)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def attendees_csv(actor: Any, meeting: Meeting) -> str:
    """The attendee list as CSV (header row in Dutch; cells made formula-safe).
    Organisers only (``PermissionDenied``)."""
    rows = attendees(actor, meeting)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Naam", "E-mailadres", "Gemeente", "Status", "Aangemeld op"])
    for reg in rows:
        user = reg.user
        writer.writerow([csv_safe(v) for v in (
            user.name, user.email, user.municipality.name if user.municipality else "",
            "aangemeld" if reg.status == "confirmed" else "wachtlijst",
            to_local(reg.created_at).strftime("%Y-%m-%d %H:%M"),
        )])
    return out.getvalue()


# -- iCalendar (RFC 5545) --------------------------------------------------------------
def icalendar_bytes(actor: Any, meetings: list[Meeting], *, name: str, url_for_meeting, host: str) -> bytes:
    """An iCalendar file with one VEVENT per meeting (times in
    Europe/Amsterdam with its VTIMEZONE). The online link is only included
    for those ``can_view_meeting_details`` allows. ``url_for_meeting(m)``
    gives the meeting's absolute page URL."""
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", "-//Kennisportaal sleutelfiguren//bijeenkomsten//NL")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    stamp = datetime.now(UTC)
    for meeting in meetings:
        details = permissions.can_view_meeting_details(actor, meeting)
        page = url_for_meeting(meeting)
        event = Event()
        event.add("uid", f"bijeenkomst-{meeting.id}@{host}")
        event.add("dtstamp", stamp)
        event.add("dtstart", to_local(meeting.starts_at))
        event.add("dtend", to_local(meeting.ends_at))
        event.add("summary", meeting.title)
        text = plain_text(meeting.description)
        location = meeting.place
        if details and meeting.online_url:
            text = f"{text}\n\nOnline: {meeting.online_url}".strip()
            location = location or meeting.online_url
        elif meeting.online_url:
            text = f"{text}\n\nDe onlinelink staat op de pagina van de bijeenkomst (na inloggen).".strip()
            location = location or "Online"
        event.add("description", f"{text}\n\n{page}".strip())
        if location:
            event.add("location", location)
        event.add("url", page)
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()
