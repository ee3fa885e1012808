"""Profiles, private by design (issue #5): consent, visibility and contact
routes, introduction requests, the expert finder, the privacy audit, export
and erasure of a person, and the personal-data check before publishing."""

from __future__ import annotations

import json
from datetime import date, timedelta
from types import SimpleNamespace as NS

import pytest
from sqlalchemy import select

from portal import permissions, search
from portal.extensions import db
from portal.models import AuditEvent, IntroductionRequest, Item, SearchChange, User
from portal.services import people
from portal.services.items import SYSTEM, save_item
from portal.services.library import create_user, set_region

from .conftest import PASSWORD, csrf_token, make_app

TODAY = date.today()

#: The people of the test world. Each value is unique in the whole library so
#: a test (and the crawler) can look for it in any response.
A = {  # members-only, direct contact, Delft (region Haaglanden)
    "title": "Zwanette Brinkhorst", "municipality": "Delft", "visibility": "members",
    "role": "moederconsulent", "key_figure_type": "buurtbewoner", "formal": False,
    "expertise": ["moederavonden", "buurtgesprekken"], "languages": ["nl", "so"],
    "communities": ["Somalische gemeenschap"], "outside_office_hours": True,
    "contact_email": "zwanette.brinkhorst@voorbeeld.test", "contact_phone": "06-11223344",
    "consent": (TODAY - timedelta(days=30)).isoformat(), "consent_scope": "vermelding voor leden",
    "consent_version": "2026-1",
}
B = {  # region-only, direct contact, Delft
    "title": "Grietje Walvisvangst", "municipality": "Delft", "visibility": "region",
    "role": "jongerenwerker", "key_figure_type": "jongerenwerker", "formal": True,
    "expertise": ["voetbaltraining", "buurtgesprekken"], "languages": ["nl", "tr"],
    "outside_office_hours": False,
    "contact_email": "grietje.walvisvangst@voorbeeld.test", "contact_phone": "06-55667788",
    "consent": (TODAY - timedelta(days=10)).isoformat(),
}
C = {  # members-only, contact via the curator, Delft
    "title": "Bartholomeus Kniphorst", "municipality": "Delft", "visibility": "members",
    "role": "imam", "key_figure_type": "religieus-leider", "formal": False,
    "expertise": ["gastlessen over vertrouwen"], "languages": ["nl", "ar"],
    "contact_email": "bartholomeus.kniphorst@voorbeeld.test", "contact_phone": "010-5556667",
    "contact_route": "curator", "consent": (TODAY - timedelta(days=5)).isoformat(),
}
D = {  # consent expired long ago (published, but never shown)
    "title": "Leendert Verjaardsma", "municipality": "Delft", "visibility": "members",
    "expertise": ["verlopen toestemmingsgesprekken"],
    "contact_email": "leendert.verjaardsma@voorbeeld.test", "contact_phone": "06-99887766",
    "consent": (TODAY - timedelta(days=3 * 365)).isoformat(),
}
E = {  # members-only, Utrecht (region Utrecht), shares an expertise with A and B
    "title": "Otto Kromhoutsma", "municipality": "Utrecht", "visibility": "members",
    "key_figure_type": "wijkagent", "formal": True, "expertise": ["buurtgesprekken"],
    "languages": ["nl"], "contact_email": "otto.kromhoutsma@voorbeeld.test",
    "contact_phone": "06-12121212", "consent": (TODAY - timedelta(days=3)).isoformat(),
}
BODIES = {"A": "Zwanette organiseert moederavonden in Tanthof.",
          "B": "Grietje traint het zaterdagteam bij Wippolderstrand.",
          "C": "Bartholomeus geeft gastlessen in Voorhof.",
          "D": "Leendert sprak eens in Hof van Delft.",
          "E": "Otto loopt rondes in Kanaleneiland."}
PROFILES = {"A": A, "B": B, "C": C, "D": D, "E": E}
OTHER_MEMBER = "lid@utrecht.example.org"  # a member of another municipality and region
PRIVACY = "privacy@example.org"


def slug_of(p: dict) -> str:
    return p["title"].lower().replace(" ", "-")


