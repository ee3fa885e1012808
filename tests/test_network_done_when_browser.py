"""Issue #9, "Done when", tried as new users would in Debian's headless
Chromium, each person in their own browser (own profile, own cookies):

1. Fleur (fleur.jansen@delft.nl, an allowed municipal domain) signs up and
   confirms through the link mailed to her;
2. Mo, a colleague of key figure Samira at Buurtwerk Delft, has no municipal
   address: he requests access, confirms his address by the mailed link, the
   Delft curator approves, and he logs in;
3. a visitor and Fleur search for something the library does not have; Fleur
   turns the search into a question; Mo answers; Fleur marks it the best;
4. Fleur signs up for the next regional meeting and gets its calendar file;
5. Fleur follows a theme; a practice on it is published; the weekly
   ``portal send-digests`` run mails her a digest listing it, whose link opens it;
6. the curator's insight page lists the query among the top searches without
   results and draws the municipalities that contributed on its map.

Then, with the Flask test client: an anonymous visitor, a member of another
region and a curator of another region get no question text, answer text,
attendee list or key figure on any URL the story touched (pages, iCalendar,
CSV, feeds, API). ``test_story_state_stays_inside_its_audience`` checks the
same without a browser, the state made through the services.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import urllib.request
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Answer, OutboxMessage, Question
from portal.models.base import utcnow

from . import network_world as world
from .conftest import make_app, serving
from .test_browser import CHROMEDRIVER, CHROMIUM, see, start_chromium

FLEUR = "fleur.jansen@delft.nl"
FLEUR_PASSWORD = "fietsen langs de Delftse grachten"
MO = "mo@buurtwerk.example"
MO_PASSWORD = "jongerenwerk in de Buitenhof 2026"
QUESTION_TITLE = world.QUERY.capitalize() + ": wie heeft hier ervaring mee?"
QUESTION_BODY = "Onze jongerenwerkers horen steeds vaker over haatberichten in de chat van online spellen."
ANSWER_BODY = "Bij ons gamen de jongerenwerkers op woensdag mee en bespreken ze wat er voorbijkomt."


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture
def story_site(tmp_path):
    app = make_app(tmp_path / "done-when", content=False)
    ids = world.build_world(app)
    with serving(app) as base:
        app.config["BASE_URL"] = base  # absolute links in the digest e-mail point at this server
        yield app, base, ids


@pytest.fixture
def browsers():
    """``browsers(name)``: that person's own Chromium (started on first use)."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("browser tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    started: dict[str, tuple] = {}

    def get(name: str):
        if name not in started:
            profile = tempfile.mkdtemp(prefix=f"portal-chromium-{name}-")
            driver = start_chromium(profile)
            driver.implicitly_wait(5)
            started[name] = (driver, profile)
        return started[name][0]

    yield get
    for driver, profile in started.values():
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# -- what people do ------------------------------------------------------------------------
def _by():
    from selenium.webdriver.common.by import By

    return By


def log_in(browser, base, email, password):
    By = _by()
    browser.get(base + "/inloggen")
    browser.find_element(By.ID, "email").send_keys(email)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    see(browser, "U bent ingelogd")


def sign_up(browser, base, name, email, password, motivation=""):
    from .test_signup_browser import _fill_signup

    _fill_signup(browser, base, name, email, motivation, password=password)


def confirm_by_mail(browser, app, base, email, password) -> str:
    """Open the confirmation link of the latest mail to ``email`` and press
    its button (typing the sign-up password where the page asks for it).
    Returns the page text after confirming."""
    By = _by()
    mail = world.last_mail(app, email)
    assert mail is not None, f"no mail to {email} in the outbox"
    links = [u for u in world.links_in(mail.body) if u.startswith(base) and "bevestig" in u]
    assert links, f"no confirmation link in the mail to {email}:\n{mail.body}"
    browser.get(links[0])
    passwords = browser.find_elements(By.ID, "f-password")
    if passwords:
        passwords[0].send_keys(password)
    before = browser.current_url
    browser.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10).until(lambda b: b.current_url != before or "notice-error" in b.page_source)
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "notice-error" not in browser.page_source, text[:800]
    return text


def header_name(browser) -> str:
    return browser.find_element(_by().CSS_SELECTOR, "header form button").text


def cookie_header(browser) -> str:
    return "; ".join(f"{c['name']}={c['value']}" for c in browser.get_cookies())


