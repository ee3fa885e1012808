"""Meetings (bijeenkomsten, issue #9): organising per region, signing up with a
waiting list (also under concurrent sign-ups), attendee list and CSV export for
the organisers only, iCalendar files, and the report afterwards."""

from __future__ import annotations

import csv
import io
import re
import threading
from datetime import datetime, timedelta
from types import SimpleNamespace as NS

import pytest
from icalendar import Calendar
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from portal import permissions as p
from portal.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.models import AuditEvent, Meeting, MeetingRegistration, Notification, OutboxMessage, User
from portal.network import meetings as svc
from portal.services.items import SYSTEM, save_item
from portal.services.library import create_user, set_region

from .conftest import PASSWORD, csrf_token, make_app, serving
from .stubs import DELFT, LOOSE, UTRECHT, U
from .test_browser import (
    browser,  # noqa: F401  (the headless Chromium fixture)
    see,
)
from .test_browser import login as browser_login

CURATOR = "curator@delft.example.org"
MEMBER = "lid@delft.example.org"
CURATOR_U = "curator@utrecht.example.org"
MEMBER_U = "lid@utrecht.example.org"


# -- the predicates on their own ---------------------------------------------------------
ANON = None
MEMBER_D = U(id=1, role="member", municipality=DELFT)
CONTRIB_D = U(id=2, role="contributor", municipality=DELFT)
CURATOR_D = U(id=3, role="curator", municipality=DELFT)
CURATOR_UT = U(id=4, role="curator", municipality=UTRECHT)
CURATOR_LOOSE = U(id=5, role="curator", municipality=LOOSE)
ADMIN = U(id=6, role="admin", municipality=None)
PEOPLE = (ANON, MEMBER_D, CONTRIB_D, CURATOR_D, CURATOR_UT, CURATOR_LOOSE, ADMIN)


@pytest.mark.parametrize("meeting,manage,details", [
    # (anon, member, contributor, curator Delft, curator Utrecht, curator without region, admin)
    (NS(region_id=1), (0, 0, 0, 1, 0, 0, 1), (0, 1, 1, 1, 1, 1, 1)),
    (NS(region_id=2), (0, 0, 0, 0, 1, 0, 1), (0, 1, 1, 1, 1, 1, 1)),
    (NS(region_id=None), (0, 0, 0, 1, 1, 1, 1), (0, 1, 1, 1, 1, 1, 1)),  # national
])
def test_meeting_predicates(meeting, manage, details):
    assert tuple(int(p.can_manage_meeting(u, meeting)) for u in PEOPLE) == manage
    assert tuple(int(p.can_organise_meeting(u, meeting.region_id)) for u in PEOPLE) == manage
    assert tuple(int(p.can_view_meeting_details(u, meeting)) for u in PEOPLE) == details
    assert tuple(int(p.can_register(u, meeting)) for u in PEOPLE) == details


def test_inactive_user_has_no_rights():
    gone = U(id=9, role="admin", municipality=DELFT, is_active=False)
    assert not p.can_manage_meeting(gone, NS(region_id=1))
    assert not p.can_register(gone, NS(region_id=1))


# -- a portal with two regions -------------------------------------------------------------
@pytest.fixture(scope="module")
def net_app(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("meetings"), content=False)
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        set_region(SYSTEM, "Midden-Nederland", ["Utrecht"])
        create_user(SYSTEM, CURATOR_U, "curator", name="Curator Utrecht", password=PASSWORD, municipality="Utrecht")
        create_user(SYSTEM, MEMBER_U, "member", name="Lid Utrecht", password=PASSWORD, municipality="Utrecht")
        for n in range(8):
            create_user(SYSTEM, f"deelnemer{n}@delft.example.org", "member", name=f"Deelnemer {n}",
                        password=PASSWORD, municipality="Delft")
        create_user(SYSTEM, "formule@delft.example.org", "member", name="=HYPERLINK(\"http://x.test\")",
                    password=PASSWORD, municipality="Delft")
    return app


def user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def region_id(name: str) -> int:
    from portal.models import Region

    return db.session.scalar(select(Region.id).where(Region.name == name))


def local(days: int, hour: int = 19, minute: int = 30) -> str:
    day = datetime.now() + timedelta(days=days)
    return day.replace(hour=hour, minute=minute).strftime("%Y-%m-%dT%H:%M")


