"""Following (issue #9): members follow themes, phases, municipalities,
regions, collections (and questions) through the web, without JavaScript;
"Wat ik volg" lists everything with unfollow buttons; a new item in what a
member follows becomes one in-app notification, only for those who may see it."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Follow, Notification, OutboxMessage, Region, User
from portal.network import questions as question_service
from portal.services import collections as collection_service
from portal.services import items as item_service
from portal.services.items import SYSTEM, save_item
from portal.services.library import create_user, set_region

from .conftest import PASSWORD, csrf_token, make_app

MEMBER = "lid@delft.example.org"  # region Haaglanden
MEMBER_U = "lid@utrecht.example.org"  # region Midden-Nederland
CURATOR = "curator@delft.example.org"


@pytest.fixture
def world(tmp_path):
    app = make_app(tmp_path / "follows", content=False)
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        set_region(SYSTEM, "Midden-Nederland", ["Utrecht"])
        create_user(SYSTEM, MEMBER_U, "member", name="Lid Utrecht", password=PASSWORD, municipality="Utrecht")
        curator = db.session.scalar(select(User).where(User.email == CURATOR))
        coll = collection_service.create_collection(curator, {"title": "Jongeren en online", "region": ""})
        ids = {"region": str(db.session.scalar(select(Region.id).where(Region.name == "Haaglanden"))),
               "collection": str(coll.id), "collection_slug": coll.slug}
    return app, ids


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def _post(client, path, data, page="/volgen"):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page)})


def _follows(app, email) -> set[tuple[str, str]]:
    with app.app_context():
        return {(f.kind, f.key) for f in db.session.scalars(select(Follow).where(Follow.user_id == _user(email).id))}


def _notes(app, email) -> list[Notification]:
    with app.app_context():
        return list(db.session.scalars(select(Notification).where(
            Notification.user_id == _user(email).id, Notification.kind == "follow.new")).all())


def test_follow_each_kind_from_its_page_and_unfollow_on_the_overview(world, client_for):
    app, ids = world
    member = client_for(app, MEMBER)
    pages = {"theme": ("/themas/jongeren", "jongeren"), "phase": ("/fasen/opzetten", "opzetten"),
             "municipality": ("/gemeenten/GM0503", "GM0503"),
             "collection": (f"/dossiers/{ids['collection_slug']}", ids["collection"])}
    for kind, (page, key) in pages.items():
        html = member.get(page).get_data(as_text=True)
        # the page shows a plain form (no JavaScript) naming what it follows
        assert f'name="kind" value="{kind}"' in html and f'name="key" value="{key}"' in html, kind
        resp = _post(member, "/volgen", {"kind": kind, "key": key, "next": page}, page)
        assert resp.status_code == 302 and resp.headers["Location"].endswith(page), kind
        assert "Niet meer volgen" in member.get(page).get_data(as_text=True), kind
    # regions have no page of their own: followed from "Wat ik volg"
    assert _post(member, "/volgen", {"kind": "region", "key": ids["region"]}).status_code == 302
    # questions are followed where they are (the asker follows from the start)
    with app.app_context():
        q = question_service.ask_question(_user(MEMBER), {"title": "Hoe vinden we sleutelfiguren in de moskee?",
                                                          "body": "Wie heeft ervaring?", "themes": ["religie"]})
        qid = q.id
    assert _follows(app, MEMBER) == {("theme", "jongeren"), ("phase", "opzetten"), ("municipality", "GM0503"),
                                     ("collection", ids["collection"]), ("region", ids["region"])}
    overview = member.get("/volgen").get_data(as_text=True)
    for name in ("Jongeren", "Opzetten", "Delft", "Haaglanden", "Jongeren en online",
                 "Hoe vinden we sleutelfiguren in de moskee?"):
        assert f"Niet meer volgen: {name}" in overview, name
    assert 'value="weekly" checked' in overview  # the default frequency
    # unfollow a theme and the question from the overview
    assert _post(member, "/volgen/stoppen", {"kind": "theme", "key": "jongeren"}).status_code == 302
    assert _post(member, "/volgen/stoppen", {"kind": "question", "key": str(qid)}).status_code == 302
    assert ("theme", "jongeren") not in _follows(app, MEMBER)
    overview = member.get("/volgen").get_data(as_text=True)
    assert "Niet meer volgen: Jongeren<" not in overview and "moskee" not in overview
    # following twice is one follow
    _post(member, "/volgen", {"kind": "phase", "key": "opzetten"})
    assert len([f for f in _follows(app, MEMBER) if f[0] == "phase"]) == 1


def test_follow_refuses_unknown_targets_anonymous_and_get(world, client_for):
    app, _ids = world
    member = client_for(app, MEMBER)
    resp = _post(member, "/volgen", {"kind": "theme", "key": "bestaat-niet"})
    assert resp.status_code == 302
    assert "bestaat niet" in member.get("/volgen").get_data(as_text=True)
    _post(member, "/volgen", {"kind": "wachtwoord", "key": "x"})
    assert "Dit kunt u niet volgen" in member.get("/volgen").get_data(as_text=True)
    assert _follows(app, MEMBER) == set()
    # no CSRF token: refused, nothing written
    assert member.post("/volgen", data={"kind": "theme", "key": "jongeren"}).status_code == 400
    assert _follows(app, MEMBER) == set()
    anon = client_for(app)
    assert anon.get("/volgen").status_code == 302  # deny by default: to the login page
    assert anon.post("/volgen", data={"kind": "theme", "key": "jongeren"}).status_code in (302, 400)
    assert "Volgen:" not in anon.get("/themas/jongeren").get_data(as_text=True)


def test_frequency_choice_and_bad_value(world, client_for):
    app, _ids = world
    member = client_for(app, MEMBER)
    assert _post(member, "/volgen/samenvatting", {"frequency": "daily"}).status_code == 302
    assert 'value="daily" checked' in member.get("/volgen").get_data(as_text=True)
    resp = _post(member, "/volgen/samenvatting", {"frequency": "elk-uur"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "Kies dagelijks, wekelijks, maandelijks of nooit." in html
    assert 'aria-describedby="frequency-fout"' in html
    assert 'value="daily" checked' in member.get("/volgen").get_data(as_text=True)  # unchanged


def _publish(title, **extra):
    data = {"title": title, "status": "published", "summary": "Kort.", **extra}
    return save_item(SYSTEM, extra.pop("type", "practice"), data, "Tekst.")


def test_new_item_notifies_followers_once_and_only_who_may_see_it(world, client_for):
    app, ids = world
    member = client_for(app, MEMBER)
    member_u = client_for(app, MEMBER_U)
    for kind, key in (("theme", "jongeren"), ("municipality", "GM0503"), ("region", ids["region"]),
                      ("collection", ids["collection"])):
        _post(member, "/volgen", {"kind": kind, "key": key})
    _post(member_u, "/volgen", {"kind": "theme", "key": "jongeren"})
    with app.app_context():
        # matches three of the Delft member's follows: one notification
        item = _publish("Jongerenwerk in Tanthof", municipality="Delft", themes=["jongeren"])
        # region-only: the Utrecht member follows its theme but may not see it
        _publish("Regionaal overleg jongeren", municipality="Delft", themes=["jongeren"], visibility="region")
        outbox_before = db.session.scalar(select(func.count(OutboxMessage.id)))
        curator = _user(CURATOR)
        coll = collection_service.get_collection(ids["collection_slug"])
        collection_service.add_entry(curator, coll, f"/werkwijzen/{item.slug}")  # already told: no second
        assert db.session.scalar(select(func.count(OutboxMessage.id))) == outbox_before  # in-app only
    notes = _notes(app, MEMBER)
    assert sorted(n.message for n in notes) == [
        "Nieuwe werkwijze: Jongerenwerk in Tanthof (in wat u volgt)",
        "Nieuwe werkwijze: Regionaal overleg jongeren (in wat u volgt)"]
    assert [n.message for n in _notes(app, MEMBER_U)] == ["Nieuwe werkwijze: Jongerenwerk in Tanthof (in wat u volgt)"]
    # the notification centre shows it; opening it marks it read and leads to the item
    html = member.get("/meldingen").get_data(as_text=True)
    assert "Jongerenwerk in Tanthof" in html
    note = next(n for n in notes if "Tanthof" in n.message)
    resp = member.post(f"/meldingen/{note.id}/openen", data={"csrf_token": csrf_token(member, "/meldingen")})
    assert resp.status_code == 302 and "/werkwijzen/jongerenwerk-in-tanthof" in resp.headers["Location"]
    assert next(n for n in _notes(app, MEMBER) if n.id == note.id).read_at is not None


def test_drafts_and_republishing_tell_nobody_and_profiles_stay_nameless(world, client_for):
    app, _ids = world
    member = client_for(app, MEMBER)
    _post(member, "/volgen", {"kind": "theme", "key": "jongeren"})
    with app.app_context():
        draft = save_item(SYSTEM, "practice", {"title": "Nog niet af", "status": "draft", "themes": ["jongeren"],
                                               "municipality": "Delft"}, "Tekst.")
        assert _notes(app, MEMBER) == []
        curator = _user(CURATOR)
        item_service.set_status(curator, draft, "published")
        assert len(_notes(app, MEMBER)) == 1
        item_service.set_status(curator, draft, "draft")
        item_service.set_status(curator, draft, "published")  # published before: nothing new
        assert len(_notes(app, MEMBER)) == 1
        save_item(SYSTEM, "profile", {"title": "Fatima Sleutelfiguur", "status": "published", "themes": ["jongeren"],
                                      "municipality": "Delft", "consent": date.today().isoformat(),
                                      "visibility": "members"}, "Kent de buurt.")
    messages = [n.message for n in _notes(app, MEMBER)]
    assert len(messages) == 2 and "Nieuw profiel van een sleutelfiguur (in wat u volgt)" in messages
    assert not any("Fatima" in m for m in messages)


def test_publishing_through_the_web_does_not_notify_the_publisher(world, client_for):
    app, _ids = world
    curator = client_for(app, CURATOR)
    member = client_for(app, MEMBER)
    for client in (curator, member):
        _post(client, "/volgen", {"kind": "phase", "key": "onderhouden"})
    page = "/nieuw/werkwijzen"
    resp = curator.post(page, data={"csrf_token": csrf_token(curator, page), "title": "Onderhoud van het netwerk",
                                    "summary": "Kort.", "phase": "onderhouden", "municipality": "Delft",
                                    "body": "## Aanpak\n\nTekst."})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    slug = re.search(r"/werkwijzen/([^/]+)", resp.headers["Location"]).group(1)
    publish = f"/werkwijzen/{slug}/publiceren"
    resp = curator.post(publish, data={"csrf_token": csrf_token(curator, f"/werkwijzen/{slug}"), "status": "published"})
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.kind == "follow.new")) == 1
    assert len(_notes(app, MEMBER)) == 1 and _notes(app, CURATOR) == []


@pytest.mark.browser
def test_browser_follow_without_javascript_and_pages_pass_axe(world, tmp_path):
    """In headless Chromium: follow a theme with the page's button (a plain
    form post; these pages load no script of ours), see it on "Wat ik volg",
    unfollow it there; axe (WCAG 2.1 AA) finds nothing on the theme page, the
    overview and the unsubscribe page."""
    import shutil

    from selenium.webdriver.common.by import By

    from portal.services import follows as follow_service

    from .conftest import serving
    from .test_accessibility import CHROMEDRIVER, CHROMIUM, axe_violations, browser_login, see

    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver")
    from .test_browser import start_chromium

    app, _ids = world
    with app.app_context():
        token = follow_service.unsubscribe_token(_user(MEMBER), app.config["SECRET_KEY"])
    profile = tmp_path / "chromium"
    drv = start_chromium(str(profile))
    drv.set_script_timeout(30)
    try:
        with serving(app) as base:
            found = {}
            drv.get(f"{base}/volgen/afmelden/{token}")
            assert "Ja, afmelden" in drv.page_source
            found["afmelden"] = axe_violations(drv)
            browser_login(drv, base, MEMBER)
            drv.get(f"{base}/themas/jongeren")
            found["thema"] = axe_violations(drv)
            drv.find_element(By.CSS_SELECTOR, "form.follow-form button[type=submit]").click()
            # a click returns before its navigation ends: wait for the new page
            see(drv, "U volgt nu Jongeren")
            assert "/themas/jongeren" in drv.current_url
            drv.find_element(By.LINK_TEXT, "Volgen en e-mail").click()
            see(drv, "Niet meer volgen: Jongeren")
            found["volgen"] = axe_violations(drv)
            drv.find_element(By.XPATH, "//button[contains(., 'Niet meer volgen: Jongeren')]").click()
            see(drv, "U volgt dit niet meer.")
            assert _follows(app, MEMBER) == set()
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)
    assert not any(found.values()), found
