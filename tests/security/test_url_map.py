"""ASVS 5.0 V3.5.1 (anti-forgery tokens on every state-changing request)
and V3.5.3 (no state change through GET): walks ``app.url_map``, so a
route added later is covered without touching this file."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import csrf, db
from portal.models import Item
from portal.models.users import ALL_ROLES

from ..conftest import USERS, make_app
from .helpers import post_login

pytestmark = pytest.mark.once  # walks routes for CSRF and GET safety: engine-independent, runs once (tests/conftest.py)

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
#: Audit rows that reading writes on purpose: the privacy log of who looked
#: at a profile (issue #5) and the record of a refused request.
READ_AUDIT = {"access.denied", "privacy.profile_view", "privacy.profile_search", "privacy.contact_reveal",
              "privacy.profile_listed"}
CSRF_MESSAGE = "Het formulier is verlopen of ongeldig"
TYPE_PATHS = {"practice": "werkwijzen", "lesson": "lessen", "profile": "sleutelfiguren"}


@pytest.fixture(scope="module")
def walk_app(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("walk"))
    if "privacy" in ALL_ROLES:
        from portal.services.items import SYSTEM
        from portal.services.library import create_user

        with app.app_context():
            create_user(SYSTEM, "privacy@example.org", "privacy", password="correct horse battery staple")
    return app


def _snapshot(app) -> dict[str, list[tuple]]:
    """Every row of every table (read audit rows left out)."""
    out: dict[str, list[tuple]] = {}
    with app.app_context():
        for table in db.metadata.sorted_tables:
            rows = db.session.execute(select(table)).all()
            if table.name == "audit_events":
                rows = [r for r in rows if r._mapping["action"] not in READ_AUDIT]
            out[table.name] = sorted(tuple(str(v) for v in r) for r in rows)
    return out


def _diff(before, after) -> dict[str, int]:
    return {name: len(set(after[name]) ^ set(before[name])) for name in before if before[name] != after[name]}


def _values(app) -> dict[str, list]:
    with app.app_context():
        items = {}
        for item_type in TYPE_PATHS:
            item = db.session.scalar(select(Item).where(Item.type == item_type).order_by(Item.id))
            if item is not None:
                items[item_type] = (item.slug, item.id)
    return items


def _urls(app, rule, items) -> list[str]:
    """Concrete URLs for ``rule``: real items where the rule names one."""
    args = set(rule.arguments)
    combos: list[dict] = []
    if "slug" in args and ("type_path" in args or "item_type" in args):
        for item_type, (slug, _id) in items.items():
            key = "type_path" if "type_path" in args else "item_type"
            value = TYPE_PATHS[item_type] if key == "type_path" else item_type
            combos.append({key: value, "slug": slug})
    elif "type_path" in args:
        combos = [{"type_path": p} for p in ("werkwijzen", "lessen", "sleutelfiguren")]
    else:
        combos = [{}]
    defaults = {"phase": "opzetten", "theme": "jongeren", "code": "GM0503", "token": "x" * 43,
                "filename": "portal.css", "slug": items.get("profile", ("x",))[0],
                "profile_id": items.get("profile", ("", 1))[1], "item_type": "practice"}
    urls = []
    for combo in combos:
        values = {a: combo.get(a, defaults.get(a, 1)) for a in args}
        with app.test_request_context():
            try:
                urls.append(app.url_map.bind("localhost").build(rule.endpoint, values, method=None))
            except Exception:  # a converter refuses our value: try the rule's own default
                continue
    return urls


def _exempt(app, rule) -> bool:
    view = app.view_functions[rule.endpoint]
    name = f"{view.__module__}.{view.__name__}"
    blueprint = rule.endpoint.rsplit(".", 1)[0] if "." in rule.endpoint else None
    return name in csrf._exempt_views or (blueprint is not None and blueprint in {bp.name for bp in csrf._exempt_blueprints})


def test_v3_5_1_every_state_changing_route_requires_a_csrf_token(walk_app):
    admin = walk_app.test_client()
    post_login(admin, "beheer@example.org")
    items = _values(walk_app)
    checked, failures = 0, []
    before = _snapshot(walk_app)
    for rule in walk_app.url_map.iter_rules():
        for method in sorted(rule.methods & STATE_CHANGING):
            for url in _urls(walk_app, rule, items):
                if _exempt(walk_app, rule):
                    resp = admin.open(url, method=method, json={"type": "practice", "body": "x",
                                                                "front_matter": {"title": "x", "status": "published"}})
                else:
                    resp = admin.open(url, method=method, data={"title": "x", "status": "published"})
                checked += 1
                if _exempt(walk_app, rule):
                    # token-authenticated (the API's bearer key, the digest's signed
                    # unsubscribe link): a browser's session cookie alone must not
                    # write; the snapshot below proves nothing changed
                    refused = resp.status_code in (400, 401, 403)
                    if not refused:
                        failures.append(f"{method} {url} (CSRF-exempt) answered {resp.status_code} to a cookie")
                elif resp.status_code != 400 or CSRF_MESSAGE not in resp.get_data(as_text=True):
                    failures.append(f"{method} {url} without a CSRF token answered {resp.status_code}")
    assert checked >= 10
    assert failures == []
    assert _diff(before, _snapshot(walk_app)) == {}


def _clients(app):
    clients = {"anonymous": app.test_client()}
    emails = [email for email, _role, _muni in USERS]
    if "privacy" in ALL_ROLES:
        emails.append("privacy@example.org")
    for email in emails:
        client = app.test_client()
        assert post_login(client, email).status_code == 302, email
        clients[email] = client
    return clients


def test_v3_5_3_no_get_request_changes_state(walk_app):
    clients = _clients(walk_app)
    items = _values(walk_app)
    before = _snapshot(walk_app)
    visited, failures = 0, []
    for rule in walk_app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        for url in _urls(walk_app, rule, items):
            for who, client in clients.items():
                resp = client.get(url)
                visited += 1
                assert resp.status_code < 500, f"GET {url} as {who}: {resp.status_code}"
                after = _snapshot(walk_app)
                if after != before:
                    failures.append(f"GET {url} as {who} changed {_diff(before, after)}")
                    before = after
    assert visited >= 100
    assert failures == []


def test_state_changing_routes_refuse_get(walk_app):
    """A POST-only route answers 405 to GET rather than acting."""
    admin = walk_app.test_client()
    post_login(admin, "beheer@example.org")
    before = _snapshot(walk_app)
    for url in ("/uitloggen", "/voorbeeld", "/meldingen/gelezen"):
        if any(r.rule == url for r in walk_app.url_map.iter_rules()):
            assert admin.get(url).status_code == 405, url
    assert _diff(before, _snapshot(walk_app)) == {}
