"""Every place that shows a profile's name writes a privacy audit row through
one helper (``people.record_profiles_shown``), and the privacy officer's
overview counts it (issue #5)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, Item, User
from portal.services import people
from portal.services.api_tokens import create_token
from portal.services.collections import add_entry, create_collection
from portal.services.items import SYSTEM, save_item

from .conftest import make_app
from .test_people import A, C, PRIVACY, TODAY, build_world, post, slug_of

TEMPLATES = Path(__file__).resolve().parent.parent / "portal" / "templates"


@pytest.fixture(scope="module")
def places_world(tmp_path_factory):
    """The people world, plus a profile and a practice on sub-step 2.2 (the
    guide lists both) and a dossier holding profile A."""
    app = make_app(tmp_path_factory.mktemp("places"), content=False)
    ids = build_world(app)
    with app.app_context():
        ids["G"] = save_item(SYSTEM, "profile", {
            "title": "Gijsbertha Stappenmaker", "municipality": "Delft", "visibility": "members",
            "steps": ["2.2"], "consent": TODAY.isoformat()}, "Werft sleutelfiguren.").id
        save_item(SYSTEM, "practice", {"title": "Divers werven", "municipality": "Delft", "steps": ["2.2"],
                                       "contact": slug_of(A)}, "Werven in de wijk.")
        curator = _user("curator@delft.example.org")
        coll = create_collection(curator, {"title": "Dossier met mensen", "introduction": "", "region": ""})
        add_entry(curator, coll, f"/sleutelfiguren/{slug_of(A)}")
        ids["collection"] = coll.slug
    return app, ids


def _user(email):
    return db.session.scalar(select(User).where(User.email == email))


def _rows(app, where):
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("privacy.%"))).all()
        return [r for r in rows if (r.detail or {}).get("where") == where]


def _ids(rows):
    return {i for r in rows for i in r.detail["profile_ids"]}


def _count(app, where):
    return len(_rows(app, where))


def _listed_for(app, profile_id):
    with app.app_context():
        stats = {s.profile_id: s for s in people.privacy_overview(_user(PRIVACY))}
        return stats[profile_id]


def test_the_helper_refuses_an_unnamed_place_and_keeps_no_names(places_world):
    app, ids = places_world
    with app.app_context():
        with pytest.raises(ValueError):
            people.record_profiles_shown(_user("lid@delft.example.org"), [ids["A"]], "ergens")
        people.record_profiles_shown(_user("lid@delft.example.org"), [], "guide")  # nothing shown: no row
    assert _count(app, "ergens") == 0


def test_guide_people_lists_are_logged(places_world, client_for):
    app, ids = places_world
    before = _count(app, "guide")
    listed_before = _listed_for(app, ids["G"]).listings
    anon = client_for(app).get("/waar-staat-u")
    assert anon.status_code == 200 and "Gijsbertha" not in anon.get_data(as_text=True)
    assert _count(app, "guide") == before  # anonymous visitors see no people
    html = client_for(app, "lid@delft.example.org").get("/waar-staat-u").get_data(as_text=True)
    assert "Gijsbertha Stappenmaker" in html and A["title"] in html
    rows = _rows(app, "guide")
    assert len(rows) == before + 1
    assert {ids["G"], ids["A"]} <= set(rows[-1].detail["profile_ids"])
    assert rows[-1].action == people.LISTED and "Gijsbertha" not in str(rows[-1].detail)
    assert _listed_for(app, ids["G"]).listings == listed_before + 1


def test_editor_contact_choices_are_logged(places_world, client_for):
    app, ids = places_world
    before = _count(app, "contact_choices")
    html = client_for(app, "bijdrager@delft.example.org").get("/nieuw/werkwijzen").get_data(as_text=True)
    assert A["title"] in html
    rows = _rows(app, "contact_choices")
    assert len(rows) == before + 1 and ids["A"] in rows[-1].detail["profile_ids"]
    assert _listed_for(app, ids["A"]).listings >= 1


def test_item_page_contact_link_is_logged(places_world, client_for):
    app, ids = places_world
    before = _count(app, "contact_link")
    html = client_for(app, "lid@delft.example.org").get("/werkwijzen/moederavonden-in-tanthof").get_data(as_text=True)
    assert A["title"] in html
    assert _ids(_rows(app, "contact_link")[before:]) == {ids["A"]}
    # an anonymous visitor sees no contact link, and nothing is logged for them
    html = client_for(app).get("/werkwijzen/moederavonden-in-tanthof").get_data(as_text=True)
    assert A["title"] not in html and _count(app, "contact_link") == before + 1


def test_collection_pages_are_logged(places_world, client_for):
    app, ids = places_world
    before = _count(app, "collection")
    html = client_for(app, "lid@delft.example.org").get(f"/dossiers/{ids['collection']}").get_data(as_text=True)
    assert A["title"] in html
    assert _count(app, "collection") == before + 1
    manage = client_for(app, "curator@delft.example.org").get(f"/dossiers/{ids['collection']}/beheren")
    assert A["title"] in manage.get_data(as_text=True)
    assert _count(app, "collection") == before + 2 and ids["A"] in _ids(_rows(app, "collection"))
    anon = client_for(app).get(f"/dossiers/{ids['collection']}").get_data(as_text=True)
    assert A["title"] not in anon and _count(app, "collection") == before + 2


def test_search_finder_and_introduction_are_logged(places_world, client_for):
    app, ids = places_world
    member = client_for(app, "lid@delft.example.org")
    before = {w: _count(app, w) for w in ("search", "finder", "introduction")}
    assert A["title"] in member.get("/zoeken", query_string={"q": "moederavonden"}).get_data(as_text=True)
    assert A["title"] in member.get("/wie-kan-helpen", query_string={"q": "moederavonden"}).get_data(as_text=True)
    assert ids["A"] in _ids(_rows(app, "search")[before["search"]:])
    assert ids["A"] in _ids(_rows(app, "finder")[before["finder"]:])
    other = client_for(app, "lid@utrecht.example.org")  # C's contact route is via the curator
    page = other.get(f"/sleutelfiguren/{slug_of(C)}/introductie")
    assert page.status_code == 200 and C["title"] in page.get_data(as_text=True)
    assert _ids(_rows(app, "introduction")[before["introduction"]:]) == {ids["C"]}


def test_api_places_are_logged(places_world):
    app, ids = places_world
    with app.app_context():
        token = create_token(SYSTEM, _user("lid@delft.example.org"), "test")[1]
    client, headers = app.test_client(), {"Authorization": f"Bearer {token}"}
    before = {w: _count(app, w) for w in ("api_contact", "api_list", "api_search")}
    resp = client.get("/api/v1/items/practice/moederavonden-in-tanthof", headers=headers)
    assert resp.status_code == 200 and resp.get_json()["front_matter"]["contact"] == slug_of(A)
    assert _ids(_rows(app, "api_contact")[before["api_contact"]:]) == {ids["A"]}
    assert client.get("/api/v1/items", query_string={"type": "profile"}, headers=headers).status_code == 200
    assert ids["A"] in _ids(_rows(app, "api_list")[before["api_list"]:])
    assert client.get("/api/v1/search", query_string={"q": "moederavonden"}, headers=headers).status_code == 200
    assert ids["A"] in _ids(_rows(app, "api_search")[before["api_search"]:])


def test_privacy_officer_sees_the_listings(places_world, client_for):
    app, ids = places_world
    client_for(app, "lid@delft.example.org").get("/waar-staat-u")
    officer = client_for(app, PRIVACY)
    html = officer.get("/privacy").get_data(as_text=True)
    assert "Genoemd op andere pagina" in html
    row = re.search(r"Gijsbertha Stappenmaker</a></td>(.*?)</tr>", html, re.S).group(1)
    cells = re.findall(r"<td>(\d+)</td>", row)
    assert int(cells[2]) >= 1, cells  # views, searches, listings, reveals, exports
    detail = officer.get(f"/privacy/profielen/{ids['G']}").get_data(as_text=True)
    assert "genoemd op een andere pagina" in detail
    assert client_for(app, "beheer@example.org").get("/privacy").status_code == 403


def test_every_template_linking_items_is_logged_or_exempt():
    """A template that renders item links (``item_url``) may show a profile's
    name: it must be a logged place or be listed in ``people.NOT_LOGGED``
    with the reason (or only ever get practices and lessons)."""
    logged = {  # template -> the SHOWN_IN place(s) its view logs
        "_macros.html": "collection (item_card: dossiers; home lists exclude profiles)",
        "collections/manage.html": "collection", "guide/index.html": "guide", "people/finder.html": "finder",
        "people/introduction.html": "introduction", "web/item.html": "contact_link (and the profile view)",
        "web/search.html": "search, finder (suggested experts)",
        "network/meeting.html": "none needed: related items are practices and lessons only",
        "network/question.html": "none needed: lessons only",
    }
    found = {str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html") if "item_url(" in p.read_text()}
    unclassified = sorted(found - set(logged) - set(people.NOT_LOGGED))
    assert not unclassified, f"log these pages (people.record_profiles_shown) or explain in NOT_LOGGED: {unclassified}"
    for place in ("guide", "contact_choices", "collection", "contact_link", "search", "finder", "introduction"):
        assert place in people.SHOWN_IN


def test_a_refused_save_is_not_committed_by_the_audit_row(places_world, client_for):
    """The editor re-rendered after a refused save logs its contact choices in
    a fresh transaction: nothing of the refused save is written with it."""
    app, _ = places_world
    author = client_for(app, "bijdrager@delft.example.org")
    with app.app_context():
        count = db.session.query(Item).count()
    resp = post(author, "/nieuw/werkwijzen", {"title": "", "municipality": "Atlantis", "action": "save",
                                              "body": "x"}, "/nieuw/werkwijzen")
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.query(Item).count() == count
