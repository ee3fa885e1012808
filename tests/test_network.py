"""Ask the network (vraag het netwerk, issue #9): members ask, answer, mark the
best answer, follow and close; questions lock after 90 days; anonymous visitors
never see a question or an answer; a curator turns an answer into a lesson draft."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace as NS

import pytest
from sqlalchemy import select, update

from portal import permissions as p
from portal.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.models import Answer, AuditEvent, Item, Notification, OutboxMessage, Question, QuestionFollow, User
from portal.models.base import utcnow
from portal.network import questions as svc
from portal.services.items import SYSTEM
from portal.services.library import create_user, set_region

from .conftest import PASSWORD, csrf_token, make_app, serving
from .stubs import DELFT, LOOSE, UTRECHT, U
from .test_browser import (
    browser,  # noqa: F401  (the headless Chromium fixture)
    see,
)
from .test_browser import login as browser_login

MEMBER = "lid@delft.example.org"
CONTRIB_U = "bijdrager@utrecht.example.org"
CURATOR = "curator@delft.example.org"
CURATOR_U = "curator@utrecht.example.org"
MEMBER_U = "lid@utrecht.example.org"


# -- the predicates on their own ---------------------------------------------------------
ASKER = U(id=1, role="member", municipality=DELFT)
OTHER = U(id=2, role="member", municipality=UTRECHT)
CURATOR_D = U(id=3, role="curator", municipality=DELFT)
CURATOR_UT = U(id=4, role="curator", municipality=UTRECHT)
CURATOR_LOOSE = U(id=5, role="curator", municipality=LOOSE)
ADMIN = U(id=6, role="admin", municipality=None)
PEOPLE = (None, ASKER, OTHER, CURATOR_D, CURATOR_UT, CURATOR_LOOSE, ADMIN)


@pytest.mark.parametrize("question,settle,lesson", [
    # (anon, asker, other member, curator Delft, curator Utrecht, curator without region, admin)
    (NS(author_id=1, municipality=DELFT), (0, 1, 0, 1, 0, 0, 1), (0, 0, 0, 1, 0, 0, 1)),
    (NS(author_id=1, municipality=None), (0, 1, 0, 1, 1, 1, 1), (0, 0, 0, 1, 1, 1, 1)),
    (NS(author_id=1, municipality=LOOSE), (0, 1, 0, 0, 0, 1, 1), (0, 0, 0, 0, 0, 1, 1)),
    (NS(author_id=None, municipality=UTRECHT), (0, 0, 0, 0, 1, 0, 1), (0, 0, 0, 0, 1, 0, 1)),
])
def test_question_predicates(question, settle, lesson):
    assert tuple(int(p.can_settle_question(u, question)) for u in PEOPLE) == settle
    assert tuple(int(p.can_make_lesson_from_answer(u, question)) for u in PEOPLE) == lesson
    assert tuple(int(p.can_view_questions(u)) for u in PEOPLE) == (0, 1, 1, 1, 1, 1, 1)
    assert tuple(int(p.can_ask(u)) for u in PEOPLE) == (0, 1, 1, 1, 1, 1, 1)


def test_locked_after_ninety_days_without_activity():
    now = utcnow()
    assert not svc.is_locked(NS(status="open", last_activity_at=now - timedelta(days=89)), now)
    assert svc.is_locked(NS(status="open", last_activity_at=now - timedelta(days=91)), now)
    assert svc.is_locked(NS(status="closed", last_activity_at=now), now)


# -- a portal with two regions -------------------------------------------------------------
@pytest.fixture(scope="module")
def net_app(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("network"), content=False)
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        set_region(SYSTEM, "Midden-Nederland", ["Utrecht"])
        create_user(SYSTEM, CURATOR_U, "curator", name="Curator Utrecht", password=PASSWORD, municipality="Utrecht")
        create_user(SYSTEM, MEMBER_U, "member", name="Lid Utrecht", password=PASSWORD, municipality="Utrecht")
    return app


def user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def post(client, path, data=None, page=None):
    token = csrf_token(client, page or path)
    return client.post(path, data={**(data or {}), "csrf_token": token})


def ask(app, title="Hoe houden we sleutelfiguren betrokken na de eerste training?", **extra) -> int:
    with app.app_context():
        data = {"title": title, "body": extra.pop("body", "Wij zien na een half jaar veel verloop."),
                "themes": ["netwerk-opbouw"], "phase": "onderhouden", "municipality": "Delft", **extra}
        return svc.ask_question(user(extra.pop("asker", MEMBER)), data).id


# -- asking --------------------------------------------------------------------------------
def test_member_asks_with_dutch_errors_that_keep_the_input(net_app, client_for):
    member = client_for(net_app, MEMBER)
    html = member.get("/vragen/nieuw?titel=werving+in+dorpen").get_data(as_text=True)
    assert 'value="werving in dorpen"' in html  # prefilled from the search page's link
    resp = post(member, "/vragen/nieuw", {"title": "", "body": "Mijn toelichting", "themes": ["jongeren", "bestaat-niet"],
                                          "phase": "fout", "municipality": "Atlantis"})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "Vul uw vraag in (de titel)." in html
    assert "Onbekend thema: bestaat-niet" in html
    assert "Onbekende fase" in html and "Onbekende gemeente &#39;Atlantis&#39;" in html
    assert "Mijn toelichting" in html
    assert 'value="jongeren" checked' in html
    with net_app.app_context():
        assert not db.session.scalar(select(Question).where(Question.body == "Mijn toelichting"))

    resp = post(member, "/vragen/nieuw", {"title": "Werving in dorpen: wie heeft ervaring?", "body": "Graag **tips**.",
                                          "themes": ["jongeren"], "phase": "werving-selectie", "municipality": "Delft"})
    assert resp.status_code == 302
    with net_app.app_context():
        q = db.session.scalar(select(Question).where(Question.title == "Werving in dorpen: wie heeft ervaring?"))
        assert q.themes == ["jongeren"] and q.phase == "werving-selectie" and q.municipality.name == "Delft"
        assert db.session.get(QuestionFollow, (q.id, user(MEMBER).id))  # the asker follows
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "question.ask",
                                                          AuditEvent.target == f"question/{q.id}"))
    page = member.get(resp.headers["Location"]).get_data(as_text=True)
    assert "<strong>tips</strong>" in page and "Niet meer volgen" in page


def test_anonymous_visitors_never_see_questions_or_answers(net_app):
    qid = ask(net_app, title="Geheime vraag over spanningen in de wijk", body="Vertrouwelijke toelichting")
    with net_app.app_context():
        svc.answer_question(user(MEMBER_U), qid, "Vertrouwelijk antwoord uit Utrecht")
    anon = net_app.test_client()
    for path in ("/vragen", f"/vragen/{qid}", "/vragen/nieuw", "/vragen?q=spanningen"):
        resp = anon.get(path)
        assert resp.status_code == 302 and "/inloggen" in resp.headers["Location"], path
        assert "Vertrouwelijk" not in resp.get_data(as_text=True)
    for path in (f"/vragen/{qid}/antwoorden", f"/vragen/{qid}/volgen", f"/vragen/{qid}/sluiten"):
        resp = anon.post(path, data={"body": "spam"})
        assert resp.status_code in (302, 400)
    for path in ("/", "/zoeken?q=spanningen", "/bijeenkomsten"):
        assert "Vertrouwelijk" not in anon.get(path).get_data(as_text=True)
    with net_app.app_context():
        assert [a.body for a in db.session.get(Question, qid).answers] == ["Vertrouwelijk antwoord uit Utrecht"]
        with pytest.raises(NotFound):
            svc.get_question(None, qid)
        with pytest.raises(NotFound):
            svc.list_questions(None)
        with pytest.raises(PermissionDenied):
            svc.ask_question(None, {"title": "x"})


def test_answer_best_answer_follow_and_close(net_app, client_for):
    qid = ask(net_app)
    page = f"/vragen/{qid}"
    colleague = client_for(net_app, CONTRIB_U)  # a member of another municipality may answer
    resp = post(colleague, f"{page}/antwoorden", {"body": "   "}, page=page)
    assert resp.status_code == 400 and "Schrijf eerst uw antwoord." in resp.get_data(as_text=True)
    assert post(colleague, f"{page}/antwoorden", {"body": "Geef ze een **vaste** rol."}, page=page).status_code == 302
    with net_app.app_context():
        answer_id = db.session.scalar(select(Answer.id).where(Answer.question_id == qid))

    # the answerer is not the asker: cannot choose the best answer or close
    assert post(colleague, f"{page}/antwoorden/{answer_id}/beste", page=page).status_code == 403
    assert post(colleague, f"{page}/sluiten", page=page).status_code == 403
    assert "Markeren als beste antwoord</button>" not in colleague.get(page).get_data(as_text=True)

    asker = client_for(net_app, MEMBER)
    assert post(asker, f"{page}/antwoorden/{answer_id}/beste", page=page).status_code == 302
    with net_app.app_context():
        assert db.session.get(Answer, answer_id).best is True
    assert 'class="badge">Beste antwoord' in asker.get(page).get_data(as_text=True)

    # following
    assert post(colleague, f"{page}/volgen", {"action": "follow"}, page=page).status_code == 302
    assert f"/vragen/{qid}\"" in colleague.get("/vragen?gevolgd=1").get_data(as_text=True)
    assert post(colleague, f"{page}/volgen", {"action": "unfollow"}, page=page).status_code == 302
    with net_app.app_context():
        assert db.session.get(QuestionFollow, (qid, user(CONTRIB_U).id)) is None
    assert f"/vragen/{qid}\"" not in colleague.get("/vragen?gevolgd=1").get_data(as_text=True)

    # a curator of another region may not settle a Delft question; the asker closes it
    assert post(client_for(net_app, CURATOR_U), f"{page}/sluiten", page=page).status_code == 403
    assert post(asker, f"{page}/sluiten", page=page).status_code == 302
    resp = post(colleague, f"{page}/antwoorden", {"body": "Nog een antwoord"}, page=page)
    assert resp.status_code == 400 and "gesloten" in resp.get_data(as_text=True)
    with net_app.app_context():
        assert len(db.session.get(Question, qid).answers) == 1


def test_curator_of_the_region_marks_best_answer(net_app):
    qid = ask(net_app)
    with net_app.app_context():
        a1 = svc.answer_question(user(MEMBER_U), qid, "Eerste").id
        a2 = svc.answer_question(user(CONTRIB_U), qid, "Tweede").id
        svc.mark_best(user(CURATOR), qid, a1)
        svc.mark_best(user(CURATOR), qid, a2)  # only one best answer
        assert [(a.id, a.best) for a in db.session.get(Question, qid).answers] == [(a1, False), (a2, True)]
        with pytest.raises(PermissionDenied):
            svc.mark_best(user(CURATOR_U), qid, a1)
        db.session.rollback()
        with pytest.raises(NotFound):  # an answer of another question
            svc.mark_best(user(CURATOR), ask(net_app), a1)
        db.session.rollback()


def test_question_locks_after_ninety_days_without_activity(net_app, client_for):
    qid = ask(net_app)
    with net_app.app_context():
        svc.answer_question(user(MEMBER_U), qid, "Binnen de termijn")
        # time passes: no answer for 91 days (the clock is the only thing set by hand)
        db.session.execute(update(Question).where(Question.id == qid)
                           .values(last_activity_at=utcnow() - timedelta(days=91)))
        db.session.commit()
        with pytest.raises(ValidationFailed) as exc:
            svc.answer_question(user(MEMBER_U), qid, "Te laat")
        db.session.rollback()
        assert "gesloten" in exc.value.errors["body"][0]
    html = client_for(net_app, MEMBER).get(f"/vragen/{qid}").get_data(as_text=True)
    assert "90 dagen" in html and "Antwoord plaatsen" not in html


def test_database_search_over_questions(net_app, client_for):
    qid = ask(net_app, title="Moskeebesturen betrekken bij het netwerk",
              body="Wie heeft ervaring met OUDERAVONDEN in de moskee? 100% zeker weten")
    other = ask(net_app, title="Een vraag over sportclubs", body="Trainers als sleutelfiguur", themes=["jongeren"],
                phase="opzetten")
    member = client_for(net_app, MEMBER_U)
    html = member.get("/vragen?q=ouderavonden").get_data(as_text=True)  # case-insensitive, in the body
    assert "Moskeebesturen betrekken" in html and "sportclubs" not in html
    html = member.get("/vragen?q=moskee+netwerk").get_data(as_text=True)  # every word must match
    assert "Moskeebesturen betrekken" in html
    assert "Moskeebesturen" not in member.get("/vragen?q=moskee+sportclubs").get_data(as_text=True)
    with net_app.app_context():
        assert [q.id for q in svc.list_questions(user(MEMBER), q="100%")] == [qid]  # % is literal
        assert qid not in [q.id for q in svc.list_questions(user(MEMBER), q="1_0")]
        assert [q.id for q in svc.list_questions(user(MEMBER), theme="jongeren", phase="opzetten")] == [other]
    html = member.get("/vragen?q=zzqqxx").get_data(as_text=True)
    assert "Geen vragen gevonden" in html and "/vragen/nieuw?titel=zzqqxx" in html


def test_zero_result_search_offers_to_ask_the_network(net_app, client_for):
    member = client_for(net_app, MEMBER)
    html = member.get("/zoeken?q=kwxyzzy+blorp").get_data(as_text=True)
    assert "Stel deze vraag aan het netwerk" in html
    assert "/vragen/nieuw?titel=kwxyzzy+blorp" in html
    form = member.get("/vragen/nieuw?titel=kwxyzzy+blorp").get_data(as_text=True)
    assert 'value="kwxyzzy blorp"' in form


def test_curator_turns_answer_into_lesson_draft(net_app, client_for):
    qid = ask(net_app, title="Hoe evalueren we een netwerkbijeenkomst?")
    with net_app.app_context():
        aid = svc.answer_question(user(MEMBER_U), qid, "Wij vragen na afloop drie dingen.").id
    page = f"/vragen/{qid}"
    member = client_for(net_app, MEMBER)
    assert "Maak er een les van" not in member.get(page).get_data(as_text=True)
    assert post(member, f"{page}/antwoorden/{aid}/les", page=page).status_code == 403
    assert post(client_for(net_app, CURATOR_U), f"{page}/antwoorden/{aid}/les", page=page).status_code == 403

    curator = client_for(net_app, CURATOR)
    assert "Maak er een les van" in curator.get(page).get_data(as_text=True)
    resp = post(curator, f"{page}/antwoorden/{aid}/les", page=page)
    assert resp.status_code == 302 and "/lessen/" in resp.headers["Location"]
    with net_app.app_context():
        lesson = db.session.scalar(select(Item).where(Item.type == "lesson", Item.title == "Hoe evalueren we een netwerkbijeenkomst?"))
        assert lesson.status == "draft" and lesson.visibility == "members"
        assert lesson.extra["question_id"] == qid and lesson.extra["answer_id"] == aid
        assert "Wij vragen na afloop drie dingen." in lesson.body
        assert lesson.themes == ["netwerk-opbouw"] and lesson.phases == ["onderhouden"]
        assert [m.name for m in lesson.municipalities] == ["Delft"]
        slug = lesson.slug
    assert f"/lessen/{slug}" in curator.get(page).get_data(as_text=True)  # the link back
    assert f"/lessen/{slug}" not in member.get(page).get_data(as_text=True)  # a draft stays hidden
    assert net_app.test_client().get(f"/lessen/{slug}").status_code == 404


# -- in a browser --------------------------------------------------------------------------
# -- following: notifications and e-mail ----------------------------------------------------
def notes_for(qid: int, kind: str) -> list[str]:
    """E-mail addresses of the users with a ``kind`` notification linking to question ``qid``."""
    rows = db.session.execute(select(User.email).join(Notification, Notification.user_id == User.id)
                              .where(Notification.kind == kind, Notification.link == f"/vragen/{qid}")).all()
    return sorted(r[0] for r in rows)


def mails_about(title: str) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.subject.contains(title))
                                   .order_by(OutboxMessage.id)))


def test_followers_are_told_of_answers_best_answer_and_closing(net_app, client_for):
    title = "Sleutelfiguren uit de Poolse gemeenschap vinden: wie weet raad?"
    with net_app.app_context():
        create_user(SYSTEM, "vertrokken@delft.example.org", "member", name="Vertrokken lid",
                    password=PASSWORD, municipality="Delft")
    qid = ask(net_app, title=title, body="Geheime toelichting: namen van drie contactpersonen")
    page = f"/vragen/{qid}"
    for email in (CONTRIB_U, MEMBER_U, "vertrokken@delft.example.org"):  # the asker follows already
        with net_app.app_context():
            svc.set_follow(user(email), qid, True)
    with net_app.app_context():
        from portal.services.accounts import set_active

        set_active(SYSTEM, "vertrokken@delft.example.org", False)  # left: may not read questions any more

    # a follower answers through the web: the other followers are told, the answerer is not
    answerer = client_for(net_app, MEMBER_U)
    resp = post(answerer, f"{page}/antwoorden", {"body": "Vertrouwelijk antwoord: bel de pastoor"}, page=page)
    assert resp.status_code == 302
    with net_app.app_context():
        assert notes_for(qid, "question.answered") == sorted([MEMBER, CONTRIB_U])
        mails = mails_about(title)
        assert sorted(m.to_address for m in mails) == sorted([MEMBER, CONTRIB_U])
        for m in mails:  # the title and the link only: never the question's or the answer's text
            assert f"{page}\n" in m.body and title in m.body
            assert "Vertrouwelijk" not in m.body + m.subject and "Geheime" not in m.body + m.subject
        answer_id = db.session.scalar(select(Answer.id).where(Answer.question_id == qid))
        # someone who does not follow answers: all three active followers are told
        svc.answer_question(user(CURATOR_U), qid, "Nog een vertrouwelijk antwoord")
        assert len(mails_about(title)) == 5
        assert notes_for(qid, "question.answered") == sorted([MEMBER, MEMBER, CONTRIB_U, CONTRIB_U, MEMBER_U])

    # the asker marks the best answer: the followers except the asker are told; unmarking tells nobody
    asker = client_for(net_app, MEMBER)
    assert post(asker, f"{page}/antwoorden/{answer_id}/beste", page=page).status_code == 302
    assert post(asker, f"{page}/antwoorden/{answer_id}/beste", page=page).status_code == 302  # unmark
    with net_app.app_context():
        assert notes_for(qid, "question.best") == sorted([CONTRIB_U, MEMBER_U])
        assert len(mails_about(title)) == 7

    # the asker closes it: the followers except the asker are told, once
    assert post(asker, f"{page}/sluiten", page=page).status_code == 302
    with net_app.app_context():
        svc.close_question(user(MEMBER), qid)  # closing again tells nobody again
        assert notes_for(qid, "question.closed") == sorted([CONTRIB_U, MEMBER_U])
        mails = mails_about(title)
        assert len(mails) == 9
        assert "vertrokken@delft.example.org" not in [m.to_address for m in mails]
        assert "vertrokken@delft.example.org" not in notes_for(qid, "question.answered")
        assert all("Vertrouwelijk" not in m.body and "Geheime" not in m.body for m in mails)
    # the follower sees them among their notifications; the page behind the link still asks who may read it
    html = client_for(net_app, CONTRIB_U).get("/meldingen").get_data(as_text=True)
    assert f"Nieuw antwoord op een vraag die u volgt: {title}" in html
    assert f"Een vraag die u volgt is gesloten: {title}" in html
    assert title not in client_for(net_app, CURATOR_U).get("/meldingen").get_data(as_text=True)
    assert net_app.test_client().get(page).status_code == 302


def test_huge_ids_in_question_urls_are_not_found(net_app, client_for):
    member = client_for(net_app, MEMBER)
    huge = "99999999999999999999999"
    assert member.get(f"/vragen/{huge}").status_code == 404
    assert member.get("/vragen/2147483648").status_code == 404
    qid = ask(net_app)
    page = f"/vragen/{qid}"
    assert post(member, f"{page}/antwoorden/{huge}/beste", page=page).status_code == 404
    with net_app.app_context():
        with pytest.raises(NotFound):
            svc.get_question(user(MEMBER), 10**23)
        with pytest.raises(NotFound):
            svc.mark_best(user(MEMBER), qid, 10**23)
        db.session.rollback()


@pytest.fixture(scope="module")
def network_server(net_app):
    with serving(net_app) as base:
        yield base


@pytest.mark.browser
def test_browser_zero_result_search_becomes_a_question_answered_and_marked_best(browser, network_server):  # noqa: F811
    from selenium.webdriver.common.by import By

    base = network_server
    browser_login(browser, base, MEMBER)
    browser.get(base + "/zoeken?q=imams+als+sleutelfiguur+kwzx")
    browser.find_element(By.LINK_TEXT, "Stel deze vraag aan het netwerk").click()
    see(browser, "Stel een vraag aan het netwerk")
    assert browser.find_element(By.ID, "f-title").get_attribute("value") == "imams als sleutelfiguur kwzx"
    browser.find_element(By.ID, "f-body").send_keys("Wie heeft hier ervaring mee?")
    browser.find_element(By.CSS_SELECTOR, "input[name=themes][value=religie]").click()
    browser.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    see(browser, "Uw vraag staat op het netwerk")
    page = browser.current_url
    browser.delete_all_cookies()

    browser_login(browser, base, MEMBER_U)  # a colleague elsewhere answers
    browser.get(page)
    browser.find_element(By.ID, "f-body").send_keys("Ja: begin met een kennismaking in de moskee.")
    browser.find_element(By.XPATH, "//button[text()='Antwoord plaatsen']").click()
    see(browser, "Uw antwoord is geplaatst")
    browser.delete_all_cookies()

    browser_login(browser, base, MEMBER)  # the asker marks it best
    browser.get(page)
    browser.find_element(By.XPATH, "//button[text()='Markeren als beste antwoord']").click()
    see(browser, "Gemarkeerd als beste antwoord")
    assert "begin met een kennismaking" in browser.find_element(By.CSS_SELECTOR, ".best-answer").text
    browser.delete_all_cookies()
    browser.get(page)  # and an anonymous visitor sees none of it
    assert "kennismaking" not in browser.page_source and "/inloggen" in browser.current_url
