"""The JSON API (/api/v1): reading within the caller's permissions, writing
drafts with personal API tokens, JSON errors, CSRF, rate limits, the token
page and command, and a schemathesis run against the OpenAPI document."""

from __future__ import annotations

import hashlib
import re
from datetime import date

import frontmatter
import pytest
from sqlalchemy import select

from .conftest import CONTENT, PASSWORD, csrf_token, make_app, serving
from portal.extensions import db
from portal.models import ApiToken, Item, User
from portal.services.api_tokens import create_token, revoke_token
from portal.services.items import SYSTEM, save_item
from portal.services.library import create_user

OTHER_MEMBER = "lid@utrecht.example.org"


def _profiles() -> list[dict]:
    return [frontmatter.load(p).metadata | {"slug": p.stem} for p in sorted((CONTENT / "profiles").glob("*.md"))]


def _secrets_of_profiles() -> list[str]:
    """Names, slugs, e-mail addresses and phone numbers of the starter profiles."""
    out = []
    for meta in _profiles():
        out += [meta["title"], meta["slug"], meta["contact_email"], str(meta["contact_phone"])]
    return out


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def _token(app, email: str) -> str:
    with app.app_context():
        return create_token(SYSTEM, _user(email), "test")[1]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def api_app(tmp_path_factory):
    """The starter library plus: a member of Utrecht, a practice draft by the
    Delft contributor, and a profile limited to Delft; read-mostly."""
    app = make_app(tmp_path_factory.mktemp("api"))
    with app.app_context():
        create_user(SYSTEM, OTHER_MEMBER, "member", password="correct horse battery staple", municipality="Utrecht")
        save_item(_user("bijdrager@delft.example.org"), "practice",
                  {"title": "Geheim concept over wijkgesprekken", "municipality": "Delft"},
                  "Nog niet af: Zwanette Kraaikamp belt nog terug.")
        save_item(SYSTEM, "profile", {
            "title": "Gerrit-Jan Plomp", "municipality": "Delft", "visibility": "municipality",
            "consent": date.today().isoformat(), "contact_email": "gj.plomp@example.org",
            "contact_phone": "06-99999999", "role": "wijkagent"}, "Alleen voor Delft.")
    return app


@pytest.fixture(scope="module")
def tokens(api_app):
    return {email: _token(api_app, email) for email in
            ("lid@delft.example.org", OTHER_MEMBER, "bijdrager@delft.example.org",
             "bijdrager@utrecht.example.org", "curator@delft.example.org")}


def _everything(client, headers=None) -> str:
    """All that the read endpoints give ``client`` (with ``headers``), as text."""
    parts = []
    for path in ("/api/v1/items?per_page=100", "/api/v1/items?type=profile&per_page=100",
                 "/api/v1/search?per_page=100", "/api/v1/search?q=wijkagent&per_page=100",
                 "/api/v1/search?type=profile&per_page=100", "/api/v1/municipalities?with_items=true"):
        resp = client.get(path, headers=headers)
        assert resp.status_code == 200, (path, resp.get_data(as_text=True))
        parts.append(resp.get_data(as_text=True))
    listing = client.get("/api/v1/items?per_page=100", headers=headers).get_json()
    for item in listing["items"]:
        resp = client.get(item["api_url"].replace("http://localhost", ""), headers=headers)
        assert resp.status_code == 200
        parts.append(resp.get_data(as_text=True))
    return "\n".join(parts)


# -- reading ----------------------------------------------------------------------------
def test_anonymous_reads_public_items_only(api_app):
    client = api_app.test_client()
    listing = client.get("/api/v1/items?per_page=100").get_json()
    assert listing["total"] == len(listing["items"]) > 10
    assert {i["type"] for i in listing["items"]} == {"practice", "lesson"}
    with api_app.app_context():
        public = {(i.type, i.slug) for i in db.session.scalars(select(Item).where(
            Item.status == "published", Item.visibility == "public", Item.type != "profile"))}
    assert {(i["type"], i["slug"]) for i in listing["items"]} == public
    text = _everything(client)
    for secret in _secrets_of_profiles() + ["Plomp", "gj.plomp", "Geheim concept", "Kraaikamp"]:
        assert secret.lower() not in text.lower(), secret
    for profile in _profiles():
        resp = client.get(f"/api/v1/items/profile/{profile['slug']}")
        assert resp.status_code == 404 and resp.is_json


