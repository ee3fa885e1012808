"""A contributor writes a practice; a curator publishes it; it is searchable at once."""

from __future__ import annotations

from sqlalchemy import select

from portal import search
from portal.extensions import db
from portal.models import AuditEvent, Item

from .conftest import csrf_token

PRACTICE = {
    "title": "Buurtvaders in Tanthof",
    "summary": "Vaders uit de wijk lopen avondrondes en praten met jongeren.",
    "municipality": "Delft",
    "visibility": "public",
    "themes": ["jongeren", "polarisatie"],
    "phase": ["onderhouden"],
    "steps": ["3.1"],
    "municipal_role": "facilitator",
    "evidence": "ervaring",
    "tags": "buurtvaders, avondronde",
    "body": "## Aanpak\n\nDe buurtvaders zoeken contact met hangjongeren bij het winkelcentrum.",
}


def post_form(client, path, data):
    data = dict(data, csrf_token=csrf_token(client, path))
    return client.post(path, data=data)


def test_contributor_preview_save_curator_publish_searchable(app, client_for):
    contributor = client_for(app, "bijdrager@delft.example.org")
    resp = post_form(contributor, "/nieuw/werkwijzen", dict(PRACTICE, action="preview"))
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Voorbeeld" in html and "<h2>Aanpak</h2>" in html
    assert 'value="Buurtvaders in Tanthof"' in html  # the form keeps what was typed

    resp = post_form(contributor, "/nieuw/werkwijzen", dict(PRACTICE, action="save"))
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.endswith("/werkwijzen/buurtvaders-in-tanthof")
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.slug == "buurtvaders-in-tanthof"))
        assert item.status == "draft" and item.themes == ["jongeren", "polarisatie"]
        assert item.tags == ["buurtvaders", "avondronde"]
        assert len(item.revisions) == 1

    anon = app.test_client()
    assert anon.get(location).status_code == 404  # a draft is invisible
    with app.app_context():
        assert "buurtvaders-in-tanthof" not in [h.slug for h in search.search(None, "buurtvaders").hits]

    curator = client_for(app, "curator@delft.example.org")
    assert "buurtvaders-in-tanthof" in curator.get("/concepten").get_data(as_text=True)
    resp = curator.post(location + "/publiceren", data={"csrf_token": csrf_token(curator, location), "action": "publish"})
    assert resp.status_code == 302

    # searchable at once, for anyone
    html = anon.get("/zoeken?q=buurtvader").get_data(as_text=True)
    assert "Buurtvaders in Tanthof" in html
    with app.app_context():
        assert search.search(None, "buurtvaders").hits[0].slug == "buurtvaders-in-tanthof"
        actions = db.session.scalars(select(AuditEvent.action)).all()
        assert "item.create" in actions and "item.publish" in actions


def test_contributor_cannot_publish_or_smuggle_status(app, client_for):
    contributor = client_for(app, "bijdrager@delft.example.org")
    resp = post_form(contributor, "/nieuw/werkwijzen", dict(PRACTICE, action="save", status="published",
                                                             author_id="1", reviewed="2020-01-01"))
    location = resp.headers["Location"]
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.slug == "buurtvaders-in-tanthof"))
        assert item.status == "draft" and item.reviewed is None
    resp = contributor.post(location + "/publiceren", data={"csrf_token": csrf_token(contributor, location)})
    assert resp.status_code == 403


def test_bad_form_gets_field_errors_and_keeps_input(app, client_for):
    contributor = client_for(app, "bijdrager@delft.example.org")
    bad = dict(PRACTICE, title="", date="20-07-2018", action="save")
    resp = post_form(contributor, "/nieuw/werkwijzen", bad)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "nog niet opgeslagen" in html
    assert "Vul een titel in" in html and "JJJJ-MM-DD" in html
    assert "De buurtvaders zoeken contact" in html  # body kept
    assert 'value="20-07-2018"' in html
    with app.app_context():
        assert db.session.scalar(select(Item).where(Item.title == "")) is None


