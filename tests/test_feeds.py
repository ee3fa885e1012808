"""Atom feeds and sitemap.xml: public, published practices and lessons only,
never a profile, a draft or a members-only item, whoever asks."""

from __future__ import annotations

from datetime import date
from xml.etree import ElementTree as ET

import frontmatter
import pytest
from sqlalchemy import select

from .conftest import CONTENT, make_app
from portal.extensions import db
from portal.models import Item, User
from portal.services.items import SYSTEM, save_item

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
FEEDS = ("/feeds/alles.atom", "/feeds/werkwijzen.atom", "/feeds/lessen.atom",
         "/feeds/themas/polarisatie.atom", "/feeds/themas/netwerk-opbouw.atom",
         "/feeds/fasen/opzetten.atom", "/feeds/gemeenten/GM0503.atom", "/feeds/gemeenten/gm0503.atom",
         "/feeds/zoeken.atom?q=sleutelfiguur", "/feeds/zoeken.atom?q=wijkagent&type=profile",
         "/feeds/zoeken.atom?q=Hoogenbosch", "/feeds/zoeken.atom?type=profile",
         "/feeds/zoeken.atom?q=Geheim", "/feeds/zoeken.atom?q=Plomp")


def _secrets() -> list[str]:
    """Names, slugs, e-mail addresses and phone numbers of the 7 starter profiles."""
    out = []
    for path in sorted((CONTENT / "profiles").glob("*.md")):
        meta = frontmatter.load(path).metadata
        out += [meta["title"], path.stem, meta["contact_email"], str(meta["contact_phone"])]
    assert len(out) == 28
    return out


HIDDEN = ["Geheim concept", "Alleen voor leden", "Alleen voor Delft", "Gerrit-Jan Plomp",
          "gj.plomp@example.org", "06-99999999", "Zwanette"]


@pytest.fixture(scope="module")
def feed_app(tmp_path_factory):
    """The starter library plus a draft, a members-only practice, a practice
    limited to Delft and a profile limited to Delft; and one new public
    practice (so the tests can see a feed change at all)."""
    app = make_app(tmp_path_factory.mktemp("feeds"))
    with app.app_context():
        author = db.session.scalar(select(User).where(User.email == "bijdrager@delft.example.org"))
        save_item(author, "practice", {"title": "Geheim concept", "municipality": "Delft",
                                       "themes": ["polarisatie"], "phase": ["opzetten"]},
                  "Zwanette belt terug over sleutelfiguur.")
        save_item(SYSTEM, "practice", {"title": "Alleen voor leden", "visibility": "members",
                                       "municipality": "Delft", "themes": ["polarisatie"]},
                  "Een sleutelfiguur vertelt.")
        save_item(SYSTEM, "lesson", {"title": "Alleen voor Delft", "visibility": "municipality",
                                     "municipality": "Delft", "themes": ["polarisatie"]},
                  "Een sleutelfiguur vertelt.")
        save_item(SYSTEM, "profile", {"title": "Gerrit-Jan Plomp", "municipality": "Delft",
                                      "visibility": "members", "consent": date.today().isoformat(),
                                      "contact_email": "gj.plomp@example.org", "contact_phone": "06-99999999",
                                      "role": "wijkagent", "themes": ["polarisatie"]}, "Sleutelfiguur in Delft.")
        save_item(SYSTEM, "practice", {"title": "Openbare nieuwkomer", "municipality": "Delft",
                                       "themes": ["polarisatie"], "phase": ["opzetten"]},
                  "Een openbare sleutelfiguur-aanpak.")
    return app


def _entries(resp) -> list[ET.Element]:
    assert resp.status_code == 200, resp.request.path
    assert resp.content_type.startswith("application/atom+xml")
    root = ET.fromstring(resp.data)
    assert root.tag == f"{ATOM}feed"
    assert root.find(f"{ATOM}id").text and root.find(f"{ATOM}updated").text
    assert root.find(f"{ATOM}link[@rel='self']") is not None
    return root.findall(f"{ATOM}entry")


@pytest.mark.parametrize("as_member", [False, True])
def test_feeds_and_sitemap_hold_no_profile_draft_or_members_only_item(feed_app, client_for, as_member):
    client = client_for(feed_app, "lid@delft.example.org" if as_member else None)
    texts = []
    for path in FEEDS:
        resp = client.get(path)
        for entry in _entries(resp):
            link = entry.find(f"{ATOM}link").get("href")
            assert "/werkwijzen/" in link or "/lessen/" in link, link
        texts.append(resp.get_data(as_text=True))
    sitemap = client.get("/sitemap.xml")
    assert sitemap.status_code == 200
    texts.append(sitemap.get_data(as_text=True))
    everything = "\n".join(texts).lower()
    for secret in _secrets() + HIDDEN:
        assert secret.lower() not in everything, secret
    assert "/sleutelfiguren" not in everything
    assert "openbare nieuwkomer" in everything  # the feeds do carry public items


def test_feed_entries_are_exactly_the_public_items(feed_app):
    client = feed_app.test_client()
    with feed_app.app_context():
        rows = db.session.scalars(select(Item).where(Item.status == "published", Item.visibility == "public",
                                                     Item.type.in_(("practice", "lesson")))).all()
        practices = {i.slug for i in rows if i.type == "practice"}
        polarisation = {i.slug for i in rows if "polarisatie" in (i.themes or [])}
        delft = {i.slug for i in rows if any(m.cbs_code == "GM0503" for m in i.municipalities)}
    assert len(rows) < 50  # a feed holds the newest 50; all of them here

    def slugs(path):
        return {e.find(f"{ATOM}link").get("href").rsplit("/", 1)[1] for e in _entries(client.get(path))}

    assert slugs("/feeds/werkwijzen.atom") == practices
    assert slugs("/feeds/alles.atom") == {i.slug for i in rows}
    assert slugs("/feeds/themas/polarisatie.atom") == polarisation
    assert slugs("/feeds/gemeenten/GM0503.atom") == delft
    assert "openbare-nieuwkomer" in slugs("/feeds/zoeken.atom?q=nieuwkomer")
    assert slugs("/feeds/zoeken.atom?q=nieuwkomer&type=lesson") == set()