def fetch(url, browser=None) -> tuple[str, bytes]:
    """GET ``url`` as a calendar app or download would (with ``browser``'s
    cookies when given); returns (content type, body)."""
    req = urllib.request.Request(url, headers={"Cookie": cookie_header(browser)} if browser else {})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (our own loopback server)
        return resp.headers.get_content_type(), resp.read()


def search(browser, base, query):
    By = _by()
    browser.get(base + "/zoeken")
    box = browser.find_element(By.CSS_SELECTOR, "input[name=q]")
    box.clear()
    box.send_keys(query)
    box.submit()
    see(browser, "Niet gevonden wat u zocht?")
    assert not browser.find_elements(By.CSS_SELECTOR, ".hit"), "the search was meant to find nothing"


# -- the story -----------------------------------------------------------------------------
@pytest.mark.browser
def test_done_when_story_in_the_browser(story_site, browsers):
    from icalendar import Calendar

    By = _by()
    app, base, ids = story_site
    touched: list[str] = []  # every page the story opened, for the audience check at the end

    def visit(browser, path):
        browser.get(base + path)
        touched.append(path)

    def here(browser):
        touched.append(browser.current_url.removeprefix(base))

    # 1. Fleur, from an allowed municipal domain, signs up and confirms
    fleur = browsers("fleur")
    sign_up(fleur, base, "Fleur Jansen", FLEUR, FLEUR_PASSWORD)
    text = confirm_by_mail(fleur, app, base, FLEUR, FLEUR_PASSWORD)
    assert "Uw account is bevestigd" in text
    log_in(fleur, base, FLEUR, FLEUR_PASSWORD)
    assert "Fleur Jansen" in header_name(fleur)

    # 2. Mo requests access; until he confirms his address no curator sees it
    mo = browsers("mo")
    sign_up(mo, base, "Mo Haddou", MO, MO_PASSWORD, "Jongerenwerker bij Buurtwerk Delft.")
    curator = browsers("curator")
    from .test_browser import login as staff_login

    staff_login(curator, base, world.CURATOR)
    visit(curator, "/beheer/toegangsverzoeken")
    assert "Mo Haddou" not in curator.page_source, "an unconfirmed access request reached the curator"
    confirm_by_mail(mo, app, base, MO, MO_PASSWORD)
    visit(curator, "/beheer/toegangsverzoeken")
    curator.find_element(By.LINK_TEXT, "Mo Haddou").click()
    see(curator, "Jongerenwerker bij Buurtwerk Delft.")
    curator.find_element(By.XPATH, "//button[normalize-space()='Aanvraag goedkeuren']").click()
    see(curator, "De aanvraag is goedgekeurd")
    assert "goedgekeurd" in world.last_mail(app, MO).body
    log_in(mo, base, MO, MO_PASSWORD)
    assert "Mo Haddou" in header_name(mo)

    # 3. a zero-result search becomes a question, answered by the key figure's colleague
    visitor = browsers("visitor")
    search(visitor, base, world.QUERY)  # 1st search of it (a visitor: asked to log in)
    assert visitor.find_element(By.CSS_SELECTOR, ".ask-network a").text.startswith("Log in")
    search(fleur, base, world.QUERY)  # 2nd
    here(fleur)
    fleur.find_element(By.LINK_TEXT, "Stel deze vraag aan het netwerk").click()
    see(fleur, "Stel een vraag aan het netwerk")
    here(fleur)
    title = fleur.find_element(By.ID, "f-title")
    assert title.get_attribute("value") == world.QUERY  # the search, prefilled
    title.clear()
    title.send_keys(QUESTION_TITLE)
    fleur.find_element(By.ID, "f-body").send_keys(QUESTION_BODY)
    fleur.find_element(By.CSS_SELECTOR, "input[name=themes][value=jongeren]").click()
    from selenium.webdriver.support.ui import Select

    Select(fleur.find_element(By.ID, "f-municipality")).select_by_visible_text("Delft")
    fleur.find_element(By.XPATH, "//button[normalize-space()='Vraag plaatsen']").click()
    see(fleur, "Uw vraag staat op het netwerk")
    question_path = fleur.current_url.removeprefix(base)
    assert re.fullmatch(r"/vragen/\d+", question_path), question_path
    touched.append(question_path)
    search(visitor, base, world.QUERY)  # 3rd: still nothing for a visitor, the question is for members
    here(visitor)
    assert QUESTION_TITLE not in visitor.page_source

    visit(mo, "/vragen")
    mo.find_element(By.LINK_TEXT, QUESTION_TITLE).click()
    see(mo, QUESTION_BODY)
    mo.find_element(By.ID, "f-body").send_keys(ANSWER_BODY)
    mo.find_element(By.XPATH, "//button[normalize-space()='Antwoord plaatsen']").click()
    see(mo, "Uw antwoord is geplaatst")
    assert not mo.find_elements(By.XPATH, "//button[normalize-space()='Markeren als beste antwoord']")

    visit(fleur, "/meldingen")  # the asker follows her question and hears of the answer
    see(fleur, "Nieuw antwoord op een vraag die u volgt")
    visit(fleur, question_path)
    answer = fleur.find_element(By.CSS_SELECTOR, ".answer")
    assert ANSWER_BODY in answer.text and "Mo Haddou" in answer.text
    answer.find_element(By.XPATH, ".//button[normalize-space()='Markeren als beste antwoord']").click()
    see(fleur, "Gemarkeerd als beste antwoord")
    best = fleur.find_element(By.CSS_SELECTOR, ".answer.best-answer")
    assert best.find_element(By.CSS_SELECTOR, ".badge").get_attribute("textContent").strip() == "Beste antwoord"
    assert ANSWER_BODY in best.text
    visit(mo, question_path)
    assert ANSWER_BODY in mo.find_element(By.CSS_SELECTOR, ".answer.best-answer").text

    # 4. Fleur signs up for the next regional meeting and gets a calendar file
    visit(fleur, "/")
    fleur.find_element(By.LINK_TEXT, "Bijeenkomsten").click()
    Select(fleur.find_element(By.ID, "f-regio")).select_by_visible_text("Haaglanden")
    fleur.find_element(By.XPATH, "//button[normalize-space()='Tonen']").click()
    see(fleur, "Bijeenkomsten in Haaglanden")
    here(fleur)
    upcoming = [a.text for a in fleur.find_elements(By.CSS_SELECTOR, ".cards h3 a")]
    assert upcoming[:2] == [world.NEXT_MEETING, world.LATER_MEETING], upcoming
    assert world.NATIONAL_MEETING not in upcoming
    region_feed = fleur.find_element(By.PARTIAL_LINK_TEXT, "iCalendar-feed").get_attribute("href")
    fleur.find_elements(By.CSS_SELECTOR, ".cards h3 a")[0].click()  # the next one
    meeting_path = f"/bijeenkomsten/{ids['meetings'][world.NEXT_MEETING]}"
    assert fleur.current_url == base + meeting_path
    touched.append(meeting_path)
    fleur.find_element(By.XPATH, "//button[normalize-space()='Aanmelden']").click()
    see(fleur, "U bent aangemeld.")
    ics = fleur.find_element(By.LINK_TEXT, "In mijn agenda zetten (.ics)").get_attribute("href")
    assert ics == base + meeting_path + "/agenda.ics"
    kind, body = fetch(ics, fleur)
    assert kind == "text/calendar"
    [event] = Calendar.from_ical(body).walk("VEVENT")
    assert str(event["SUMMARY"]) == world.NEXT_MEETING and str(event["LOCATION"]) == world.MEETING_PLACE
    assert event.decoded("DTSTART").strftime("%Y-%m-%dT%H:%M") == world.local_time(30)
    kind, body = fetch(region_feed)  # the region's feed, as a calendar app subscribes to it
    assert kind == "text/calendar"
    assert [str(e["SUMMARY"]) for e in Calendar.from_ical(body).walk("VEVENT")] == [
        world.NEXT_MEETING, world.LATER_MEETING]
    touched += [ics.removeprefix(base), region_feed.removeprefix(base)]
    # the organiser sees her on the attendee list and in its CSV
    visit(curator, meeting_path)
    curator.find_element(By.LINK_TEXT, "Deelnemerslijst").click()
    see(curator, "Fleur Jansen")
    here(curator)
    csv_url = curator.find_element(By.LINK_TEXT, "CSV").get_attribute("href") \
        if curator.find_elements(By.LINK_TEXT, "CSV") else base + meeting_path + "/deelnemers.csv"
    kind, body = fetch(csv_url, curator)
    assert kind == "text/csv" and FLEUR in body.decode("utf-8-sig")
    touched.append(csv_url.removeprefix(base))

    # 5. Fleur follows a theme, weekly; a practice on it appears; the weekly digest lists it
    visit(fleur, "/themas/jongeren")
    fleur.find_element(By.XPATH, "//form[contains(@class,'follow-form')]//button[starts-with(normalize-space(),"
                                 "'Volgen')]").click()
    see(fleur, "U volgt nu")
    visit(fleur, "/volgen")
    fleur.find_element(By.ID, "f-frequency-weekly").click()
    fleur.find_element(By.XPATH, "//button[normalize-space()='Keuze opslaan']").click()
    see(fleur, "Uw keuze voor de e-mail is opgeslagen")
    slug = world.publish_new_practice(app)
    run = app.test_cli_runner().invoke(args=["send-digests", "--frequency", "weekly", "--now",
                                             (utcnow() + timedelta(hours=1)).isoformat(timespec="seconds")])
    assert run.exit_code == 0, run.output
    digest = world.last_mail(app, FLEUR)
    assert digest is not None and "nieuw in wat u volgt" in digest.subject, digest and digest.subject
    assert world.NEW_PRACTICE in digest.body and "Thema: Jongeren" in digest.body, digest.body
    assert world.KEY_FIGURE not in digest.body + digest.html_body  # names of key figures never go by e-mail
    practice_link = base + "/werkwijzen/" + slug
    assert practice_link in world.links_in(digest.body), digest.body
    assert any(u.startswith(base + "/volgen/afmelden/") for u in world.links_in(digest.body))
    fleur.get(practice_link)
    assert world.NEW_PRACTICE in fleur.find_element(By.TAG_NAME, "h1").text
    here(fleur)

    # 6. the curator's dashboard: the query among the top zero-result searches; the map
    visit(curator, "/inzicht")
    rows = [r.text for r in curator.find_elements(By.CSS_SELECTOR, "#zoektermen-zonder-resultaat tbody tr")]
    assert f"{world.QUERY} 3" in rows, rows
    delft = curator.find_element(By.CSS_SELECTOR, "#gemeentekaart path[data-gemeente='GM0503']")
    utrecht = curator.find_element(By.CSS_SELECTOR, "#gemeentekaart path[data-gemeente='GM0344']")
    assert "gm-k2" in delft.get_attribute("class") and "gm-k1" in utrecht.get_attribute("class")
    assert delft.find_element(By.TAG_NAME, "title").get_attribute("textContent") == "Delft: 2"
    table = curator.find_element(By.XPATH, "//caption[starts-with(normalize-space(),"
                                           "'Gepubliceerde items per gemeente')]/..").text
    assert "Delft 2" in table and "Utrecht 1" in table
    assert len(curator.find_elements(By.CSS_SELECTOR, "#gemeentekaart path.gm-k0")) > 300  # the rest of NL

    # 7. nothing of it reaches anyone outside its audience
    with app.app_context():
        qid = int(question_path.rsplit("/", 1)[1])
        assert db.session.scalar(select(Question.title).where(Question.id == qid)) == QUESTION_TITLE
        assert db.session.scalar(select(Answer.best).where(Answer.question_id == qid))
    _check_audiences(app, sorted(set(touched)), qid, ids)