def test_practice_contact_slug_shown_only_to_who_may_see_the_profile(api_app, tokens):
    client = api_app.test_client()
    anon = client.get("/api/v1/items/practice/netwerk-sleutelfiguren-delft").get_json()
    assert anon["type"] == "practice" and "Het Delftse netwerk" in anon["body"]
    assert "<h2" in anon["html"] and "contact" not in anon["front_matter"]
    member = client.get("/api/v1/items/practice/netwerk-sleutelfiguren-delft",
                        headers=_auth(tokens["lid@delft.example.org"])).get_json()
    assert member["front_matter"]["contact"] == "ruud-hoogenbosch"


def test_contact_details_follow_the_permission_predicates(api_app, tokens):
    from portal import permissions

    client = api_app.test_client()
    shown = {}
    for email in ("lid@delft.example.org", OTHER_MEMBER):
        for profile in _profiles():
            resp = client.get(f"/api/v1/items/profile/{profile['slug']}", headers=_auth(tokens[email]))
            with api_app.app_context():
                item = db.session.scalar(select(Item).where(Item.type == "profile", Item.slug == profile["slug"]))
                user = _user(email)
                if not permissions.can_view(user, item):
                    assert resp.status_code == 404
                    continue
                allowed = permissions.can_view_contact(user, item)
            assert resp.status_code == 200
            meta = resp.get_json()["front_matter"]
            assert ("contact_email" in meta) == allowed
            assert ("contact_phone" in meta) == allowed
            assert (profile["contact_email"] in resp.get_data(as_text=True)) == allowed
            shown[(email, profile["slug"])] = allowed
    assert any(shown.values()), "no member saw any contact details: the test proves nothing"


def test_member_of_other_municipality_cannot_read_restricted_profile_or_draft(api_app, tokens):
    client = api_app.test_client()
    delft = client.get("/api/v1/items/profile/gerrit-jan-plomp", headers=_auth(tokens["lid@delft.example.org"]))
    assert delft.status_code == 200
    assert delft.get_json()["front_matter"]["contact_email"] == "gj.plomp@example.org"
    for headers in (_auth(tokens[OTHER_MEMBER]), _auth(tokens["bijdrager@utrecht.example.org"]), {}):
        resp = client.get("/api/v1/items/profile/gerrit-jan-plomp", headers=headers)
        assert resp.status_code == 404 and "plomp" not in resp.get_data(as_text=True).lower()
        resp = client.get("/api/v1/items/practice/geheim-concept-over-wijkgesprekken", headers=headers)
        assert resp.status_code == 404
        text = _everything(client, headers)
        assert "Plomp" not in text and "Geheim concept" not in text and "Kraaikamp" not in text
    author = client.get("/api/v1/items/practice/geheim-concept-over-wijkgesprekken",
                        headers=_auth(tokens["bijdrager@delft.example.org"]))
    assert author.status_code == 200 and author.get_json()["status"] == "draft"


def test_revoked_and_unknown_tokens_are_refused(api_app):
    client = api_app.test_client()
    token = _token(api_app, "lid@delft.example.org")
    assert client.get("/api/v1/items/profile/gerrit-jan-plomp", headers=_auth(token)).status_code == 200
    with api_app.app_context():
        row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hashlib.sha256(token.encode()).hexdigest()))
        assert row is not None and token not in (row.token_hash, row.prefix)
        revoke_token(SYSTEM, row.id)
    for headers in (_auth(token), _auth("not-a-token"), {"Authorization": "Basic Zm9vOmJhcg=="}):
        resp = client.get("/api/v1/items/profile/gerrit-jan-plomp", headers=headers)
        assert resp.status_code == 401 and resp.is_json
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert "Plomp" not in resp.get_data(as_text=True)