def form(**overrides) -> dict:
    data = {"title": "Brede netwerkbijeenkomst najaar", "kind": "netwerkbijeenkomst",
            "description": "We bespreken **het jaarplan**.", "starts_at": local(30), "ends_at": local(30, 22, 0),
            "place": "Stadhuis Delft", "online_url": "https://meet.example.org/netwerk", "capacity": "",
            "region": ""}
    data.update(overrides)
    return data


def new_meeting(app, **overrides) -> int:
    with app.app_context():
        data = form(region=str(region_id("Haaglanden")), **overrides)
        return svc.save_meeting(user(CURATOR), data).id


def post(client, path, data=None, page=None):
    token = csrf_token(client, page or path)
    return client.post(path, data={**(data or {}), "csrf_token": token})


# -- organising ----------------------------------------------------------------------------
def test_curator_creates_meeting_with_amsterdam_times_and_dutch_errors(net_app, client_for):
    curator = client_for(net_app, CURATOR)
    with net_app.app_context():
        rid = str(region_id("Haaglanden"))
    bad = form(title="Trainingsdag sleutelfiguren", region=rid, online_url="javascript:alert(1)",
               starts_at="2027-01-14T10:00", ends_at="2027-01-14T09:00", capacity="nul")
    resp = post(curator, "/bijeenkomsten/nieuw", bad)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "De onlinelink moet een volledig webadres zijn" in html
    assert "De eindtijd moet na de begintijd liggen." in html
    assert "Het aantal plaatsen is een heel getal" in html
    assert 'value="Trainingsdag sleutelfiguren"' in html and 'value="javascript:alert(1)"' in html
    with net_app.app_context():
        assert not db.session.scalar(select(Meeting).where(Meeting.title == "Trainingsdag sleutelfiguren"))

    good = dict(bad, online_url="https://meet.example.org/training", ends_at="2027-01-14T16:00", capacity="25")
    resp = post(curator, "/bijeenkomsten/nieuw", good)
    assert resp.status_code == 302
    with net_app.app_context():
        m = db.session.scalar(select(Meeting).where(Meeting.title == "Trainingsdag sleutelfiguren"))
        assert m.starts_at == datetime(2027, 1, 14, 9, 0)  # 10:00 in Amsterdam in winter is 09:00 UTC
        assert m.capacity == 25 and m.region_id == int(rid)
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "meeting.create",
                                                          AuditEvent.target == f"meeting/{m.id}"))
    with net_app.app_context():  # summer time: UTC+2
        assert svc.parse_local("2027-07-01T19:30") == datetime(2027, 7, 1, 17, 30)


@pytest.mark.parametrize("text", ["2027-01-14T10:00", "2027-01-14 10:00", "2027-01-14T10:00:00",
                                  "2027-01-14 10:00:00", " 2027-01-14  10:00 "])
def test_both_time_forms_and_seconds_are_accepted(text):
    assert svc.parse_local(text) == datetime(2027, 1, 14, 9, 0)


@pytest.mark.parametrize("text", ["14-01-2027 10:00", "2027-01-14", "2027-01-14T25:00", "2027-01-14 10:00+01:00",
                                  "morgen"])
def test_other_time_forms_are_refused(text):
    with pytest.raises(ValueError):
        svc.parse_local(text)


def test_meeting_form_takes_the_time_form_its_hint_shows(net_app, client_for):
    curator = client_for(net_app, CURATOR)
    with net_app.app_context():
        rid = str(region_id("Haaglanden"))
    html = curator.get("/bijeenkomsten/nieuw").get_data(as_text=True)
    assert "bijvoorbeeld 2026-12-10 19:30" in html and "JJJJ-MM-DD UU:MM" in html
    assert ">Bijeenkomst aanmaken</button>" in html
    resp = post(curator, "/bijeenkomsten/nieuw", form(title="Informatieavond met spatie", region=rid,
                                                      starts_at="2030-03-14 19:30", ends_at="2030-03-14 21:45:00"))
    assert resp.status_code == 302
    with net_app.app_context():
        m = db.session.scalar(select(Meeting).where(Meeting.title == "Informatieavond met spatie"))
        assert (m.starts_at, m.ends_at) == (datetime(2030, 3, 14, 18, 30), datetime(2030, 3, 14, 20, 45))
    # the message names the same form as the hint, and the typed text stays
    resp = post(curator, "/bijeenkomsten/nieuw", form(title="Verkeerde datum", region=rid, starts_at="14-03-2030 19:30"))
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "is geen geldige begintijd; gebruik JJJJ-MM-DD UU:MM, bijvoorbeeld 2026-12-10 19:30." in html
    assert 'value="14-03-2030 19:30"' in html


