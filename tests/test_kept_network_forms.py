"""Nothing lost on the network's forms (issue #4, as for the item forms): the
question form and the answer form keep the typed text when the session
expired, when the whole session cookie is gone, or when the CSRF token
failed; after logging in again the text is back in the same form, once, for
its author only, and nothing is asked or answered until a fresh, CSRF-checked
submit. CSRF stays on in every test here. Runs on SQLite, and on PostgreSQL
with PORTAL_TEST_BACKEND=postgresql."""

from __future__ import annotations

import hashlib
import html as html_lib
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from portal.extensions import db
from portal.models import Answer, AuditEvent, KeptForm, Question, SessionlessForm, User
from portal.network import questions as question_service
from portal.web.resume import COOKIE

from .conftest import PASSWORD, csrf_token, make_app

AUTHOR = "bijdrager@delft.example.org"
OTHER = "lid@delft.example.org"
ORIGIN = {"Origin": "http://localhost"}
LONG = "## Situatie\n\n" + " ".join(f"Zin {n}: hoe bereiken we ouders in Tanthof?" for n in range(200))


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path / "keptnet", content=False)
    with app.app_context():
        asker = db.session.scalar(select(User).where(User.email == OTHER))
        qid = question_service.ask_question(asker, {"title": "Wie kent een imam in Delft?", "body": "Graag."}).id
    app.config["QID"] = qid
    return app


def _login(client, email, page="/inloggen"):
    return client.post(page, data={"email": email, "password": PASSWORD, "csrf_token": csrf_token(client, page)})


def _expire(client) -> None:
    """31 minutes without a request (as tests/test_session_resume.py does)."""
    with client.session_transaction() as sess:
        sess["_seen_at"] = int(time.time()) - 31 * 60


def _token_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _question_data(token: str) -> MultiDict:
    return MultiDict([("csrf_token", token), ("title", "Hoe bereiken we ouders?"), ("body", LONG),
                      ("themes", "jongeren"), ("themes", "opvoeding"), ("phase", "opzetten"),
                      ("municipality", "Delft")])


def _question_form(html: str) -> dict:
    title = re.search(r'id="f-title" name="title"[^>]*value="([^"]*)"', html)
    body = re.search(r'<textarea id="f-body" name="body"[^>]*>(.*?)</textarea>', html, re.S)
    return {"title": html_lib.unescape(title.group(1)) if title else "",
            "body": html_lib.unescape(body.group(1)) if body else "",
            "themes": sorted(re.findall(r'name="themes" value="([^"]+)" checked', html)),
            "phase": re.findall(r'name="phase" value="([^"]*)" checked', html),
            "municipality": re.findall(r'<option value="([^"]+)" selected', html)}


def _answer_text(html: str) -> str:
    body = re.search(r'<textarea id="f-body" name="body"[^>]*>(.*?)</textarea>', html, re.S)
    return html_lib.unescape(body.group(1)) if body else ""


def _counts(app) -> tuple[int, int, int, int]:
    with app.app_context():
        return (db.session.scalar(select(func.count(Question.id))), db.session.scalar(select(func.count(Answer.id))),
                db.session.scalar(select(func.count(KeptForm.id))),
                db.session.scalar(select(func.count(SessionlessForm.id))))


def _resume_target(resp) -> tuple[str, str]:
    """The login redirect's ``next`` and the token in it."""
    location = resp.headers["Location"]
    assert urlsplit(location).path == "/inloggen"
    next_url = parse_qs(urlsplit(location).query)["next"][0]
    return next_url, parse_qs(urlsplit(next_url).query)["hervat"][0]


# -- the session expired while typing ------------------------------------------------------


