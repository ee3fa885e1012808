"""What a person clicks, in Debian's headless Chromium (no browser downloads:
chromium and chromium-driver come from Debian; .ci/run installs them)."""

from __future__ import annotations

import shutil
import tempfile

import pytest

from .conftest import PASSWORD, serving

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    from .conftest import make_app

    app = make_app(tmp_path_factory.mktemp("browser"))
    with serving(app) as base:
        yield base


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


def start_chromium(profile: str, **capabilities):
    """Debian's headless Chromium through its chromedriver, with its own
    profile folder and no background traffic; ``capabilities`` are set as given."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for name, value in capabilities.items():
        options.set_capability(name, value)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--user-data-dir={profile}", "--window-size=1280,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def see(browser, text, timeout=10):
    """Wait until ``text`` is on the page (a click's navigation may still be under way)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, timeout).until(lambda b: text in b.page_source, f"{text!r} never appeared")


def login(browser, base, email):
    from selenium.webdriver.common.by import By

    browser.get(base + "/inloggen")
    browser.find_element(By.ID, "email").send_keys(email)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    see(browser, "U bent ingelogd")


def logout(browser):
    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, "header form button").click()
    see(browser, "U bent uitgelogd")


def test_visitor_searches_from_the_home_page(browser, live_server):
    from selenium.webdriver.common.by import By

    browser.get(live_server + "/")
    box = browser.find_element(By.ID, "home-q")
    box.send_keys("sleutelfiguren werven")
    box.submit()
    titles = [a.text for a in browser.find_elements(By.CSS_SELECTOR, ".hit h3 a")]
    assert any("werv" in t.lower() for t in titles[:5]), titles
    assert browser.find_elements(By.CSS_SELECTOR, ".snippet mark")
    assert "Sleutelfiguur" not in [b.text for b in browser.find_elements(By.CSS_SELECTOR, ".badge")]


def test_contributor_posts_curator_publishes_visitor_finds(browser, live_server):
    from selenium.webdriver.common.by import By

    login(browser, live_server, "bijdrager@delft.example.org")
    browser.get(live_server + "/nieuw/werkwijzen")
    browser.find_element(By.ID, "f-title").send_keys("Sportcoaches als bruggenbouwers in de wijk")
    browser.find_element(By.ID, "f-summary").send_keys("Trainers van de voetbalclub signaleren spanningen vroeg.")
    body = browser.find_element(By.ID, "f-body")
    body.clear()
    body.send_keys("## Aanpak\n\nDe sporttrainers krijgen een korte training over polarisatie.")
    browser.find_element(By.CSS_SELECTOR, "input[name=themes][value=polarisatie]").click()
    browser.find_element(By.CSS_SELECTOR, "button[value=preview]").click()
    see(browser, "Voorbeeld</h2>")
    assert browser.find_element(By.CSS_SELECTOR, ".preview h2 + div h2").text == "Aanpak"
    browser.find_element(By.CSS_SELECTOR, "button[value=save]").click()
    see(browser, "Opgeslagen als concept")
    page = browser.current_url
    logout(browser)

    login(browser, live_server, "curator@delft.example.org")
    browser.get(live_server + "/concepten")
    browser.find_element(By.LINK_TEXT, "Sportcoaches als bruggenbouwers in de wijk").click()
    browser.find_element(By.CSS_SELECTOR, "button[value=publish]").click()
    see(browser, "Gepubliceerd")
    logout(browser)

    browser.get(live_server + "/zoeken?q=sportcoach")
    titles = [a.text for a in browser.find_elements(By.CSS_SELECTOR, ".hit h3 a")]
    assert titles and titles[0] == "Sportcoaches als bruggenbouwers in de wijk"
    browser.get(page)
    assert "Sportcoaches als bruggenbouwers" in browser.find_element(By.TAG_NAME, "h1").text