def build_world(app) -> dict[str, int]:
    """Regions, two extra users, the five profiles and practices naming them
    as contact, all through the services. Returns profile ids by letter."""
    ids = {}
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        set_region(SYSTEM, "Regio Utrecht", ["Utrecht"])
        create_user(SYSTEM, OTHER_MEMBER, "member", password=PASSWORD, municipality="Utrecht")
        create_user(SYSTEM, PRIVACY, "privacy", password=PASSWORD, municipality="Delft")
        for key, data in PROFILES.items():
            ids[key] = save_item(SYSTEM, "profile", data, BODIES[key]).id
        save_item(SYSTEM, "practice", {"title": "Moederavonden in Tanthof", "municipality": "Delft",
                                       "contact": slug_of(A)}, "Avonden voor moeders.")
        save_item(SYSTEM, "practice", {"title": "Zaterdagvoetbal met gesprek", "municipality": "Delft",
                                       "contact": slug_of(B)}, "Voetbal en daarna praten.")
        save_item(SYSTEM, "practice", {"title": "Alleen Utrecht: wijkrondes", "municipality": "Utrecht",
                                       "visibility": "municipality", "contact": slug_of(A)}, "Rondes.")
        save_item(SYSTEM, "lesson", {"title": "Gastlessen vragen tijd", "contact": slug_of(C)}, "Les.")
    return ids


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("people"))
    return app, build_world(app)


@pytest.fixture
def fresh_world(tmp_path):
    app = make_app(tmp_path / "fresh")
    return app, build_world(app)


def user(email):
    return db.session.scalar(select(User).where(User.email == email))


def post(client, path, data, form_page=None):
    return client.post(path, data=dict(data, csrf_token=csrf_token(client, form_page or "/")))


# -- 1. consent -------------------------------------------------------------------------
def test_consent_expiry_defaults_to_24_months_and_is_a_pure_predicate():
    p = NS(type="profile", consent=date(2024, 2, 29), consent_expires=None)
    assert permissions.consent_expiry(p) == date(2026, 2, 28)
    assert permissions.consent_valid(p, date(2026, 2, 27))
    assert not permissions.consent_valid(p, date(2026, 2, 28))
    p.consent_expires = date(2025, 1, 1)
    assert permissions.consent_expiry(p) == date(2025, 1, 1)
    assert not permissions.consent_valid(p, date(2025, 1, 1))
    assert not permissions.consent_valid(NS(type="profile", consent=None), date(2020, 1, 1))
    assert permissions.consent_expiry(NS(type="profile", consent=date(2025, 6, 15))) == date(2027, 6, 15)


def test_a_profile_without_valid_consent_is_shown_nowhere(world, client_for):
    app, ids = world
    member = client_for(app, "lid@delft.example.org")
    assert member.get(f"/sleutelfiguren/{slug_of(D)}").status_code == 404
    assert member.get(f"/sleutelfiguren/{slug_of(A)}").status_code == 200
    for q in (D["title"], D["expertise"][0], "Hof van Delft"):
        for path in ("/zoeken", "/wie-kan-helpen"):
            html = member.get(path, query_string={"q": q}).get_data(as_text=True)
            assert D["title"] not in html.replace(q, ""), (path, q)  # the query itself is echoed
    assert D["title"] not in member.get("/zoeken?type=profile").get_data(as_text=True)
    with app.app_context():
        d = db.session.get(Item, ids["D"])
        assert d.status == "published" and permissions.item_labels(d) == []
        assert not permissions.can_view(user("lid@delft.example.org"), d)
        assert permissions.can_view(user("curator@delft.example.org"), d)  # to renew it


def test_consent_check_reminds_curators_once_and_unpublishes_expired(fresh_world):
    app, ids = fresh_world
    with app.app_context():
        soon = save_item(SYSTEM, "profile", {"title": "Bijna Verlopen", "municipality": "Delft",
                                             "consent": (TODAY - timedelta(days=400)).isoformat(),
                                             "consent_expires": (TODAY + timedelta(days=20)).isoformat()}, "")
        soon_id = soon.id
        last_change = db.session.scalar(select(SearchChange.id).order_by(SearchChange.id.desc()))
    result = app.test_cli_runner().invoke(args=["consent-check"])
    assert result.exit_code == 0, result.output
    assert "Herinnering gestuurd: Bijna Verlopen" in result.output
    assert f"Gedepubliceerd (toestemming verlopen): {D['title']}" in result.output
    assert A["title"] not in result.output
    with app.app_context():
        from portal.models import Notification

        notes = db.session.scalars(select(Notification).where(Notification.item_id == soon_id)).all()
        assert [n.user.email for n in notes] == ["curator@delft.example.org"]
        assert db.session.get(Item, ids["D"]).status == "draft"
        changes = db.session.scalars(select(SearchChange.item_id).where(SearchChange.id > last_change)).all()
        assert ids["D"] in changes
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "item.unpublish"))
    again = app.test_cli_runner().invoke(args=["consent-check"])
    assert "0 herinneringen, 0 profielen gedepubliceerd." in again.output
    with app.app_context():
        assert len(db.session.scalars(select(Notification).where(Notification.item_id == soon_id)).all()) == 1


