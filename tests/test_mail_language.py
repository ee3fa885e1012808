"""The language of e-mails and of a member's pages (issue #8): a logged-in
member's choice with the header's switch is stored on their account; it
applies when they log in on a browser without the language cookie, and every
e-mail to them (notifications, meeting mails, digests) is written in it,
whatever language the person who caused the mail uses. Default Dutch. Runs on
SQLite, and on PostgreSQL with PORTAL_TEST_BACKEND=postgresql."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Notification, OutboxMessage, Region, User
from portal.models.base import utcnow
from portal.network import meetings as meeting_service
from portal.network import questions as question_service
from portal.services.items import SYSTEM, save_item
from portal.services.library import create_user, set_region
from portal.services.notifications import mail_language, mail_language_for
from portal.signup import service as signup_service
from portal.web.language import COOKIE

from .conftest import PASSWORD, csrf_token, make_app

MEMBER = "lid@delft.example.org"
CONTRIBUTOR = "bijdrager@delft.example.org"
CURATOR = "curator@delft.example.org"
ENGLISH = "english@delft.example.org"


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path / "maillang", content=False, BASE_URL="https://portaal.example.nl")
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        create_user(SYSTEM, ENGLISH, "member", name="Emma English", password=PASSWORD, municipality="Delft")
    return app


def _user(address: str) -> User:
    return db.session.scalar(select(User).where(User.email == address))


def _set_language(app, address: str, lang: str | None) -> None:
    with app.app_context():
        _user(address).language = lang
        db.session.commit()


def _login(client, address: str):
    resp = client.post("/inloggen", data={"email": address, "password": PASSWORD,
                                           "csrf_token": csrf_token(client, "/inloggen")})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    return resp


def _switch(client, lang: str):
    return client.post("/taal", data={"lang": lang, "next": "/", "csrf_token": csrf_token(client, "/")})


def _mails(app, to: str) -> list[OutboxMessage]:
    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == to)
                                  .order_by(OutboxMessage.id)).all()
        db.session.expunge_all()
    return list(rows)


def _lang_of_page(client, path="/") -> str:
    html = client.get(path).get_data(as_text=True)
    return html.split('<html lang="', 1)[1].split('"', 1)[0]


# -- the stored preference -------------------------------------------------------------------


def test_switching_while_logged_in_stores_the_language_and_anonymous_switching_stores_nothing(app):
    anon = app.test_client()
    assert _switch(anon, "en").status_code == 303
    assert anon.get_cookie(COOKIE).value == "en"
    client = app.test_client()
    _login(client, MEMBER)
    assert _switch(client, "en").status_code == 303
    with app.app_context():
        assert _user(MEMBER).language == "en"
        assert all(u.language is None for u in db.session.scalars(select(User).where(User.email != MEMBER)))
    _switch(client, "xx")  # not a language: nothing changes
    with app.app_context():
        assert _user(MEMBER).language == "en"
    _switch(client, "nl")
    with app.app_context():
        assert _user(MEMBER).language == "nl"


def test_logging_in_without_the_cookie_uses_the_stored_language(app):
    _set_language(app, MEMBER, "en")
    fresh = app.test_client()
    assert _lang_of_page(fresh) == "nl"  # anonymous, no cookie: Dutch
    _login(fresh, MEMBER)
    assert fresh.get_cookie(COOKIE).value == "en"  # the cookie is set again
    assert _lang_of_page(fresh) == "en"
    fresh.delete_cookie(COOKIE)
    assert _lang_of_page(fresh) == "en"  # the account's language, without any cookie
    # an explicit cookie still wins: switching here to Dutch is stored too
    _switch(fresh, "nl")
    assert _lang_of_page(fresh) == "nl"
    with app.app_context():
        assert _user(MEMBER).language == "nl"


def test_a_member_who_never_chose_gets_dutch():
    class Nobody:
        language = None

    class Odd:
        language = "de"

    assert mail_language(Nobody()) == mail_language(Odd()) == mail_language(None) == "nl"


# -- e-mails in the recipient's language -----------------------------------------------------


def test_notification_mails_use_the_recipients_language_not_the_senders(app):
    _set_language(app, ENGLISH, "en")
    with app.app_context():
        q_en = question_service.ask_question(_user(ENGLISH), {"title": "Who knows an imam?", "body": "."}).id
        q_nl = question_service.ask_question(_user(MEMBER), {"title": "Wie kent een imam?", "body": "."}).id
    # a Dutch member answers the English member's question, and the other way round,
    # each from a browser set to the other language
    dutch = app.test_client()
    _login(dutch, CONTRIBUTOR)
    english = app.test_client()
    _login(english, ENGLISH)
    for client, qid in ((dutch, q_en), (english, q_nl)):
        page = f"/vragen/{qid}"
        resp = client.post(f"{page}/antwoorden", data={"body": "Ja, ik.", "csrf_token": csrf_token(client, page)})
        assert resp.status_code == 302
    [to_en] = _mails(app, ENGLISH)
    assert to_en.subject == "Knowledge portal: New answer to a question you follow: Who knows an imam?"
    assert to_en.body.startswith("New answer to a question you follow: Who knows an imam?")
    assert "-- Key Figures Knowledge Portal" in to_en.body and "Nieuw" not in to_en.body
    [to_nl] = _mails(app, MEMBER)
    assert to_nl.subject == "Kennisportaal: Nieuw antwoord op een vraag die u volgt: Wie kent een imam?"
    assert "-- Kennisportaal sleutelfiguren" in to_nl.body
    with app.app_context():  # what is stored stays Dutch, shown in each reader's language
        stored = db.session.scalars(select(Notification.message).where(Notification.kind == "question.answered"))
        assert all(m.startswith("Nieuw antwoord op een vraag die u volgt") for m in stored)


def test_meeting_mail_moving_up_from_the_waiting_list_is_in_the_recipients_language(app):
    _set_language(app, ENGLISH, "en")
    with app.app_context():
        rid = db.session.scalar(select(Region.id).where(Region.name == "Haaglanden"))
        day = (datetime.now() + timedelta(days=30)).replace(hour=19, minute=30)
        meeting = meeting_service.save_meeting(_user(CURATOR), {
            "title": "Netwerkavond", "kind": "netwerkbijeenkomst", "description": "", "place": "Stadhuis",
            "online_url": "", "capacity": "1", "region": str(rid),
            "starts_at": day.strftime("%Y-%m-%dT%H:%M"), "ends_at": day.replace(hour=22).strftime("%Y-%m-%dT%H:%M")})
        meeting_service.register(_user(MEMBER), meeting.id)
        assert meeting_service.register(_user(ENGLISH), meeting.id).status == "waiting"
        meeting_service.cancel(_user(MEMBER), meeting.id)
    [mail] = _mails(app, ENGLISH)
    assert mail.subject.startswith("Knowledge portal: A place has become free")
    assert "Netwerkavond" in mail.subject


def test_profile_notice_by_mail_is_translated_and_still_nameless(app):
    from portal.services.notifications import notify

    _set_language(app, ENGLISH, "en")
    with app.app_context():
        profile = save_item(SYSTEM, "profile", {"title": "Yasmina Geheimnaam", "municipality": "Delft",
                                                "consent": utcnow().date().isoformat()}, "Tekst.")
        with app.test_request_context():
            notify([_user(ENGLISH), _user(MEMBER)], "consent_expiring",
                   "De toestemming van sleutelfiguur Yasmina Geheimnaam verloopt op 1 januari 2027. "
                   "Vraag om nieuwe toestemming, anders verdwijnt het profiel.", "/sleutelfiguren/x", item=profile)
        db.session.commit()
    [en] = _mails(app, ENGLISH)
    [nl] = _mails(app, MEMBER)
    assert en.body.startswith("There is a notification about a key figure's profile; log in to read it")
    assert nl.body.startswith("Er is een melding over een profiel van een sleutelfiguur")
    assert all("Geheimnaam" not in m.subject + m.body for m in (en, nl))


def test_digest_is_in_the_members_language(app):
    from portal.services import follows as follow_service

    _set_language(app, ENGLISH, "en")
    with app.app_context():
        follow_service.follow(_user(ENGLISH), "theme", "jongeren")
        follow_service.follow(_user(MEMBER), "theme", "jongeren")
        save_item(SYSTEM, "practice", {"title": "Jongerenwerk in Tanthof", "status": "published",
                                       "themes": ["jongeren"]}, "Tekst.")
    result = app.test_cli_runner().invoke(args=["send-digests", "--now", utcnow().isoformat()])
    assert result.exit_code == 0, result.output
    [en] = [m for m in _mails(app, ENGLISH) if m.headers]
    [nl] = [m for m in _mails(app, MEMBER) if m.headers]
    assert en.subject == "Knowledge portal: new in what you follow"
    assert "Via: Theme: Young people" in en.body and '<html lang="en">' in en.html_body
    assert nl.subject == "Kennisportaal: nieuw in wat u volgt"
    assert "Via: Thema: Jongeren" in nl.body and '<html lang="nl">' in nl.html_body


def test_access_request_mails_go_in_the_applicants_language_not_the_curators(app):
    with app.app_context():
        signup_service.add_domain(SYSTEM, "GM0503", "delft.nl")
    applicant = app.test_client()
    data = {"name": "Kees", "email": "kees@gmail.example", "municipality": "GM0503",
            "password": "lange zomeravond aan de Schie", "motivation": "Jongerenwerker.",
            "csrf_token": csrf_token(applicant, "/account-aanvragen")}
    applicant.set_cookie(COOKIE, "en")
    assert applicant.post("/account-aanvragen", data=data).status_code == 302
    confirm = _mails(app, "kees@gmail.example")[-1]
    assert confirm.subject.startswith("Confirm")  # sent while the applicant's (English) request runs
    path = "/aanvraag-bevestigen/" + confirm.body.split("/aanvraag-bevestigen/", 1)[1].split()[0]
    resp = applicant.post(path, data={"csrf_token": csrf_token(applicant, path),
                                      "password": "lange zomeravond aan de Schie"})
    assert resp.status_code == 302
    with app.app_context():
        stored = db.session.scalars(select(Notification.message).where(Notification.kind == "access_request")).all()
        assert stored and all(m == "Nieuwe aanvraag voor toegang voor de gemeente Delft" for m in stored)
    # the curators' mail is Dutch (their language), though the applicant's browser is English
    assert _mails(app, CURATOR)[-1].subject == "Kennisportaal: Nieuwe aanvraag voor toegang voor de gemeente Delft"
    _set_language(app, CURATOR, "en")
    curator = app.test_client()
    _login(curator, CURATOR)
    with app.app_context():
        rid = db.session.scalar(select(signup_service.AccessRequest.id))
    page = f"/beheer/toegangsverzoeken/{rid}"
    assert curator.post(f"{page}/goedkeuren", data={"csrf_token": csrf_token(curator, page)}).status_code == 302
    approved = _mails(app, "kees@gmail.example")[-1]
    # the curator reads English; the applicant never chose a language on an account: Dutch
    assert approved.subject == "Uw aanvraag voor het Kennisportaal sleutelfiguren is goedgekeurd"
    with app.app_context():
        assert mail_language_for("KEES@gmail.example") == "nl"
        _user("kees@gmail.example").language = "en"
        db.session.commit()
        assert mail_language_for("Kees@Gmail.example") == "en"
