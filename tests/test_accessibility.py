"""WCAG 2.1 AA (issue #8), checked in Debian's headless Chromium: axe-core
(vendored, test-only: tests/vendor/axe-core/) over every page type with zero
violations, keyboard-only use (skip link, visible focus, search, reading,
login, no trap), reflow at 320 px, form errors tied to their fields, the print
stylesheet and the accessibility statement.

One browser session for the whole module (the pages are only read; the
logged-in part comes last), so the file stays well under a minute."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from .conftest import PASSWORD, serving

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
AXE = Path(__file__).parent / "vendor" / "axe-core" / "4.14.1" / "axe.min.js"
#: WCAG 2.1 level A and AA, nothing else (best practices are not law)
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
NOT_FOUND = "/deze-pagina-bestaat-niet"
LONG_ITEM = "/lessen/een-heel-lange-titel-over-de-samenwerking-tussen-jongerenwerkers-wijkagenten-en"

ANONYMOUS_PAGES = [
    "/", "/werkwijzen", "/lessen",
    "/werkwijzen/brede-netwerkbijeenkomst-jaarplan", "/lessen/zoek-de-juiste-mensen",
    LONG_ITEM,
    "/zoeken?q=sleutelfiguren+werven",  # results
    "/zoeken?q=qwxzyvbnklm",  # zero results
    "/zoeken?q=netwerk&phase=opzetten&type=practice",  # facets applied
    "/gemeenten", "/over", "/toegankelijkheid", NOT_FOUND,
    "/bijeenkomsten", "/waar-staat-u",
]
#: seen as the Delft curator (member, contributor and curator in one)
MEMBER_PAGES = [
    "/sleutelfiguren", "/sleutelfiguren/annemiek-van-dorsten", "/concepten", "/vragen", "/waar-staat-u",
    "/bijeenkomsten", "/inzicht", "/curatie", "/meldingen", "/wie-kan-helpen?q=jongeren",
    "/werkwijzen/brede-netwerkbijeenkomst-jaarplan/geschiedenis", "/werkwijzen/brede-netwerkbijeenkomst-jaarplan/bewerken",
    "/vragen/nieuw", "/bijeenkomsten/nieuw", "/wachtwoord-wijzigen", "/account/sleutels", "/introductieverzoeken",
    "/sessies", "/volgen", "/beheer/toegangsverzoeken",
]


# -- the browser ---------------------------------------------------------------

@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    from .conftest import make_app

    app = make_app(tmp_path_factory.mktemp("a11y"))
    with app.app_context():  # long content: a long title, a long unbroken address, a wide table, code
        from portal.services.items import SYSTEM, save_item

        long_item = save_item(SYSTEM, "lesson", {
            "title": "Een heel lange titel over de samenwerking tussen jongerenwerkers, wijkagenten en "
                     "sleutelfiguren in de regio Haaglanden-Zuid en omstreken",
            "summary": "Lang: " + "netwerkbijeenkomstverslaglegging " * 20, "municipality": "Delft",
            "status": "published", "themes": ["netwerk-opbouw"]},
            "## Bronnen\n\nZie https://www.example.org/" + "heel-lang-pad-zonder-spaties-" * 12 + "\n\n"
            "| Gemeente | Sleutelfiguren | Bijeenkomsten | Jongerenwerkers | Wijkagenten | Docenten |\n"
            "|---|---|---|---|---|---|\n| Delft | 42 | 12 | 8 | 6 | 15 |\n\n"
            "```\nconst eenHeelLangeRegelCode = 'zonder spaties' + 'die niet mag afbreken' + 'en toch past';\n```\n\n"
            + "Lange alinea over het netwerk. " * 200)
        assert f"/lessen/{long_item.slug}" == LONG_ITEM
    with serving(app) as base:
        yield base


@pytest.fixture(scope="module")
def driver():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("accessibility tests need Debian's chromium and chromium-driver "
                    "(apt-get install chromium chromium-driver); no browser is downloaded")
    from .test_browser import start_chromium

    profile = tempfile.mkdtemp(prefix="portal-a11y-")
    drv = start_chromium(profile, **{"goog:loggingPrefs": {"browser": "ALL"}})
    drv.set_script_timeout(30)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


def axe_violations(drv) -> list[str]:
    """Run axe-core on the page now in ``drv`` (WCAG 2.1 A + AA rules) and
    return one readable line per violation: rule, impact, help, nodes."""
    drv.execute_script(AXE.read_text(encoding="utf-8"))
    result = drv.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => [v.id, v.impact, v.help,"
        " v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + n.failureSummary.replace(/\\s+/g, ' '))])))"
        ".catch(e => done([['axe-error', 'critical', String(e), []]]));",
        WCAG_TAGS)
    return [f"{rule} ({impact}): {text}; " + " | ".join(nodes) for rule, impact, text, nodes in result]


def audit(drv, base_url, paths) -> dict[str, list[str]]:
    """axe over each path; {path: violations} for those that have any. Each
    page must be the page asked for (not the login form or an error page),
    except NOT_FOUND, which must be the 404 page."""
    found = {}
    for path in paths:
        drv.get(base_url + path)
        title = drv.title
        if path == NOT_FOUND:
            assert title.startswith("Niet gevonden"), title
        else:
            assert not title.startswith(("Niet gevonden", "Geen toegang", "Inloggen", "Er ging iets mis")), (path, title)
        violations = axe_violations(drv)
        if violations:
            found[path] = violations
    return found


def browser_login(drv, base_url, email, password=PASSWORD):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    drv.delete_all_cookies()
    drv.get(base_url + "/inloggen")
    drv.find_element(By.ID, "email").send_keys(email)
    drv.find_element(By.ID, "password").send_keys(password)
    drv.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    WebDriverWait(drv, 10).until(lambda d: "/inloggen" not in d.current_url or "notice-error" in d.page_source)


def see(drv, text, timeout=10):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(drv, timeout).until(lambda d: text in d.page_source, f"{text!r} never appeared")


def report(found: dict[str, list[str]]) -> str:
    return "\n".join(f"{path}:\n  " + "\n  ".join(lines) for path, lines in found.items())


# -- axe over every page type ------------------------------------------------------

def test_axe_is_injected_despite_the_csp(driver, base_url):
    """The CSP allows scripts from this site only; WebDriver's script
    injection is not bound by it, so nothing test-only is ever served."""
    driver.get(base_url + "/")
    assert driver.execute_script("return typeof axe") == "undefined"
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    assert driver.execute_script("return axe.version") == "4.14.1"


def test_anonymous_pages_have_no_wcag_violations(driver, base_url):
    found = audit(driver, base_url, ANONYMOUS_PAGES)
    assert not found, report(found)


def test_login_page_with_an_error_has_no_violations(driver, base_url):
    browser_login(driver, base_url, "lid@delft.example.org", "wrong password")
    assert "notice-error" in driver.page_source
    found = {"/inloggen (fout)": axe_violations(driver)}
    assert not found["/inloggen (fout)"], report(found)


def test_member_pages_have_no_wcag_violations(driver, base_url):
    from selenium.webdriver.common.by import By

    browser_login(driver, base_url, "lid@delft.example.org")
    found = audit(driver, base_url, ["/sleutelfiguren", "/sleutelfiguren/annemiek-van-dorsten", "/vragen"])
    browser_login(driver, base_url, "curator@delft.example.org")
    found.update(audit(driver, base_url, MEMBER_PAGES))
    browser_login(driver, base_url, "beheer@example.org")
    found.update(audit(driver, base_url, ["/beheer/logboek", "/beheer/personen"]))
    browser_login(driver, base_url, "curator@delft.example.org")
    # the edit form with validation errors
    driver.get(base_url + "/nieuw/werkwijzen")
    driver.find_element(By.ID, "f-title").clear()
    driver.find_element(By.CSS_SELECTOR, "button[value=save]").click()
    see(driver, "Het item is nog niet opgeslagen")
    violations = axe_violations(driver)
    if violations:
        found["/nieuw/werkwijzen (fouten)"] = violations
    assert not found, report(found)


def test_axe_finds_violations_when_there_are_some(driver, base_url):
    """The audit itself can fail: an unlabelled field and an image without
    text added to a real page are reported."""
    driver.delete_all_cookies()
    driver.get(base_url + "/over")
    driver.execute_script(
        "const m = document.querySelector('main');"
        "m.insertAdjacentHTML('beforeend', '<input type=text id=naamloos><img src=/static/x.png>');")
    rules = {line.split(" ", 1)[0] for line in axe_violations(driver)}
    assert {"label", "image-alt"} <= rules


# -- keyboard only -----------------------------------------------------------------

def press(drv, *keys):
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(drv).send_keys(*keys).perform()


def focused(drv) -> dict:
    """What has the focus: tag, id, classes, text, href, and its focus style."""
    return drv.execute_script(
        "const e = document.activeElement, s = getComputedStyle(e);"
        "return {tag: e.tagName.toLowerCase(), id: e.id, cls: e.className || '', text: (e.innerText || e.value || '').trim(),"
        " href: e.getAttribute('href') || '', outline: s.outlineStyle, width: parseFloat(s.outlineWidth) || 0,"
        " inside_main: !!e.closest('main'), in_footer: !!e.closest('footer'), left: e.getBoundingClientRect().left};")


def tab_until(drv, predicate, limit=120) -> list[dict]:
    """Press Tab until ``predicate(focused)`` holds; return every stop on the way."""
    stops = []
    for _ in range(limit):
        press(drv, "\ue004")  # Tab
        now = focused(drv)
        stops.append(now)
        if predicate(now):
            return stops
    raise AssertionError(f"never reached after {limit} Tabs; stops: {[(s['tag'], s['id'], s['text'][:30]) for s in stops[-10:]]}")


def assert_focus_visible(stops):
    hidden = [(s["tag"], s["id"], s["text"][:40], s["outline"], s["width"]) for s in stops
              if s["tag"] != "body" and (s["outline"] == "none" or s["width"] < 2)]
    assert not hidden, f"focus not visible on: {hidden}"


def test_skip_link_first_then_search_and_read_by_keyboard(driver, base_url):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.delete_all_cookies()
    driver.get(base_url + "/")
    press(driver, "\ue004")
    first = focused(driver)
    assert "skip-link" in first["cls"] and first["href"] == "#inhoud", first
    assert first["left"] >= 0, "the skip link must be on screen when it has the focus"
    assert_focus_visible([first])
    press(driver, "\ue007")  # Enter
    assert focused(driver)["id"] == "inhoud", "the skip link must move the focus to <main>"
    press(driver, "\ue004")
    box = focused(driver)
    assert box["id"] == "home-q", box  # the first thing in main: the search field
    assert_focus_visible([box])
    press(driver, "sleutelfiguren werven", "\ue007")
    WebDriverWait(driver, 10).until(lambda d: "/zoeken" in d.current_url)
    # reading: Tab to the first result and open it with Enter
    stops = tab_until(driver, lambda s: s["tag"] == "a" and s["inside_main"] and "/werkwijzen/" in s["href"] or "/lessen/" in s["href"])
    assert_focus_visible(stops)
    target = stops[-1]["href"]
    press(driver, "\ue007")
    WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith(target))
    assert driver.find_element("tag name", "h1").text


def test_every_stop_shows_focus_and_nothing_traps_it(driver, base_url):
    """From the top of a long page (an item) Tab reaches the footer's last
    link and leaves it: no trap; every stop on the way has a visible outline."""
    driver.delete_all_cookies()
    driver.get(base_url + "/werkwijzen/brede-netwerkbijeenkomst-jaarplan")
    stops = tab_until(driver, lambda s: s["in_footer"] and s["href"] == "/toegankelijkheid", limit=200)
    assert_focus_visible(stops)
    press(driver, "\ue004")
    assert focused(driver)["href"] != "/toegankelijkheid"


def test_log_in_by_keyboard(driver, base_url):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.delete_all_cookies()
    driver.get(base_url + "/inloggen")
    stops = tab_until(driver, lambda s: s["id"] == "email")
    press(driver, "bijdrager@delft.example.org", "\ue004")
    assert focused(driver)["id"] == "password"
    press(driver, PASSWORD, "\ue007")
    WebDriverWait(driver, 10).until(lambda d: "U bent ingelogd" in d.page_source)
    assert_focus_visible(stops)


def test_contribute_by_keyboard(driver, base_url):
    """A contributor fills in the form by keyboard, previews with Enter, and
    Tab gets out of the long form (the textarea does not trap it)."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser_login(driver, base_url, "bijdrager@delft.example.org")
    driver.get(base_url + "/nieuw/werkwijzen")
    driver.find_element("css selector", "main").click()
    tab_until(driver, lambda s: s["id"] == "f-title")
    press(driver, "Buurtvaders op het plein")
    stops = tab_until(driver, lambda s: s["in_footer"] and s["href"] == "/toegankelijkheid", limit=200)
    assert any(s["id"] == "f-body" for s in stops) and any(s["tag"] == "button" for s in stops)
    assert_focus_visible(stops)
    driver.find_element("id", "f-title").click()
    press(driver, "\ue007")  # Enter in a field submits with the first button: preview
    WebDriverWait(driver, 10).until(lambda d: "voorbeeld-kop" in d.page_source)
    assert driver.find_element("id", "f-title").get_attribute("value") == "Buurtvaders op het plein"


