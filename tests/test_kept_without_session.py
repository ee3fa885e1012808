"""Nothing lost when the whole session cookie is gone (issue #4): the item
form is posted, the CSRF check refuses it (its token lived in the lost
session), and still the text is kept, server-side, for that browser; after
logging in again it is back in the same form, to be saved by a fresh,
CSRF-checked submit. CSRF stays on in every test here."""

from __future__ import annotations

import hashlib
import html as html_lib
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Item, SessionlessForm, User
from portal.services import kept_forms
from portal.services.items import save_item
from portal.web.resume import COOKIE

from .conftest import PASSWORD, csrf_token, make_app

AUTHOR = "bijdrager@delft.example.org"
TEXT = "## Aanpak\n\n" + " ".join(f"Zin {n}: de buurtvaders lopen op vrijdag door Tanthof." for n in range(300))
ORIGIN = {"Origin": "http://localhost"}


@pytest.fixture
def world(tmp_path):
    app = make_app(tmp_path / "kept", content=False)
    with app.app_context():
        author = db.session.scalar(select(User).where(User.email == AUTHOR))
        slug = save_item(author, "practice", {"title": "Buurtvaders", "municipality": "Delft"}, "Kort.").slug
    return app, slug


def _login(client, email, page="/inloggen"):
    return client.post(page, data={"email": email, "password": PASSWORD, "csrf_token": csrf_token(client, page)})


def _form_then_lose_the_session(app, path):
    """Log in, open the form, then lose every cookie (the browser was closed):
    returns the client and the form data as the page would post it."""
    client = app.test_client()
    assert _login(client, AUTHOR).status_code == 302
    page = client.get(path).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = {"csrf_token": token, "title": "Buurtvaders lopen rondes", "municipality": "Delft",
            "summary": "Vaders in de wijk.", "body": TEXT, "action": "save"}
    version = re.search(r'name="version" value="(\d+)"', page)
    if version:
        data["version"] = version.group(1)
    client._cookies.clear()  # the whole session cookie is gone
    assert client.get_cookie("session") is None
    return client, data


def _values(html: str) -> tuple[str, str]:
    title = re.search(r'id="f-title" name="title"[^>]*value="([^"]*)"', html)
    body = re.search(r'<textarea id="f-body" name="body"[^>]*>(.*?)</textarea>', html, re.S)
    return (html_lib.unescape(title.group(1)) if title else "", html_lib.unescape(body.group(1)) if body else "")


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(SessionlessForm.id)))


@pytest.mark.parametrize("new", [False, True], ids=["existing-item", "new-item"])
def test_text_posted_without_any_session_is_back_after_login(world, new):
    app, slug = world
    path = "/nieuw/werkwijzen" if new else f"/werkwijzen/{slug}/bewerken"
    client, data = _form_then_lose_the_session(app, path)
    resp = client.post(path, data=data, headers=ORIGIN)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400  # refused as a save: CSRF is not bypassed
    assert "Uw sessie was verlopen; log opnieuw in, uw tekst is bewaard." in html
    login_link = html_lib.unescape(re.search(r'href="(/inloggen\?next=[^"]+)"', html).group(1))
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert "HttpOnly" in resp.headers["Set-Cookie"]
    with app.app_context():
        row = db.session.scalar(select(SessionlessForm))
        assert row.token_hash == hashlib.sha256(cookie.value.encode()).hexdigest()  # only the hash is stored
        assert (row.expires_at - row.created_at) == timedelta(hours=2)
        assert dict(row.fields)["body"] == TEXT and "csrf_token" not in dict(row.fields)
        assert db.session.scalar(select(Item.body).where(Item.slug == slug)) == "Kort."  # nothing saved
        assert db.session.scalar(select(func.count(Item.id))) == 1
    # log in through the page's link: back to the same form, with the text
    resp = _login(client, AUTHOR, login_link)
    assert resp.status_code == 302 and resp.headers["Location"].endswith(path)
    page = client.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert _values(html) == ("Buurtvaders lopen rondes", TEXT)
    assert "Uw tekst van daarnet is teruggezet" in html
    assert client.get_cookie(COOKIE) is None and _count(app) == 0  # used once
    assert "Buurtvaders lopen rondes" not in client.get(path).get_data(as_text=True)  # not twice
    # saving takes a fresh, CSRF-checked submit of the restored form
    fresh = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    version = re.search(r'name="version" value="(\d+)"', html)
    save = dict(data, csrf_token=fresh, **({"version": version.group(1)} if version else {}))
    assert client.post(path, data=save).status_code == 302
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.title == "Buurtvaders lopen rondes"))
        assert item is not None and item.body == TEXT
        actions = set(db.session.scalars(select(AuditEvent.action)))
        assert {"form.kept_without_session", "form.restored"} <= actions


