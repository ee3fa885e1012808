"""Attacks on the surfaces of the fourth round (forms kept without a session,
attachments in import/export, following a hostile portal, search
suggestions, the language switch, trusted hosts): every test here failed
before its fix (or is an ``xfail(strict=True)`` naming a file this round
could not change). Runs on SQLite and PostgreSQL
(``PORTAL_TEST_BACKEND=postgresql``)."""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from portal.api import follow as follow_module
from portal.extensions import db
from portal.services.items import SYSTEM

from ..conftest import csrf_token, login, make_app

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(scope="module", autouse=True)
def _limiter_state_restored():
    """Flask-Limiter keeps ``enabled`` on its one module-level object and each
    ``init_app`` inherits it (``config.setdefault``): the matrix's app
    (``RATELIMIT_ENABLED=False``) would switch rate limits off for every app
    made after this module in the same process."""
    from portal.extensions import limiter

    before = limiter.enabled
    yield
    limiter.enabled = before


@pytest.fixture
def rapp(tmp_path):
    return make_app(tmp_path / "round4", content=False)


# -- forms kept without a session: an anonymous visitor must not be able to fill the disk ---------------


def test_form_kept_without_session_is_bounded_in_stored_bytes_not_characters(rapp):
    """``MAX_CHARS_WITHOUT_SESSION`` counted characters, but the JSON column
    stores ``\\uXXXX`` escapes: one astral character (1 'character') took 12
    bytes, so an anonymous post (any client may send a matching ``Origin``)
    stored 3.6 MB instead of 0.3 MB, and the 5,000-row cap meant ~18 GB."""
    from portal.services import kept_forms

    client = rapp.test_client()
    value = "\U0001F600" * (kept_forms.MAX_CHARS_WITHOUT_SESSION - 100)
    resp = client.post("/nieuw/werkwijzen", data={"csrf_token": "x", "title": "t", "body": value},
                       headers={"Origin": "http://localhost"})
    with rapp.app_context():
        stored = db.session.execute(text("SELECT fields FROM kept_forms_without_session")).scalars().all()
    size = sum(len(s if isinstance(s, str) else json.dumps(s)) for s in stored)
    assert size <= 2 * kept_forms.MAX_CHARS_WITHOUT_SESSION, (resp.status_code, size)


def test_form_kept_without_session_still_keeps_a_normal_form(rapp):
    client = rapp.test_client()
    resp = client.post("/nieuw/werkwijzen", data={"csrf_token": "x", "title": "Buurtvaders", "body": "tekst é"},
                       headers={"Origin": "http://localhost"})
    assert resp.status_code == 400
    assert "portal_bewaard=" in resp.headers.get("Set-Cookie", "")


def test_cross_site_post_plants_no_kept_form(rapp):
    client = rapp.test_client()
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {},
                    {"Referer": "https://localhost.evil.example/"}):
        resp = client.post("/nieuw/werkwijzen", data={"csrf_token": "x", "title": "geplant"}, headers=headers)
        assert "portal_bewaard=" not in resp.headers.get("Set-Cookie", ""), headers
    with rapp.app_context():
        assert db.session.execute(text("SELECT count(*) FROM kept_forms_without_session")).scalar() == 0


# -- following a hostile portal ----------------------------------------------------------------------------


def test_follow_depth_check_is_linear_on_hostile_strings():
    """``_nesting_depth`` removed strings with a regex that restarts at every
    quote of an unterminated string: ``"\\"\\"\\"…`` took quadratic time
    (16 kB: 2 s; the allowed 20 MB: weeks), so a hostile source hung
    ``portal follow`` for good. Also a string full of escaped quotes."""
    for raw in (b'"\\' * 200_000, b'["' + b'\\"' * 200_000 + b']'):
        start = time.monotonic()
        with pytest.raises(follow_module.FollowError):
            follow_module.parse_json(raw, "https://bron.example")
        assert time.monotonic() - start < 2.0


def test_follow_depth_check_still_counts_brackets_outside_strings():
    deep = b"[" * 40 + b"]" * 40
    with pytest.raises(follow_module.FollowError, match="diep"):
        follow_module.parse_json(deep, "u")
    assert follow_module.parse_json(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"{"}', "u") == {
        "a": "[" * 40 + '"{'}