# -- reflow, print -----------------------------------------------------------------

def test_no_horizontal_scrolling_at_320_px(driver, base_url):
    """WCAG 1.4.10: at 320 CSS px wide, content reflows instead of scrolling sideways."""
    driver.delete_all_cookies()
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 320, "height": 640, "deviceScaleFactor": 1, "mobile": False})
    try:
        wide = {}
        for path in ["/", "/zoeken?q=sleutelfiguren", "/werkwijzen/brede-netwerkbijeenkomst-jaarplan",
                     "/lessen/zoek-de-juiste-mensen", LONG_ITEM, "/zoeken?q=netwerkbijeenkomstverslaglegging",
                     "/inloggen", "/toegankelijkheid"]:
            driver.get(base_url + path)
            inner, scroll = driver.execute_script(
                "return [window.innerWidth, document.documentElement.scrollWidth]")
            assert inner == 320
            if path == LONG_ITEM:  # scrolling table and code: still reachable by keyboard etc.
                assert not axe_violations(driver), axe_violations(driver)
            if scroll > 322:
                wide[path] = driver.execute_script(
                    "const clipped = e => { for (let a = e.parentElement; a; a = a.parentElement) {"
                    " if (getComputedStyle(a).overflowX !== 'visible') return true; } return false; };"
                    "return [...document.querySelectorAll('body *')]"
                    ".filter(e => e.getBoundingClientRect().right > 322 && !clipped(e))"
                    ".slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))")
        assert not wide, wide
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_print_hides_navigation_and_forms_and_shows_link_addresses(driver, base_url):
    browser_login(driver, base_url, "curator@delft.example.org")  # the item page then has forms too
    driver.get(base_url + "/werkwijzen/brede-netwerkbijeenkomst-jaarplan")
    script = ("const shown = s => [...document.querySelectorAll(s)].filter(e => getComputedStyle(e).display !== 'none').length;"
              "const a = document.querySelector('.item-body a[href]');"
              "return {header: shown('.site-header'), footer: shown('.site-footer'), forms: shown('main form'),"
              " links_after: getComputedStyle(a, '::after').content};")
    screen = driver.execute_script(script)
    assert screen["header"] and screen["forms"], screen
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        paper = driver.execute_script(script)
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    assert paper["header"] == paper["footer"] == paper["forms"] == 0, paper
    assert "attr(href)" in paper["links_after"] or "/" in paper["links_after"], paper
    assert screen["links_after"] in ("none", "normal", "")


