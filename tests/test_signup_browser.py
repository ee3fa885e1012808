"""Vetted membership (issue #9) as a person clicks it, in Debian's headless
Chromium: sign up from an allowed domain and confirm through the link in the
outbox; request access from another domain, confirm the address through
the mailed link, a curator finds it from the menu and approves, log in."""

from __future__ import annotations

import re
import shutil
import tempfile

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import OutboxMessage
from portal.services.items import SYSTEM
from portal.services.library import set_region
from portal.signup import service

from .conftest import make_app, serving
from .test_browser import CHROMEDRIVER, CHROMIUM, login, logout, see, start_chromium

pytestmark = pytest.mark.browser
PASSWORD = "fietsen langs de Delftse grachten"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("signup-browser"), content=False)
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        service.add_domain(SYSTEM, "GM0503", "delft.nl")
    with serving(app) as base:
        yield app, base


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("browser tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    profile = tempfile.mkdtemp(prefix="portal-chromium-")
    driver = start_chromium(profile)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _fill_signup(browser, base, name, email, motivation="", password=PASSWORD):
    """Sign up on /account-aanvragen (from the login page's link) for Delft
    and wait for "Aanvraag verstuurd"."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(base + "/inloggen")
    browser.find_element(By.LINK_TEXT, "Account aanvragen").click()
    see(browser, "Korte toelichting")
    browser.find_element(By.ID, "f-name").send_keys(name)
    browser.find_element(By.ID, "f-email").send_keys(email)
    Select(browser.find_element(By.ID, "f-municipality")).select_by_visible_text("Delft")
    browser.find_element(By.ID, "f-password").send_keys(password)
    if motivation:
        browser.find_element(By.ID, "f-motivation").send_keys(motivation)
    browser.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    see(browser, "Aanvraag verstuurd")


def _log_in(browser, base, email):
    from selenium.webdriver.common.by import By

    browser.get(base + "/inloggen")
    browser.find_element(By.ID, "email").send_keys(email)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    see(browser, "U bent ingelogd")


def _last_mail(app, address):
    with app.app_context():
        return db.session.scalars(select(OutboxMessage.body).where(OutboxMessage.to_address == address)
                                  .order_by(OutboxMessage.id.desc())).first()


def _confirm_address(browser, app, email):
    """Open the access request's mailed link, type the password, confirm."""
    from selenium.webdriver.common.by import By

    body = _last_mail(app, email)
    browser.get(re.search(r"(http://\S+/aanvraag-bevestigen/\S+)", body).group(1))
    see(browser, "Aanvraag bevestigen")
    browser.find_element(By.ID, "f-password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    see(browser, "Uw e-mailadres is bevestigd")


def test_allowed_domain_signs_up_and_confirms_by_the_mailed_link(browser, site):
    from selenium.webdriver.common.by import By

    app, base = site
    _fill_signup(browser, base, "Fleur Jansen", "fleur.jansen@delft.nl")
    body = _last_mail(app, "fleur.jansen@delft.nl")
    link = re.search(r"(http://\S+/account-bevestigen/\S+)", body).group(1)
    assert link.startswith(base)
    browser.get(link)
    see(browser, "Fleur Jansen")
    browser.find_element(By.ID, "f-password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    see(browser, "Uw account is bevestigd")
    _log_in(browser, base, "fleur.jansen@delft.nl")
    assert "Fleur Jansen" in browser.find_element(By.CSS_SELECTOR, "header form button").text


def test_access_request_approved_by_curator_then_login(browser, site):
    from selenium.webdriver.common.by import By

    app, base = site
    _fill_signup(browser, base, "Mo Haddou", "mo@buurtwerk.example", "Jongerenwerker bij Buurtwerk Delft.")
    _confirm_address(browser, app, "mo@buurtwerk.example")
    login(browser, base, "curator@delft.example.org")
    browser.get(base + "/meldingen")
    see(browser, "Nieuwe aanvraag voor toegang")
    browser.find_element(By.PARTIAL_LINK_TEXT, "Toegangsverzoeken").click()
    see(browser, "Aanvragen voor toegang")
    browser.find_element(By.LINK_TEXT, "Mo Haddou").click()
    see(browser, "Jongerenwerker bij Buurtwerk Delft.")
    browser.find_element(By.XPATH, "//button[normalize-space()='Aanvraag goedkeuren']").click()
    see(browser, "De aanvraag is goedgekeurd")
    logout(browser)
    assert "goedgekeurd" in _last_mail(app, "mo@buurtwerk.example")
    _log_in(browser, base, "mo@buurtwerk.example")
    assert "Mo Haddou" in browser.find_element(By.CSS_SELECTOR, "header form button").text


def test_signup_pages_have_no_wcag_violations(browser, site):
    """axe-core (WCAG 2.1 A + AA) over every page of this feature, with and without errors."""
    from selenium.webdriver.common.by import By

    from .test_accessibility import axe_violations

    app, base = site
    found: dict[str, list[str]] = {}

    def check(label):
        if violations := axe_violations(browser):
            found[label] = violations

    browser.get(base + "/account-aanvragen")
    check("form")
    browser.find_element(By.ID, "f-email").send_keys("geen-adres")
    browser.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    see(browser, "nog niet verstuurd")
    check("form with errors")
    _fill_signup(browser, base, "Sem Visser", "sem@delft.nl")
    check("sent")
    body = _last_mail(app, "sem@delft.nl")
    browser.get(re.search(r"(http://\S+/account-bevestigen/\S+)", body).group(1))
    check("confirm")
    browser.get(base + "/account-bevestigen/vervalst")
    see(browser, "klopt niet")
    check("confirm with error")
    _fill_signup(browser, base, "Iris Bos", "iris@elders.example", "Wijkagent.")
    browser.get(re.search(r"(http://\S+/aanvraag-bevestigen/\S+)", _last_mail(app, "iris@elders.example")).group(1))
    check("confirm request")
    browser.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    see(browser, "Vul het wachtwoord in")
    check("confirm request with error")
    browser.find_element(By.ID, "f-password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    see(browser, "Uw e-mailadres is bevestigd")
    login(browser, base, "curator@delft.example.org")
    browser.get(base + "/beheer/toegangsverzoeken")
    check("requests")
    browser.find_element(By.LINK_TEXT, "Iris Bos").click()
    browser.find_element(By.XPATH, "//button[normalize-space()='Aanvraag afwijzen']").click()
    see(browser, "Geef een reden")
    check("request with error")
    logout(browser)
    login(browser, base, "beheer@example.org")
    browser.get(base + "/beheer/domeinen")
    browser.find_element(By.ID, "f-domain").send_keys("geen domein")
    browser.find_element(By.XPATH, "//button[normalize-space()='Domein toestaan']").click()
    see(browser, "Vul een domeinnaam in")
    check("domains with error")
    assert not found, "\n".join(f"{k}: {v}" for k, v in found.items())
