"""ASVS 5.0 V7 (session management) and V3.3 (cookies)."""

from __future__ import annotations

import secrets
import time

from ..conftest import make_app
from .helpers import copy_cookies, is_logged_in, logout, post_login

EMAIL = "lid@delft.example.org"


def _set_cookie_headers(resp) -> list[str]:
    return resp.headers.getlist("Set-Cookie")


def test_v7_2_4_new_session_and_cleared_data_on_login(empty_app):
    client = empty_app.test_client()
    client.get("/inloggen")
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
        sess["lang"] = "en"
    before = client.get_cookie("session").value
    assert post_login(client, EMAIL).status_code == 302
    assert client.get_cookie("session").value != before
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess.get("lang") == "en"  # the chosen language alone survives
    # the pre-login cookie is still anonymous
    fixed = empty_app.test_client()
    fixed.set_cookie("session", before)
    assert not is_logged_in(fixed)


def test_v7_4_1_logout_kills_a_copied_session_cookie(empty_app, client_for):
    victim = client_for(empty_app, EMAIL)
    thief = empty_app.test_client()
    copy_cookies(victim, thief)
    assert is_logged_in(thief)  # the copy works while the session lives
    with victim.session_transaction() as sess:
        sess["private"] = "left by a page"
    assert logout(victim).status_code == 302
    with victim.session_transaction() as sess:
        assert set(sess) <= {"_flashes", "_remember"}, dict(sess)  # all session data cleared
    assert not is_logged_in(victim)
    assert not is_logged_in(thief)  # ended server-side, not only in the browser


def test_v7_4_1_logout_kills_a_copied_remember_cookie(empty_app):
    victim = empty_app.test_client()
    assert post_login(victim, EMAIL, remember=True).status_code == 302
    thief = empty_app.test_client()
    copy_cookies(victim, thief, names=("remember_token",))
    assert is_logged_in(thief)  # restored from the remember cookie alone
    logout(victim)
    fresh_thief = empty_app.test_client()
    copy_cookies(thief, fresh_thief, names=("remember_token",))
    assert not is_logged_in(fresh_thief)
    assert not is_logged_in(thief)


def test_remember_me_only_when_asked(empty_app):
    client = empty_app.test_client()
    resp = post_login(client, EMAIL)
    assert not any(h.startswith("remember_token=") for h in _set_cookie_headers(resp))
    assert client.get_cookie("remember_token") is None
    other = empty_app.test_client()
    resp = post_login(other, EMAIL, remember=True)
    headers = [h for h in _set_cookie_headers(resp) if h.startswith("remember_token=")]
    assert headers and "HttpOnly" in headers[0] and "SameSite=Lax" in headers[0]


def test_v7_3_1_idle_timeout_30_minutes(empty_app, client_for):
    client = client_for(empty_app, EMAIL)
    now = int(time.time())
    with client.session_transaction() as sess:
        sess["_seen_at"] = now - 29 * 60
    assert is_logged_in(client)  # 29 minutes idle: still in, and the clock restarts
    with client.session_transaction() as sess:
        assert sess["_seen_at"] >= now
        sess["_seen_at"] = now - 31 * 60
    assert not is_logged_in(client)
    with client.session_transaction() as sess:
        assert "_user_id" not in sess


def test_v7_3_2_absolute_timeout_12_hours(empty_app, client_for):
    client = client_for(empty_app, EMAIL)
    now = int(time.time())
    with client.session_transaction() as sess:
        sess["_auth_at"] = now - 11 * 3600
    assert is_logged_in(client)
    with client.session_transaction() as sess:
        sess["_auth_at"] = now - 12 * 3600 - 60
        sess["_seen_at"] = now  # busy all the time: still ends
    assert not is_logged_in(client)


def test_v7_3_1_idle_timeout_also_ends_remember_me(empty_app):
    client = empty_app.test_client()
    post_login(client, EMAIL, remember=True)
    with client.session_transaction() as sess:
        sess["_seen_at"] = int(time.time()) - 31 * 60
    assert not is_logged_in(client)
    assert not is_logged_in(client)  # the remember cookie was cleared too


