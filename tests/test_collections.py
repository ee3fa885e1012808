"""Curated collections ("dossiers", issue #4): curators build them across
municipalities, order them and feature them on the home page; every entry is
shown (and counted) only for viewers who may see its item."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, Collection, CollectionEntry, Item, Region, User
from portal.services import collections as svc
from portal.services.items import SYSTEM, save_item
from portal.services.library import create_user, set_region

from .conftest import PASSWORD, csrf_token, make_app

CURATOR = "curator@delft.example.org"  # region Haaglanden
CURATOR_U = "curator@utrecht.example.org"  # region Midden-Nederland
MEMBER = "lid@delft.example.org"
MEMBER_U = "lid@utrecht.example.org"
PROFILE_TITLE = "Henkje Dossierbewaarster"


@pytest.fixture
def world(tmp_path):
    app = make_app(tmp_path / "dossiers", content=False)
    ids = {}
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        set_region(SYSTEM, "Midden-Nederland", ["Utrecht"])
        create_user(SYSTEM, CURATOR_U, "curator", name="Curator Utrecht", password=PASSWORD, municipality="Utrecht")
        create_user(SYSTEM, MEMBER_U, "member", name="Lid Utrecht", password=PASSWORD, municipality="Utrecht")
        pub = {"status": "published"}
        ids["p1"] = save_item(SYSTEM, "practice", {"title": "Buurtvaders in Delft", "municipality": "Delft", **pub},
                              "Vaders lopen rondes.").slug
        ids["p2"] = save_item(SYSTEM, "practice", {"title": "Wijkrondes in Utrecht", "municipality": "Utrecht",
                                                   **pub}, "Rondes in de wijk.").slug
        ids["l1"] = save_item(SYSTEM, "lesson", {"title": "Vertrouwen kost tijd", "municipality": "Delft", **pub},
                              "Een les.").slug
        ids["pr"] = save_item(SYSTEM, "profile", {
            "title": PROFILE_TITLE, "municipality": "Delft", "visibility": "municipality",
            "consent": date.today().isoformat(), "contact_email": "henkje@voorbeeld.test", **pub},
            "Henkje kent iedereen in Tanthof.").slug
        region = db.session.scalar(select(Region).where(Region.name == "Haaglanden"))
        ids["region"] = str(region.id)
        ids["region_u"] = str(db.session.scalar(select(Region.id).where(Region.name == "Midden-Nederland")))
    return app, ids


def post(client, path, data, page=None):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page or "/dossiers")})


def make_dossier(app, ids, client_for) -> tuple[object, str]:
    """The Delft curator builds a dossier with four entries through the web."""
    cur = client_for(app, CURATOR)
    resp = post(cur, "/dossiers/nieuw", {"title": "Samen tegen polarisatie", "region": ids["region"],
                                         "introduction": "Een **selectie** uit de regio."}, "/dossiers/nieuw")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:400]
    slug = resp.headers["Location"].rstrip("/").split("/")[-2]
    for ref in (f"/werkwijzen/{ids['p1']}", f"http://localhost/sleutelfiguren/{ids['pr']}",
                f"lessen/{ids['l1']}", f"/werkwijzen/{ids['p2']}"):
        assert post(cur, f"/dossiers/{slug}/items", {"item": ref}).status_code == 302
    return cur, slug


def titles_in_order(html: str) -> list[str]:
    wanted = ["Buurtvaders in Delft", PROFILE_TITLE, "Vertrouwen kost tijd", "Wijkrondes in Utrecht"]
    found = [(html.find(t), t) for t in wanted if t in html]
    return [t for _, t in sorted(found)]


def entry_ids(app, slug) -> list[int]:
    with app.app_context():
        coll = db.session.scalar(select(Collection).where(Collection.slug == slug))
        return [e.id for e in coll.entries]


def test_curator_orders_a_dossier_with_buttons_and_a_position(world, client_for):
    app, ids = world
    cur, slug = make_dossier(app, ids, client_for)
    html = cur.get(f"/dossiers/{slug}").get_data(as_text=True)
    assert "<strong>selectie</strong>" in html  # the introduction through portal.markdown
    assert titles_in_order(html) == ["Buurtvaders in Delft", PROFILE_TITLE, "Vertrouwen kost tijd",
                                     "Wijkrondes in Utrecht"]
    first, profile, lesson, last = entry_ids(app, slug)
    # the last one up, then the first one to position 3
    assert post(cur, f"/dossiers/{slug}/items/{last}/verplaatsen", {"richting": "up"},
                f"/dossiers/{slug}/beheren").status_code == 302
    assert post(cur, f"/dossiers/{slug}/items/{first}/verplaatsen", {"positie": "3"},
                f"/dossiers/{slug}/beheren").status_code == 302
    html = cur.get(f"/dossiers/{slug}").get_data(as_text=True)
    assert titles_in_order(html) == [PROFILE_TITLE, "Wijkrondes in Utrecht", "Buurtvaders in Delft",
                                     "Vertrouwen kost tijd"]
    # "up" on the first stays first; a position beyond the end is the end
    post(cur, f"/dossiers/{slug}/items/{profile}/verplaatsen", {"richting": "up"}, f"/dossiers/{slug}/beheren")
    post(cur, f"/dossiers/{slug}/items/{last}/verplaatsen", {"positie": "99"}, f"/dossiers/{slug}/beheren")
    html = cur.get(f"/dossiers/{slug}").get_data(as_text=True)
    assert titles_in_order(html) == [PROFILE_TITLE, "Buurtvaders in Delft", "Vertrouwen kost tijd",
                                     "Wijkrondes in Utrecht"]
    bad = post(cur, f"/dossiers/{slug}/items/{lesson}/verplaatsen", {"positie": "boven"}, f"/dossiers/{slug}/beheren")
    assert bad.status_code == 400 and "Positie" in bad.get_data(as_text=True)
    # removing and adding twice
    assert post(cur, f"/dossiers/{slug}/items/{lesson}/verwijderen", {}).status_code == 302
    assert "Vertrouwen kost tijd" not in cur.get(f"/dossiers/{slug}").get_data(as_text=True)
    twice = post(cur, f"/dossiers/{slug}/items", {"item": f"/werkwijzen/{ids['p1']}"})
    assert twice.status_code == 400 and "staat al in het dossier" in twice.get_data(as_text=True)
    unknown = post(cur, f"/dossiers/{slug}/items", {"item": "/werkwijzen/bestaat-niet"})
    assert unknown.status_code == 400 and "/werkwijzen/bestaat-niet" in unknown.get_data(as_text=True)
    # editing title and introduction
    assert "Samen tegen polarisatie" in cur.get(f"/dossiers/{slug}/bewerken").get_data(as_text=True)
    assert post(cur, f"/dossiers/{slug}/bewerken", {"title": "Samen sterker", "region": ids["region"],
                                                   "introduction": "Nieuwe _inleiding_."},
                f"/dossiers/{slug}/bewerken").status_code == 302
    page = cur.get(f"/dossiers/{slug}").get_data(as_text=True)
    assert "Samen sterker" in page and "<em>inleiding</em>" in page
    with app.app_context():  # every write audited
        actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("collection.%"))))
    assert {"collection.create", "collection.add", "collection.move", "collection.remove", "collection.update"} <= actions


def test_hidden_entries_keep_their_place_when_others_move(world):
    app, ids = world
    with app.app_context():
        cur = db.session.scalar(select(User).where(User.email == CURATOR))
        coll = svc.create_collection(cur, {"title": "Volgorde", "region": ""})
        for ref in (f"werkwijzen/{ids['p1']}", f"sleutelfiguren/{ids['pr']}", f"werkwijzen/{ids['p2']}"):
            svc.add_entry(cur, coll, ref)
        other = db.session.scalar(select(User).where(User.email == CURATOR_U))  # cannot see the profile
        shown = svc.managed_entries(other, coll)
        assert [e.item.slug for e in shown] == [ids["p1"], ids["p2"]]
        svc.move_entry(other, coll, shown[1].id, direction="up")
        order = [e.item.slug for e in db.session.scalars(
            select(CollectionEntry).where(CollectionEntry.collection_id == coll.id).order_by(CollectionEntry.position))]
        assert order == [ids["p2"], ids["pr"], ids["p1"]]


def test_a_profile_entry_is_invisible_and_uncounted_for_anonymous_and_other_municipalities(world, client_for):
    app, ids = world
    cur, slug = make_dossier(app, ids, client_for)
    post(cur, f"/dossiers/{slug}/uitlichten", {"uitgelicht": "1"})
    anon = app.test_client()
    other = client_for(app, MEMBER_U)
    own = client_for(app, MEMBER)
    for client, expected in ((anon, 3), (other, 3), (own, 4)):
        page = client.get(f"/dossiers/{slug}").get_data(as_text=True)
        listing = client.get("/dossiers").get_data(as_text=True)
        home = client.get("/").get_data(as_text=True)
        assert f"In dit dossier ({expected})" in page
        assert f"{expected} items" in listing and f"{expected} items" in home
        assert (PROFILE_TITLE in page) == (expected == 4)
        assert (ids["pr"] in page) == (expected == 4)
        for html in (page, listing, home):
            assert "henkje@voorbeeld.test" not in html
    # a dossier of only a profile does not even show up for those who cannot see it
    with app.app_context():
        c = db.session.scalar(select(User).where(User.email == CURATOR))
        only = svc.create_collection(c, {"title": "Alleen een sleutelfiguur", "region": ids["region"]})
        svc.add_entry(c, only, f"sleutelfiguren/{ids['pr']}")
        svc.set_featured(c, only, True)
        only_slug = only.slug
    for client in (anon, other):
        assert "Alleen een sleutelfiguur" not in client.get("/dossiers").get_data(as_text=True)
        assert "Alleen een sleutelfiguur" not in client.get("/").get_data(as_text=True)
        assert PROFILE_TITLE not in client.get(f"/dossiers/{only_slug}").get_data(as_text=True)
    assert "Alleen een sleutelfiguur" in own.get("/").get_data(as_text=True)


def test_featuring_puts_a_dossier_on_the_home_page_and_off_again(world, client_for):
    app, ids = world
    cur, slug = make_dossier(app, ids, client_for)
    anon = app.test_client()
    assert "Samen tegen polarisatie" not in anon.get("/").get_data(as_text=True)
    assert post(cur, f"/dossiers/{slug}/uitlichten", {"uitgelicht": "1"}).status_code == 302
    home = anon.get("/").get_data(as_text=True)
    assert "Samen tegen polarisatie" in home and f'href="/dossiers/{slug}"' in home
    assert post(cur, f"/dossiers/{slug}/uitlichten", {"uitgelicht": "0"}).status_code == 302
    assert "Samen tegen polarisatie" not in anon.get("/").get_data(as_text=True)
    with app.app_context():
        actions = list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("collection.%feature"))))
    assert actions == ["collection.feature", "collection.unfeature"]


def _snapshot(app, slug):
    with app.app_context():
        coll = db.session.scalar(select(Collection).where(Collection.slug == slug))
        return (coll.title, coll.introduction, coll.region_id, coll.featured,
                [(e.item_id, e.position) for e in coll.entries])


def test_a_curator_of_another_region_cannot_change_the_dossier(world, client_for):
    app, ids = world
    _, slug = make_dossier(app, ids, client_for)
    before = _snapshot(app, slug)
    other = client_for(app, CURATOR_U)
    assert other.get(f"/dossiers/{slug}/beheren").status_code == 403
    assert other.get(f"/dossiers/{slug}/bewerken").status_code == 403
    first = entry_ids(app, slug)[0]
    token = csrf_token(other, "/dossiers")
    for path, data in ((f"/dossiers/{slug}/bewerken", {"title": "Overgenomen", "region": ids["region_u"]}),
                       (f"/dossiers/{slug}/items", {"item": f"/werkwijzen/{ids['p2']}"}),
                       (f"/dossiers/{slug}/items/{first}/verplaatsen", {"richting": "down"}),
                       (f"/dossiers/{slug}/items/{first}/verwijderen", {}),
                       (f"/dossiers/{slug}/uitlichten", {"uitgelicht": "1"})):
        assert other.post(path, data={**data, "csrf_token": token}).status_code == 403, path
    assert _snapshot(app, slug) == before
    # nor make one for that region; a member makes none at all
    resp = post(other, "/dossiers/nieuw", {"title": "Voor Haaglanden", "region": ids["region"]}, "/dossiers/nieuw")
    assert resp.status_code == 400 and "eigen regio" in resp.get_data(as_text=True)
    assert "Voor Haaglanden" in resp.get_data(as_text=True)  # what was typed stays
    member = client_for(app, MEMBER)
    assert member.get("/dossiers/nieuw").status_code == 403
    assert app.test_client().get(f"/dossiers/{slug}/beheren").status_code == 302  # to the login page
    with app.app_context():
        assert db.session.scalar(select(Collection).where(Collection.title == "Voor Haaglanden")) is None


def test_every_write_needs_the_csrf_token(world, client_for):
    app, ids = world
    cur, slug = make_dossier(app, ids, client_for)
    before = _snapshot(app, slug)
    first = entry_ids(app, slug)[0]
    for path, data in ((f"/dossiers/{slug}/bewerken", {"title": "Zonder token", "region": ids["region"]}),
                       (f"/dossiers/{slug}/items", {"item": f"/werkwijzen/{ids['p2']}"}),
                       (f"/dossiers/{slug}/items/{first}/verplaatsen", {"richting": "down"}),
                       (f"/dossiers/{slug}/items/{first}/verwijderen", {}),
                       (f"/dossiers/{slug}/uitlichten", {"uitgelicht": "1"}),
                       ("/dossiers/nieuw", {"title": "Zonder token"})):
        resp = cur.post(path, data=data)
        assert resp.status_code == 400 and "formulier is verlopen" in resp.get_data(as_text=True), path
    assert _snapshot(app, slug) == before
    with app.app_context():
        assert db.session.scalar(select(Collection).where(Collection.title == "Zonder token")) is None


def test_form_errors_are_dutch_name_the_field_and_keep_the_text(world, client_for):
    app, ids = world
    cur = client_for(app, CURATOR)
    resp = post(cur, "/dossiers/nieuw", {"title": "", "introduction": "Mijn lange inleiding", "region": "999999"},
                "/dossiers/nieuw")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "Vul een titel in." in html and "Kies een bestaande regio" in html and "Mijn lange inleiding" in html
    with app.app_context():
        assert db.session.scalar(select(Collection.id)) is None


def test_erasing_a_person_removes_their_dossier_entries(world, client_for):
    app, ids = world
    _, slug = make_dossier(app, ids, client_for)
    from portal.services.people import erase_person

    with app.app_context():
        admin = db.session.scalar(select(User).where(User.email == "beheer@example.org"))
        pid = db.session.scalar(select(Item.id).where(Item.slug == ids["pr"]))
        erase_person(admin, pid)
        coll = db.session.scalar(select(Collection).where(Collection.slug == slug))
        assert [e.item.slug for e in coll.entries] == [ids["p1"], ids["l1"], ids["p2"]]
    html = client_for(app, MEMBER).get(f"/dossiers/{slug}").get_data(as_text=True)
    assert PROFILE_TITLE not in html and re.search(r"In dit dossier \(3\)", html)
