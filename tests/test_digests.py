"""Digests (issue #9): ``portal send-digests`` writes, per member whose digest
is due, one e-mail (plain text and HTML, absolute links) of what is new in
what they follow and they may see; idempotent; skipped when empty; with a
signed one-click unsubscribe (RFC 8058) that ``portal send-mail`` carries in
its headers."""

from __future__ import annotations

import email
import email.policy
import re
import socket
from datetime import date, timedelta

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from portal.extensions import db
from portal.models import DigestSetting, OutboxMessage, User
from portal.models.base import utcnow
from portal.network import questions as question_service
from portal.services import follows as follow_service
from portal.services.accounts import set_active
from portal.services.items import SYSTEM, save_item
from portal.services.library import create_user, set_region

from .conftest import PASSWORD, make_app

BASE = "https://portaal.example.nl"
MEMBER = "lid@delft.example.org"  # region Haaglanden
MEMBER_U = "lid@utrecht.example.org"  # region Midden-Nederland
ADMIN = "beheer@example.org"
SECRET_NAME = "Yasmina Geheimnaam"


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path / "digests", content=False, BASE_URL=BASE)
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        set_region(SYSTEM, "Midden-Nederland", ["Utrecht"])
        create_user(SYSTEM, MEMBER_U, "member", name="Lid Utrecht", password=PASSWORD, municipality="Utrecht")
    return app


def _user(email_address: str) -> User:
    return db.session.scalar(select(User).where(User.email == email_address))


def _outbox(app, to: str | None = None) -> list[OutboxMessage]:
    with app.app_context():
        stmt = select(OutboxMessage).order_by(OutboxMessage.id)
        if to:
            stmt = stmt.where(OutboxMessage.to_address == to)
        rows = db.session.scalars(stmt).all()
        db.session.expunge_all()
        return list(rows)


def _digests(app, to: str | None = None) -> list[OutboxMessage]:
    return [m for m in _outbox(app, to) if m.headers and "List-Unsubscribe" in m.headers]