def test_v7_4_2_deactivation_ends_sessions(empty_app, client_for):
    client = client_for(empty_app, EMAIL)
    result = empty_app.test_cli_runner().invoke(args=["deactivate-user", EMAIL])
    assert result.exit_code == 0, result.output
    assert not is_logged_in(client)
    assert post_login(empty_app.test_client(), EMAIL).status_code == 400
    result = empty_app.test_cli_runner().invoke(args=["deactivate-user", EMAIL, "--activate"])
    assert result.exit_code == 0
    assert post_login(empty_app.test_client(), EMAIL).status_code == 302


def test_v7_4_5_role_change_ends_sessions(empty_app, client_for):
    client = client_for(empty_app, EMAIL)
    result = empty_app.test_cli_runner().invoke(args=["set-role", EMAIL, "contributor"])
    assert result.exit_code == 0, result.output
    assert not is_logged_in(client)


def test_v7_4_5_admin_ends_sessions_of_one_user_or_all(empty_app, client_for):
    member, curator = client_for(empty_app, EMAIL), client_for(empty_app, "curator@delft.example.org")
    runner = empty_app.test_cli_runner()
    result = runner.invoke(args=["end-sessions", EMAIL])
    assert result.exit_code == 0, result.output
    assert not is_logged_in(member)
    assert is_logged_in(curator)
    assert runner.invoke(args=["end-sessions", "--all"]).exit_code == 0
    assert not is_logged_in(curator)
    assert runner.invoke(args=["end-sessions"]).exit_code == 1


def test_v7_4_4_logout_visible_on_pages_for_logged_in_users(empty_app, client_for):
    client = client_for(empty_app, EMAIL)
    for path in ("/", "/wachtwoord-wijzigen", "/gemeenten"):
        html = client.get(path).get_data(as_text=True)
        assert 'action="/uitloggen"' in html, path


def test_logout_by_get_is_refused(empty_app, client_for):
    client = client_for(empty_app, EMAIL)
    assert client.get("/uitloggen").status_code == 405
    assert is_logged_in(client)


def test_v3_3_4_v3_3_2_session_cookie_httponly_samesite(empty_app):
    client = empty_app.test_client()
    resp = post_login(client, EMAIL)
    session_cookie = [h for h in _set_cookie_headers(resp) if h.startswith("session=")][0]
    assert "HttpOnly" in session_cookie
    assert "SameSite=Lax" in session_cookie
    assert "Secure" not in session_cookie  # development over http


def test_v3_3_1_v3_3_3_cookies_secure_and_host_only_in_production(tmp_path):
    app = make_app(tmp_path, content=False, ENV="production", SECRET_KEY=secrets.token_urlsafe(48))
    client = app.test_client()
    https = {"base_url": "https://localhost", "headers": {"Referer": "https://localhost/inloggen"}}
    html = client.get("/inloggen", **https).get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    resp = client.post("/inloggen", data={"email": EMAIL, "password": "correct horse battery staple",
                                          "remember": "y", "csrf_token": token}, **https)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    cookies = _set_cookie_headers(resp)
    assert cookies
    for header in cookies:
        assert "Secure" in header and "HttpOnly" in header, header
        assert header.startswith("__Host-") and "Path=/;" in header and "Domain" not in header, header  # V3.3.3
    assert {h.split("=", 1)[0] for h in cookies} == {"__Host-session", "__Host-remember_token"}
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


def test_v7_2_1_session_checked_on_the_server(empty_app, client_for):
    """A forged session naming a user id without the current token is refused."""
    client = client_for(empty_app, EMAIL)
    with client.session_transaction() as sess:
        user_id = sess["_user_id"].split(".")[0]
        sess["_user_id"] = user_id  # the old cookie format: id only
    assert not is_logged_in(client)
    client = client_for(empty_app, EMAIL)
    with client.session_transaction() as sess:
        sess["_user_id"] = sess["_user_id"][:-2] + "xx"
    assert not is_logged_in(client)