def test_search_wraps_the_portal_search_with_facets(api_app, tokens):
    client = api_app.test_client()
    anon = client.get("/api/v1/search?q=sleutelpersoon&per_page=5").get_json()
    assert anon["total"] > 0 and len(anon["hits"]) <= 5
    assert "profile" not in anon["facets"]["type"]
    assert all(h["type"] != "profile" for h in anon["hits"])
    member = client.get("/api/v1/search?q=wijkagent&type=profile",
                        headers=_auth(tokens["lid@delft.example.org"])).get_json()
    assert member["total"] > 0 and {h["type"] for h in member["hits"]} == {"profile"}
    filtered = client.get("/api/v1/search?theme=polarisatie&phase=opzetten&per_page=100").get_json()
    assert 0 < filtered["total"] < anon["total"] + 100
    assert client.get("/api/v1/search?page=nul").get_json()["errors"]["page"]
    assert client.get("/api/v1/search?sort=willekeurig").status_code == 400


def test_list_filters_and_paging(api_app):
    client = api_app.test_client()
    first = client.get("/api/v1/items?type=lesson&per_page=3").get_json()
    assert first["pages"] > 1 and len(first["items"]) == 3 and first["links"]["prev"] is None
    second = client.get(first["links"]["next"].replace("http://localhost", "")).get_json()
    assert second["page"] == 2
    assert not {i["slug"] for i in first["items"]} & {i["slug"] for i in second["items"]}
    delft = client.get("/api/v1/items?municipality=gm0503&per_page=100").get_json()
    assert delft["total"] > 0
    assert all(any(m["code"] == "GM0503" for m in i["municipalities"]) for i in delft["items"])
    assert client.get("/api/v1/items?type=onzin").status_code == 400
    assert client.get("/api/v1/items?per_page=1000").get_json()["errors"]["per_page"]


def test_municipalities_and_taxonomy(api_app):
    client = api_app.test_client()
    all_ = client.get("/api/v1/municipalities").get_json()
    assert all_["total"] == 342
    with_items = client.get("/api/v1/municipalities?with_items=true").get_json()["municipalities"]
    assert [m["name"] for m in with_items] == ["Delft"] and with_items[0]["items"] > 0
    tax = client.get("/api/v1/taxonomy").get_json()
    assert {"key": "polarisatie", "nl": "Polarisatie", "en": "Polarisation"} in tax["theme"]
    assert [p["key"] for p in tax["phase"]] == ["opzetten", "werving-selectie", "onderhouden"]


def test_errors_are_json_never_html(api_app):
    client = api_app.test_client()
    for method, path in (("GET", "/api/v1/bestaat-niet"), ("DELETE", "/api/v1/items"),
                         ("GET", "/api/v1/items/practice/bestaat-niet"), ("GET", "/api/v1/items/onzin/x")):
        resp = client.open(path, method=method)
        assert resp.status_code in (404, 405) and resp.is_json, (method, path)
        body = resp.get_json()
        assert body["status"] == resp.status_code and body["message"]
        assert "<html" not in resp.get_data(as_text=True) and "Traceback" not in resp.get_data(as_text=True)
    # Query arguments that url_for would read as its own options are not echoed into links.
    resp = client.get("/api/v1/items?_external=0&endpoint=x&type=lesson&per_page=2")
    assert resp.status_code == 200 and resp.get_json()["links"]["next"].endswith("/api/v1/items?type=lesson&per_page=2&page=2")


def test_openapi_document_lists_every_api_route(api_app):
    doc = api_app.test_client().get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items()
                  for method in ops if method != "parameters"}
    routes = set()
    for rule in api_app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            routes |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == documented


# -- writing ----------------------------------------------------------------------------
@pytest.fixture
def write_app(app):
    return app