def test_meeting_dates_in_the_long_dutch_style(net_app, client_for):
    mid = new_meeting(net_app, title="Netwerkavond lente", starts_at="2030-03-14 19:30", ends_at="2030-03-14 22:00")
    two_days = new_meeting(net_app, title="Tweedaagse training", starts_at="2030-04-01 09:00",
                           ends_at="2030-04-02 17:00")
    anon = net_app.test_client()
    assert "14 maart 2030 19:30 – 22:00 (Nederlandse tijd)" in anon.get(f"/bijeenkomsten/{mid}").get_data(as_text=True)
    assert "1 april 2030 09:00 – 2 april 2030 17:00" in anon.get(f"/bijeenkomsten/{two_days}").get_data(as_text=True)
    listing = anon.get("/bijeenkomsten").get_data(as_text=True)
    assert "14 maart 2030 19:30 – 22:00" in listing and "14-03-2030" not in listing
    with net_app.app_context():
        svc.register(user("deelnemer0@delft.example.org"), mid)
    html = client_for(net_app, CURATOR).get(f"/bijeenkomsten/{mid}/deelnemers").get_data(as_text=True)
    assert re.search(r"<td>\d{1,2} [a-z]+ 20\d\d \d\d:\d\d</td>", html)


@pytest.mark.parametrize("field,value,message", [
    ("region", "99999999999999999999999", "Kies een bestaande regio uit de lijst bij Regio."),
    ("region", "-1", "Kies een bestaande regio uit de lijst bij Regio."),
    ("region", "١", "Kies een bestaande regio uit de lijst bij Regio."),
    ("capacity", "99999999999999999999999", "Het aantal plaatsen is een heel getal van 1 tot en met 100.000"),
    ("capacity", "1e3", "Het aantal plaatsen is een heel getal van 1 tot en met 100.000"),
])
def test_huge_or_odd_numbers_in_the_form_are_a_dutch_400(net_app, client_for, field, value, message):
    curator = client_for(net_app, CURATOR)
    with net_app.app_context():
        rid = str(region_id("Haaglanden"))
        count = db.session.scalar(select(func.count(Meeting.id)))
    data = form(title="Overloopbijeenkomst", **{"region": rid, field: value})
    resp = post(curator, "/bijeenkomsten/nieuw", data)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert message in html and f'href="#f-{field}"' in html  # the summary names and links the field
    assert 'value="Overloopbijeenkomst"' in html
    mid = new_meeting(net_app)
    resp = post(curator, f"/bijeenkomsten/{mid}/bewerken", data)
    assert resp.status_code == 400 and message in resp.get_data(as_text=True)
    with net_app.app_context():
        assert db.session.scalar(select(func.count(Meeting.id))) == count + 1  # only new_meeting's


def test_huge_ids_in_meeting_urls_are_not_found(net_app, client_for):
    huge = "99999999999999999999999"
    anon = net_app.test_client()
    for path in (f"/bijeenkomsten/{huge}", f"/bijeenkomsten/{huge}/agenda.ics", "/bijeenkomsten/2147483648",
                 f"/bijeenkomsten/regio/{huge}/agenda.ics"):
        assert anon.get(path).status_code == 404, path
    assert anon.get(f"/bijeenkomsten?regio={huge}").status_code == 200
    curator = client_for(net_app, CURATOR)
    assert curator.get(f"/bijeenkomsten/{huge}/bewerken").status_code == 404
    assert curator.get(f"/bijeenkomsten/{huge}/deelnemers.csv").status_code == 404
    with net_app.app_context():
        with pytest.raises(NotFound):
            svc.register(user(MEMBER), 10**23)
        db.session.rollback()