def test_question_text_survives_an_expired_session_and_can_then_be_asked(app):
    client = app.test_client()
    assert _login(client, AUTHOR).status_code == 302
    token = _token_of(client.get("/vragen/nieuw").get_data(as_text=True))
    _expire(client)
    resp = client.post("/vragen/nieuw", data=_question_data(token))
    assert resp.status_code == 302
    next_url, kept = _resume_target(resp)
    assert urlsplit(next_url).path == "/vragen/nieuw"
    assert _counts(app) == (1, 0, 1, 0)  # kept, nothing asked
    with app.app_context():
        row = db.session.scalar(select(KeptForm))
        assert row.token_hash == hashlib.sha256(kept.encode()).hexdigest() and row.item_type == "question"
        assert "csrf_token" not in dict(row.fields)
    assert "Uw tekst is bewaard" in client.get(resp.headers["Location"]).get_data(as_text=True)
    back = _login(client, AUTHOR, resp.headers["Location"].replace("http://localhost", ""))
    assert back.status_code == 302 and back.headers["Location"].endswith(next_url)
    html = client.get(next_url).get_data(as_text=True)
    assert "Uw tekst van daarnet is teruggezet" in html
    assert _question_form(html) == {"title": "Hoe bereiken we ouders?", "body": LONG,
                                    "themes": ["jongeren", "opvoeding"], "phase": ["opzetten"],
                                    "municipality": ["Delft"]}
    assert _counts(app)[2] == 0  # one use
    again = client.get(next_url).get_data(as_text=True)
    assert LONG[:100] not in again and "geen bewaarde tekst (meer)" in again
    # asking takes a fresh submit of the restored form
    data = _question_data(_token_of(html))
    assert client.post("/vragen/nieuw", data=data).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Question.body).where(Question.title == "Hoe bereiken we ouders?")) == LONG
        assert {"form.kept", "form.restored"} <= set(db.session.scalars(select(AuditEvent.action)))


def test_answer_text_survives_an_expired_session(app):
    qid = app.config["QID"]
    client = app.test_client()
    _login(client, AUTHOR)
    token = _token_of(client.get(f"/vragen/{qid}").get_data(as_text=True))
    _expire(client)
    resp = client.post(f"/vragen/{qid}/antwoorden", data={"csrf_token": token, "body": LONG})
    next_url, _kept = _resume_target(resp)
    assert urlsplit(next_url).path == f"/vragen/{qid}"
    assert _counts(app)[1:3] == (0, 1)
    _login(client, AUTHOR, resp.headers["Location"].replace("http://localhost", ""))
    html = client.get(next_url).get_data(as_text=True)
    assert _answer_text(html) == LONG and "Uw tekst van daarnet is teruggezet" in html
    assert client.post(f"/vragen/{qid}/antwoorden", data={"csrf_token": _token_of(html), "body": LONG}) \
        .status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Answer.body)) == LONG.strip()


def test_another_user_or_another_question_does_not_get_the_text(app):
    qid = app.config["QID"]
    with app.app_context():
        other_q = question_service.ask_question(db.session.scalar(select(User).where(User.email == OTHER)),
                                                {"title": "Een andere vraag", "body": "."}).id
    client = app.test_client()
    _login(client, AUTHOR)
    token = _token_of(client.get(f"/vragen/{qid}").get_data(as_text=True))
    _expire(client)
    resp = client.post(f"/vragen/{qid}/antwoorden", data={"csrf_token": token, "body": LONG})
    next_url, kept = _resume_target(resp)
    thief = app.test_client()
    _login(thief, OTHER)
    assert LONG[:100] not in thief.get(next_url).get_data(as_text=True)
    _login(client, AUTHOR)
    assert LONG[:100] not in client.get(f"/vragen/{other_q}?hervat={kept}").get_data(as_text=True)
    assert _counts(app)[2] == 1  # still there for its author, on its page
    assert _answer_text(client.get(next_url).get_data(as_text=True)) == LONG


def test_a_question_closed_meanwhile_still_shows_the_kept_answer(app):
    qid = app.config["QID"]
    client = app.test_client()
    _login(client, AUTHOR)
    token = _token_of(client.get(f"/vragen/{qid}").get_data(as_text=True))
    _expire(client)
    next_url, _kept = _resume_target(client.post(f"/vragen/{qid}/antwoorden",
                                                 data={"csrf_token": token, "body": "Mijn lange antwoord."}))
    with app.app_context():
        question_service.close_question(db.session.scalar(select(User).where(User.email == OTHER)), qid)
    _login(client, AUTHOR)
    html = client.get(next_url).get_data(as_text=True)
    assert 'readonly>Mijn lange antwoord.</textarea>' in html and "inmiddels gesloten" in html


# -- the whole session cookie is gone ------------------------------------------------------