def test_feed_entry_carries_title_summary_content_and_categories(feed_app):
    entries = _entries(feed_app.test_client().get("/feeds/zoeken.atom?q=nieuwkomer"))
    entry = next(e for e in entries if e.find(f"{ATOM}title").text == "Openbare nieuwkomer")
    assert entry.find(f"{ATOM}id").text.endswith("/werkwijzen/openbare-nieuwkomer")
    assert "sleutelfiguur-aanpak" in entry.find(f"{ATOM}content").text
    assert entry.find(f"{ATOM}updated").text.endswith("+00:00")
    terms = {c.get("term") for c in entry.findall(f"{ATOM}category")}
    assert {"practice", "polarisatie", "GM0503"} <= terms


def test_unknown_feeds_are_404(feed_app):
    client = feed_app.test_client()
    for path in ("/feeds/sleutelfiguren.atom", "/feeds/themas/bestaat-niet.atom",
                 "/feeds/gemeenten/GM9999.atom", "/feeds/fasen/later.atom"):
        assert client.get(path).status_code == 404, path


def test_sitemap_lists_listing_pages_and_public_items(feed_app):
    resp = feed_app.test_client().get("/sitemap.xml")
    assert resp.content_type.startswith("application/xml")
    root = ET.fromstring(resp.data)
    locs = [u.find(f"{SITEMAP}loc").text for u in root.findall(f"{SITEMAP}url")]
    assert len(locs) == len(set(locs))
    paths = {loc.replace("http://localhost", "") for loc in locs}
    assert {"/", "/werkwijzen", "/lessen", "/gemeenten", "/themas/polarisatie", "/gemeenten/GM0503",
            "/werkwijzen/openbare-nieuwkomer", "/werkwijzen/netwerk-sleutelfiguren-delft"} <= paths
    assert not {"/werkwijzen/geheim-concept", "/werkwijzen/alleen-voor-leden", "/lessen/alleen-voor-delft"} & paths
    with feed_app.app_context():
        public = db.session.scalars(select(Item).where(Item.status == "published", Item.visibility == "public",
                                                       Item.type != "profile")).all()
    assert sum(1 for p in paths if p.startswith(("/werkwijzen/", "/lessen/"))) == len(public)


def test_pages_point_to_the_feed(feed_app):
    html = feed_app.test_client().get("/").get_data(as_text=True)
    assert 'type="application/atom+xml"' in html and "/feeds/alles.atom" in html


def test_an_item_withdrawn_leaves_the_feed(tmp_path):
    from portal.services.items import set_status

    app = make_app(tmp_path / "withdraw")
    client = app.test_client()
    assert "netwerk-sleutelfiguren-delft" in client.get("/feeds/werkwijzen.atom").get_data(as_text=True)
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.slug == "netwerk-sleutelfiguren-delft"))
        set_status(SYSTEM, item, "draft")
    assert "netwerk-sleutelfiguren-delft" not in client.get("/feeds/werkwijzen.atom").get_data(as_text=True)
    assert "netwerk-sleutelfiguren-delft" not in client.get("/sitemap.xml").get_data(as_text=True)


CONTROL_CHARACTERS = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\ufffe"]


def test_control_characters_never_reach_the_library_or_break_a_feed(tmp_path):
    """Text pasted from a word processor carries vertical tabs and form feeds;
    XML cannot hold them (nor NUL and the other C0 controls). They are
    cleaned on the way in (forms, API, import all pass validate_item), and a
    row stored before that, or a query echoed in a feed's title, cannot
    break a feed either."""
    from portal.services.items import set_status

    app = make_app(tmp_path)
    dirty = "Regel uit Word" + "".join(CONTROL_CHARACTERS) + "met tab\tregel\r\nnieuw"
    with app.app_context():
        item = save_item(SYSTEM, "lesson", {"title": "Geplakte " + dirty, "summary": dirty,
                                            "visibility": "public", "tags": [dirty]}, dirty)
        set_status(SYSTEM, item, "published")
        stored = [item.title, item.summary, item.body, *item.tags]
        assert not any(c in text for text in stored for c in CONTROL_CHARACTERS + ["\r"]), stored
        assert item.summary == "Regel uit Word  met tab\tregel\nnieuw"
        # an older row that still holds them, written past the services
        other = db.session.scalars(select(Item).where(Item.type == "practice", Item.status == "published",
                                                      Item.visibility == "public")).first()
        other.summary = "Oud\x0bgeplakt\x1b"  # (PostgreSQL itself refuses NUL)
        db.session.commit()
    client = app.test_client()
    for path in ("/feeds/alles.atom", "/feeds/lessen.atom", "/feeds/werkwijzen.atom",
                 "/feeds/zoeken.atom?q=%00", "/feeds/zoeken.atom?q=a%01b%0B", "/feeds/zoeken.atom?q=geplakte"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        ET.fromstring(resp.data)  # well-formed XML
    assert "Geplakte Regel uit Word" in client.get("/feeds/zoeken.atom?q=geplakte").get_data(as_text=True)