def test_profile_form_and_page_say_what_may_never_be_recorded(world, client_for):
    app, _ = world
    curator = client_for(app, "curator@delft.example.org")
    form = curator.get("/nieuw/sleutelfiguren").get_data(as_text=True)
    assert "religie, afkomst, gezondheid of politieke voorkeur" in form
    assert 'name="consent_expires"' in form and 'value="region"' in form and 'name="contact_route"' in form
    page = curator.get(f"/sleutelfiguren/{slug_of(A)}").get_data(as_text=True)
    assert "religie, afkomst, gezondheid of politieke voorkeur" in page
    assert "tekst 2026-1" in page  # consent details for its editors


def test_consent_fields_round_trip_through_the_form(fresh_world, client_for):
    app, _ = fresh_world
    curator = client_for(app, "curator@delft.example.org")
    data = {"title": "Nieuwe Sleutelfiguur", "municipality": "Delft", "visibility": "region",
            "contact_route": "curator", "consent": TODAY.isoformat(), "consent_scope": "gastlessen",
            "consent_version": "v3", "consent_expires": (TODAY - timedelta(days=1)).isoformat(),
            "action": "save", "body": ""}
    resp = post(curator, "/nieuw/sleutelfiguren", data, "/nieuw/sleutelfiguren")
    assert resp.status_code == 400
    assert "verlopen ná de datum van toestemming" in resp.get_data(as_text=True)
    data["consent_expires"] = (TODAY + timedelta(days=100)).isoformat()
    resp = post(curator, "/nieuw/sleutelfiguren", data, "/nieuw/sleutelfiguren")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    with app.app_context():
        p = db.session.scalar(select(Item).where(Item.title == "Nieuwe Sleutelfiguur"))
        assert (p.visibility, p.contact_route, p.consent_scope, p.consent_version) == ("region", "curator", "gastlessen", "v3")
        assert p.consent_expires == TODAY + timedelta(days=100)


# -- 2. visibility and contact routes ------------------------------------------------------
def test_region_only_profiles_and_contact_routes(world, client_for):
    app, _ = world
    same = client_for(app, "lid@delft.example.org")
    other = client_for(app, OTHER_MEMBER)
    curator = client_for(app, "curator@delft.example.org")

    page = same.get(f"/sleutelfiguren/{slug_of(B)}")
    assert page.status_code == 200 and B["contact_email"] in page.get_data(as_text=True)
    assert other.get(f"/sleutelfiguren/{slug_of(B)}").status_code == 404
    assert B["title"] not in other.get("/zoeken?q=voetbaltraining").get_data(as_text=True)
    assert B["title"] in same.get("/zoeken?q=voetbaltraining").get_data(as_text=True)

    html = other.get(f"/sleutelfiguren/{slug_of(A)}").get_data(as_text=True)
    assert A["title"] in html and A["contact_email"] not in html and A["contact_phone"] not in html
    assert "Vraag een introductie" in html
    html = same.get(f"/sleutelfiguren/{slug_of(A)}").get_data(as_text=True)
    assert A["contact_email"] in html and "Vraag een introductie" not in html

    html = same.get(f"/sleutelfiguren/{slug_of(C)}").get_data(as_text=True)
    assert C["contact_email"] not in html and C["contact_phone"] not in html and "Vraag een introductie" in html
    html = curator.get(f"/sleutelfiguren/{slug_of(C)}").get_data(as_text=True)
    assert C["contact_email"] in html