def test_a_cross_site_post_is_not_kept(world):
    """A post from another site also arrives without the session cookie; it
    must not put text into anyone's form."""
    app, slug = world
    path = f"/werkwijzen/{slug}/bewerken"
    client, data = _form_then_lose_the_session(app, path)
    for headers in ({"Origin": "https://aanvaller.example"}, {"Referer": "https://aanvaller.example/x"}, {}):
        resp = client.post(path, data=data, headers=headers)
        assert resp.status_code == 400
        assert "Het formulier is verlopen of ongeldig" in resp.get_data(as_text=True)
        assert client.get_cookie(COOKIE) is None
    assert _count(app) == 0


def test_a_post_without_the_forms_token_or_to_another_page_is_not_kept(world):
    app, slug = world
    client, data = _form_then_lose_the_session(app, f"/werkwijzen/{slug}/bewerken")
    no_token = {k: v for k, v in data.items() if k != "csrf_token"}
    assert client.post(f"/werkwijzen/{slug}/bewerken", data=no_token, headers=ORIGIN).status_code == 400
    assert client.post("/voorbeeld", data=data, headers=ORIGIN).status_code == 400
    assert _count(app) == 0 and client.get_cookie(COOKIE) is None


def test_a_logged_in_session_with_a_bad_token_is_not_kept(world):
    """A wrong token while the session lives is a forgery, not a lost session."""
    app, slug = world
    client = app.test_client()
    _login(client, AUTHOR)
    resp = client.post(f"/werkwijzen/{slug}/bewerken", data={"csrf_token": "vervalst", "body": TEXT},
                       headers=ORIGIN)
    assert resp.status_code == 400 and _count(app) == 0


def test_another_user_in_that_browser_who_may_not_edit_gets_nothing(world):
    app, slug = world
    path = f"/werkwijzen/{slug}/bewerken"
    client, data = _form_then_lose_the_session(app, path)
    client.post(path, data=data, headers=ORIGIN)
    assert _count(app) == 1
    _login(client, "bijdrager@utrecht.example.org")  # may not even see the draft
    resp = client.get(path)
    assert resp.status_code == 404 and TEXT[:100] not in resp.get_data(as_text=True)
    with app.app_context():  # one use: a kept form nobody may use here is discarded, never shown
        assert _count(app) == 0
        assert "form.discarded" in set(db.session.scalars(select(AuditEvent.action)))


def test_kept_text_expires_after_a_day(world):
    app, slug = world
    path = f"/werkwijzen/{slug}/bewerken"
    client, data = _form_then_lose_the_session(app, path)
    client.post(path, data=data, headers=ORIGIN)
    with app.app_context():
        row = db.session.scalar(select(SessionlessForm))
        row.expires_at = row.created_at  # a day has passed
        db.session.commit()
    _login(client, AUTHOR)
    assert _values(client.get(path).get_data(as_text=True))[1] != TEXT
    assert _count(app) == 0  # discarded on the way


def test_storage_is_bounded_by_size_and_per_address(world):
    app, slug = world
    path = f"/werkwijzen/{slug}/bewerken"
    client, data = _form_then_lose_the_session(app, path)
    huge = dict(data, body="x" * (kept_forms.MAX_CHARS_WITHOUT_SESSION + 1))
    resp = client.post(path, data=huge, headers=ORIGIN)
    assert resp.status_code == 400 and "uw tekst is bewaard" not in resp.get_data(as_text=True)
    assert _count(app) == 0
    kept = 0
    for _ in range(25):
        client._cookies.clear()
        if "uw tekst is bewaard" in client.post(path, data=data, headers=ORIGIN).get_data(as_text=True):
            kept += 1
    assert kept == 20  # KEEP_WITHOUT_SESSION_LIMIT per address
    assert _count(app) == 20


def test_the_table_has_a_ceiling(world, monkeypatch):
    app, slug = world
    monkeypatch.setattr(kept_forms, "MAX_ROWS_WITHOUT_SESSION", 2)
    with app.test_request_context():
        tokens = [kept_forms.keep_form_without_session("web.create", "practice", None, [("body", "x")])
                  for _ in range(3)]
    assert tokens[0] and tokens[1] and tokens[2] is None