# -- the audience check --------------------------------------------------------------------
def _urls(qid: int, ids: dict) -> list[str]:
    """Every URL of the story (besides what the browser touched)."""
    mid = ids["meetings"][world.NEXT_MEETING]
    rid = ids["regions"]["Haaglanden"]
    q = world.QUERY.replace(" ", "+")
    return [
        "/", "/zoeken?q=" + q, "/zoeken?q=gamechats", "/zoeken?q=" + QUESTION_TITLE.split(":")[0].replace(" ", "+"),
        "/vragen", "/vragen?q=gamechats", "/vragen?thema=jongeren", f"/vragen/{qid}", "/vragen/nieuw?titel=" + q,
        "/meldingen", "/volgen", "/themas/jongeren", "/gemeenten/GM0503", "/inzicht",
        "/bijeenkomsten", f"/bijeenkomsten?regio={rid}", f"/bijeenkomsten/{mid}",
        f"/bijeenkomsten/{mid}/deelnemers", f"/bijeenkomsten/{mid}/deelnemers.csv",
        f"/bijeenkomsten/{mid}/agenda.ics", f"/bijeenkomsten/regio/{rid}/agenda.ics",
        "/feeds/alles.atom", "/feeds/werkwijzen.atom", "/feeds/themas/jongeren.atom",
        "/feeds/gemeenten/GM0503.atom", "/feeds/zoeken.atom?q=" + q, "/feeds/zoeken.atom?q=gamechats",
        "/sitemap.xml", "/api/v1/search?q=gamechats", "/api/v1/search?q=" + q, "/api/v1/items",
        "/sleutelfiguren", "/zoeken?q=Buurtwerk",
    ]