def _run(app, *args):
    result = app.test_cli_runner().invoke(args=["send-digests", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _iso(when) -> str:
    return when.isoformat()


def test_weekly_digest_lists_the_new_practice_once_and_is_not_due_again(app):
    with app.app_context():
        follow_service.follow(_user(MEMBER), "theme", "jongeren")
        save_item(SYSTEM, "practice", {"title": "Jongerenwerk in Tanthof", "status": "published",
                                       "themes": ["jongeren"], "municipality": "Delft"}, "Tekst.")
        save_item(SYSTEM, "practice", {"title": "Over iets anders", "status": "published",
                                       "themes": ["religie"], "municipality": "Delft"}, "Tekst.")
    now = utcnow()
    out = _run(app, "--now", _iso(now) + "Z")
    assert "Samenvattingen in de outbox: 1" in out
    [mail] = _digests(app, MEMBER)
    assert "Jongerenwerk in Tanthof" in mail.body and "Over iets anders" not in mail.body
    assert f"{BASE}/werkwijzen/jongerenwerk-in-tanthof" in mail.body  # absolute link
    assert f'href="{BASE}/werkwijzen/jongerenwerk-in-tanthof"' in mail.html_body
    assert "Via: Thema: Jongeren" in mail.body
    assert mail.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(rf"<{re.escape(BASE)}/volgen/afmelden/[\w.-]+>", mail.headers["List-Unsubscribe"])
    # run again at once: one e-mail in all
    assert "Samenvattingen in de outbox: 0" in _run(app, "--now", _iso(now))
    # two days later, a new practice: a weekly digest is not due yet
    with app.app_context():
        save_item(SYSTEM, "practice", {"title": "Nog een jongerenproject", "status": "published",
                                       "themes": ["jongeren"]}, "Tekst.")
    assert "Samenvattingen in de outbox: 0" in _run(app, "--now", _iso(now + timedelta(days=2)))
    assert len(_digests(app, MEMBER)) == 1
    # a week after the first: due, with only what is new since then
    out = _run(app, "--now", _iso(now + timedelta(days=7)))
    assert "Samenvattingen in de outbox: 1" in out
    second = _digests(app, MEMBER)[-1]
    assert "Nog een jongerenproject" in second.body and "Tanthof" not in second.body


def test_due_rules():
    now = utcnow()
    assert follow_service.is_due("weekly", None, now)
    assert not follow_service.is_due("weekly", now - timedelta(days=6), now)
    assert follow_service.is_due("weekly", now - timedelta(days=7), now)
    assert follow_service.is_due("daily", now - timedelta(hours=23, minutes=30), now)  # cron jitter
    assert not follow_service.is_due("daily", now - timedelta(hours=20), now)
    jan31 = now.replace(year=2026, month=1, day=31)
    assert not follow_service.is_due("monthly", jan31, jan31.replace(month=2, day=27))
    assert follow_service.is_due("monthly", jan31, jan31.replace(month=2, day=28))
    assert not follow_service.is_due("never", None, now)


def test_frequency_filter_never_and_empty_digests(app):
    with app.app_context():
        member, member_u = _user(MEMBER), _user(MEMBER_U)
        follow_service.follow(member, "phase", "opzetten")
        follow_service.follow(member_u, "phase", "opzetten")
        follow_service.set_frequency(member, "daily")
        follow_service.set_frequency(member_u, "never")
    now = utcnow()
    # nothing new: no e-mail, but the window moves on
    out = _run(app, "--now", _iso(now))
    assert "Samenvattingen in de outbox: 0, leeg (niet verstuurd): 1" in out
    with app.app_context():
        assert db.session.get(DigestSetting, _user(MEMBER).id).last_digest_at == now
        save_item(SYSTEM, "lesson", {"title": "Begin klein", "status": "published", "phase": ["opzetten"]}, "Les.")
    later = now + timedelta(days=1)
    assert "Samenvattingen in de outbox: 0" in _run(app, "--frequency", "weekly", "--now", _iso(later))
    assert "Samenvattingen in de outbox: 1" in _run(app, "--frequency", "daily", "--now", _iso(later))
    assert "Begin klein" in _digests(app, MEMBER)[0].body
    assert _digests(app, MEMBER_U) == []  # "nooit"


def test_region_only_items_and_profiles_never_reach_another_region(app):
    with app.app_context():
        for who in (MEMBER, MEMBER_U):
            follow_service.follow(_user(who), "theme", "jongeren")
        consent = date.today().isoformat()
        save_item(SYSTEM, "profile", {"title": SECRET_NAME, "status": "published", "themes": ["jongeren"],
                                      "municipality": "Delft", "visibility": "region", "consent": consent},
                  "Kent iedereen.")
        save_item(SYSTEM, "practice", {"title": "Alleen voor Haaglanden", "status": "published",
                                       "themes": ["jongeren"], "municipality": "Delft", "visibility": "region"},
                  "Regionaal.")
        save_item(SYSTEM, "practice", {"title": "Voor alle leden & buren", "status": "published",
                                       "themes": ["jongeren"], "visibility": "members"}, "Iedereen.")
    _run(app, "--now", _iso(utcnow()))
    [delft] = _digests(app, MEMBER)
    [utrecht] = _digests(app, MEMBER_U)
    assert "Alleen voor Haaglanden" in delft.body and "1 nieuw profiel van een sleutelfiguur" in delft.body
    assert "Voor alle leden & buren" in utrecht.body  # plain text is not HTML-escaped
    assert "Voor alle leden &amp; buren" in utrecht.html_body
    assert "Haaglanden" not in utrecht.body + utrecht.html_body
    assert "profiel" not in utrecht.body + utrecht.html_body
    # a key figure's name never goes by e-mail, not even to who may see the profile
    assert all(SECRET_NAME not in m.body + m.html_body + m.subject for m in _outbox(app))


def test_visibility_is_checked_at_sending_time_and_deactivated_users_get_nothing(app):
    with app.app_context():
        follow_service.follow(_user(MEMBER_U), "municipality", "GM0503")
        follow_service.follow(_user(MEMBER), "municipality", "GM0503")
        item = save_item(SYSTEM, "practice", {"title": "Eerst voor alle leden", "status": "published",
                                              "municipality": "Delft", "visibility": "members"}, "Tekst.")
        # narrowed to its region after publication, before the digest goes out
        item = save_item(SYSTEM, "practice", {"title": "Eerst voor alle leden", "status": "published",
                                              "municipality": "Delft", "visibility": "region"}, "Tekst.", item=item)
        assert item.visibility == "region"
        set_active(_user(ADMIN), MEMBER, False)
    out = _run(app, "--now", _iso(utcnow()))
    assert "Samenvattingen in de outbox: 0" in out
    assert _digests(app) == []


def test_new_answers_on_followed_questions(app):
    with app.app_context():
        q = question_service.ask_question(_user(MEMBER), {"title": "Wie kent een imam in Delft?", "body": "Graag."})
        question_service.answer_question(_user(MEMBER_U), q.id, "Ik ken er een.")
        question_service.answer_question(_user(MEMBER), q.id, "Dank!")  # own answer: not news
    _run(app, "--now", _iso(utcnow()))
    [mail] = _digests(app, MEMBER)
    assert "Wie kent een imam in Delft? (1 nieuw antwoord)" in mail.body
    assert f"{BASE}/vragen/" in mail.body


def _token(app) -> str:
    with app.app_context():
        follow_service.follow(_user(MEMBER), "theme", "jongeren")
        save_item(SYSTEM, "practice", {"title": "Jongeren online", "status": "published",
                                       "themes": ["jongeren"]}, "Tekst.")
    _run(app, "--now", _iso(utcnow()))
    [mail] = _digests(app, MEMBER)
    url = mail.headers["List-Unsubscribe"].strip("<>")
    assert url in mail.body and url in mail.html_body
    return url.rsplit("/", 1)[1]


def _frequency(app, who=MEMBER) -> str:
    with app.app_context():
        return follow_service.frequency_of(_user(who))


def test_unsubscribe_page_get_shows_a_form_post_unsubscribes(app):
    token = _token(app)
    anon = app.test_client()
    resp = anon.get(f"/volgen/afmelden/{token}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Ja, afmelden" in html and 'method="post"' in html
    assert _frequency(app) == "weekly"  # GET changes nothing
    resp = anon.post(f"/volgen/afmelden/{token}", data={"List-Unsubscribe": "One-Click"})  # no session, no CSRF
    assert resp.status_code == 200 and "U bent afgemeld" in resp.get_data(as_text=True)
    assert _frequency(app) == "never"
    # later digests skip them
    with app.app_context():
        save_item(SYSTEM, "practice", {"title": "Jongeren offline", "status": "published",
                                       "themes": ["jongeren"]}, "Tekst.")
    _run(app, "--now", _iso(utcnow() + timedelta(days=30)))
    assert len(_digests(app, MEMBER)) == 1


def test_one_click_post_as_a_mail_client_sends_it(app):
    token = _token(app)
    resp = app.test_client().post(f"/volgen/afmelden/{token}", data="List-Unsubscribe=One-Click",
                                  content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 200
    assert _frequency(app) == "never"


@pytest.mark.parametrize("kind", ["damaged", "forged", "other-salt", "garbage"])
def test_bad_or_forged_token_is_refused_in_dutch(app, kind):
    token = _token(app)
    with app.app_context():
        uid = _user(MEMBER_U).id
    bad = {
        "damaged": token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb"),
        "forged": URLSafeSerializer("een-ander-geheim", salt=follow_service.UNSUBSCRIBE_SALT).dumps({"u": uid}),
        "other-salt": URLSafeSerializer(app.config["SECRET_KEY"], salt="iets-anders").dumps({"u": uid}),
        "garbage": "zomaar-iets",
    }[kind]
    anon = app.test_client()
    for method in (anon.get, anon.post):
        resp = method(f"/volgen/afmelden/{bad}")
        html = resp.get_data(as_text=True)
        assert resp.status_code == 400
        assert "Deze afmeldlink is ongeldig of beschadigd" in html
        assert "Ja, afmelden" not in html
    assert _frequency(app) == "weekly" and _frequency(app, MEMBER_U) == "weekly"


def test_send_mail_carries_html_and_unsubscribe_headers(app):
    from aiosmtpd.controller import Controller

    _token(app)
    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), MAIL_FROM="portal@example.org")
        result = app.test_cli_runner().invoke(args=["send-mail"])
    finally:
        controller.stop()
    assert result.exit_code == 0, result.output
    [envelope] = [e for e in received if e.rcpt_tos == [MEMBER]]
    msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["List-Unsubscribe"].startswith(f"<{BASE}/volgen/afmelden/")
    # on the wire too: a folded RFC 2047 word would hide the address from mail clients
    raw = envelope.content.decode("ascii", "replace")
    assert f"List-Unsubscribe: <{BASE}/volgen/afmelden/" in raw and "=?utf-8?" not in raw.split("\r\n\r\n")[0]
    assert msg.get_content_type() == "multipart/alternative"
    assert "Jongeren online" in msg.get_body(("plain",)).get_content()
    assert f'href="{BASE}/werkwijzen/jongeren-online"' in msg.get_body(("html",)).get_content()


def test_send_digests_needs_a_base_url_and_a_valid_time(tmp_path):
    app = make_app(tmp_path / "nobase", content=False)
    result = app.test_cli_runner().invoke(args=["send-digests"])
    assert result.exit_code == 1 and "PORTAL_BASE_URL" in result.output
    app.config["BASE_URL"] = BASE
    result = app.test_cli_runner().invoke(args=["send-digests", "--now", "gisteren"])
    assert result.exit_code != 0 and "ISO 8601" in result.output


def test_two_runs_at_once_send_one_digest(app):
    """Two ``send-digests`` runs at the same moment (two cron hosts): one e-mail
    per member (SQLite: BEGIN IMMEDIATE; PostgreSQL: a row lock, or the
    primary key of the first settings row)."""
    import threading

    with app.app_context():
        for who in (MEMBER, MEMBER_U):
            follow_service.follow(_user(who), "theme", "jongeren")
        save_item(SYSTEM, "practice", {"title": "Samen sterk", "status": "published", "themes": ["jongeren"]},
                  "Tekst.")
        # one member has had a digest before (a settings row to lock), the other not
        follow_service.set_frequency(_user(MEMBER_U), "weekly")
        db.session.get(DigestSetting, _user(MEMBER_U).id).last_digest_at = utcnow() - timedelta(days=8)
        db.session.commit()
    now = utcnow()
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                results.append(follow_service.send_digests(app.config, now=now))
                db.session.remove()
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sum(r["sent"] for r in results) == 2
    assert len(_digests(app, MEMBER)) == 1 and len(_digests(app, MEMBER_U)) == 1
