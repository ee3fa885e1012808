"""A save clicked while the first autosave of a new item is still on its way
makes one draft, not two (in Debian's headless Chromium).

The first autosave of a new item creates the draft on the server; until its
answer arrives the form still points at "new". A save sent in that window
used to create a second draft (with a suffixed slug). The editor's script
now holds such a submit until the autosave has answered, then sends it to
the draft the autosave made. The autosave is slowed down here (its view
sleeps 1.5 s before doing its work) so that the click lands in the window.
"""
from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from .conftest import make_app, serving
from .test_browser import browser, login, see  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser

TITLE = "Wijkwandelingen met vaders in Tanthof"


def test_save_during_the_first_autosave_makes_one_draft(browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from portal.extensions import db
    from portal.models import Item

    app = make_app(tmp_path / "race", AUTOSAVE_INTERVAL_MS=300)
    original = app.view_functions["curation.autosave_new"]
    started, finished = [], []

    def slow_autosave(**kwargs):
        started.append(time.monotonic())
        time.sleep(1.5)  # the answer is slow: the user clicks save meanwhile
        try:
            return original(**kwargs)
        finally:
            finished.append(time.monotonic())

    app.view_functions["curation.autosave_new"] = slow_autosave
    with serving(app) as base:
        login(browser, base, "bijdrager@delft.example.org")
        browser.get(base + "/nieuw/werkwijzen")
        browser.find_element(By.ID, "f-title").send_keys(TITLE)
        WebDriverWait(browser, 10).until(lambda _b: started)  # the first autosave is on its way
        browser.find_element(By.XPATH, "//button[normalize-space()='Opslaan als concept']").click()
        see(browser, "Opgeslagen als concept.")
        WebDriverWait(browser, 10).until(lambda b: "/werkwijzen/wijkwandelingen-met-vaders-in-tanthof" in b.current_url)
        WebDriverWait(browser, 10).until(lambda _b: len(finished) == len(started))  # every autosave done
    assert browser.current_url.endswith("/werkwijzen/wijkwandelingen-met-vaders-in-tanthof")
    with app.app_context():
        assert db.session.scalar(select(func.count(Item.id)).where(Item.title == TITLE)) == 1