@pytest.mark.parametrize("form", ["question", "answer"])
def test_text_posted_without_any_session_is_back_after_login(app, form):
    qid = app.config["QID"]
    page = "/vragen/nieuw" if form == "question" else f"/vragen/{qid}"
    target = "/vragen/nieuw" if form == "question" else f"/vragen/{qid}/antwoorden"
    client = app.test_client()
    _login(client, AUTHOR)
    token = _token_of(client.get(page).get_data(as_text=True))
    data = _question_data(token) if form == "question" else {"csrf_token": token, "body": LONG}
    client._cookies.clear()  # the browser was closed
    resp = client.post(target, data=data, headers=ORIGIN)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "Uw sessie was verlopen; log opnieuw in, uw tekst is bewaard." in html
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None and cookie.http_only
    assert _counts(app) == (1, 0, 0, 1)
    with app.app_context():
        row = db.session.scalar(select(SessionlessForm))
        assert (row.endpoint, row.item_type, row.slug) == (
            ("network.ask", "question", None) if form == "question" else ("network.answer", "answer", str(qid)))
    login_link = html_lib.unescape(re.search(r'href="(/inloggen\?next=[^"]+)"', html).group(1))
    resp = _login(client, AUTHOR, login_link)
    assert resp.status_code == 302 and resp.headers["Location"].endswith(page)
    html = client.get(page).get_data(as_text=True)
    if form == "question":
        assert _question_form(html)["body"] == LONG and _question_form(html)["title"] == "Hoe bereiken we ouders?"
    else:
        assert _answer_text(html) == LONG
    assert client.get_cookie(COOKIE) is None and _counts(app)[3] == 0  # used once
    assert LONG[:100] not in client.get(page).get_data(as_text=True)


def test_a_cross_site_or_tokenless_post_is_not_kept(app):
    qid = app.config["QID"]
    client = app.test_client()
    _login(client, AUTHOR)
    token = _token_of(client.get(f"/vragen/{qid}").get_data(as_text=True))
    client._cookies.clear()
    for data, headers in (({"csrf_token": token, "body": LONG}, {"Origin": "https://aanvaller.example"}),
                          ({"csrf_token": token, "body": LONG}, {}),
                          ({"body": LONG}, ORIGIN)):
        resp = client.post(f"/vragen/{qid}/antwoorden", data=data, headers=headers)
        assert resp.status_code == 400 and "Het formulier is verlopen of ongeldig" in resp.get_data(as_text=True)
    assert client.get_cookie(COOKIE) is None and _counts(app) == (1, 0, 0, 0)


def test_a_kept_form_of_another_page_is_left_alone(app):
    qid = app.config["QID"]
    client = app.test_client()
    _login(client, AUTHOR)
    token = _token_of(client.get("/vragen/nieuw").get_data(as_text=True))
    client._cookies.clear()
    client.post("/vragen/nieuw", data=_question_data(token), headers=ORIGIN)
    _login(client, AUTHOR)
    assert LONG[:100] not in client.get(f"/vragen/{qid}").get_data(as_text=True)  # the answer form: not its page
    assert client.get_cookie(COOKIE) is not None and _counts(app)[3] == 1
    assert _question_form(client.get("/vragen/nieuw").get_data(as_text=True))["body"] == LONG


# -- the CSRF token failed while the login is valid ----------------------------------------


def test_a_failed_csrf_token_with_a_valid_login_brings_the_text_straight_back(app):
    qid = app.config["QID"]
    client = app.test_client()
    _login(client, AUTHOR)
    client.get(f"/vragen/{qid}")
    resp = client.post(f"/vragen/{qid}/antwoorden", data={"csrf_token": "verlopen-token", "body": LONG},
                       headers=ORIGIN)
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert urlsplit(location).path == f"/vragen/{qid}" and "hervat=" in location
    html = client.get(location).get_data(as_text=True)
    assert _answer_text(html) == LONG and "Het formulier was verlopen" in html
    assert _counts(app)[1:] == (0, 0, 0)  # nothing answered, the kept text used once
    # from another site, a bad token is just refused
    resp = client.post(f"/vragen/{qid}/antwoorden", data={"csrf_token": "x", "body": LONG},
                       headers={"Origin": "https://aanvaller.example"})
    assert resp.status_code == 400 and _counts(app)[2] == 0