def _check_audiences(app, touched: list[str], qid: int, ids: dict) -> None:
    mid = ids["meetings"][world.NEXT_MEETING]
    urls = list(dict.fromkeys([*touched, *_urls(qid, ids)]))
    # positive controls: the people inside the audience do get it, so the check below can fail
    assert QUESTION_BODY in world.sees(app, world.CONTRIBUTOR, f"/vragen/{qid}")
    assert ANSWER_BODY in world.sees(app, world.CONTRIBUTOR, f"/vragen/{qid}")
    assert "Fleur Jansen" in world.sees(app, world.CURATOR, f"/bijeenkomsten/{mid}/deelnemers")
    assert FLEUR in world.sees(app, world.CURATOR, f"/bijeenkomsten/{mid}/deelnemers.csv")
    assert world.KEY_FIGURE in world.sees(app, world.CURATOR, "/sleutelfiguren")
    # e-mail leaves the portal: it names a question at most, never its text or an answer
    with app.app_context():
        mails = db.session.scalars(select(OutboxMessage)).all()
        assert mails
        for mail in mails:
            text = f"{mail.subject}\n{mail.body}\n{mail.html_body or ''}"
            assert QUESTION_BODY not in text and ANSWER_BODY not in text, (mail.to_address, mail.subject)
            assert world.KEY_FIGURE not in text, (mail.to_address, mail.subject)
    # the check itself finds what is there (an insider as the "outsider")
    assert world.leaks(app, [f"/bijeenkomsten/{mid}/deelnemers.csv"], {"insider": [(FLEUR, "")]},
                       {"insider": world.CURATOR})
    everywhere = [(text, "") for text in (QUESTION_TITLE, QUESTION_BODY, ANSWER_BODY, MO, FLEUR)]
    # the attendee list: her name on meeting pages and files (elsewhere it may name her as the asker)
    attendees = [(FLEUR, ""), ("Fleur Jansen", "/bijeenkomsten")]
    key_figure = [(world.KEY_FIGURE, "")]
    found = world.leaks(app, urls, {
        "anonymous": everywhere + attendees + key_figure,
        "member elsewhere": attendees + key_figure,
        "curator elsewhere": attendees + key_figure,
    }, {"anonymous": None, "member elsewhere": world.OTHER_MEMBER, "curator elsewhere": world.OTHER_CURATOR})
    assert not found, "\n".join(found)