def test_introduction_request_goes_to_the_regions_curator(fresh_world, client_for):
    app, ids = fresh_world
    other = client_for(app, OTHER_MEMBER)
    path = f"/sleutelfiguren/{slug_of(A)}/introductie"
    assert other.post(path, data={"message": "Zonder formulier-token"}).status_code == 400
    resp = post(other, path, {"message": "kort"}, path)
    assert resp.status_code == 400 and "wie u bent" in resp.get_data(as_text=True)
    assert "kort</textarea>" in resp.get_data(as_text=True)
    resp = post(other, path, {"message": "Ik ben beleidsmedewerker in Utrecht en zoek advies over moederavonden."}, path)
    assert resp.status_code == 302

    # whoever sees the details already, or cannot see the profile, cannot ask
    assert client_for(app, "lid@delft.example.org").get(path).status_code == 404
    assert client_for(app).get(path).status_code == 302  # to the login page
    assert other.get("/introductieverzoeken").status_code == 403

    curator = client_for(app, "curator@delft.example.org")
    html = curator.get("/introductieverzoeken").get_data(as_text=True)
    assert OTHER_MEMBER in html and "zoek advies over moederavonden" in html
    with app.app_context():
        req = db.session.scalar(select(IntroductionRequest))
        req_id = req.id
        assert req.profile_id == ids["A"] and req.status == "open"
    assert post(other, f"/introductieverzoeken/{req_id}", {"action": "forward"}).status_code == 404
    assert post(curator, f"/introductieverzoeken/{req_id}", {"action": "forward"}).status_code == 302
    with app.app_context():
        from portal.models import Notification

        assert db.session.get(IntroductionRequest, req_id).status == "forwarded"
        note = db.session.scalar(select(Notification).where(Notification.kind == "introduction_forwarded"))
        assert note.user.email == OTHER_MEMBER


# -- 3. what a person is the contact for -------------------------------------------------
def test_profile_page_lists_only_visible_items_it_is_contact_for(world, client_for):
    app, _ = world
    html = client_for(app, "lid@delft.example.org").get(f"/sleutelfiguren/{slug_of(A)}").get_data(as_text=True)
    assert "Moederavonden in Tanthof" in html
    assert "Alleen Utrecht: wijkrondes" not in html
    html = client_for(app, OTHER_MEMBER).get(f"/sleutelfiguren/{slug_of(A)}").get_data(as_text=True)
    assert "Moederavonden in Tanthof" in html and "Alleen Utrecht: wijkrondes" in html
    # a practice links its region-only contact only for those who may see it
    anon_html = client_for(app).get("/werkwijzen/zaterdagvoetbal-met-gesprek").get_data(as_text=True)
    assert B["title"] not in anon_html
    assert B["title"] not in client_for(app, OTHER_MEMBER).get("/werkwijzen/zaterdagvoetbal-met-gesprek").get_data(as_text=True)
    assert B["title"] in client_for(app, "lid@delft.example.org").get("/werkwijzen/zaterdagvoetbal-met-gesprek").get_data(as_text=True)


# -- 4. the expert finder --------------------------------------------------------------------
def test_expert_finder_filters_and_puts_own_region_first(world, client_for):
    app, ids = world
    assert client_for(app).get("/wie-kan-helpen?q=buurtgesprekken").status_code == 302
    with app.app_context():
        delft = user("lid@delft.example.org")
        utrecht = user(OTHER_MEMBER)
        found = [p.title for p in people.find_experts(delft, "buurtgesprekken").profiles]
        assert set(found) == {A["title"], B["title"], E["title"]}
        assert found[-1] == E["title"]  # own region (Haaglanden) first
        found = [p.title for p in people.find_experts(utrecht, "buurtgesprekken").profiles]
        assert found == [E["title"], A["title"]]  # B is region-only
        somali = people.find_experts(delft, "", languages=["so"]).profiles
        assert A["title"] in [p.title for p in somali] and all("so" in p.languages for p in somali)
        assert [p.title for p in people.find_experts(delft, "buurtgesprekken", formal=False).profiles] == [A["title"]]
        assert [p.title for p in people.find_experts(delft, "buurtgesprekken", outside_office_hours=True).profiles] == [A["title"]]
        assert [p.title for p in people.find_experts(delft, "", key_figure_types=["religieus-leider"]).profiles] == [C["title"]]
        assert [p.title for p in people.find_experts(delft, "Somalisch").profiles][0] == A["title"]  # by name, own region first
        region_utrecht = str(utrecht.region_id)
        assert [p.title for p in people.find_experts(delft, "buurtgesprekken", regions=[region_utrecht]).profiles] == [E["title"]]
    resp = client_for(app, "lid@delft.example.org").get("/wie-kan-helpen?q=moederavonden&taal=so&formeel=nee")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and A["title"] in html and "Uw regio" in html
    assert "no-store" in resp.headers["Cache-Control"]
    assert A["contact_email"] not in html  # the finder lists, the profile page reveals


