"""Issue #4 as a person clicks it, in Debian's headless Chromium: a contributor
writes a practice from the template (autosaved), attaches a PDF and submits
it; the region's curator gets a notification and returns it with a comment;
the contributor fixes and resubmits; the curator publishes; it is searchable
at once; a second edit waits for review while the first version stays live."""

from __future__ import annotations


import pytest
from sqlalchemy import select

from .conftest import serving
from .test_browser import browser, login, logout, see  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser

BODY = ("## Doel\n\nJongeren en ouders verbinden.\n\n## Aanpak\n\n"
        "Vaders lopen op vrijdagavond een zebrawandeling door de wijk.\n")


@pytest.fixture(scope="module")
def live_app(tmp_path_factory):
    from portal.extensions import db
    from portal.models import Municipality, Region

    from .conftest import make_app

    app = make_app(tmp_path_factory.mktemp("workflow-browser"), AUTOSAVE_INTERVAL_MS=700)
    with app.app_context():
        west, mid = Region(name="Haaglanden"), Region(name="Midden-Nederland")
        db.session.add_all([west, mid])
        db.session.scalar(select(Municipality).where(Municipality.name == "Delft")).region = west
        db.session.scalar(select(Municipality).where(Municipality.name == "Utrecht")).region = mid
        db.session.commit()
    with serving(app) as base:
        yield app, base


def click(driver, text):
    from selenium.webdriver.common.by import By

    driver.find_element(By.XPATH, f"//button[normalize-space()='{text}'] | //a[normalize-space()='{text}']").click()


def test_contributor_to_curator_and_back(browser, live_app, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    app, base = live_app
    page = base + "/werkwijzen/zebrawandelingen-in-tanthof"

    # a contributor writes from the template; the draft is autosaved
    login(browser, base, "bijdrager@delft.example.org")
    browser.get(base + "/nieuw/werkwijzen")
    body = browser.find_element(By.ID, "f-body")
    assert "## Werkzame elementen" in body.get_attribute("value")
    see(browser, "Sectie ‘Randvoorwaarden’")
    browser.find_element(By.ID, "f-title").send_keys("Zebrawandelingen in Tanthof")
    body.clear()
    body.send_keys(BODY)
    # the status line, not the page source: the message's template is in the form's data-msg-saved
    WebDriverWait(browser, 10).until(
        lambda b: "Automatisch opgeslagen om" in b.find_element(By.ID, "autosave-status").text)
    click(browser, "Opslaan als concept")
    see(browser, "Opgeslagen als concept.")
    assert browser.current_url == page

    # attaches a PDF and submits
    pdf = tmp_path / "plan.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n")
    browser.find_element(By.ID, "f-bijlage").send_keys(str(pdf))
    click(browser, "Toevoegen")
    see(browser, "Bijlage plan.pdf toegevoegd.")
    click(browser, "Ter beoordeling aanbieden")
    see(browser, "Ter beoordeling aangeboden")
    logout(browser)

    # the region's curator is told, and returns it with a comment
    login(browser, base, "curator@delft.example.org")
    assert browser.find_element(By.CSS_SELECTOR, ".badge-count").text.startswith("1")
    browser.get(base + "/meldingen")
    click(browser, "Nieuw: Ter beoordeling: Zebrawandelingen in Tanthof")
    see(browser, "Status: Ter beoordeling")
    click(browser, "Terugsturen met commentaar")
    browser.find_element(By.ID, "f-comment").send_keys("Beschrijf ook de resultaten.")
    click(browser, "Terugsturen")
    see(browser, "Teruggestuurd naar de auteur")
    logout(browser)

    # the contributor sees the comment, fixes and resubmits
    login(browser, base, "bijdrager@delft.example.org")
    browser.get(page)
    see(browser, "Beschrijf ook de resultaten.")
    click(browser, "Bewerken")
    browser.find_element(By.ID, "f-body").send_keys("\n## Resultaten\n\nMinder overlast.\n")
    click(browser, "Opslaan als concept")
    see(browser, "Opgeslagen als concept.")
    click(browser, "Opnieuw ter beoordeling aanbieden")
    see(browser, "Ter beoordeling aangeboden")
    logout(browser)

    # the curator publishes: searchable at once
    login(browser, base, "curator@delft.example.org")
    browser.get(page)
    click(browser, "Publiceren")
    see(browser, "Gepubliceerd: het item is nu vindbaar.")
    logout(browser)
    browser.get(base + "/zoeken?q=zebrawandeling")
    see(browser, "Zebrawandelingen in Tanthof")

    # a second edit waits for review; the first version stays live
    login(browser, base, "bijdrager@delft.example.org")
    browser.get(page + "/bewerken")
    browser.find_element(By.ID, "f-body").send_keys("\n## Evaluatie\n\nDe nachtlantaarns werken goed.\n")
    click(browser, "Wijziging ter beoordeling aanbieden")
    see(browser, "wacht op beoordeling")
    logout(browser)
    browser.get(page)
    see(browser, "Minder overlast.")
    assert "nachtlantaarns" not in browser.page_source
    browser.get(base + "/zoeken?q=nachtlantaarns")
    assert "Zebrawandelingen in Tanthof" not in browser.page_source

    # the curator looks at the difference and approves: the new text is live
    login(browser, base, "curator@delft.example.org")
    browser.get(base + "/curatie")
    browser.find_element(By.PARTIAL_LINK_TEXT, "Zebrawandelingen in Tanthof: versie").click()
    see(browser, "+De nachtlantaarns werken goed.")
    click(browser, "Goedkeuren en publiceren")
    see(browser, "Goedgekeurd")
    logout(browser)
    browser.get(base + "/zoeken?q=nachtlantaarns")
    see(browser, "Zebrawandelingen in Tanthof")


def test_two_windows_saving_the_same_item_end_in_a_conflict_page(browser, live_app):  # noqa: F811
    from selenium.webdriver.common.by import By

    app, base = live_app
    edit = base + "/werkwijzen/netwerk-sleutelfiguren-delft/bewerken"
    login(browser, base, "curator@delft.example.org")
    browser.get(edit)
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(edit)
    second = browser.current_window_handle

    browser.switch_to.window(first)
    body = browser.find_element(By.ID, "f-body")
    body.clear()
    body.send_keys("Tekst uit het eerste venster.")
    click(browser, "Opslaan")
    see(browser, "Opgeslagen.")

    browser.switch_to.window(second)
    body = browser.find_element(By.ID, "f-body")
    body.clear()
    body.send_keys("Tekst uit het tweede venster.")
    click(browser, "Opslaan")
    see(browser, "Niet opgeslagen: dit item is intussen door iemand anders")
    assert browser.find_element(By.ID, "f-body").get_attribute("value") == "Tekst uit het tweede venster."
    assert "Tekst uit het eerste venster." in browser.find_element(By.CSS_SELECTOR, "pre.saved-body").text
    # merge and save deliberately
    browser.find_element(By.ID, "f-body").send_keys(" En het eerste.")
    click(browser, "Opslaan")
    see(browser, "Opgeslagen.")
    see(browser, "Tekst uit het tweede venster. En het eerste.")