def test_only_organisers_of_the_region_create_and_edit(net_app, client_for):
    mid = new_meeting(net_app)
    organiser = client_for(net_app, CURATOR)
    assert organiser.get("/bijeenkomsten/nieuw").status_code == 200
    html = organiser.get(f"/bijeenkomsten/{mid}/bewerken").get_data(as_text=True)
    assert 'value="Brede netwerkbijeenkomst najaar"' in html and 'value="Stadhuis Delft"' in html
    assert "Haaglanden" in html and "Midden-Nederland" not in html  # only regions they organise
    member = client_for(net_app, MEMBER)
    assert member.get("/bijeenkomsten/nieuw").status_code == 403
    other = client_for(net_app, CURATOR_U)
    assert other.get(f"/bijeenkomsten/{mid}/bewerken").status_code == 403
    with net_app.app_context():
        rid = str(region_id("Haaglanden"))
        with pytest.raises(ValidationFailed) as exc:
            svc.save_meeting(user(CURATOR_U), form(region=rid))
        db.session.rollback()
        assert "eigen regio" in " ".join(exc.value.errors["region"])
        with pytest.raises(PermissionDenied):
            svc.save_meeting(user(CURATOR_U), form(region=rid), meeting=db.session.get(Meeting, mid))
        db.session.rollback()
        with pytest.raises(PermissionDenied):
            svc.save_meeting(user(MEMBER), form())
        db.session.rollback()
    anon = net_app.test_client()
    assert anon.get("/bijeenkomsten/nieuw").status_code == 302


def test_place_or_link_required_and_only_http_links(net_app):
    with net_app.app_context():
        for url in ("ftp://x.example.org", "https://", "http://exa mple.org", "//example.org"):
            with pytest.raises(ValidationFailed) as exc:
                svc.validate_meeting(user(CURATOR), form(online_url=url))
            assert "online_url" in exc.value.errors
        with pytest.raises(ValidationFailed) as exc:
            svc.validate_meeting(user(CURATOR), form(place="", online_url=""))
        assert "place" in exc.value.errors
        assert svc.validate_meeting(user(CURATOR), form(place=""))["online_url"].startswith("https://")


# -- signing up ----------------------------------------------------------------------------
def test_sign_up_waiting_list_and_moving_up(net_app, client_for):
    mid = new_meeting(net_app, capacity="2")
    page = f"/bijeenkomsten/{mid}"
    clients = [client_for(net_app, f"deelnemer{n}@delft.example.org") for n in range(3)]
    for c in clients:
        assert post(c, f"{page}/aanmelden", page=page).status_code == 302
    assert post(clients[0], f"{page}/aanmelden", page=page).status_code == 302  # twice: no second seat
    with net_app.app_context():
        regs = db.session.scalars(select(MeetingRegistration).where(MeetingRegistration.meeting_id == mid)
                                  .order_by(MeetingRegistration.id)).all()
        assert [r.status for r in regs] == ["confirmed", "confirmed", "waiting"]
    assert "U staat op de wachtlijst (plaats 1)" in clients[2].get(page).get_data(as_text=True)

    assert post(clients[0], f"{page}/afmelden", page=page).status_code == 302
    with net_app.app_context():
        regs = db.session.scalars(select(MeetingRegistration).where(MeetingRegistration.meeting_id == mid)
                                  .order_by(MeetingRegistration.id)).all()
        assert [(r.user.email, r.status) for r in regs] == [
            ("deelnemer1@delft.example.org", "confirmed"), ("deelnemer2@delft.example.org", "confirmed")]
        cancel = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "meeting.cancel",
                                                            AuditEvent.target == f"meeting/{mid}"))
        assert cancel.detail["promoted"] == [user("deelnemer2@delft.example.org").id]
    assert "U bent aangemeld." in clients[2].get(page).get_data(as_text=True)


def test_raising_capacity_moves_waiting_list_up(net_app):
    mid = new_meeting(net_app, capacity="1")
    with net_app.app_context():
        svc.register(user("deelnemer3@delft.example.org"), mid)
        reg = svc.register(user("deelnemer4@delft.example.org"), mid)
        assert reg.status == "waiting"
        meeting = db.session.get(Meeting, mid)
        svc.save_meeting(user(CURATOR), form(region=str(meeting.region_id), capacity="2",
                                             starts_at=svc.local_input(meeting.starts_at),
                                             ends_at=svc.local_input(meeting.ends_at)), meeting=meeting)
        assert db.session.get(MeetingRegistration, reg.id).status == "confirmed"
        assert [email for email, _ in notes_for(mid)] == ["deelnemer4@delft.example.org"]