class _Redirector(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self):  # noqa: N802
        self.send_response(302)
        self.send_header("Location", self.target + self.path)
        self.end_headers()

    def log_message(self, *args):
        pass


class _Secret(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        _Secret.hits.append(self.path)
        body = json.dumps({"items": [], "pages": 1}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("scheme_target", ["http", "file", "ftp"])
def test_follow_refuses_redirects_away_from_the_source(scheme_target):
    """A hostile source answered with a redirect to another address (an
    internal service, cloud metadata, ``ftp://``); urllib followed http(s)
    and ftp redirects anywhere, so the portal read internal JSON as the
    source's answer (and could publish it as public items)."""
    internal = _serve(_Secret)
    _Secret.hits = []
    targets = {"http": f"http://127.0.0.1:{internal.server_port}", "file": "file:///etc",
               "ftp": "ftp://127.0.0.1:1"}
    _Redirector.target = targets[scheme_target]
    source = _serve(_Redirector)
    try:
        with pytest.raises(follow_module.FollowError):
            follow_module.http_json(f"http://127.0.0.1:{source.server_port}/api/v1/items?type=practice",
                                    retries=0)
        assert _Secret.hits == []
    finally:
        source.shutdown()
        internal.shutdown()


def test_follow_still_follows_a_redirect_within_the_source():
    internal = _serve(_Secret)
    _Secret.hits = []
    try:
        class Same(_Redirector):
            def do_GET(self):  # noqa: N802
                if self.path.startswith("/nieuw"):
                    return _Secret.do_GET(self)
                self.send_response(301)
                self.send_header("Location", "/nieuw" + self.path)
                self.end_headers()
        same = _serve(Same)
        data = follow_module.http_json(f"http://127.0.0.1:{same.server_port}/api/v1/items", retries=0)
        assert data == {"items": [], "pages": 1}
        same.shutdown()
    finally:
        internal.shutdown()


# -- export: never write outside the target folder, never world-readable for a moment --------------------


def _practice_with_attachment(app):
    import io

    from portal.services import attachments as attachment_service
    from portal.services.items import save_item

    with app.app_context():
        item = save_item(SYSTEM, "practice", {"title": "Buurtvaders", "municipality": "Delft"}, "Tekst.")
        attachment_service.add_attachment(SYSTEM, item, io.BytesIO(PDF), "plan.pdf")


def test_export_does_not_follow_a_planted_symlink_for_attachments(rapp, tmp_path):
    """``portal export /tmp/bibliotheek`` into a folder another local user
    prepared: ``practices/<slug>`` as a symlink to a folder of theirs made
    the export copy the attachment there (outside the target folder)."""
    _practice_with_attachment(rapp)
    out, elsewhere = tmp_path / "export", tmp_path / "elsewhere"
    (out / "practices").mkdir(parents=True)
    elsewhere.mkdir()
    (out / "practices" / "buurtvaders").symlink_to(elsewhere, target_is_directory=True)
    rapp.test_cli_runner().invoke(args=["export", str(out)])
    assert os.listdir(elsewhere) == []


def test_export_does_not_write_through_a_planted_symlinked_file(rapp, tmp_path):
    _practice_with_attachment(rapp)
    out, elsewhere = tmp_path / "export", tmp_path / "elsewhere"
    (out / "practices" / "buurtvaders").mkdir(parents=True)
    elsewhere.mkdir()
    trap = elsewhere / "gelezen.pdf"
    trap.write_bytes(b"")
    (out / "practices" / "buurtvaders" / "plan.pdf").symlink_to(trap)
    rapp.test_cli_runner().invoke(args=["export", str(out)])
    assert trap.read_bytes() == b""


def test_exported_attachment_is_private_from_its_creation(rapp, tmp_path):
    """Attachments were written with the umask's mode (0644) and only then
    chmod-ed to 0600: a window in which any local user could open them."""
    from portal import exchange

    _practice_with_attachment(rapp)
    out = tmp_path / "export"
    old = os.umask(0o022)
    seen: list[int] = []
    real_chmod = Path.chmod

    def spy(self, mode, *a, **kw):  # records the mode the file had before any chmod
        seen.append(os.stat(self).st_mode & 0o777)
        return real_chmod(self, mode, *a, **kw)

    try:
        Path.chmod = spy
        with rapp.app_context():
            from portal.extensions import db as _db
            from portal.models import Item

            item = _db.session.scalar(select(Item).where(Item.slug == "buurtvaders"))
            assert exchange.export_attachments(out, item) == ["buurtvaders/plan.pdf"]
    finally:
        Path.chmod = real_chmod
        os.umask(old)
    assert os.stat(out / "practices" / "buurtvaders" / "plan.pdf").st_mode & 0o777 == 0o600
    assert all(mode & 0o077 == 0 for mode in seen), [oct(m) for m in seen]


def test_export_does_not_write_a_profile_through_a_planted_symlink(rapp, tmp_path):
    from portal.services.items import save_item

    with rapp.app_context():
        save_item(SYSTEM, "practice", {"title": "Buurtvaders", "municipality": "Delft"}, "Tekst.")
    out, elsewhere = tmp_path / "export", tmp_path / "elsewhere"
    (out / "practices").mkdir(parents=True)
    elsewhere.mkdir()
    trap = elsewhere / "gelezen.md"
    trap.write_text("")
    (out / "practices" / "buurtvaders.md").symlink_to(trap)
    result = rapp.test_cli_runner().invoke(args=["export", str(out)])
    assert trap.read_text() == ""
    assert "Traceback" not in result.output


# -- search: "did you mean" must not offer words of items that are no longer public ----------------------


def test_did_you_mean_forgets_the_words_of_a_withdrawn_item(tmp_path):
    """A practice that named someone is withdrawn (draft); an anonymous
    visitor who types a near spelling is still offered the name."""
    import re

    from portal.models import Item
    from portal.services.items import save_item, set_status

    app = make_app(tmp_path / "dym", content=True)
    with app.app_context():
        item = save_item(SYSTEM, "practice", {"title": "Aanpak Zwaluwstaartjeshuis", "status": "published",
                                              "municipality": "Delft"}, "Zwaluwstaartjeshuis praat met jongeren.")
        set_status(SYSTEM, db.session.get(Item, item.id), "draft", note="naam eruit")
    html = app.test_client().get("/zoeken", query_string={"q": "Zwaluwstaartjeshuiz"}).get_data(as_text=True)
    assert re.findall(r"Bedoelde u:.*?>([^<]*)</a>", html, re.S) == []
    assert "Zwaluwstaartjeshuis" not in html


# -- the language switch and trusted hosts (held: kept as guards) -----------------------------------------


@pytest.mark.parametrize("target", ["//evil.example", "/\\evil.example", "https:evil.example", "/\t/evil.example",
                                    "/\n/evil.example", " //evil.example", "\t//evil.example", "///evil.example",
                                    "https://evil.example", "javascript:alert(1)", "/\r\nSet-Cookie: x=1"])
def test_language_switch_never_redirects_off_site(rapp, target):
    client = rapp.test_client()
    token = csrf_token(client, "/")
    resp = client.post("/taal", data={"lang": "en", "next": target, "csrf_token": token})
    assert resp.status_code == 303
    location = resp.headers["Location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\"))
    assert "\n" not in location and "\t" not in location and "Set-Cookie" not in str(resp.headers.getlist("Set-Cookie"))


def test_language_switch_needs_csrf_and_post(rapp):
    client = rapp.test_client()
    assert client.post("/taal", data={"lang": "en", "next": "/"}).status_code == 400
    assert client.get("/taal?lang=en").status_code == 405
    assert "portal_lang" not in client.get("/").headers.get("Set-Cookie", "")


@pytest.mark.parametrize("cookie", ["en\r\nX-Evil: 1", "en; Domain=evil.example", "de", "../../en"])
def test_language_cookie_value_is_never_reflected(rapp, cookie):
    client = rapp.test_client()
    client.set_cookie("portal_lang", cookie)
    resp = client.get("/")
    assert resp.status_code == 200 and 'lang="nl"' in resp.get_data(as_text=True)
    assert "X-Evil" not in resp.headers and "evil.example" not in str(resp.headers)


def test_forwarded_host_outside_trusted_hosts_is_refused(tmp_path):
    app = make_app(tmp_path / "hosts", content=False, TRUSTED_HOSTS=["portaal.example.nl"], PROXY_COUNT=1)
    client = app.test_client()
    ok = client.get("/feeds/werkwijzen.atom" if False else "/", headers={"Host": "portaal.example.nl"})
    assert ok.status_code == 200
    for headers in ({"Host": "evil.example"}, {"Host": "portaal.example.nl", "X-Forwarded-Host": "evil.example"},
                    {"Host": "portaal.example.nl.evil.example"}, {"Host": "evil.example:443@portaal.example.nl"}):
        resp = client.get("/api/v1/items", headers=headers)
        assert resp.status_code == 400, headers
        assert "evil" not in resp.get_data(as_text=True)


# -- the permission matrix for lessons: the same rules as practices, over HTTP ----------------------------

from ..test_permission_matrix import (  # noqa: E402
    PRACTICE, PRACTICE_ACTIONS, PRACTICE_STATES, _check_table, world)  # noqa: F401  (world: a fixture)


def make_lesson(app, state: str) -> dict:
    """A lesson of Delft by the matrix's ``author`` in ``state``, with one PDF."""
    from ..test_permission_matrix import make_item

    return make_item(app, state, "lesson", "Geleerde les")



@pytest.mark.parametrize("action", PRACTICE_ACTIONS)
def test_lesson_matrix_is_the_practice_matrix(world, action):  # noqa: F811
    _check_table(world, make_lesson, PRACTICE, action, PRACTICE_STATES)


# -- a hostile source portal: what it sends is checked like any other input (held: guards) ------------------


def test_follow_from_a_hostile_source_creates_no_profile_and_no_script(rapp):
    base = "https://bron.example"
    listing = {"items": [
        {"type": "practice", "slug": "aanpak", "status": "published", "updated_at": "2026-01-01"},
        {"type": "profile", "slug": "sleutelfiguur", "status": "published", "updated_at": "2026-01-01"},
        {"type": "practice", "slug": "../../sleutelfiguren/x", "status": "published", "updated_at": "1"},
        {"type": "practice", "slug": "kwaad", "status": "published", "updated_at": "1"},
    ], "pages": 1}
    details = {
        f"{base}/api/v1/items/practice/aanpak": {
            "type": "profile", "slug": "aanpak", "url": "javascript:alert(1)", "updated_at": "2026-01-01",
            "front_matter": {"title": "<script>alert(1)</script>Aanpak", "slug": "aanpak",
                             "contact": {"email": "geheim@example.org"}, "visibility": "public",
                             "type": "profile", "source": {"portal": "https://elders.example"}},
            "body": "<img src=x onerror=alert(1)> [klik](javascript:alert(1))"},
        f"{base}/api/v1/items/practice/kwaad": {
            "type": "practice", "slug": "kwaad", "front_matter": {"title": "Kwaad", "slug": "../sleutelfiguren/y"},
            "body": ""},
    }

    def fetch(url):
        if "/api/v1/items?" in url:
            return listing if "type=practice" in url else {"items": [], "pages": 1}
        if url in details:
            return details[url]
        raise follow_module.FollowError("niet gevonden")

    from portal.models import Item

    with rapp.app_context():
        report = follow_module.follow_portal(SYSTEM, base, fetch=fetch)
        items = list(db.session.scalars(select(Item)))
        assert [i.type for i in items] == ["practice"], report
        assert any(p.startswith("practice/kwaad: slug") for p in report.problems), report.problems
        item = items[0]
        assert "/" not in item.slug and ".." not in item.slug
        assert item.extra["source"]["portal"] == base and item.extra["source"]["url"] is None
        slug = item.slug
    html = rapp.test_client().get(f"/werkwijzen/{slug}").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "onerror" not in html and "javascript:alert" not in html
    assert "geheim@example.org" not in html


# -- import: attachments stay inside the item's folder and pass the content check (held: guards) ------------


@pytest.mark.parametrize("entry", ["../buiten.pdf", "../../buiten.pdf", "/tmp/buiten.pdf", "{outside}",
                                   "link.pdf", "linkdir/plan.pdf", "..\\\\buiten.pdf", "．．/buiten.pdf",
                                   ".", "", "plan.html", "plan.svg", "bom.docx", "/dev/zero", "fifo.pdf"])
def test_import_refuses_attachments_outside_the_folder_or_of_a_bad_type(rapp, tmp_path, entry):
    import zipfile

    lib, outside = tmp_path / "lib", tmp_path / "buiten"
    (lib / "practices").mkdir(parents=True)
    outside.mkdir()
    (tmp_path / "buiten.pdf").write_bytes(PDF)
    (lib / "buiten.pdf").write_bytes(PDF)
    (outside / "plan.pdf").write_bytes(PDF)
    (lib / "practices" / "link.pdf").symlink_to(tmp_path / "buiten.pdf")
    (lib / "practices" / "linkdir").symlink_to(outside, target_is_directory=True)
    (lib / "practices" / "plan.html").write_bytes(b"%PDF-1.4\n<html><script>alert(1)</script></html>")
    (lib / "practices" / "plan.svg").write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>")
    with zipfile.ZipFile(lib / "practices" / "bom.docx", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b"\0" * (50 * 1024 * 1024))  # 50 MB unpacked, 50 kB packed
    os.mkfifo(lib / "practices" / "fifo.pdf")
    entry = entry.replace("{outside}", str(tmp_path / "buiten.pdf"))
    (lib / "practices" / "aanpak.md").write_text(
        f"---\ntitle: Aanpak\nattachments: [{json.dumps(entry)}]\n---\nTekst.\n", encoding="utf-8")
    result = rapp.test_cli_runner().invoke(args=["import", str(lib)])
    from portal.models import Attachment

    with rapp.app_context():
        count = db.session.scalar(select(func.count(Attachment.id)))
        att = db.session.scalar(select(Attachment))
        kept = (att.id, att.content_type) if att is not None else None
    if entry in ("plan.html", "bom.docx"):
        # Recognised by content (PDF / DOCX container) and only ever served as a download with
        # nosniff; the portal never unpacks a DOCX, so the zip bomb is inert here.
        assert count == 1 and kept[1] in ("application/pdf", "application/vnd.openxmlformats-officedocument"
                                                                ".wordprocessingml.document")
        resp = rapp.test_client().get(f"/werkwijzen/aanpak/bijlagen/{kept[0]}")
        assert resp.status_code == 200 and resp.headers["Content-Disposition"].startswith("attachment;")
        assert resp.headers["X-Content-Type-Options"] == "nosniff" and resp.mimetype == kept[1]
        return
    assert count == 0, (entry, result.output)
    assert "aanpak" in result.output or "attachments" in result.output, result.output


def test_a_form_kept_without_session_is_never_saved_without_a_fresh_csrf_submit(rapp):
    from portal.models import Item

    client = rapp.test_client()
    resp = client.post("/nieuw/werkwijzen", data={"csrf_token": "verlopen", "title": "Bewaarde aanpak",
                                                  "municipality": "Delft", "body": "Mijn tekst.",
                                                  "action": "publish"},
                       headers={"Origin": "http://localhost"})
    assert resp.status_code == 400
    login(client, "bijdrager@delft.example.org")
    with rapp.app_context():
        assert db.session.scalar(select(func.count(Item.id))) == 0
    html = client.get("/nieuw/werkwijzen").get_data(as_text=True)
    assert "Bewaarde aanpak" in html and "Mijn tekst." in html
    with rapp.app_context():
        assert db.session.scalar(select(func.count(Item.id))) == 0
    # once only: the next visit shows an empty form
    assert "Bewaarde aanpak" not in client.get("/nieuw/werkwijzen").get_data(as_text=True)
    # a POST reusing the old field set without a valid token is refused, not saved
    resp = client.post("/nieuw/werkwijzen", data={"title": "Bewaarde aanpak", "body": "x"})
    assert resp.status_code == 400
    with rapp.app_context():
        assert db.session.scalar(select(func.count(Item.id))) == 0
