"""Round-2 findings on accounts: API keys die with the sessions a security
event ends, making a key needs the password, the per-address login limit
and a 429 that says how long to wait, error pages (request id, 404 hint for
anonymous visitors), ``portal set-municipality`` and the audit-log labels."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import ApiToken, AuditEvent, User
from portal.services import accounts
from portal.services.api_tokens import create_token
from portal.services.items import SYSTEM

from .conftest import PASSWORD, csrf_token, make_app
from .security.helpers import logout, post_login

EMAIL = "lid@delft.example.org"


def _user(email: str = EMAIL) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def _key(app, email: str = EMAIL) -> str:
    with app.app_context():
        return create_token(SYSTEM, _user(email), "test")[1]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _works(app, token: str) -> bool:
    code = app.test_client().get("/api/v1/items", headers=_auth(token)).status_code
    assert code in (200, 401), code
    return code == 200


def _run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def _actions(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture
def acc_app(tmp_path):
    return make_app(tmp_path / "acc", content=False)


# -- 1. API keys end with the sessions a security event ends ------------------------------

def test_plain_logout_keeps_api_keys(acc_app, client_for):
    token = _key(acc_app)
    client = client_for(acc_app, EMAIL)
    assert logout(client).status_code == 302
    assert _works(acc_app, token)


def test_end_sessions_command_revokes_api_keys_and_is_audited(acc_app):
    token, other = _key(acc_app), _key(acc_app, "bijdrager@delft.example.org")
    result = _run(acc_app, "end-sessions", EMAIL)
    assert result.exit_code == 0, result.output
    assert not _works(acc_app, token)
    assert _works(acc_app, other)  # only that user's keys
    rows = _actions(acc_app, "api_token.revoke_all")
    assert len(rows) == 1 and rows[0].target == EMAIL
    assert rows[0].detail["count"] == 1 and rows[0].detail["reason"] == "auth.sessions_ended"
    assert token not in str(rows[0].detail)  # never the key itself
    assert _run(acc_app, "end-sessions", "--all").exit_code == 0
    assert not _works(acc_app, other)


def test_password_change_ending_other_sessions_revokes_api_keys(acc_app, client_for):
    token = _key(acc_app)
    client = client_for(acc_app, EMAIL)

    def change(current, new, end_others):
        data = {"current_password": current, "new_password": new,
                "csrf_token": csrf_token(client, "/wachtwoord-wijzigen")}
        if end_others:
            data["end_other_sessions"] = "y"
        return client.post("/wachtwoord-wijzigen", data=data)

    assert change(PASSWORD, "een heel ander lang wachtwoord", end_others=False).status_code == 302
    assert _works(acc_app, token)  # not asked to end other sessions: the key stays
    assert change("een heel ander lang wachtwoord", "nog weer een nieuw wachtwoord", end_others=True).status_code == 302
    assert not _works(acc_app, token)


def test_password_reset_deactivation_and_role_change_revoke_api_keys(acc_app):
    with acc_app.app_context():
        _user_obj, reset = accounts.issue_password_reset(SYSTEM, EMAIL)
    token = _key(acc_app)
    with acc_app.app_context():
        accounts.reset_password(reset, "een volkomen nieuw wachtwoord")
    assert not _works(acc_app, token)

    token = _key(acc_app)
    assert _run(acc_app, "set-role", EMAIL, "contributor").exit_code == 0
    assert not _works(acc_app, token)

    token = _key(acc_app)
    assert _run(acc_app, "deactivate-user", EMAIL).exit_code == 0
    assert _run(acc_app, "deactivate-user", EMAIL, "--activate").exit_code == 0
    assert not _works(acc_app, token)  # switching the account on again brings no key back
    reasons = sorted(r.detail["reason"] for r in _actions(acc_app, "api_token.revoke_all"))
    assert reasons == ["auth.password_reset", "user.deactivate", "user.role_change"]


def test_making_a_key_needs_the_current_password(acc_app, client_for):
    client = client_for(acc_app, EMAIL)
    page = client.get("/account/sleutels").get_data(as_text=True)
    assert re.search(r'<input id="password" name="password" type="password"', page)

    def make(password):
        data = {"name": "gestolen sessie", "csrf_token": csrf_token(client, "/account/sleutels")}
        if password is not None:
            data["password"] = password
        return client.post("/account/sleutels", data=data)

    for wrong in (None, "", "niet mijn wachtwoord"):
        resp = make(wrong)
        assert resp.status_code == 400
        assert 'id="token"' not in resp.get_data(as_text=True)
    assert "Het huidige wachtwoord klopt niet." in make("fout fout fout").get_data(as_text=True)
    with acc_app.app_context():
        assert db.session.scalar(select(ApiToken)) is None
        assert _user().failed_logins == 2  # wrong passwords count on the account; a missing one not
    assert len(_actions(acc_app, "auth.reauth_failed")) == 2
    resp = make(PASSWORD)
    assert resp.status_code == 201
    token = re.search(r'id="token"[^>]*value="([^"]+)"', resp.get_data(as_text=True)).group(1)
    assert _works(acc_app, token)


def test_wrong_key_passwords_throttle_the_account(acc_app, client_for):
    client = client_for(acc_app, EMAIL)
    for _ in range(accounts.FREE_FAILURES):
        client.post("/account/sleutels", data={"password": "fout fout fout",
                                               "csrf_token": csrf_token(client, "/account/sleutels")})
    # now the account is throttled: even the right password makes no key, and logging in fails
    resp = client.post("/account/sleutels", data={"password": PASSWORD,
                                                  "csrf_token": csrf_token(client, "/account/sleutels")})
    assert resp.status_code == 400 and "Te veel mislukte pogingen" in resp.get_data(as_text=True)
    assert post_login(acc_app.test_client(), EMAIL).status_code == 400


def test_wrong_key_passwords_count_towards_the_address_limit(tmp_path, client_for):
    app = make_app(tmp_path / "lim", content=False, LOGIN_FAILURE_LIMIT="3 per minute")
    client = client_for(app, "bijdrager@delft.example.org")
    for _ in range(3):
        assert client.post("/account/sleutels", data={"password": "fout fout fout",
                                                      "csrf_token": csrf_token(client, "/account/sleutels")}
                           ).status_code == 400
    resp = client.post("/account/sleutels", data={"password": PASSWORD,
                                                  "csrf_token": csrf_token(client, "/account/sleutels")})
    assert resp.status_code == 429


# -- 2. per-address limit and how long to wait ----------------------------------------------

def test_twelve_typos_behind_one_address_do_not_lock_out_the_office(acc_app):
    """A town hall behind one NAT address: one person's typos (which throttle
    only their own account) leave the address usable for colleagues."""
    client = acc_app.test_client()
    for i in range(12):
        assert post_login(client, EMAIL, f"typefout {i}").status_code == 400
    assert post_login(client, "bijdrager@delft.example.org").status_code == 302
    limits = acc_app.config["LOGIN_FAILURE_LIMIT"]
    assert int(limits.split()[0]) >= 30 and int(limits.split(";")[1].split()[0]) >= 300


def test_login_429_says_how_long_to_wait(tmp_path):
    app = make_app(tmp_path / "l429", content=False, LOGIN_FAILURE_LIMIT="2 per minute")
    client = app.test_client()
    for _ in range(2):
        assert post_login(client, "onbekend@example.org", "fout").status_code == 400
    resp = post_login(client, "onbekend@example.org", "fout")
    assert resp.status_code == 429
    seconds = int(resp.headers["Retry-After"])
    assert 1 <= seconds <= 60
    html = resp.get_data(as_text=True)
    assert re.search(r"Wacht ongeveer \d+ (seconden|seconde|minuut)", html), html


def test_api_429_says_how_long_to_wait_in_json(tmp_path):
    app = make_app(tmp_path / "a429", content=False, API_RATE_LIMIT="2 per hour")
    client = app.test_client()
    for _ in range(2):
        assert client.get("/api/v1/taxonomy").status_code == 200
    resp = client.get("/api/v1/taxonomy")
    assert resp.status_code == 429 and resp.is_json
    body = resp.get_json()
    seconds = int(resp.headers["Retry-After"])
    assert 60 < seconds <= 3600 and body["retry_after"] == seconds
    assert re.search(r"Wacht ongeveer \d+ minuten", body["message"]), body


def test_wait_in_words():
    from portal import _wait_in_words

    assert _wait_in_words(1) == "ongeveer 1 seconde"
    assert _wait_in_words(45) == "ongeveer 45 seconden"
    assert _wait_in_words(60) == "ongeveer 1 minuut"
    assert _wait_in_words(61) == "ongeveer 2 minuten"


# -- 3. error pages -------------------------------------------------------------------------

@pytest.fixture
def crash_app(tmp_path):
    app = make_app(tmp_path / "crash", content=False)

    @app.route("/kapot", methods=["GET", "POST"])
    def broken():
        raise RuntimeError("boom")

    return app


def test_500_page_shows_the_request_id_and_only_mentions_input_on_writes(crash_app, client_for):
    client = client_for(crash_app, EMAIL)  # the test route is not on the public list
    resp = client.get("/kapot", headers={"X-Request-ID": "abcdef1234567890"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 500
    assert resp.headers["X-Request-ID"] == "abcdef1234567890"
    assert "abcdef1234567890" in html
    assert "niet opgeslagen" not in html
    resp = client.post("/kapot", data={"csrf_token": csrf_token(client, "/")})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 500 and "niet opgeslagen" in html
    assert resp.headers["X-Request-ID"] in html  # a fresh id, shown too
    assert "boom" not in html and "Traceback" not in html


def test_404_for_anonymous_offers_login_with_next(acc_app, client_for):
    anon = acc_app.test_client()
    for path in ("/bestaat/niet", "/werkwijzen/geheim-concept"):
        resp = anon.get(path)
        html = resp.get_data(as_text=True)
        assert resp.status_code == 404
        assert "Sommige pagina's zijn alleen zichtbaar na inloggen" in html.replace("&#39;", "'")
        link = re.search(r'href="/inloggen\?next=([^"]+)"', html)
        assert link and unquote(link.group(1)) == path
    member = client_for(acc_app, EMAIL)
    html = member.get("/bestaat/niet").get_data(as_text=True)
    assert "alleen zichtbaar na inloggen" not in html


def test_404_login_link_brings_the_user_back(acc_app):
    client = acc_app.test_client()
    html = client.get("/bestaat/niet").get_data(as_text=True)
    href = re.search(r'href="(/inloggen\?next=[^"]+)"', html).group(1).replace("&amp;", "&")
    resp = client.post(href, data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/bestaat/niet")


# -- 4. set-municipality and the audit log ----------------------------------------------------

def test_set_municipality_by_name_and_code_is_audited(acc_app):
    result = _run(acc_app, "set-municipality", "beheer@example.org", "Utrecht")
    assert result.exit_code == 0, result.output
    assert "Utrecht" in result.output
    with acc_app.app_context():
        assert _user("beheer@example.org").municipality.name == "Utrecht"
    assert _run(acc_app, "set-municipality", EMAIL.upper(), "GM0344").exit_code == 0  # Utrecht's CBS code
    with acc_app.app_context():
        assert _user().municipality.cbs_code == "GM0344"
    rows = _actions(acc_app, "user.municipality_change")
    assert [(r.target, r.detail["new"]) for r in rows] == [("beheer@example.org", "GM0344"), (EMAIL, "GM0344")]
    assert rows[1].detail["old"] == "GM0503"  # Delft


def test_set_municipality_errors_are_clear_and_write_nothing(acc_app):
    result = _run(acc_app, "set-municipality", EMAIL, "Atlantis")
    assert result.exit_code == 1
    assert "Onbekende gemeente 'Atlantis'" in result.output and "CBS-code" in result.output
    result = _run(acc_app, "set-municipality", EMAIL, "Bergen")
    assert result.exit_code == 1 and "Bergen (NH.)" in result.output and "Bergen (L.)" in result.output
    result = _run(acc_app, "set-municipality", "niemand@example.org", "Delft")
    assert result.exit_code == 1 and "Er is geen gebruiker met e-mailadres" in result.output
    with acc_app.app_context():
        assert _user().municipality.name == "Delft"
        from portal.errors import PermissionDenied

        with pytest.raises(PermissionDenied):
            accounts.set_municipality(_user(), EMAIL, "Utrecht")
    assert _actions(acc_app, "user.municipality_change") == []


def test_audit_log_shows_dutch_labels_and_keeps_the_code(acc_app, client_for):
    post_login(acc_app.test_client(), EMAIL, "fout")
    _run(acc_app, "set-municipality", EMAIL, "Utrecht")
    admin = client_for(acc_app, "beheer@example.org")
    html = admin.get("/beheer/logboek").get_data(as_text=True)
    rows = html.split("<tbody>")[1]
    assert "Inloggen mislukt" in rows and "<code>auth.login_failed</code>" in rows
    assert "Gemeente van account gewijzigd" in rows
    assert '<option value="auth.login_failed"' in html and "Inloggen mislukt (auth.login_failed)" in html
    filtered = admin.get("/beheer/logboek?actie=auth.login_failed").get_data(as_text=True)
    assert "Ingelogd</td>" not in filtered.split("<tbody>")[1]


def test_unknown_audit_code_is_shown_as_is():
    from portal.services.audit_labels import AUDIT_LABELS, audit_label

    assert audit_label("iets.nieuws") == "iets.nieuws"
    assert audit_label("item.publish") == AUDIT_LABELS["item.publish"] == "Gepubliceerd"


def test_the_codes_testers_saw_have_labels():
    from portal.services.audit_labels import audit_label

    for code in ("auth.login_failed", "item.publish", "api_token.create", "access.denied",
                 "api_token.revoke_all", "user.municipality_change", "auth.reauth_failed"):
        assert audit_label(code) != code and not audit_label(code).startswith(code.split(".")[0] + ".")


# -- 5. the API's version on create ---------------------------------------------------------

def test_create_answer_carries_the_version_to_patch_with(acc_app):
    token = _key(acc_app, "bijdrager@delft.example.org")
    client = acc_app.test_client()
    resp = client.post("/api/v1/items", headers=_auth(token), json={
        "type": "practice", "front_matter": {"title": "Buurtkoffie met sleutelfiguren", "municipality": "Delft"},
        "body": "## Doel\n\nKoffie."})
    assert resp.status_code == 201
    version = resp.get_json()["version"]
    url = resp.headers["Location"]
    assert client.get(url, headers=_auth(token)).get_json()["version"] == version
    resp = client.patch(url, headers=_auth(token), json={"version": version, "front_matter": {"summary": "Maandelijks."}})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["version"] > version


def test_api_docs_take_the_version_from_an_answer():
    """docs/api.md once PATCHed a new item with a hard-coded ``"version": 1``
    (409 when the item had been saved more than once)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text(encoding="utf-8")
    assert not re.search(r'"version":\s*\d', text)
    assert "jq .version" in text