# -- 5. the privacy audit -------------------------------------------------------------------
def test_views_searches_and_reveals_are_logged_and_only_the_privacy_officer_reads_them(fresh_world, client_for):
    app, ids = fresh_world
    client_for(app, "lid@delft.example.org").get(f"/sleutelfiguren/{slug_of(A)}")
    client_for(app, OTHER_MEMBER).get(f"/sleutelfiguren/{slug_of(A)}")
    client_for(app, OTHER_MEMBER).get("/zoeken?q=moederavonden")
    client_for(app, OTHER_MEMBER).get("/wie-kan-helpen?q=gastlessen")
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("privacy.%"))).all()
        views = [r for r in rows if r.action == "privacy.profile_view" and r.detail["profile_id"] == ids["A"]]
        assert len(views) == 2 and {r.target for r in views} == {f"profile:{ids['A']}"}
        reveals = [r for r in rows if r.action == "privacy.contact_reveal"]
        assert [r.actor_id for r in reveals] == [user("lid@delft.example.org").id]  # only where shown
        searches = [r.detail["profile_ids"] for r in rows if r.action == "privacy.profile_search"]
        assert any(ids["A"] in s for s in searches) and [ids["C"]] in searches
        assert all(A["title"] not in json.dumps(r.detail) + r.target for r in rows)

    officer = client_for(app, PRIVACY)
    html = officer.get("/privacy").get_data(as_text=True)
    assert f"profiel {A['title']} bekeken door 2 gebruikers in 30 dagen" in html
    html = officer.get(f"/privacy/profielen/{ids['A']}").get_data(as_text=True)
    assert OTHER_MEMBER in html and "contactgegevens getoond" in html
    for email in ("beheer@example.org", "curator@delft.example.org", "lid@delft.example.org"):
        c = client_for(app, email)
        assert c.get("/privacy").status_code == 403, email
        assert c.get(f"/privacy/profielen/{ids['A']}").status_code == 403, email
    assert client_for(app).get("/privacy").status_code == 302
    with app.app_context():  # the admins' general audit log leaves privacy events out
        from portal.services.items import audit_log

        log = audit_log(user("beheer@example.org"))
        assert not [r for r, _ in log["rows"] if r.action.startswith("privacy.")]


# -- 6. rights of the person ---------------------------------------------------------------
def test_every_table_referring_to_items_is_handled_by_erase(fresh_world):
    """Walks the schema: a new table that refers to items (by foreign key, or
    by an ``item_id`` / ``profile_id`` column) must get an entry in
    ``people.ERASE_POLICY``; this test fails until it does."""
    app, _ = fresh_world
    with app.app_context():
        referring = {f"{t.name}.{c.name}" for t, c in people.item_references()}
        for table in db.metadata.sorted_tables:
            for col in table.columns:
                if col.name in ("item_id", "profile_id") or col.name.endswith("_item_id"):
                    referring.add(f"{table.name}.{col.name}")
        assert "revisions.item_id" in referring and "introduction_requests.profile_id" in referring
        missing = sorted(referring - set(people.ERASE_POLICY))
        assert not missing, f"add these columns to portal.services.people.ERASE_POLICY: {missing}"


def _database_text(app) -> str:
    """Every value of every table, as one string."""
    out = []
    with app.app_context():
        with db.engine.connect() as conn:
            for table in db.metadata.sorted_tables:
                for row in conn.execute(table.select()):
                    out.append(" ".join(str(v) for v in row))
    return "\n".join(out)


