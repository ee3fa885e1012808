"""Who may publish where (security report): a curator publishes only into
their own region, as the item was and as it will be, on every writing path
(web form, API POST/PUT/PATCH, restore, approve, autosave); items follow
their municipality into a new region; links in a body never name an item
the reader may not see; unknown theme and phase pages are 404.

Real SQLite/PostgreSQL database, real Whoosh index, the Flask test client."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from portal import search
from portal.errors import ValidationFailed
from portal.extensions import db
from portal.models import Item, Region, SearchChange, User
from portal.services import items as item_service
from portal.services.api_tokens import create_token
from portal.services.items import SYSTEM, save_item
from portal.services.library import _store_terms, create_user, set_region

from .conftest import PASSWORD, csrf_token

TODAY = date.today().isoformat()
DELFT_PRACTICE = {
    "title": "Buurtvaders in Tanthof",
    "summary": "Vaders uit de wijk lopen avondrondes.",
    "municipality": "Delft",
    "visibility": "public",
    "status": "published",
}
BODY = "## Aanpak\n\nDe buurtvaders zoeken contact met jongeren."


@pytest.fixture
def regions(app):
    """Delft (and Den Haag) in Haaglanden, Groningen in Noord; a curator in
    each region and a member in Den Haag."""
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft", "'s-Gravenhage"])
        set_region(SYSTEM, "Noord", ["Groningen"])
        create_user(SYSTEM, "curator@groningen.example.org", "curator", name="curator-groningen",
                    password=PASSWORD, municipality="Groningen")
        create_user(SYSTEM, "curator@denhaag.example.org", "curator", name="curator-denhaag",
                    password=PASSWORD, municipality="'s-Gravenhage")
        create_user(SYSTEM, "lid@denhaag.example.org", "member", name="lid-denhaag",
                    password=PASSWORD, municipality="'s-Gravenhage")
    return app


def user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def item_by_slug(slug: str) -> Item | None:
    db.session.expire_all()
    return db.session.scalar(select(Item).where(Item.slug == slug))


def munis(item: Item) -> list[str]:
    return [m.name for m in item.municipalities]


def post(client, path, data, page):
    return client.post(path, data=dict(data, csrf_token=csrf_token(client, page)))


def token_for(app, email: str) -> dict[str, str]:
    with app.app_context():
        return {"Authorization": f"Bearer {create_token(SYSTEM, user(email), 'test')[1]}"}


def delft_practice(app, **changes) -> str:
    with app.app_context():
        item = save_item(SYSTEM, "practice", dict(DELFT_PRACTICE, **changes), BODY)
        return item.slug


# -- 1. publishing into another region --------------------------------------------------------


def test_web_curator_cannot_publish_a_new_item_into_another_region(regions, client_for):
    groningen = client_for(regions, "curator@groningen.example.org")
    form = {"title": "Nep werkwijze Delft", "municipality": "Delft", "status": "published",
            "body": BODY, "action": "save"}
    resp = post(groningen, "/nieuw/werkwijzen", form, "/nieuw/werkwijzen")
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "U mag geen items publiceren voor Delft" in html
    assert "Nep werkwijze Delft" in html  # what was typed comes back
    with regions.app_context():
        assert item_by_slug("nep-werkwijze-delft") is None  # nothing written
    # the editor's own form sends no status: then it is saved as a draft for Delft's curators
    form_without_status = {k: v for k, v in form.items() if k != "status"}
    resp = post(groningen, "/nieuw/werkwijzen", form_without_status, "/nieuw/werkwijzen")
    assert resp.status_code == 302
    with regions.app_context():
        draft = item_by_slug("nep-werkwijze-delft")
        assert draft.status == "draft" and munis(draft) == ["Delft"]
    # in the own region the same form publishes
    resp = post(groningen, "/nieuw/werkwijzen", dict(form, title="Eigen werkwijze", municipality="Groningen"),
                "/nieuw/werkwijzen")
    assert resp.status_code == 302
    with regions.app_context():
        assert item_by_slug("eigen-werkwijze").status == "published"


def test_api_curator_cannot_publish_a_profile_into_another_region(regions):
    client = regions.test_client()
    headers = token_for(regions, "curator@groningen.example.org")
    fake = {"type": "profile", "front_matter": {
        "title": "Nep Sleutelfiguur Delft", "municipality": "Delft", "status": "published",
        "consent": TODAY, "contact_email": "phish@evil.example"}}
    resp = client.post("/api/v1/items", json=fake, headers=headers)
    assert resp.status_code == 400, resp.get_json()
    assert "municipality" in resp.get_json()["errors"]
    with regions.app_context():
        assert item_by_slug("nep-sleutelfiguur-delft") is None
        assert db.session.scalar(select(func.count(Item.id)).where(Item.title.like("Nep%"))) == 0
    # a draft for another region is no publication (the region's curators decide)
    fake["front_matter"]["status"] = "draft"
    assert client.post("/api/v1/items", json=fake, headers=headers).status_code == 201
    with regions.app_context():
        # profiles made on the web or through the API get an opaque slug: find it by title
        made = db.session.scalar(select(Item).where(Item.title == "Nep Sleutelfiguur Delft"))
        assert made is not None and made.status == "draft" and not made.slug.startswith("nep-")
    # the region's own curator may publish it
    own = dict(fake["front_matter"], title="Echte Sleutelfiguur Delft", status="published")
    resp = client.post("/api/v1/items", json={"type": "profile", "front_matter": own},
                       headers=token_for(regions, "curator@delft.example.org"))
    assert resp.status_code == 201 and resp.get_json()["front_matter"]["status"] == "published"


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_api_curator_cannot_move_a_published_item_out_of_their_region(regions, method):
    slug = delft_practice(regions)
    client = regions.test_client()
    with regions.app_context():
        before = item_by_slug(slug)
        version = before.version
        meta = item_service.front_matter(before)
    meta.pop("type"), meta.pop("slug"), meta.pop("region", None)
    sent = {"municipality": "Groningen"} if method == "PATCH" else dict(meta, municipality="Groningen")
    resp = client.open(f"/api/v1/items/practice/{slug}", method=method,
                       json={"version": version, "front_matter": sent, "body": BODY},
                       headers=token_for(regions, "curator@delft.example.org"))
    assert resp.status_code == 400, resp.get_json()
    assert "municipality" in resp.get_json()["errors"]
    with regions.app_context():
        after = item_by_slug(slug)
        assert munis(after) == ["Delft"] and after.status == "published" and after.version == version
    # taken back to draft first, the move is a hand-over, not a publication
    resp = client.open(f"/api/v1/items/practice/{slug}", method="PATCH",
                       json={"version": version, "front_matter": {"municipality": "Groningen", "status": "draft"}},
                       headers=token_for(regions, "curator@delft.example.org"))
    assert resp.status_code == 200, resp.get_json()
    with regions.app_context():
        after = item_by_slug(slug)
        assert munis(after) == ["Groningen"] and after.status == "draft"


def test_web_curator_cannot_move_a_published_item_out_of_their_region(regions, client_for):
    slug = delft_practice(regions)
    page = f"/werkwijzen/{slug}/bewerken"
    delft = client_for(regions, "curator@delft.example.org")
    with regions.app_context():
        version = item_by_slug(slug).version
    form = dict(DELFT_PRACTICE, municipality="Groningen", body=BODY, version=str(version), action="save")
    resp = post(delft, page, form, page)
    assert resp.status_code == 400
    with regions.app_context():
        after = item_by_slug(slug)
        assert munis(after) == ["Delft"] and after.status == "published" and after.region.name == "Haaglanden"
    # the other region's curator cannot take it either (not theirs to edit)
    groningen = client_for(regions, "curator@groningen.example.org")
    assert groningen.get(page).status_code == 403


def test_restore_of_a_revision_in_another_region_is_refused(regions, client_for):
    slug = delft_practice(regions)
    with regions.app_context():
        item = item_by_slug(slug)
        save_item(SYSTEM, "practice", dict(DELFT_PRACTICE, municipality="Groningen"), BODY, item=item)
        item = item_by_slug(slug)
        assert munis(item) == ["Groningen"] and item.region.name == "Noord"
        with pytest.raises(ValidationFailed) as exc:
            item_service.restore_revision(user("curator@groningen.example.org"), item, 1)
        assert "municipality" in exc.value.errors
        item = item_by_slug(slug)
        assert munis(item) == ["Groningen"] and len(item.revisions) == 2
    # through the history page: refused with a message, nothing restored
    groningen = client_for(regions, "curator@groningen.example.org")
    page = f"/werkwijzen/{slug}/geschiedenis"
    resp = post(groningen, page + "/1/terugzetten", {}, page)
    assert resp.status_code == 302
    assert "Terugzetten lukte niet" in groningen.get(page).get_data(as_text=True)
    with regions.app_context():
        assert munis(item_by_slug(slug)) == ["Groningen"]


def test_pending_change_cannot_move_an_item_and_approval_keeps_its_place(regions, client_for):
    slug = delft_practice(regions)
    page = f"/werkwijzen/{slug}/bewerken"
    contributor = client_for(regions, "bijdrager@delft.example.org")
    with regions.app_context():
        version = item_by_slug(slug).version
    form = dict(DELFT_PRACTICE, municipality="Groningen", summary="Nieuwe samenvatting", body=BODY,
                version=str(version), action="save")
    assert post(contributor, page, form, page).status_code == 302
    with regions.app_context():
        rev = item_service.pending_revision(item_by_slug(slug))
        assert rev is not None
        item_service.approve_revision(user("curator@delft.example.org"), rev)
        after = item_by_slug(slug)
        assert after.summary == "Nieuwe samenvatting"
        assert munis(after) == ["Delft"] and after.region.name == "Haaglanden"


def test_autosave_never_publishes_into_another_region(regions):
    with regions.app_context():
        curator = user("curator@groningen.example.org")
        saved = item_service.autosave_item(curator, "practice", dict(DELFT_PRACTICE, title="Automatisch"), BODY)
        assert saved.status == "draft" and munis(saved) == ["Delft"]


# -- 2. a municipality moving to another region -----------------------------------------------


def test_items_follow_their_municipality_into_a_new_region(regions, client_for):
    slug = delft_practice(regions, title="Alleen voor de regio", visibility="region")
    with regions.app_context():
        national = save_item(SYSTEM, "practice", dict(DELFT_PRACTICE, title="Landelijk", municipality=None,
                                                      region="Noord"), BODY).slug
        national_mixed = save_item(SYSTEM, "practice", dict(DELFT_PRACTICE, title="Gemengd", region="Noord"),
                                   BODY).slug
        haaglanden = db.session.scalar(select(Region.id).where(Region.name == "Haaglanden"))
        assert item_by_slug(slug).region_id == haaglanden
        denhaag = user("lid@denhaag.example.org")
        assert slug in [h.slug for h in search.search(denhaag, "regio").hits]
    member = client_for(regions, "lid@denhaag.example.org")
    assert member.get(f"/werkwijzen/{slug}").status_code == 200

    with regions.app_context():
        last_change = db.session.scalar(select(func.max(SearchChange.id)))
        zuid, _ = set_region(SYSTEM, "Zuid", ["Delft"])
        item = item_by_slug(slug)
        assert item.region_id == zuid.id
        # the index was told (and has applied it): permission labels changed
        changed = db.session.scalars(select(SearchChange.item_id).where(SearchChange.id > last_change)).all()
        assert item.id in changed
        assert slug not in [h.slug for h in search.search(user("lid@denhaag.example.org"), "regio").hits]
        # the old region's curator may no longer edit or publish it
        assert not item_service.permissions.can_edit(user("curator@denhaag.example.org"), item)
        # a region named on purpose (other than the municipality's) stays
        assert item_by_slug(national_mixed).region.name == "Noord"
        assert item_by_slug(national).region.name == "Noord"
    assert member.get(f"/werkwijzen/{slug}").status_code == 404
    curator = client_for(regions, "curator@denhaag.example.org")
    assert curator.get(f"/werkwijzen/{slug}/bewerken").status_code in (403, 404)


def test_editing_a_region_only_item_keeps_its_region(regions, client_for):
    with regions.app_context():
        slug = save_item(SYSTEM, "practice", dict(DELFT_PRACTICE, title="Regionaal", municipality=None,
                                                  region="Noord", visibility="region"), BODY).slug
    groningen = client_for(regions, "curator@groningen.example.org")
    page = f"/werkwijzen/{slug}/bewerken"
    with regions.app_context():
        version = item_by_slug(slug).version
    form = dict(DELFT_PRACTICE, title="Regionaal", municipality="", visibility="region",
                summary="Aangepast", body=BODY, version=str(version), action="save")
    assert post(groningen, page, form, page).status_code == 302
    with regions.app_context():
        after = item_by_slug(slug)
        assert after.summary == "Aangepast" and after.region.name == "Noord"  # not a national item now
        assert not item_service.permissions.can_edit(user("curator@delft.example.org"), after)


# -- 3. links in a body ------------------------------------------------------------------------


def test_links_to_hidden_items_do_not_name_them(regions, client_for):
    with regions.app_context():
        save_item(SYSTEM, "profile", {"title": "Zeynep Xanthippe", "slug": "zeynep-xanthippe",
                                      "municipality": "Delft", "status": "published", "consent": TODAY,
                                      "visibility": "members"}, "Sleutelfiguur.")
        save_item(SYSTEM, "profile", {"title": "Piet Geheim", "slug": "piet-geheim", "municipality": "Delft",
                                      "status": "published", "consent": TODAY, "visibility": "municipality"},
                  "Alleen voor Delft.")
        body = ("Vraag [Zeynep](../profiles/zeynep-xanthippe.md) of [iemand](../profiles/bestaat-niet-meer.md)"
                " of [Piet](../profiles/piet-geheim.md)."
                "\n\nZie ook [de training](training-sleutelfiguren.md).")
        slug = save_item(SYSTEM, "practice", dict(DELFT_PRACTICE, title="Openbaar met koppeling"), body).slug
    anon = regions.test_client()
    html = anon.get(f"/werkwijzen/{slug}").get_data(as_text=True)
    assert "Zeynep" in html and "iemand" in html  # the text stays
    assert "zeynep-xanthippe" not in html and "bestaat-niet-meer" not in html and "piet-geheim" not in html
    assert 'href="/werkwijzen/training-sleutelfiguren"' in html  # a visible item stays a link
    member = client_for(regions, "lid@delft.example.org")
    html = member.get(f"/werkwijzen/{slug}").get_data(as_text=True)
    assert 'href="/sleutelfiguren/zeynep-xanthippe"' in html
    assert 'href="/sleutelfiguren/piet-geheim"' in html  # Delft's own
    assert "bestaat-niet-meer" not in html
    # a member of another municipality sees the members-only profile, not Delft's own
    html = client_for(regions, "lid@denhaag.example.org").get(f"/werkwijzen/{slug}").get_data(as_text=True)
    assert 'href="/sleutelfiguren/zeynep-xanthippe"' in html
    assert "piet-geheim" not in html and "Piet" in html


# -- 4. theme and phase pages --------------------------------------------------------------------


def test_unknown_theme_and_phase_pages_are_404(app):
    client = app.test_client()
    assert client.get("/themas/bestaatniet").status_code == 404
    assert client.get("/fasen/bestaatniet").status_code == 404
    assert client.get("/themas/jongeren").status_code == 200
    assert client.get("/fasen/opzetten").status_code == 200
    with app.app_context():
        _store_terms({"theme": {"sportclubs": ("Sportclubs", "Sports clubs")}})
    resp = client.get("/themas/sportclubs")
    assert resp.status_code == 200 and "Thema: Sportclubs" in resp.get_data(as_text=True)