def notes_for(mid: int, kind: str = "meeting.promoted") -> list[tuple[str, str]]:
    """``(email, message)`` of each ``kind`` notification linking to meeting ``mid``."""
    rows = db.session.execute(select(User.email, Notification.message)
                              .join(Notification, Notification.user_id == User.id)
                              .where(Notification.kind == kind, Notification.link == f"/bijeenkomsten/{mid}")
                              .order_by(Notification.id)).all()
    return [tuple(r) for r in rows]


def test_the_first_in_line_is_told_when_a_seat_frees_up(net_app, client_for):
    title = "Trainingsdag gespreksvoering voorjaar"
    mid = new_meeting(net_app, title=title, capacity="1", starts_at="2030-03-14 10:00", ends_at="2030-03-14T16:00")
    page = f"/bijeenkomsten/{mid}"
    first, second, third = (f"deelnemer{n}@delft.example.org" for n in (5, 6, 7))
    clients = {email: client_for(net_app, email) for email in (first, second, third)}
    assert ">Aanmelden</button>" in clients[first].get(page).get_data(as_text=True)
    for email in (first, second, third):
        assert post(clients[email], f"{page}/aanmelden", page=page).status_code == 302
    html = client_for(net_app, MEMBER).get(page).get_data(as_text=True)  # full: the button says what it does
    assert ">Aanmelden voor de wachtlijst</button>" in html and ">Op de wachtlijst<" not in html
    assert ">Van de wachtlijst afmelden</button>" in clients[third].get(page).get_data(as_text=True)
    assert ">Afmelden</button>" in clients[first].get(page).get_data(as_text=True)
    with net_app.app_context():
        assert notes_for(mid) == []
        before = db.session.scalar(select(func.count(OutboxMessage.id)))

    assert post(clients[first], f"{page}/afmelden", page=page).status_code == 302
    with net_app.app_context():
        expected = f"Er is een plaats vrijgekomen: u bent nu aangemeld voor {title} op 14 maart 2030 10:00."
        assert notes_for(mid) == [(second, expected)]  # not the one who left, not the one still waiting
        mails = db.session.scalars(select(OutboxMessage).where(OutboxMessage.id > before)).all()
        assert [(m.to_address, m.subject) for m in mails] == [(second, f"Kennisportaal: {expected}")]
        assert f"{page}\n" in mails[0].body
        cancel = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "meeting.cancel",
                                                            AuditEvent.target == f"meeting/{mid}"))
        assert cancel.detail["promoted"] == [user(second).id]
    assert "U bent aangemeld." in clients[second].get(page).get_data(as_text=True)
    assert title in clients[second].get("/meldingen").get_data(as_text=True)
    assert title not in clients[third].get("/meldingen").get_data(as_text=True)

    # leaving the waiting list frees no seat: nobody is told
    assert post(clients[third], f"{page}/afmelden", page=page).status_code == 302
    with net_app.app_context():
        assert len(notes_for(mid)) == 1


def test_move_up_and_its_message_are_one_transaction(net_app):
    """The cancellation commits once, with the freed seat, the move-up and
    the notification together; a failing commit leaves all of them undone."""
    mid = new_meeting(net_app, capacity="1")
    with net_app.app_context():
        svc.register(user("deelnemer0@delft.example.org"), mid)
        svc.register(user("deelnemer1@delft.example.org"), mid)
        session = db.session()
        commits = []
        fail = False

        def observe(_session):  # what each commit would write
            statuses = [r.status for r in _session.scalars(select(MeetingRegistration).where(
                MeetingRegistration.meeting_id == mid).order_by(MeetingRegistration.id))]
            commits.append((statuses, [email for email, _ in notes_for(mid)]))
            if fail:
                raise RuntimeError("database went away")  # disk full, connection lost ...

        sa_event.listen(session, "before_commit", observe)
        leaving = user("deelnemer0@delft.example.org")
        try:
            db.session.commit()  # end the read transaction first (SQLite's begin_write would commit it)
            fail = True
            commits.clear()
            with pytest.raises(RuntimeError):
                svc.cancel(leaving, mid)
            db.session.rollback()
            assert len(commits) == 1
            assert notes_for(mid) == []  # nothing told about a move-up that did not happen
            assert [r.status for r in db.session.scalars(select(MeetingRegistration).where(
                MeetingRegistration.meeting_id == mid).order_by(MeetingRegistration.id))] == ["confirmed", "waiting"]
            fail = False
            leaving = user("deelnemer0@delft.example.org")
            db.session.commit()
            commits.clear()
            svc.cancel(leaving, mid)
        finally:
            sa_event.remove(session, "before_commit", observe)
            db.session.rollback()
        assert commits == [(["confirmed"], ["deelnemer1@delft.example.org"])]


