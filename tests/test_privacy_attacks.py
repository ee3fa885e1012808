"""Regression tests for what an attacker tried (see the closing note of
issue #2): each would fail if the hole came back."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from portal import permissions, search
from portal.errors import ValidationFailed
from portal.extensions import db
from portal.models import Item, Region, User
from portal.services.items import SYSTEM, save_item

from .conftest import csrf_token


def user(email):
    return db.session.scalar(select(User).where(User.email == email))


def test_did_you_mean_never_offers_words_of_hidden_items(app):
    with app.app_context():
        save_item(SYSTEM, "profile", {"title": "Zwaantje Kwakkelstein", "municipality": "Delft",
                                      "visibility": "municipality", "consent": "2025-01-01",
                                      "expertise": ["bemiddelingsquokka"]}, "Woont in de Trompeterbuurt.")
        save_item(SYSTEM, "lesson", {"title": "Snorkelvis geheim", "visibility": "members"}, "pimpelmeesje")
        utrecht = user("bijdrager@utrecht.example.org")
        for viewer in (None, utrecht):
            for typo in ("Kwakkelsten", "bemiddelingsquoka", "Trompeterbuurd", "Snorkelvs", "pimpelmesje"):
                result = search.search(viewer, typo)
                assert not result.suggestion or result.suggestion.lower() == typo.lower(), (typo, result.suggestion)
                assert result.total == 0 or all(h.type != "profile" for h in result.hits)


def test_search_labels_agree_with_can_view(app):
    """Whatever search shows a user, can_view allows; and what a reader (not
    an editor) may view, search shows."""
    with app.app_context():
        save_item(SYSTEM, "practice", {"title": "Alleen Delft", "municipality": "Delft", "visibility": "municipality"}, "x")
        save_item(SYSTEM, "lesson", {"title": "Alleen leden", "visibility": "members"}, "x")
        users = [None] + list(db.session.scalars(select(User)))
        items = list(db.session.scalars(select(Item)))
        for viewer in users:
            labels = set(permissions.user_labels(viewer))
            for item in items:
                if item.status != "published":
                    continue
                in_search = bool(labels & set(permissions.item_labels(item)))
                if in_search:  # search never shows more than the page would
                    assert permissions.can_view(viewer, item), (viewer, item.slug)
                elif not permissions.can_edit(viewer, item):  # editors reach theirs via the drafts list
                    assert not permissions.can_view(viewer, item), (viewer, item.slug)


def test_municipality_visibility_needs_a_municipality(app):
    with app.app_context():
        with pytest.raises(ValidationFailed) as exc:
            save_item(SYSTEM, "profile", {"title": "Zonder gemeente", "visibility": "municipality",
                                          "consent": "2025-01-01"}, "")
        assert "visibility" in exc.value.errors


def test_pathological_markdown_neither_hangs_nor_blocks_the_index(app, client_for):
    contributor = client_for(app, "bijdrager@delft.example.org")
    start = time.monotonic()
    resp = contributor.post("/nieuw/lessen", data={"title": "Haakjes", "body": "[" * 30000, "action": "save",
                                                    "csrf_token": csrf_token(contributor, "/nieuw/lessen")})
    assert resp.status_code == 302 and time.monotonic() - start < 10
    resp = contributor.post("/voorbeeld", data={"body": "![" * 30000, "csrf_token": csrf_token(contributor, "/")})
    assert resp.status_code == 200
    assert time.monotonic() - start < 15
    with app.app_context():
        save_item(SYSTEM, "practice", {"title": "Daarna gewoon vindbaar"}, "tekst")
        assert search.search(None, "daarna gewoon vindbaar").hits[0].slug == "daarna-gewoon-vindbaar"


@pytest.mark.parametrize("query", [
    "endpoint=x", "type_path=x", "_scheme=javascript", "_anchor=x", "_method=POST", "_external=1", "code=x",
])
def test_query_arguments_cannot_steer_link_building(library_app, query):
    client = library_app.test_client()
    for path in ("/zoeken?q=netwerk&", "/werkwijzen?", "/gemeenten/GM0503?", "/fasen/opzetten?"):
        resp = client.get(path + query)
        assert resp.status_code == 200, path + query
        assert "http://localhost" not in resp.get_data(as_text=True)


def test_author_cannot_widen_the_audience_of_a_published_item(app, client_for):
    with app.app_context():
        item = save_item(SYSTEM, "practice", {"title": "Delfts geheim", "municipality": "Delft",
                                              "visibility": "municipality"}, "tekst")
        slug, version = item.slug, item.version
    contributor = client_for(app, "bijdrager@delft.example.org")
    path = f"/werkwijzen/{slug}/bewerken"
    resp = contributor.post(path, data={"title": "Delfts geheim", "municipality": "Delft", "visibility": "public",
                                        "region": "Nepregio", "body": "tekst", "version": str(version),
                                        "action": "save", "csrf_token": csrf_token(contributor, path)})
    assert resp.status_code == 302
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.slug == slug))
        assert item.visibility == "municipality" and item.region is None
        assert db.session.scalar(select(Region).where(Region.name == "Nepregio")) is None
    assert app.test_client().get(f"/werkwijzen/{slug}").status_code == 404


def test_taken_slugs_do_not_count_hidden_items(app):
    with app.app_context():
        save_item(SYSTEM, "practice", {"title": "Delft geheim", "status": "draft"}, "x")
        author = user("bijdrager@utrecht.example.org")
        mine = save_item(author, "practice", {"title": "Delft geheim"}, "x")
        assert mine.slug.startswith("delft-geheim-") and mine.slug != "delft-geheim-2"


def test_headers_refuse_framing_sniffing_and_caching_of_member_pages(library_app, member):
    resp = library_app.test_client().get("/")
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    for path in ("/sleutelfiguren", "/zoeken?type=profile", "/"):
        assert "no-store" in member.get(path).headers["Cache-Control"], path


def test_external_images_do_not_load(library_app):
    csp = library_app.test_client().get("/").headers["Content-Security-Policy"]
    assert "img-src 'self'" in csp


def test_repeated_failed_logins_from_one_address_get_429(app):
    client = app.test_client()
    per_minute = int(app.config["LOGIN_FAILURE_LIMIT"].split()[0])  # "30 per minute;300 per hour"
    for _ in range(per_minute):
        resp = client.post("/inloggen", data={"email": "lid@delft.example.org", "password": "fout",
                                               "csrf_token": csrf_token(client)})
        assert resp.status_code == 400
    resp = client.post("/inloggen", data={"email": "lid@delft.example.org", "password": "correct horse battery staple",
                                           "csrf_token": csrf_token(client)})
    assert resp.status_code == 429
    assert "te veel verzoeken" in resp.get_data(as_text=True).lower()
    # successful logins do not count against the address (another account:
    # lid@ is now also throttled per account, see tests/security/test_throttling.py)
    other, addr = app.test_client(), {"REMOTE_ADDR": "127.0.0.2"}  # another client address (WSGI environ only)
    for _ in range(12):
        assert other.post("/inloggen", data={"email": "bijdrager@delft.example.org", "password": "correct horse battery staple",
                                              "csrf_token": csrf_token(other)}, environ_base=addr).status_code == 302
        other.post("/uitloggen", data={"csrf_token": csrf_token(other, "/")}, environ_base=addr)


def test_did_you_mean_is_the_same_whatever_hidden_items_hold(empty_app):
    """A suggestion must not tell an anonymous visitor that some hidden item
    (a draft, a profile) contains a word: the tester saw "Draaf" get the
    suggestion "Draad" until a draft profile "Karin Draaf" was saved."""
    from portal import search
    from portal.services.items import SYSTEM, save_item, set_status

    with empty_app.app_context():
        item = save_item(SYSTEM, "practice", {"title": "Draad oppakken met buurtvaders", "visibility": "public"},
                         "Een draad door het jaar.")
        set_status(SYSTEM, item, "published")
        before = search.search(None, "Draaf").suggestion
        assert before == "Draad"
        save_item(SYSTEM, "profile", {"title": "Karin Draaf", "status": "draft", "consent": "2026-11-01"}, "Draaf.")
        save_item(SYSTEM, "practice", {"title": "Draaf in concept", "status": "draft"}, "Draaf draaf.")
        assert search.search(None, "Draaf").suggestion == before