def test_export_then_erase_a_person_leaves_no_trace(fresh_world, client_for):
    app, ids = fresh_world
    pid = ids["A"]
    other = client_for(app, OTHER_MEMBER)
    other.get(f"/sleutelfiguren/{slug_of(A)}")
    other.get("/zoeken", query_string={"q": A["title"]})  # the search log (issue #9) keeps queries
    post(other, f"/sleutelfiguren/{slug_of(A)}/introductie",
         {"message": "Graag kennismaken over moederavonden in Utrecht."}, f"/sleutelfiguren/{slug_of(A)}/introductie")
    with app.app_context():  # a notification about the profile, in the notifications table
        a = db.session.get(Item, pid)
        a.consent_expires = TODAY + timedelta(days=5)
        db.session.commit()
        people.consent_check()

    for email in ("lid@delft.example.org", "curator@delft.example.org", PRIVACY):
        c = client_for(app, email)
        assert post(c, f"/beheer/personen/{pid}/export", {}).status_code == 403
        assert post(c, f"/beheer/personen/{pid}/wissen", {"bevestig": "ja"}).status_code == 403
    admin = client_for(app, "beheer@example.org")
    assert A["title"] in admin.get("/beheer/personen").get_data(as_text=True)
    resp = post(admin, f"/beheer/personen/{pid}/export", {})
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    assert "no-store" in resp.headers["Cache-Control"]
    data = json.loads(resp.get_data(as_text=True))
    assert data["profile"]["contact_email"] == A["contact_email"]
    assert data["profile"]["consent_version"] == "2026-1"
    assert data["revisions"][0]["body"] == BODIES["A"]
    assert any(v["by"] == OTHER_MEMBER and v["action"] == "privacy.profile_view" for v in data["views"])
    assert [m["title"] for m in data["mentioned_by"]] == ["Alleen Utrecht: wijkrondes", "Moederavonden in Tanthof"] or \
        sorted(m["title"] for m in data["mentioned_by"]) == ["Alleen Utrecht: wijkrondes", "Moederavonden in Tanthof"]
    assert "introduction_requests" in data["other"] and "notifications" in data["other"]

    secrets_ = [A["title"], A["contact_email"], A["contact_phone"], BODIES["A"], slug_of(A), "moederconsulent"]
    assert all(s in _database_text(app) for s in secrets_)
    if "search_log" in db.metadata.tables:
        secrets_.append(A["title"].casefold())
        assert A["title"].casefold() in _database_text(app)
    assert post(admin, f"/beheer/personen/{pid}/wissen", {}).status_code == 302  # not confirmed
    with app.app_context():
        assert db.session.get(Item, pid) is not None
    assert post(admin, f"/beheer/personen/{pid}/wissen", {"bevestig": "ja"}).status_code == 302

    dump = _database_text(app)
    for s in secrets_:
        assert s not in dump, s
    with app.app_context():
        assert db.session.get(Item, pid) is None
        for table, col in people.item_references():
            assert not db.session.execute(select(table).where(col == pid)).first(), table.name
        erased = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "privacy.erase")).all()
        assert len(erased) == 1 and erased[0].target == f"profile:{pid}" and erased[0].detail == {}
        assert erased[0].actor_id == user("beheer@example.org").id
        assert db.session.scalar(select(Item).where(Item.title == "Moederavonden in Tanthof")).contact is None
        search.catch_up()
        admin_user = user("beheer@example.org")
        for q in ("Zwanette", "Brinkhorst", "moederavonden", "moederconsulent"):
            assert all(h.id != pid for h in search.search(admin_user, q).hits), q
        assert search.check()["orphaned"] == []
        svc = search._service()
        with svc.open().searcher() as s:
            assert s.document_number(id=str(pid)) is None
        index_dir = app.config["INDEX_DIR"]
    import os

    for root, _dirs, files in os.walk(index_dir):  # not even in a deleted document's segment
        for name in files:
            with open(os.path.join(root, name), "rb") as fh:
                data = fh.read()
            for word in (b"brinkhorst", b"zwanette", b"moederconsulent", A["contact_email"].encode()):
                assert word not in data, (name, word)
    assert admin.get(f"/sleutelfiguren/{slug_of(A)}").status_code == 404


# -- 7. personal data in practices and lessons -------------------------------------------------
def test_personal_data_warnings_pure():
    w = people.personal_data_warnings(
        "Bel Zwanette Brinkhorst op 06-12345678 of +31 6 1234 5678, of 015 - niet; mail z@b.nl. "
        "Jaartal 2019-2020 en postcode 2611 AB zijn geen nummers.", ["Zwanette Brinkhorst", "Jan"])
    joined = " ".join(w)
    assert "06-12345678" in joined and "+31 6 1234 5678" in joined and "z@b.nl" in joined
    assert "Zwanette Brinkhorst" in joined and "Jan," not in joined
    assert "2019-2020" not in joined and "2611" not in joined
    assert people.personal_data_warnings("Een gewone tekst over jongerenwerk.", ["Zwanette Brinkhorst"]) == []
    assert people.personal_data_warnings("zwanette brinkhorstje", ["Zwanette Brinkhorst"]) == []