def test_no_request_leaves_the_site(driver, base_url):
    """No CDN, no web fonts, no third-party anything: every resource a page
    loads comes from the portal itself."""
    driver.delete_all_cookies()
    outside = {}
    for path in ["/", "/zoeken?q=sleutelfiguren", "/werkwijzen/brede-netwerkbijeenkomst-jaarplan"]:
        driver.get(base_url + path)
        names = driver.execute_script("return performance.getEntriesByType('resource').map(r => r.name)")
        assert any("/static/vendor/" in n for n in names), names
        others = [n for n in names if not n.startswith(base_url)]
        refused = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
        if others or refused:
            outside[path] = others + refused
    assert not outside, outside


# -- without a browser: markup, vendored files, the statement --------------------------

STATIC = Path(__file__).resolve().parent.parent / "portal" / "static"


def test_vendored_css_is_pinned_licensed_and_self_contained():
    readme = (STATIC / "vendor" / "README.md").read_text(encoding="utf-8")
    for folder in ["utrecht-component-library-css/9.0.4", "voorbeeld-design-tokens/7.4.1"]:
        assert (STATIC / "vendor" / folder / "LICENSE.md").is_file()
        assert folder.split("/")[1] in readme
    assert (AXE.parent / "LICENSE").is_file()
    for css in [*(STATIC / "vendor").rglob("*.css"), STATIC / "portal.css", STATIC / "print.css"]:
        text = css.read_text(encoding="utf-8")
        assert not re.search(r"@import|@font-face|url\(\s*['\"]?(https?:)?//", text), css


