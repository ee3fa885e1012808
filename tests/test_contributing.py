"""A contributor writes a practice; a curator publishes it; it is searchable at once."""

from __future__ import annotations

import pytest

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


@pytest.mark.parametrize("email", ["curator@delft.example.org", "beheer@example.org"])
def test_save_as_draft_makes_a_draft_for_those_who_may_publish_too(app, client_for, email):
    """The new-item button says "Opslaan als concept": a curator's or an
    admin's new item is a draft as well (found by the new user: an admin's
    "draft" went live at once), until they press publish on its page."""
    editor = client_for(app, email)
    assert "Opslaan en publiceren" in editor.get("/nieuw/werkwijzen").get_data(as_text=True)
    resp = post_form(editor, "/nieuw/werkwijzen", dict(PRACTICE, action="save"))
    assert resp.status_code == 302
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.slug == "buurtvaders-in-tanthof"))
        assert item.status == "draft"
    assert "Opgeslagen als concept." in editor.get(resp.headers["Location"]).get_data(as_text=True)
    assert app.test_client().get(resp.headers["Location"]).status_code == 404
    resp = editor.post(resp.headers["Location"] + "/publiceren",
                       data={"csrf_token": csrf_token(editor, resp.headers["Location"]), "action": "publish"})
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Item.status).where(Item.slug == "buurtvaders-in-tanthof")) == "published"


def test_save_and_publish_publishes_for_curators_only(app, client_for):
    curator = client_for(app, "curator@delft.example.org")
    resp = post_form(curator, "/nieuw/werkwijzen", dict(PRACTICE, action="publish"))
    assert resp.status_code == 302 and app.test_client().get(resp.headers["Location"]).status_code == 200
    contributor = client_for(app, "bijdrager@delft.example.org")
    assert "Opslaan en publiceren" not in contributor.get("/nieuw/werkwijzen").get_data(as_text=True)
    resp = post_form(contributor, "/nieuw/werkwijzen", dict(PRACTICE, title="Buurtvaders in Voorhof", action="publish"))
    assert resp.status_code == 302 and app.test_client().get(resp.headers["Location"]).status_code == 404  # a draft


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


# -- autosave (issue #4) ------------------------------------------------------------------------
def test_autosave_creates_a_draft_then_keeps_one_revision_per_run(app, client_for):
    contributor = client_for(app, "bijdrager@delft.example.org")
    html = contributor.get("/nieuw/werkwijzen").get_data(as_text=True)
    assert 'data-autosave-url="/nieuw/werkwijzen/autosave"' in html and "autosave.js" in html
    resp = post_form(contributor, "/nieuw/werkwijzen/autosave", dict(PRACTICE, action="autosave"))
    assert resp.status_code == 200 and resp.json["ok"]
    assert resp.json["edit_url"].endswith("/werkwijzen/buurtvaders-in-tanthof/bewerken")
    url, version = resp.json["autosave_url"], resp.json["version"]
    resp = post_form(contributor, url, dict(PRACTICE, body="Tweede stand.", version=str(version)))
    assert resp.status_code == 200
    resp = post_form(contributor, url, dict(PRACTICE, body="Derde stand.", version=str(resp.json["version"])))
    assert resp.status_code == 200
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.slug == "buurtvaders-in-tanthof"))
        assert item.status == "draft" and item.body == "Derde stand."
        assert [(r.number, r.body) for r in item.revisions] == [(1, "Derde stand.")]
        version = item.version
    # a manual save is a revision of its own; the next autosave starts a new one
    post_form(contributor, "/werkwijzen/buurtvaders-in-tanthof/bewerken",
              dict(PRACTICE, body="Handmatig.", version=str(version)))
    with app.app_context():
        version = db.session.scalar(select(Item.version).where(Item.slug == "buurtvaders-in-tanthof"))
    post_form(contributor, url, dict(PRACTICE, body="Weer automatisch.", version=str(version)))
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.slug == "buurtvaders-in-tanthof"))
        assert [r.body for r in item.revisions] == ["Derde stand.", "Handmatig.", "Weer automatisch."]


def test_autosave_refuses_without_writing(app, client_for):
    contributor = client_for(app, "bijdrager@delft.example.org")
    resp = post_form(contributor, "/nieuw/werkwijzen/autosave", dict(PRACTICE, title=""))
    assert resp.status_code == 400 and "titel" in resp.json["error"]
    with app.app_context():
        assert db.session.scalar(select(Item).where(Item.title == "")) is None
    resp = post_form(contributor, "/nieuw/werkwijzen/autosave", PRACTICE)
    url, version = resp.json["autosave_url"], resp.json["version"]
    post_form(contributor, url, dict(PRACTICE, body="Eerst.", version=str(version)))
    resp = post_form(contributor, url, dict(PRACTICE, body="Oude versie.", version=str(version)))
    assert resp.status_code == 409 and "iemand anders" in resp.json["error"]
    # published items are not autosaved (their changes are reviewed)
    path = "/werkwijzen/netwerk-sleutelfiguren-delft"
    assert 'data-autosave-url' not in contributor.get(path + "/bewerken").get_data(as_text=True)
    assert post_form(contributor, path + "/autosave", PRACTICE).status_code == 400
    # a curator's new item stays a draft when autosaved
    curator = client_for(app, "curator@delft.example.org")
    resp = post_form(curator, "/nieuw/lessen/autosave", {"title": "Les in wording", "municipality": "Delft"})
    assert resp.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Item.status).where(Item.title == "Les in wording")) == "draft"
    anon = app.test_client()
    resp = anon.post("/nieuw/werkwijzen/autosave", data={"csrf_token": csrf_token(anon), "title": "x"})
    assert resp.status_code == 302 and "/inloggen" in resp.headers["Location"]