def test_contributor_creates_a_draft_and_cannot_publish_or_mass_assign(write_app):
    client = write_app.test_client()
    token = _token(write_app, "bijdrager@delft.example.org")
    resp = client.post("/api/v1/items", headers=_auth(token), json={
        "type": "practice",
        "front_matter": {"title": "Buurtkoffie met sleutelfiguren", "municipality": "Delft",
                         "status": "published", "themes": ["polarisatie"], "region": "Nergensland"},
        "body": "We drinken **koffie**.",
    })
    assert resp.status_code == 201, resp.get_data(as_text=True)
    created = resp.get_json()
    assert created["status"] == "draft" and created["version"] >= 1
    assert "<strong>koffie</strong>" in created["html"]
    assert resp.headers["Location"].endswith("/api/v1/items/practice/buurtkoffie-met-sleutelfiguren")
    with write_app.app_context():
        item = db.session.scalar(select(Item).where(Item.slug == "buurtkoffie-met-sleutelfiguren"))
        assert item.status == "draft" and item.author_id == _user("bijdrager@delft.example.org").id
        assert item.region is None or item.region.name != "Nergensland"
    assert client.get("/api/v1/items/practice/buurtkoffie-met-sleutelfiguren").status_code == 404

    for field, value in (("featured", True), ("author", "beheer@example.org"), ("author_id", 1)):
        resp = client.post("/api/v1/items", headers=_auth(token), json={
            "type": "practice", "front_matter": {"title": f"Poging {field}", field: value}})
        assert resp.status_code == 400 and field in resp.get_json()["errors"]
    resp = client.post("/api/v1/items", headers=_auth(token), json={
        "type": "practice", "front_matter": {"title": "Poging"}, "featured": True})
    assert resp.status_code == 400 and "featured" in resp.get_json()["errors"]
    with write_app.app_context():
        assert not db.session.scalars(select(Item).where(Item.title.like("Poging%"))).all()
        assert not db.session.scalars(select(Item).where(Item.featured.is_(True))).all()


def test_validation_errors_name_the_field_in_dutch(write_app):
    client = write_app.test_client()
    token = _token(write_app, "bijdrager@delft.example.org")
    resp = client.post("/api/v1/items", headers=_auth(token), json={
        "type": "practice", "front_matter": {"municipality": "Atlantis", "date": "gisteren"}})
    assert resp.status_code == 400
    errors = resp.get_json()["errors"]
    assert set(errors) >= {"title", "municipality", "date"}
    assert "titel" in errors["title"] and "Atlantis" in errors["municipality"]
    assert client.post("/api/v1/items", headers=_auth(token), json={"type": "profile",
                       "front_matter": {"title": "Iemand"}}).status_code == 403
    resp = client.post("/api/v1/items", headers=_auth(token), data="geen json", content_type="text/plain")
    assert resp.status_code == 400 and resp.is_json


def test_update_with_optimistic_locking(write_app):
    client = write_app.test_client()
    token = _token(write_app, "curator@delft.example.org")
    path = "/api/v1/items/practice/netwerk-sleutelfiguren-delft"
    current = client.get(path, headers=_auth(token)).get_json()
    version = current["version"]
    resp = client.patch(path, headers=_auth(token), json={"version": version,
                                                          "front_matter": {"summary": "Nieuwe samenvatting."}})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    patched = resp.get_json()
    assert patched["summary"] == "Nieuwe samenvatting." and patched["version"] > version
    assert patched["body"] == current["body"] and patched["status"] == "published"
    assert patched["front_matter"]["themes"] == current["front_matter"]["themes"]
    stale = client.put(path, headers=_auth(token), json={"version": version, "front_matter": current["front_matter"],
                                                          "body": "Overschreven"})
    assert stale.status_code == 409 and stale.is_json
    assert client.get(path).get_json()["summary"] == "Nieuwe samenvatting."
    resp = client.put(path, headers=_auth(token), json={
        "version": patched["version"], "front_matter": {**patched["front_matter"], "title": "Netwerk Delft"},
        "body": "Kort."})
    assert resp.status_code == 200 and resp.get_json()["title"] == "Netwerk Delft"
    assert resp.get_json()["body"] == "Kort."
    resp = client.patch(path, headers=_auth(token), json={"version": resp.get_json()["version"],
                                                          "front_matter": {"slug": "andere-naam"}})
    assert resp.status_code == 400 and "slug" in resp.get_json()["errors"]
    assert client.patch(path, headers=_auth(token), json={"front_matter": {}}).get_json()["errors"]["version"]
    latest = client.get(path, headers=_auth(token)).get_json()
    assert latest["front_matter"]["themes"]
    resp = client.patch(path, headers=_auth(token), json={"version": latest["version"], "front_matter": {"themes": None}})
    assert resp.status_code == 200 and "themes" not in resp.get_json()["front_matter"]


