"""The slug oracle (issue #5): the slug a new item gets must not tell its
author that a hidden item holds the name, and a profile's slug must not carry
the person's name into URLs, logs and referrers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Item, User
from portal.services.api_tokens import create_token
from portal.services.items import SYSTEM
from portal.services.library import create_user, import_library

from .conftest import PASSWORD, make_app
from .test_people import B, TODAY, build_world, post, slug_of

OPAQUE = re.compile(r"^sf-[0-9a-f]{12}$")
UTRECHT_CURATOR = "curator@utrecht.example.org"


@pytest.fixture(scope="module")
def slug_world(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("slugs"), content=False)
    ids = build_world(app)
    with app.app_context():
        create_user(SYSTEM, UTRECHT_CURATOR, "curator", password=PASSWORD, municipality="Utrecht")
    return app, ids


def _token(app, email):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        return {"Authorization": f"Bearer {create_token(SYSTEM, user, 'test')[1]}"}


def _profile_form(title):
    return {"title": title, "municipality": "Utrecht", "visibility": "members", "contact_route": "direct",
            "consent": TODAY.isoformat(), "action": "save", "body": ""}


def test_web_profile_slug_is_opaque_and_the_same_shape_for_a_hidden_name(slug_world, client_for):
    """B (Grietje Walvisvangst) is region-only in Delft: the Utrecht curator
    cannot see her. Before the fix, naming a new profile after her gave
    'grietje-walvisvangst-<hex>', after a fresh name 'fresh-name': an oracle."""
    app, _ = slug_world
    curator = client_for(app, UTRECHT_CURATOR)
    assert curator.get(f"/sleutelfiguren/{slug_of(B)}").status_code == 404  # hidden from this curator
    slugs = []
    for title in (B["title"], "Harmke Zeldzaamnaam"):
        resp = post(curator, "/nieuw/sleutelfiguren", _profile_form(title), "/nieuw/sleutelfiguren")
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        slug = resp.headers["Location"].rsplit("/", 1)[-1]
        assert OPAQUE.match(slug), slug
        assert not {"grietje", "walvisvangst", "harmke", "zeldzaamnaam"} & set(slug.split("-"))
        slugs.append(slug)
    assert len(set(slugs)) == 2
    page = curator.get(f"/sleutelfiguren/{slugs[1]}")
    assert page.status_code == 200 and "Harmke Zeldzaamnaam" in page.get_data(as_text=True)


def test_api_profile_slug_ignores_the_requested_slug(slug_world):
    app, _ = slug_world
    client = app.test_client()
    headers = _token(app, UTRECHT_CURATOR)
    for wanted in (slug_of(B), "nog-vrij-profiel"):
        resp = client.post("/api/v1/items", headers=headers, json={"type": "profile", "front_matter": {
            "title": "Iemand Anders", "slug": wanted, "municipality": "Utrecht", "consent": TODAY.isoformat()}})
        assert resp.status_code == 201, resp.get_json()
        slug = resp.get_json()["front_matter"]["slug"]
        assert OPAQUE.match(slug) and wanted not in resp.headers["Location"], slug
    with app.app_context():  # B keeps her slug and is untouched
        b = db.session.scalar(select(Item).where(Item.type == "profile", Item.slug == slug_of(B)))
        assert b is not None and b.title == B["title"]


def test_slugs_are_unique_per_type_so_a_practice_never_probes_profiles(slug_world, client_for):
    app, _ = slug_world
    author = client_for(app, "bijdrager@utrecht.example.org")
    resp = post(author, "/nieuw/werkwijzen", {"title": B["title"], "municipality": "Utrecht", "action": "save",
                                              "body": "Tekst."}, "/nieuw/werkwijzen")
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/werkwijzen/{slug_of(B)}")  # no suffix: profiles are elsewhere


def test_existing_and_imported_profile_slugs_keep_working(tmp_path, client_for):
    app = make_app(tmp_path / "imp", content=False)
    folder = Path(tmp_path / "lib" / "profiles")
    folder.mkdir(parents=True)
    (folder / "jorien-voorbeeldt.md").write_text(
        "---\ntitle: Jorien Voorbeeldt\nmunicipality: Delft\nvisibility: members\n"
        f"consent: {TODAY.isoformat()}\nexpertise: [buurtgesprekken]\n---\nTekst.\n", encoding="utf-8")
    (folder / "x.md").write_text(
        "---\ntitle: Kees Eigenslug\nslug: kees-eigen\nmunicipality: Delft\n"
        f"consent: {TODAY.isoformat()}\n---\nTekst.\n", encoding="utf-8")
    with app.app_context():
        report = import_library(SYSTEM, tmp_path / "lib")
        assert report.ok, report.problems
        again = import_library(SYSTEM, tmp_path / "lib")  # re-import: same items, same slugs
        assert again.ok
        slugs = sorted(db.session.scalars(select(Item.slug).where(Item.type == "profile")))
        assert slugs == ["jorien-voorbeeldt", "kees-eigen"]
    member = client_for(app, "lid@delft.example.org")
    assert member.get("/sleutelfiguren/jorien-voorbeeldt").status_code == 200
    assert member.get("/sleutelfiguren/kees-eigen").status_code == 200