def test_curator_of_other_region_cannot_publish(app, client_for):
    # curators publish for their own region only; Utrecht contributor's draft in Utrecht
    from portal.models import Municipality, Region
    from portal.services.items import SYSTEM, save_item

    with app.app_context():
        west = Region(name="Haaglanden")
        mid = Region(name="Midden-Nederland")
        db.session.add_all([west, mid])
        db.session.scalar(select(Municipality).where(Municipality.name == "Delft")).region = west
        db.session.scalar(select(Municipality).where(Municipality.name == "Utrecht")).region = mid
        db.session.commit()
        item = save_item(SYSTEM, "practice", {"title": "Utrechtse aanpak", "municipality": "Utrecht", "status": "draft"}, "tekst")
        slug = item.slug
    curator = client_for(app, "curator@delft.example.org")
    assert curator.get(f"/werkwijzen/{slug}").status_code == 404
    resp = curator.post(f"/werkwijzen/{slug}/publiceren", data={"csrf_token": csrf_token(curator, "/")})
    assert resp.status_code == 404


def test_member_cannot_open_the_editor(library_app, client_for):
    member = client_for(library_app, "lid@delft.example.org")
    assert member.get("/nieuw/werkwijzen").status_code == 403
    assert library_app.test_client().get("/nieuw/werkwijzen").status_code == 302


def test_edit_keeps_status_and_adds_revision(app, client_for):
    curator = client_for(app, "curator@delft.example.org")
    path = "/werkwijzen/netwerk-sleutelfiguren-delft/bewerken"
    html = curator.get(path).get_data(as_text=True)
    assert 'name="version"' in html
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.slug == "netwerk-sleutelfiguren-delft"))
        revs, version = len(item.revisions), item.version
    data = {"title": "Netwerk van sleutelfiguren in Delft", "municipality": "Delft", "visibility": "public",
            "body": "Nieuwe tekst.", "version": str(version), "action": "save"}
    resp = post_form(curator, path, data)
    assert resp.status_code == 302
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.slug == "netwerk-sleutelfiguren-delft"))
        assert item.status == "published" and len(item.revisions) == revs + 1
    # a stale version is a conflict, never a silent overwrite, and the text typed is kept
    resp = post_form(curator, path, dict(data, body="Mijn eigen, nieuwere tekst."))
    assert resp.status_code == 409
    html = resp.get_data(as_text=True)
    assert "Niet opgeslagen" in html and "Mijn eigen, nieuwere tekst." in html
    assert "Nieuwe tekst." in html  # the version saved meanwhile, to merge from
    with app.app_context():
        current = db.session.scalar(select(Item).where(Item.slug == "netwerk-sleutelfiguren-delft")).version
    assert f'name="version" value="{current}"' in html


def test_browser_line_endings_are_stored_as_in_files(app, client_for):
    contributor = client_for(app, "bijdrager@delft.example.org")
    post_form(contributor, "/nieuw/werkwijzen", dict(PRACTICE, body="## Aanpak\r\n\r\nRegel een.\r\nRegel twee.", action="save"))
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.slug == "buurtvaders-in-tanthof"))
        assert item.body == "## Aanpak\n\nRegel een.\nRegel twee."


def test_new_practice_appears_under_recent_on_home(app, client_for):
    from portal.services.items import SYSTEM, save_item

    with app.app_context():
        save_item(SYSTEM, "practice", {"title": "Gloednieuwe werkwijze zonder datum"}, "tekst")
    assert "Gloednieuwe werkwijze zonder datum" in app.test_client().get("/").get_data(as_text=True)


def test_forbidden_page_is_dutch(library_app, client_for):
    resp = client_for(library_app, "lid@delft.example.org").get("/nieuw/werkwijzen")
    assert resp.status_code == 403
    html = resp.get_data(as_text=True)
    assert "geen toegang" in html.lower() and "permission" not in html.lower()