def test_writers_cannot_edit_what_they_may_not(write_app):
    client = write_app.test_client()
    path = "/api/v1/items/practice/netwerk-sleutelfiguren-delft"
    version = client.get(path).get_json()["version"]
    utrecht = _token(write_app, "bijdrager@utrecht.example.org")
    member = _token(write_app, "lid@delft.example.org")
    for token in (utrecht, member):
        resp = client.patch(path, headers=_auth(token), json={"version": version, "front_matter": {"title": "Gekaapt"}})
        assert resp.status_code == 403 and resp.is_json
    assert client.patch(path, json={"version": version, "front_matter": {"title": "Gekaapt"}}).status_code == 401
    contributor = _token(write_app, "bijdrager@delft.example.org")
    resp = client.patch(path, headers=_auth(contributor), json={
        "version": version, "front_matter": {"status": "draft", "visibility": "members", "featured": True}})
    assert resp.status_code == 400 and "featured" in resp.get_json()["errors"]
    resp = client.patch(path, headers=_auth(contributor), json={
        "version": version, "front_matter": {"status": "draft", "visibility": "members"}})
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "published" and resp.get_json()["visibility"] == "public"
    assert client.get(path).get_json()["title"] != "Gekaapt"


def test_cookie_session_writes_need_csrf_token_requests_do_not(write_app, client_for):
    client = client_for(write_app, "bijdrager@delft.example.org")
    payload = {"type": "lesson", "front_matter": {"title": "Les via sessie"}}
    resp = client.post("/api/v1/items", json=payload)
    assert resp.status_code == 400 and resp.is_json and "CSRF" in resp.get_json()["message"]
    with write_app.app_context():
        assert db.session.scalar(select(Item).where(Item.title == "Les via sessie")) is None
    token = csrf_token(client, "/concepten")
    resp = client.post("/api/v1/items", json=payload, headers={"X-CSRFToken": token})
    assert resp.status_code == 201
    api_token = _token(write_app, "bijdrager@delft.example.org")
    fresh = write_app.test_client()
    resp = fresh.post("/api/v1/items", json={"type": "lesson", "front_matter": {"title": "Les via sleutel"}},
                      headers=_auth(api_token))
    assert resp.status_code == 201


