"""The web pages, through the Flask test client, on a real SQLite file and a
real Whoosh index."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Item

from .conftest import csrf_token

PROFILE_NAMES = ["Ruud Hoogenbosch", "Hodan Duale", "Emre Y"]


def text(resp) -> str:
    return resp.get_data(as_text=True)


def test_home_shows_phases_and_recent(anon):
    resp = anon.get("/")
    assert resp.status_code == 200
    html = text(resp)
    assert '<html lang="nl">' in html
    for phase in ("Opzetten", "Werving en selectie", "Onderhouden"):
        assert phase in html
    assert "/fasen/werving-selectie" in html
    assert "Recent toegevoegd" in html


@pytest.mark.parametrize("path", [
    "/", "/werkwijzen", "/lessen", "/gemeenten", "/gemeenten/GM0503", "/fasen/opzetten",
    "/themas/polarisatie", "/zoeken?q=sleutelfiguren", "/zoeken?q=jongerenwerker&type=profile",
    "/zoeken?q=hodan", "/zoeken?q=Ruud+Hoogenbosch", "/zoeken?q=wijkagent&profile_language=nl",
    "/zoeken?key_figure_type=wijkagent", "/over", "/inloggen",
])
def test_no_profile_reaches_an_anonymous_visitor(anon, path):
    resp = anon.get(path)
    assert resp.status_code == 200
    html = text(resp)
    typed = parse_qs(urlsplit(path).query).get("q", [""])[0]
    if typed:  # the page echoes what the visitor typed; that is not a leak
        html = html.replace(typed, "")
    assert "example.org" not in html
    for name in PROFILE_NAMES:
        assert name not in html, (path, name)
    assert "/sleutelfiguren/" not in html
    assert ">Sleutelfiguur<" not in html  # no profile badge, no facet entry


def test_profile_pages_refuse_anonymous_visitors(anon, library_app):
    with library_app.app_context():
        slugs = db.session.scalars(select(Item.slug).where(Item.type == "profile")).all()
    assert slugs
    for slug in slugs:
        resp = anon.get(f"/sleutelfiguren/{slug}")
        assert resp.status_code == 404
        assert "example.org" not in text(resp)
    assert anon.get("/sleutelfiguren").status_code == 302


def test_member_sees_profiles_with_contact_details(member):
    resp = member.get("/sleutelfiguren/hodan-duale")
    assert resp.status_code == 200
    assert "hodan" in text(resp).lower() and "@example.org" in text(resp)
    assert "no-store" in resp.headers["Cache-Control"]
    listing = text(member.get("/sleutelfiguren"))
    assert "/sleutelfiguren/hodan-duale" in listing


def test_practice_links_its_contact_only_for_members(anon, member, library_app):
    with library_app.app_context():
        practice = db.session.scalar(select(Item).where(Item.type == "practice", Item.contact.is_not(None)))
        contact = practice.contact
    path = f"/werkwijzen/{practice.slug}"
    assert f"/sleutelfiguren/{contact}" not in text(anon.get(path))
    assert f"/sleutelfiguren/{contact}" in text(member.get(path))


def test_item_page_renders_markdown_and_metadata(anon):
    resp = anon.get("/werkwijzen/netwerk-sleutelfiguren-delft")
    html = text(resp)
    assert resp.status_code == 200
    assert "<h2" in html and "Delft" in html
    assert "/gemeenten/GM0503" in html


def test_relative_links_between_content_files_become_item_links(anon, library_app):
    with library_app.app_context():
        item = next(i for i in db.session.scalars(select(Item).where(Item.type != "profile"))
                    if re.search(r"\]\((\.\./)?(lessons|practices)/[a-z0-9-]+\.md", i.body or ""))
    html = text(anon.get(f"/{ {'practice': 'werkwijzen', 'lesson': 'lessen'}[item.type] }/{item.slug}"))
    assert ".md\"" not in html
    assert re.search(r'href="/(lessen|werkwijzen)/[a-z0-9-]+"', html)


def test_browse_headings_are_proper_dutch(anon, member):
    assert "<h1>Werkwijzen</h1>" in text(anon.get("/werkwijzen"))
    assert "<h1>Geleerde lessen</h1>" in text(anon.get("/lessen"))
    assert "<h1>Sleutelfiguren</h1>" in text(member.get("/sleutelfiguren"))


def test_unknown_item_is_a_dutch_404(anon):
    resp = anon.get("/werkwijzen/bestaat-niet")
    assert resp.status_code == 404
    assert "Niet gevonden" in text(resp)


def test_search_shows_highlighted_snippets_and_facets(anon):
    html = text(anon.get("/zoeken?q=sleutelfiguren+werven"))
    assert "<mark>" in html
    assert "werving" in html.lower()
    assert "Soort" in html and "Thema" in html and "Fase" in html and "Gemeente" in html


def test_search_paging(anon):
    html = text(anon.get("/zoeken?q=&pagina=2"))
    assert "Pagina 2 van" in html


@pytest.mark.parametrize("q", [
    '"', 'title:"', "body:x AND", "*", "?", "a*b~2", "((((", "NOT", "\x00\x01\x1f", "é" * 5000,
    "<script>alert(1)</script>", "sleutel OR", "x" * 10000, "%", "\\", "''", "🙂",
])
def test_strange_queries_never_fail(anon, q):
    resp = anon.get("/zoeken", query_string={"q": q, "pagina": "abc", "sorteer": "nonsense"})
    assert resp.status_code == 200
    assert "<script>alert(1)" not in text(resp)


def test_login_wrong_password_gets_dutch_message(library_app):
    client = library_app.test_client()
    token = csrf_token(client)
    resp = client.post("/inloggen", data={"email": "lid@delft.example.org", "password": "fout", "csrf_token": token})
    assert resp.status_code == 400
    assert "klopt niet" in text(resp)
    assert 'value="lid@delft.example.org"' in text(resp)  # what the user typed is kept


def test_login_without_csrf_token_is_refused(library_app):
    client = library_app.test_client()
    resp = client.post("/inloggen", data={"email": "lid@delft.example.org", "password": "x"})
    assert resp.status_code == 400
    assert "verlopen of ongeldig" in text(resp)


def test_login_never_redirects_off_site(library_app):
    client = library_app.test_client()
    token = csrf_token(client)
    for target in ("https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)"):
        resp = client.post(f"/inloggen?next={target}", data={
            "email": "lid@delft.example.org", "password": "correct horse battery staple", "csrf_token": token})
        assert resp.status_code == 302
        assert resp.headers["Location"] in ("/", "http://localhost/"), target
        client.post("/uitloggen", data={"csrf_token": csrf_token(client, "/")})
        token = csrf_token(client)


def test_logout_needs_post(member):
    assert member.get("/uitloggen").status_code == 405