def test_edit_preview_warns_about_personal_data_but_saves(world, client_for):
    app, _ = world
    contributor = client_for(app, "bijdrager@delft.example.org")
    body = f"Neem contact op met {A['title']} via 06-24681357 of info@wijk.test."
    resp = post(contributor, "/nieuw/werkwijzen", {"title": "Met gegevens", "body": body, "action": "preview"},
                "/nieuw/werkwijzen")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "persoonsgegevens in de tekst" in html
    assert "06-24681357" in html and "info@wijk.test" in html and f"De tekst noemt {A['title']}" in html
    # a region-only profile the author may not see is not named (that would reveal it exists)
    other = client_for(app, "bijdrager@utrecht.example.org")
    resp = post(other, "/nieuw/werkwijzen", {"title": "X", "body": f"Met {B['title']}.", "action": "preview"},
                "/nieuw/werkwijzen")
    assert f"De tekst noemt {B['title']}" not in resp.get_data(as_text=True)
    resp = post(contributor, "/nieuw/werkwijzen", {"title": "Met gegevens", "body": body, "action": "save"},
                "/nieuw/werkwijzen")
    assert resp.status_code == 302  # a warning, not a block


# -- 8. caches ---------------------------------------------------------------------------------
def test_pages_with_profiles_are_never_stored(world, client_for):
    app, ids = world
    member = client_for(app, "lid@delft.example.org")
    for path in (f"/sleutelfiguren/{slug_of(A)}", "/wie-kan-helpen?q=x", "/zoeken?q=moederavonden",
                 "/sleutelfiguren", f"/sleutelfiguren/{slug_of(C)}/introductie"):
        resp = member.get(path)
        assert resp.status_code == 200, path
        assert "no-store" in resp.headers.get("Cache-Control", ""), path


def test_search_labels_still_agree_with_can_view(world):
    """Region-only and consent rules: what search shows, can_view allows."""
    app, _ = world
    with app.app_context():
        users = [None] + list(db.session.scalars(select(User)))
        for viewer in users:
            labels = set(permissions.user_labels(viewer))
            for item in db.session.scalars(select(Item).where(Item.status == "published")):
                if labels & set(permissions.item_labels(item)):
                    assert permissions.can_view(viewer, item), (viewer, item.slug)
                elif not permissions.can_edit(viewer, item):
                    assert not permissions.can_view(viewer, item), (viewer, item.slug)


def test_privacy_role_has_member_rights_only():
    from portal.models import User as U

    officer = U(role="privacy")
    assert officer.has_role("member") and officer.has_role("privacy")
    assert not officer.has_role("contributor") and not officer.has_role("admin")
    assert not U(role="admin").has_role("privacy")


def test_api_profile_reads_are_in_the_privacy_audit(fresh_world, client_for):
    app, ids = fresh_world
    member = client_for(app, "lid@delft.example.org")
    assert member.get(f"/api/v1/items/profile/{slug_of(A)}").status_code == 200
    assert member.get("/api/v1/search?q=moederavonden&type=profile").status_code == 200
    assert member.get("/api/v1/items?type=profile").status_code == 200
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("privacy.%"))).all()
        me = user("lid@delft.example.org").id
        assert {(r.action, r.actor_id) for r in rows} >= {("privacy.profile_view", me), ("privacy.contact_reveal", me),
                                                         ("privacy.profile_search", me)}
        assert len([r for r in rows if r.action == "privacy.profile_search"]) == 2


def test_a_profile_with_expired_consent_cannot_be_published_again(fresh_world):
    from portal.errors import ValidationFailed
    from portal.services.items import set_status

    app, ids = fresh_world
    with app.app_context():
        people.consent_check()
        d = db.session.get(Item, ids["D"])
        assert d.status == "draft"
        with pytest.raises(ValidationFailed) as exc:
            set_status(user("curator@delft.example.org"), d, "published")
        assert "verlopen" in exc.value.errors["consent"][0]