def test_every_page_links_the_theme_before_the_portal_styles(anon):
    html = anon.get("/").get_data(as_text=True)
    links = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert [x.rsplit("/", 1)[-1] for x in links][:4] == ["theme.css", "index.css", "html.css", "portal.css"]
    assert re.search(r'<link rel="stylesheet" href="[^"]*print\.css" media="print">', html)
    assert '<html lang="nl">' in html and '<body class="utrecht-html voorbeeld-theme utrecht-document">' in html
    assert anon.get(links[0]).status_code == 200


def test_login_errors_are_tied_to_their_fields(anon):
    from .conftest import csrf_token

    token = csrf_token(anon)
    # a wrong password: the message is announced and describes both fields
    resp = anon.post("/inloggen", data={"email": "niemand@example.org", "password": "fout", "csrf_token": token})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert re.search(r'id="login-fout"[^>]*>|role="alert" id="login-fout"', html)
    for field in ("email", "password"):
        tag = re.search(rf'<input[^>]*id="{field}"[^>]*>', html).group(0)
        assert 'aria-invalid="true"' in tag and 'aria-describedby="login-fout"' in tag, tag
    # empty fields: each field points at its own message
    html = anon.post("/inloggen", data={"email": "", "password": "", "csrf_token": token}).get_data(as_text=True)
    for field in ("email", "password"):
        tag = re.search(rf'<input[^>]*id="{field}"[^>]*>', html).group(0)
        assert 'aria-invalid="true"' in tag and f'aria-describedby="{field}-fout"' in tag, tag
        assert re.search(rf'id="{field}-fout">\s*\S', html)
    # no error: no aria-invalid
    assert "aria-invalid" not in anon.get("/inloggen").get_data(as_text=True)