def test_sign_up_needs_login_and_csrf_and_a_future_meeting(net_app, client_for):
    mid = new_meeting(net_app)
    anon = net_app.test_client()
    resp = anon.post(f"/bijeenkomsten/{mid}/aanmelden")
    assert resp.status_code in (302, 400)
    member = client_for(net_app, MEMBER)
    assert member.post(f"/bijeenkomsten/{mid}/aanmelden").status_code == 400  # no CSRF token
    with net_app.app_context():
        assert not db.session.scalar(select(MeetingRegistration).where(MeetingRegistration.meeting_id == mid))
    past = new_meeting(net_app, starts_at=local(-3), ends_at=local(-3, 22))
    resp = post(member, f"/bijeenkomsten/{past}/aanmelden", page=f"/bijeenkomsten/{past}")
    assert resp.status_code == 400
    assert "al voorbij" in resp.get_data(as_text=True)


def _race(app, mid: int, emails: list[str]) -> list[str]:
    barrier = threading.Barrier(len(emails))
    results: list[str] = []
    errors: list[str] = []

    def worker(email: str) -> None:
        with app.app_context():
            actor = user(email)
            db.session.commit()  # end the read transaction: everyone starts level
            barrier.wait()
            try:
                results.append(svc.register(actor, mid).status)
            except Exception as exc:  # noqa: BLE001 (reported below, fails the test)
                errors.append(repr(exc))
                db.session.rollback()

    threads = [threading.Thread(target=worker, args=(e,)) for e in emails]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    return results


def test_concurrent_sign_ups_never_overbook_the_last_seat(tmp_path):
    """Six people take the last seat at once (SQLite: BEGIN IMMEDIATE; PostgreSQL
    with PORTAL_TEST_BACKEND=postgresql: the meeting row is locked FOR UPDATE)."""
    app = make_app(tmp_path / "race", content=False)
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        emails = [f"race{n}@delft.example.org" for n in range(6)]
        for e in emails:
            create_user(SYSTEM, e, "member", name=e, password=PASSWORD, municipality="Delft")
        mid = svc.save_meeting(user(CURATOR), form(region=str(region_id("Haaglanden")), capacity="1")).id
    results = _race(app, mid, emails)
    assert sorted(results) == ["confirmed"] + ["waiting"] * 5
    with app.app_context():
        confirmed = db.session.scalars(select(MeetingRegistration).where(
            MeetingRegistration.meeting_id == mid, MeetingRegistration.status == "confirmed")).all()
        assert len(confirmed) == 1