def test_rate_limit_answers_json_429(tmp_path):
    app = make_app(tmp_path / "limited", content=False, API_RATE_LIMIT="3 per minute")
    client = app.test_client()
    codes = [client.get("/api/v1/taxonomy").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    resp = client.get("/api/v1/taxonomy")
    assert resp.is_json and resp.get_json()["status"] == 429
    # Made-up tokens share the address's allowance; a real key has its own.
    assert client.get("/api/v1/taxonomy", headers=_auth("verzonnen")).status_code == 429
    token = _token(app, "lid@delft.example.org")
    assert client.get("/api/v1/taxonomy", headers=_auth(token)).status_code == 200


# -- tokens: page and command --------------------------------------------------------------
def test_token_page_makes_shows_once_and_revokes(write_app, client_for):
    assert write_app.test_client().get("/account/sleutels").status_code == 302
    client = client_for(write_app, "lid@delft.example.org")
    assert client.get("/account/api-tokens").headers["Location"].endswith("/account/sleutels")
    page = client.get("/account/sleutels")
    assert page.status_code == 200 and "API-sleutels" in page.get_data(as_text=True)
    assert client.post("/account/sleutels", data={"name": "x"}).status_code == 400  # no CSRF token
    resp = client.post("/account/sleutels", data={"name": "intranet", "password": PASSWORD,
                                                  "csrf_token": csrf_token(client, "/account/sleutels")})
    assert resp.status_code == 201 and "no-store" in resp.headers["Cache-Control"]
    token = re.search(r'id="token"[^>]*value="([^"]+)"', resp.get_data(as_text=True)).group(1)
    assert len(token) >= 40
    assert token not in client.get("/account/sleutels").get_data(as_text=True)  # shown once
    api = write_app.test_client()
    assert api.get("/api/v1/items?type=profile", headers=_auth(token)).get_json()["total"] > 0
    with write_app.app_context():
        row = db.session.scalar(select(ApiToken).where(ApiToken.name == "intranet"))
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        row_id = row.id
    other = client_for(write_app, "bijdrager@delft.example.org")
    resp = other.post(f"/account/sleutels/{row_id}/intrekken", data={"csrf_token": csrf_token(other, "/account/sleutels")})
    assert resp.status_code == 404
    assert api.get("/api/v1/items", headers=_auth(token)).status_code == 200
    resp = client.post(f"/account/sleutels/{row_id}/intrekken", data={"csrf_token": csrf_token(client, "/account/sleutels")})
    assert resp.status_code == 302
    assert api.get("/api/v1/items", headers=_auth(token)).status_code == 401


def test_cli_creates_lists_and_revokes_tokens(write_app):
    runner = write_app.test_cli_runner()
    result = runner.invoke(args=["api-token", "create", "lid@delft.example.org", "--name", "script"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    client = write_app.test_client()
    assert client.get("/api/v1/items?type=profile", headers=_auth(token)).get_json()["total"] > 0
    listed = runner.invoke(args=["api-token", "list", "lid@delft.example.org"])
    assert token[:8] in listed.stdout and token not in listed.stdout
    token_id = listed.stdout.split("\t", 1)[0]
    assert runner.invoke(args=["api-token", "revoke", token_id]).exit_code == 0
    assert client.get("/api/v1/items", headers=_auth(token)).status_code == 401
    assert runner.invoke(args=["api-token", "create", "niemand@example.org"]).exit_code == 1


# -- following another portal ------------------------------------------------------------
def test_follow_imports_public_items_with_source_and_keeps_them_up_to_date(tmp_path):
    from portal.api.follow import follow_portal
    from portal.services.items import set_status

    source = make_app(tmp_path / "bron")
    follower = make_app(tmp_path / "volger", content=False)
    src = source.test_client()
    base = "http://bron.example"

    def fetch(url):
        resp = src.get(url.removeprefix(base))
        assert resp.status_code == 200, url
        return resp.get_json()

    with source.app_context():
        public = {(i.type, i.slug) for i in db.session.scalars(select(Item).where(
            Item.status == "published", Item.visibility == "public", Item.type.in_(("practice", "lesson"))))}
    with follower.app_context():
        report = follow_portal(SYSTEM, base + "/api/v1/", fetch=fetch)
        assert not report.problems and len(report.created) == len(public) > 10
        rows = db.session.scalars(select(Item)).all()
        assert {(i.type, i.extra["source"]["slug"]) for i in rows} == public
        assert all(i.extra["source"]["portal"] == base and i.status == "published" for i in rows)
        assert all(i.extra["source"]["url"].startswith("http://localhost/") for i in rows)
        assert not any(i.contact for i in rows)
    listing = follower.test_client().get("/api/v1/items?per_page=100").get_json()
    assert listing["total"] == len(public)
    page = follower.test_client().get("/api/v1/items/practice/netwerk-sleutelfiguren-delft").get_json()
    assert page["front_matter"]["source"]["portal"] == base
    html = follower.test_client().get("/werkwijzen/netwerk-sleutelfiguren-delft").get_data(as_text=True)
    assert "<dt>Bron</dt>" in html and f'>{base}</a>' in html
    with follower.app_context():  # an import file may carry any "source": only http(s) becomes a link
        item = db.session.scalar(select(Item).where(Item.slug == "netwerk-sleutelfiguren-delft"))
        item.extra = {**item.extra, "source": {**item.extra["source"], "url": "javascript:alert(1)"}}
        db.session.commit()
    html = follower.test_client().get("/werkwijzen/netwerk-sleutelfiguren-delft").get_data(as_text=True)
    assert "javascript:" not in html and "<dt>Bron</dt>" not in html
    text = _everything(follower.test_client())
    for secret in _secrets_of_profiles():
        assert secret.lower() not in text.lower(), secret

    with follower.app_context():
        again = follow_portal(SYSTEM, base, fetch=fetch)
        assert len(again.unchanged) == len(public) and not again.created and not again.updated
    with source.app_context():
        item = db.session.scalar(select(Item).where(Item.slug == "netwerk-sleutelfiguren-delft"))
        save_item(SYSTEM, "practice", {"title": "Netwerk Delft, bijgewerkt", "municipality": "Delft"},
                  "Nieuwe tekst.", item=item)
        set_status(SYSTEM, db.session.scalar(select(Item).where(Item.slug == "fase-opzetten")), "draft")
    with follower.app_context():
        third = follow_portal(SYSTEM, base, fetch=fetch)
        assert third.updated == ["practice/netwerk-sleutelfiguren-delft"]
        assert third.withdrawn == ["practice/fase-opzetten"]
        updated = db.session.scalar(select(Item).where(Item.slug == "netwerk-sleutelfiguren-delft"))
        assert updated.title == "Netwerk Delft, bijgewerkt" and updated.body == "Nieuwe tekst."
        assert db.session.scalar(select(Item.status).where(Item.slug == "fase-opzetten")) == "draft"


def test_follow_command_reads_another_portal_over_http(tmp_path):
    source = make_app(tmp_path / "bron")
    follower = make_app(tmp_path / "volger", content=False)
    with serving(source) as url:
        runner = follower.test_cli_runner()
        result = runner.invoke(args=["follow", url, "--type", "lesson"])
        assert result.exit_code == 0, result.output
        assert " nieuw, 0 bijgewerkt" in result.output
        with follower.app_context():
            rows = db.session.scalars(select(Item)).all()
            assert rows and {i.type for i in rows} == {"lesson"}
            assert {i.extra["source"]["portal"] for i in rows} == {url}
        assert runner.invoke(args=["follow", "ftp://example.org"]).exit_code == 1
        assert runner.invoke(args=["follow", f"{url}/bestaat-niet"]).exit_code == 1


def test_follow_waits_out_the_sources_rate_limit(tmp_path):
    from portal.api.follow import FollowError, http_json

    source = make_app(tmp_path / "bron", content=False, API_RATE_LIMIT="1 per minute")
    with serving(source) as base:
        url = f"{base}/api/v1/taxonomy"
        assert "theme" in http_json(url)
        waits = []
        with pytest.raises(FollowError):
            http_json(url, sleep=waits.append)
        # the source's 429 carries Retry-After (the seconds left of its minute): waited out as given
        assert len(waits) == 4 and all(1.0 <= w <= 60.0 for w in waits), waits


# -- schemathesis ----------------------------------------------------------------------------
def test_schemathesis_finds_no_server_errors_and_conforming_responses(tmp_path):
    """Every documented operation, with generated inputs, anonymously and
    with a contributor's token: no 5xx, documented status codes, content
    types, headers and bodies that match the schema (and, for reads, valid
    input accepted). Runs in-process through the app's WSGI interface.
    Item paths are drawn from real items (profiles and drafts included) and
    writes often carry the item's current version, so that generated front
    matter reaches validation and saving, not only the 404 and 409 answers."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        positive_data_acceptance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    app = make_app(tmp_path / "st", API_RATE_LIMIT="100000 per minute", API_WRITE_RATE_LIMIT="100000 per minute")
    token = _token(app, "bijdrager@delft.example.org")
    with app.app_context():
        from portal.permissions import can_edit

        rows = db.session.scalars(select(Item)).all()
        real = sorted((i.type, i.slug) for i in rows)
        writer = _user("bijdrager@delft.example.org")
        editable = sorted((i.type, i.slug) for i in rows if can_edit(writer, i))

    def version_of(item_type: str, slug: str) -> int:
        with app.app_context():
            return db.session.scalar(select(Item.version).where(Item.type == item_type, Item.slug == slug))

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_headers_conformance, response_schema_conformance]
    statuses: dict[str, set[int]] = {}

    def fuzz(operation, headers: dict[str, str], reading: bool) -> None:
        @settings(max_examples=20 if reading else 40, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(), pick=st.sampled_from(real if reading else editable),
               current=st.booleans())
        def run(case, pick, current):
            if case.path_parameters and "slug" in case.path_parameters:
                case.path_parameters = {"item_type": pick[0], "slug": pick[1]}
                if current and isinstance(case.body, dict) and "version" in case.body:
                    case.body["version"] = version_of(*pick)
            response = case.call_and_validate(
                headers=headers, checks=checks + ([positive_data_acceptance] if reading else []))
            statuses.setdefault(operation.label, set()).add(response.status_code)

        run()

    for result in schema.get_all_operations():
        operation = result.ok()
        for headers in ({}, _auth(token)):
            fuzz(operation, headers, reading=operation.method.upper() == "GET")
    assert len(statuses) == 8
    # The run reached the interesting answers, not only refusals.
    assert 200 in statuses["GET /api/v1/items/{item_type}/{slug}"]
    assert 201 in statuses["POST /api/v1/items"]
    assert 200 in statuses["PATCH /api/v1/items/{item_type}/{slug}"]
    assert {400, 401} <= statuses["POST /api/v1/items"]