def test_story_state_stays_inside_its_audience(tmp_path):
    """The state the story leaves, made through the services (no browser):
    the same audience check, so it runs where Chromium is missing too."""
    from portal.network import meetings as meeting_service
    from portal.network import questions as question_service
    from portal.services import follows as follow_service
    from portal.services.library import create_user

    app = make_app(tmp_path / "audience", content=False, BASE_URL="https://portaal.example.nl")
    ids = world.build_world(app)
    anon = app.test_client()
    for _ in range(3):
        assert anon.get("/zoeken?q=" + world.QUERY.replace(" ", "+")).status_code == 200
    with app.app_context():
        from portal.services.items import SYSTEM

        create_user(SYSTEM, FLEUR, "member", name="Fleur Jansen", password=FLEUR_PASSWORD, municipality="Delft")
        create_user(SYSTEM, MO, "member", name="Mo Haddou", password=MO_PASSWORD, municipality="Delft")
        fleur, mo = world.user(FLEUR), world.user(MO)
        question = question_service.ask_question(fleur, {"title": QUESTION_TITLE, "body": QUESTION_BODY,
                                                         "themes": ["jongeren"], "municipality": "Delft"})
        qid = question.id
        answer = question_service.answer_question(mo, qid, ANSWER_BODY)
        question_service.mark_best(world.user(FLEUR), qid, answer.id)
        meeting_service.register(world.user(FLEUR), ids["meetings"][world.NEXT_MEETING])
        follow_service.follow(world.user(FLEUR), "theme", "jongeren")
    world.publish_new_practice(app)
    with app.app_context():
        follow_service.send_digests(app.config, now=utcnow() + timedelta(hours=1))
    digest = world.last_mail(app, FLEUR)
    assert digest is not None and world.NEW_PRACTICE in digest.body
    _check_audiences(app, [], qid, ids)