def test_the_whole_story_as_new_users_would_try_it(fresh_world, client_for):
    """A curator adds a key figure with consent; a member of the same region
    finds her by expertise and language; a member elsewhere sees only the
    introduction route; the view is in the privacy log; an erasure leaves no
    trace in search."""
    app, _ = fresh_world
    curator = client_for(app, "curator@delft.example.org")
    form = {"title": "Fadumo Warsameh", "municipality": "Delft", "role": "voorlichter",
            "expertise": "weerbaarheid van meiden, huiskamergesprekken", "languages": "so, nl",
            "formal": "false", "contact_email": "fadumo.warsameh@voorbeeld.test", "contact_phone": "06-31313131",
            "consent": TODAY.isoformat(), "consent_version": "2026-2", "visibility": "members",
            "contact_route": "direct", "action": "publish", "body": "Voorlichter in Buitenhof."}
    resp = post(curator, "/nieuw/sleutelfiguren", form, "/nieuw/sleutelfiguren")
    assert resp.status_code == 302 and "/sleutelfiguren/sf-" in resp.headers["Location"]
    fadumo = resp.headers["Location"].rsplit("/", 1)[-1]  # opaque: the name stays out of URLs
    assert "fadumo" not in fadumo and "warsameh" not in fadumo

    same = client_for(app, "lid@delft.example.org")
    html = same.get("/wie-kan-helpen?q=huiskamergesprekken&taal=so").get_data(as_text=True)
    assert "Fadumo Warsameh" in html
    page = same.get(f"/sleutelfiguren/{fadumo}").get_data(as_text=True)
    assert "fadumo.warsameh@voorbeeld.test" in page

    other = client_for(app, OTHER_MEMBER)
    page = other.get(f"/sleutelfiguren/{fadumo}").get_data(as_text=True)
    assert "Vraag een introductie" in page
    assert "fadumo.warsameh@voorbeeld.test" not in page and "06-31313131" not in page

    officer = client_for(app, PRIVACY)
    assert "profiel Fadumo Warsameh bekeken door 2 gebruikers in 30 dagen" in officer.get("/privacy").get_data(as_text=True)

    with app.app_context():
        pid = db.session.scalar(select(Item.id).where(Item.slug == fadumo))
    admin = client_for(app, "beheer@example.org")
    assert post(admin, f"/beheer/personen/{pid}/wissen", {"bevestig": "ja"}, "/beheer/personen").status_code == 302
    for q in ("Fadumo", "Warsameh", "huiskamergesprekken", "Somalisch"):
        html = same.get("/wie-kan-helpen", query_string={"q": q}).get_data(as_text=True)
        assert "Fadumo Warsameh" not in html, q
        html = same.get("/zoeken", query_string={"q": q.lower()}).get_data(as_text=True)
        assert "Fadumo Warsameh" not in html and fadumo not in html, q
    assert same.get(f"/sleutelfiguren/{fadumo}").status_code == 404


def test_consent_and_route_survive_export_and_import(fresh_world, empty_app, tmp_path):
    from portal.services.library import export_library, import_library

    app, _ = fresh_world
    with app.app_context():
        export_library(SYSTEM, tmp_path / "out")
    text_c = (tmp_path / "out" / "profiles" / f"{slug_of(C)}.md").read_text(encoding="utf-8")
    assert "contact_route: curator" in text_c
    text_a = (tmp_path / "out" / "profiles" / f"{slug_of(A)}.md").read_text(encoding="utf-8")
    assert "consent_version: 2026-1" in text_a and "consent_scope: vermelding voor leden" in text_a
    with empty_app.app_context():
        report = import_library(SYSTEM, tmp_path / "out")
        assert report.ok, report.problems
        b = db.session.scalar(select(Item).where(Item.slug == slug_of(B)))
        assert b.visibility == "region" and b.region is not None and b.region.name == "Haaglanden"
        c = db.session.scalar(select(Item).where(Item.slug == slug_of(C)))
        assert c.contact_route == "curator"


def test_consent_running_out_hides_the_profile_from_search_before_consent_check(fresh_world):
    """Consent ends by the calendar; the index hears nothing of it until
    `portal consent-check` unpublishes the profile. Search re-checks profile
    hits against the database, so the day after expiry the name is gone."""
    from sqlalchemy import text

    app, ids = fresh_world
    with app.app_context():
        member = user("lid@delft.example.org")
        found = search.search(member, A["title"])
        assert ids["A"] in [h.id for h in found.hits]
        # the calendar moves on: no change log row, the index is not told
        db.session.execute(text("UPDATE items SET consent_expires = :d WHERE id = :id"),
                           {"d": TODAY - timedelta(days=1), "id": ids["A"]})
        db.session.commit()
        again = search.search(member, A["title"])
        assert ids["A"] not in [h.id for h in again.hits]
        assert again.total == found.total - 1
        by_type = search.search(member, "", filters={"type": ["profile"]}, per_page=100)
        assert ids["A"] not in [h.id for h in by_type.hits]
