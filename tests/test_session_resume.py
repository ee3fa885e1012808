"""An expired session while editing (issue #4): the author presses Save after
30 minutes idle, logs in again, and finds their text back in the form."""

from __future__ import annotations

import hashlib
import html as html_lib
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Item, KeptForm, User
from portal.services.items import save_item

from .conftest import PASSWORD, csrf_token, make_app

AUTHOR = "bijdrager@delft.example.org"
OTHER = "bijdrager@utrecht.example.org"
LONG_TEXT = "## Aanpak\n\n" + " ".join(f"Zin {n} over buurtvaders die rondes lopen in Tanthof." for n in range(400))


@pytest.fixture
def world(tmp_path):
    app = make_app(tmp_path / "resume", content=False)
    with app.app_context():
        author = db.session.scalar(select(User).where(User.email == AUTHOR))
        slug = save_item(author, "practice", {"title": "Buurtvaders", "municipality": "Delft"}, "Kort.").slug
    return app, slug


def expire(client) -> None:
    """Simulate 31 minutes without a request (as tests/security/test_sessions.py does)."""
    with client.session_transaction() as sess:
        sess["_seen_at"] = int(time.time()) - 31 * 60


def login_via(client, location: str, email: str):
    """Log in on the login page ``location`` (with its ``next``); returns the response."""
    page = location.replace("http://localhost", "")
    token = csrf_token(client, page)
    return client.post(page, data={"email": email, "password": PASSWORD, "csrf_token": token})


def form_of(html: str) -> dict[str, str]:
    title = re.search(r'id="f-title" name="title"[^>]*value="([^"]*)"', html)
    body = re.search(r'<textarea id="f-body" name="body"[^>]*>(.*?)</textarea>', html, re.S)
    version = re.search(r'name="version" value="(\d+)"', html)
    return {"title": html_lib.unescape(title.group(1)) if title else "",
            "body": html_lib.unescape(body.group(1)) if body else "",
            "version": version.group(1) if version else ""}


def post_after_expiry(app, slug: str | None):
    client = app.test_client()
    client.post("/inloggen", data={"email": AUTHOR, "password": PASSWORD, "csrf_token": csrf_token(client)})
    path = f"/werkwijzen/{slug}/bewerken" if slug else "/nieuw/werkwijzen"
    page = client.get(path).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = {"csrf_token": token, "title": "Buurtvaders lopen rondes", "municipality": "Delft",
            "summary": "Vaders in de wijk.", "body": LONG_TEXT, "action": "save"}
    version = re.search(r'name="version" value="(\d+)"', page)
    if version:
        data["version"] = version.group(1)
    expire(client)
    resp = client.post(path, data=data)
    return client, path, resp


@pytest.mark.parametrize("new", [False, True], ids=["existing-item", "new-item"])
def test_text_survives_an_expired_session_and_can_be_saved(world, new):
    app, slug = world
    client, path, resp = post_after_expiry(app, None if new else slug)
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert urlsplit(location).path == "/inloggen"
    next_url = parse_qs(urlsplit(location).query)["next"][0]
    assert urlsplit(next_url).path == path
    token = parse_qs(urlsplit(next_url).query)["hervat"][0]
    with app.app_context():
        rows = db.session.scalars(select(KeptForm)).all()
        assert len(rows) == 1
        assert rows[0].token_hash == hashlib.sha256(token.encode()).hexdigest()  # only the hash is stored
        assert token not in str(rows[0].fields) and len(token) >= 40
        assert (rows[0].expires_at - rows[0].created_at).total_seconds() == 2 * 3600
        assert db.session.scalar(select(Item.body).where(Item.slug == slug)) == "Kort."  # nothing saved yet
    login_page = client.get(location.replace("http://localhost", "")).get_data(as_text=True)
    assert "Uw sessie was verlopen. Uw tekst is bewaard" in login_page
    resp = login_via(client, location, AUTHOR)
    assert resp.status_code == 302 and resp.headers["Location"].endswith(next_url)
    page = client.get(next_url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Uw tekst van daarnet is teruggezet; controleer en sla op" in html
    values = form_of(html)
    assert values["title"] == "Buurtvaders lopen rondes" and values["body"] == LONG_TEXT
    with app.app_context():
        assert db.session.scalar(select(func.count(KeptForm.id))) == 0  # one use: deleted
    # a second visit of the link restores nothing
    assert "teruggezet" not in client.get(next_url).get_data(as_text=True)
    # and saving works
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    data = {"csrf_token": token, "title": values["title"], "municipality": "Delft",
            "summary": "Vaders in de wijk.", "body": values["body"], "action": "save"}
    if values["version"]:
        data["version"] = values["version"]
    saved = client.post(path, data=data)
    assert saved.status_code == 302, saved.get_data(as_text=True)[:600]
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.title == "Buurtvaders lopen rondes"))
        assert item is not None and item.body == LONG_TEXT
        actions = set(db.session.scalars(select(AuditEvent.action)))
        assert {"form.kept", "form.restored"} <= actions


def test_another_user_cannot_use_the_token(world):
    app, slug = world
    _, path, resp = post_after_expiry(app, slug)
    location = resp.headers["Location"]
    next_url = parse_qs(urlsplit(location).query)["next"][0]
    # a curator of the same municipality may edit the item, but it is not their text
    for email in ("curator@delft.example.org", OTHER):
        thief = app.test_client()
        assert login_via(thief, location, email).status_code == 302
        got = thief.get(next_url)
        html = got.get_data(as_text=True)
        assert LONG_TEXT[:200] not in html and "teruggezet;" not in html
        assert got.status_code in (200, 404)  # the Utrecht contributor may not even see the draft
    with app.app_context():
        assert db.session.scalar(select(func.count(KeptForm.id))) == 1  # still there for its author
    author = app.test_client()
    assert login_via(author, location, AUTHOR).status_code == 302
    assert form_of(author.get(next_url).get_data(as_text=True))["body"] == LONG_TEXT


def test_kept_text_is_discarded_when_the_author_may_no_longer_edit(world):
    app, slug = world
    _, path, resp = post_after_expiry(app, slug)
    location = resp.headers["Location"]
    next_url = parse_qs(urlsplit(location).query)["next"][0]
    with app.app_context():  # meanwhile the author became a plain member
        author = db.session.scalar(select(User).where(User.email == AUTHOR))
        author.role = "member"
        db.session.commit()
    client = app.test_client()
    login_via(client, location, AUTHOR)
    assert LONG_TEXT[:200] not in client.get(next_url).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(KeptForm.id))) == 0
        assert "form.discarded" in set(db.session.scalars(select(AuditEvent.action)))


def test_an_expired_kept_form_is_not_restored(world):
    app, slug = world
    _, path, resp = post_after_expiry(app, slug)
    location = resp.headers["Location"]
    next_url = parse_qs(urlsplit(location).query)["next"][0]
    with app.app_context():
        row = db.session.scalar(select(KeptForm))
        row.expires_at = row.created_at  # two hours have passed
        db.session.commit()
    client = app.test_client()
    login_via(client, location, AUTHOR)
    assert LONG_TEXT[:200] not in client.get(next_url).get_data(as_text=True)


def test_a_post_without_any_session_is_not_kept(world):
    app, slug = world
    client = app.test_client()
    resp = client.post(f"/werkwijzen/{slug}/bewerken", data={"title": "x", "body": LONG_TEXT})
    assert resp.status_code == 400  # no CSRF token: refused, nothing kept
    with app.app_context():
        assert db.session.scalar(select(func.count(KeptForm.id))) == 0