def test_concurrent_cancel_and_sign_up_keep_capacity(tmp_path):
    app = make_app(tmp_path / "race2", content=False)
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        emails = [f"wacht{n}@delft.example.org" for n in range(5)]
        for e in emails:
            create_user(SYSTEM, e, "member", name=e, password=PASSWORD, municipality="Delft")
        mid = svc.save_meeting(user(CURATOR), form(region=str(region_id("Haaglanden")), capacity="2")).id
        for e in emails[:3]:
            svc.register(user(e), mid)  # two seats, one waiting
    barrier = threading.Barrier(3)
    errors: list[str] = []

    def act(email: str, cancel: bool) -> None:
        with app.app_context():
            actor = user(email)
            db.session.commit()
            barrier.wait()
            try:
                svc.cancel(actor, mid) if cancel else svc.register(actor, mid)
            except Exception as exc:  # noqa: BLE001 (reported below, fails the test)
                errors.append(repr(exc))
                db.session.rollback()

    threads = [threading.Thread(target=act, args=(emails[0], True)),
               threading.Thread(target=act, args=(emails[3], False)),
               threading.Thread(target=act, args=(emails[4], False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    with app.app_context():
        rows = db.session.scalars(select(MeetingRegistration).where(MeetingRegistration.meeting_id == mid)).all()
        assert sum(r.status == "confirmed" for r in rows) == 2
        assert sum(r.status == "waiting" for r in rows) == 2
        assert user(emails[2]).id in {r.user_id for r in rows if r.status == "confirmed"}  # first in line moved up


# -- the organiser's attendee list -------------------------------------------------------
def test_attendee_list_and_csv_for_organisers_only_and_injection_safe(net_app, client_for):
    mid = new_meeting(net_app)
    with net_app.app_context():
        svc.register(user("formule@delft.example.org"), mid)
        svc.register(user(MEMBER_U), mid)
    organiser = client_for(net_app, CURATOR)
    resp = organiser.get(f"/bijeenkomsten/{mid}/deelnemers.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "no-store" in resp.headers["Cache-Control"]
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Naam", "E-mailadres", "Gemeente", "Status", "Aangemeld op"]
    assert rows[1][0] == "'=HYPERLINK(\"http://x.test\")" and rows[1][3] == "aangemeld"
    assert rows[2][1] == MEMBER_U and rows[2][2] == "Utrecht"
    html = organiser.get(f"/bijeenkomsten/{mid}/deelnemers").get_data(as_text=True)
    assert MEMBER_U in html

    for email in (MEMBER, "formule@delft.example.org", MEMBER_U, CURATOR_U):
        c = client_for(net_app, email)
        for path in (f"/bijeenkomsten/{mid}/deelnemers", f"/bijeenkomsten/{mid}/deelnemers.csv"):
            resp = c.get(path)
            assert resp.status_code == 403, (email, path)
            assert MEMBER_U not in resp.get_data(as_text=True)
        assert "deelnemers.csv" not in c.get(f"/bijeenkomsten/{mid}").get_data(as_text=True)
    anon = net_app.test_client()
    for path in (f"/bijeenkomsten/{mid}/deelnemers", f"/bijeenkomsten/{mid}/deelnemers.csv"):
        resp = anon.get(path)
        assert resp.status_code == 302 and "/inloggen" in resp.headers["Location"]


@pytest.mark.parametrize("value,expected", [
    ("=1+2", "'=1+2"), ("+31 6", "'+31 6"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("Jan", "Jan"), ("", ""), (None, ""), ("a=b", "a=b"),
])
def test_csv_safe(value, expected):
    assert svc.csv_safe(value) == expected


# -- pages and calendars -------------------------------------------------------------------
def test_online_link_only_for_members_on_page_and_in_calendar(net_app, client_for):
    mid = new_meeting(net_app, online_url="https://meet.example.org/geheim-123")
    anon = net_app.test_client()
    page = anon.get(f"/bijeenkomsten/{mid}").get_data(as_text=True)
    assert "Brede netwerkbijeenkomst najaar" in page and "<strong>het jaarplan</strong>" in page
    assert "geheim-123" not in page
    assert "geheim-123" not in anon.get("/bijeenkomsten").get_data(as_text=True)
    ics = anon.get(f"/bijeenkomsten/{mid}/agenda.ics")
    assert ics.status_code == 200 and ics.mimetype == "text/calendar"
    assert b"geheim-123" not in ics.data
    member = client_for(net_app, MEMBER_U)
    assert "geheim-123" in member.get(f"/bijeenkomsten/{mid}").get_data(as_text=True)
    assert b"geheim-123" in member.get(f"/bijeenkomsten/{mid}/agenda.ics").data


def test_icalendar_file_and_region_feed(net_app):
    mid = new_meeting(net_app, title="Informatieavond ouders", kind="informatieavond",
                      starts_at="2030-03-05T19:30", ends_at="2030-03-05T21:30")
    with net_app.app_context():
        other = svc.save_meeting(user(CURATOR_U), form(title="Utrechtse trainingsdag",
                                                       region=str(region_id("Midden-Nederland")))).id
        hid = region_id("Haaglanden")
    client = net_app.test_client()
    cal = Calendar.from_ical(client.get(f"/bijeenkomsten/{mid}/agenda.ics").data)
    events = cal.walk("VEVENT")
    assert len(events) == 1
    ev = events[0]
    assert str(ev["SUMMARY"]) == "Informatieavond ouders"
    start = ev.decoded("DTSTART")
    assert start.tzinfo is not None and str(start.tzinfo) == "Europe/Amsterdam"
    assert (start.hour, start.minute) == (19, 30) and start.utcoffset() == timedelta(hours=1)
    assert ev.decoded("DTEND").hour == 21
    assert str(ev["UID"]).startswith(f"bijeenkomst-{mid}@")
    assert str(ev["LOCATION"]) == "Stadhuis Delft"
    assert cal.walk("VTIMEZONE")  # the zone travels with the file

    feed = Calendar.from_ical(client.get(f"/bijeenkomsten/regio/{hid}/agenda.ics").data)
    titles = {str(e["SUMMARY"]) for e in feed.walk("VEVENT")}
    assert "Informatieavond ouders" in titles and "Utrechtse trainingsdag" not in titles
    assert client.get("/bijeenkomsten/regio/99999/agenda.ics").status_code == 404
    listing = client.get(f"/bijeenkomsten?regio={hid}").get_data(as_text=True)
    assert "Informatieavond ouders" in listing and "Utrechtse trainingsdag" not in listing
    assert other


def test_report_notes_and_linked_practices(net_app, client_for):
    mid = new_meeting(net_app, starts_at=local(-10), ends_at=local(-10, 22))
    with net_app.app_context():
        practice = save_item(SYSTEM, "practice", {"title": "Buurtgesprekken na de netwerkdag",
                                                  "municipality": "Delft"}, "Tekst.")
        hidden = save_item(SYSTEM, "practice", {"title": "Geheim concept", "status": "draft",
                                                   "municipality": "Utrecht"}, "x")
        slug, hidden_slug = practice.slug, hidden.slug
    organiser = client_for(net_app, CURATOR)
    page = f"/bijeenkomsten/{mid}"
    resp = post(organiser, f"{page}/verslag", {"notes": "## Afspraken\n\nJaarplan 2027 vastgesteld.",
                                                "related": f"{slug}, bestaat-niet"}, page=page)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "bestaat-niet" in html and "Geen werkwijze of les gevonden" in html
    assert "Jaarplan 2027 vastgesteld." in html  # kept
    resp = post(organiser, f"{page}/verslag", {"notes": "## Afspraken\n\nJaarplan 2027 vastgesteld.",
                                                "related": slug}, page=page)
    assert resp.status_code == 302
    anon_page = net_app.test_client().get(page).get_data(as_text=True)
    assert "<h2>Afspraken</h2>" in anon_page and "Buurtgesprekken na de netwerkdag" in anon_page
    member = client_for(net_app, MEMBER)
    assert post(member, f"{page}/verslag", {"notes": "vandalisme", "related": ""}, page=page).status_code == 403
    with net_app.app_context():
        assert db.session.get(Meeting, mid).notes.startswith("## Afspraken")
        with pytest.raises(ValidationFailed):  # a draft the organiser may not see cannot be linked
            svc.save_report(user(CURATOR), db.session.get(Meeting, mid), "", [hidden_slug])
        db.session.rollback()


# -- in a browser --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def meetings_server(net_app):
    with serving(net_app) as base:
        yield base


@pytest.mark.browser
def test_browser_member_signs_up_for_a_regional_meeting_and_gets_a_calendar(browser, net_app, meetings_server):  # noqa: F811
    import urllib.request

    from selenium.webdriver.common.by import By

    mid = new_meeting(net_app, title="Voorjaarsbijeenkomst Haaglanden", capacity="40")
    base = meetings_server
    browser_login(browser, base, MEMBER)
    browser.find_element(By.LINK_TEXT, "Bijeenkomsten").click()
    browser.find_element(By.LINK_TEXT, "Voorjaarsbijeenkomst Haaglanden").click()
    browser.find_element(By.XPATH, "//button[text()='Aanmelden']").click()
    see(browser, "U bent aangemeld.")
    link = browser.find_element(By.LINK_TEXT, "In mijn agenda zetten (.ics)").get_attribute("href")
    assert link.endswith(f"/bijeenkomsten/{mid}/agenda.ics")
    with urllib.request.urlopen(link, timeout=10) as resp:  # a calendar app fetches it without a session
        assert resp.headers.get_content_type() == "text/calendar"
        cal = Calendar.from_ical(resp.read())
    assert [str(e["SUMMARY"]) for e in cal.walk("VEVENT")] == ["Voorjaarsbijeenkomst Haaglanden"]
    browser.find_element(By.XPATH, "//button[text()='Afmelden']").click()
    see(browser, "U bent afgemeld.")