def test_edit_form_errors_are_tied_to_their_fields(library_app, client_for):
    from .conftest import csrf_token

    client = client_for(library_app, "bijdrager@delft.example.org")
    token = csrf_token(client, "/nieuw/werkwijzen")
    resp = client.post("/nieuw/werkwijzen", data={"csrf_token": token, "title": "", "summary": "Kort.",
                                                  "body": "Tekst", "date": "geen datum", "action": "save"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    for name in ("title", "date"):
        tag = re.search(rf'<input[^>]*id="f-{name}"[^>]*>', html, re.S).group(0)
        assert 'aria-invalid="true"' in tag, tag
        described = re.search(r'aria-describedby="([^"]+)"', tag).group(1).split()
        assert f"{name}-fout" in described, tag
        assert re.search(rf'<p class="field-error" id="{name}-fout">\s*\S', html)
    # the fields without an error are not marked
    summary = re.search(r'<textarea[^>]*id="f-summary"[^>]*>', html).group(0)
    assert "aria-invalid" not in summary and "summary-fout" not in summary


def test_accessibility_statement_is_public_dutch_and_linked_from_every_page(anon, member):
    resp = anon.get("/toegankelijkheid")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "<h1" in html and "Toegankelijkheidsverklaring" in html
    for heading in ("Status van deze website", "Wat we hebben getest", "Hoe we hebben getest",
                    "Bekende problemen", "Contact"):
        assert f"<h2>{heading}</h2>" in html
    assert "WCAG" in html and "voldoet gedeeltelijk" in html
    for client, path in ((anon, "/"), (anon, "/werkwijzen"), (member, "/concepten"), (anon, NOT_FOUND)):
        page = client.get(path).get_data(as_text=True)
        assert re.search(r'<footer.*href="/toegankelijkheid".*</footer>', page, re.S), path


def test_statement_names_the_configured_contact_address(library_app, anon):
    assert "mailto:" not in anon.get("/toegankelijkheid").get_data(as_text=True)
    library_app.config["ACCESSIBILITY_CONTACT"] = "toegankelijkheid@portaal.example.org"
    try:
        html = anon.get("/toegankelijkheid").get_data(as_text=True)
    finally:
        del library_app.config["ACCESSIBILITY_CONTACT"]
    assert '<a href="mailto:toegankelijkheid@portaal.example.org">' in html
