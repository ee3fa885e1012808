"""New TOTP recovery codes (issue #7): OWASP ASVS 5.0 V7.5.1 (changing
what recovers an account needs re-authentication: the current password and
a current app code) and V6.5.1 / V6.5.2 (recovery codes single-use, stored
hashed; the old set stops working at once). Real pyotp codes."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, User
from portal.services import accounts

from ..conftest import PASSWORD, csrf_token, make_app
from .helpers import is_logged_in, logout, post_login
from .test_totp import _code, _enroll

MEMBER = "lid@delft.example.org"
CODE_RE = r"<li><code>([0-9a-f]{6}-[0-9a-f]{6})</code></li>"


@pytest.fixture
def rc_app(tmp_path):
    return make_app(tmp_path / "rc", content=False)


def _user(app, email=MEMBER) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        db.session.expunge(user)
        return user


def _regenerate(client, password, code):
    token = csrf_token(client, "/tweestapsverificatie")
    return client.post("/tweestapsverificatie/herstelcodes",
                       data={"herstel-csrf_token": token, "herstel-current_password": password, "herstel-code": code})


def _login_with_code(app, code) -> tuple[object, int]:
    client = app.test_client()
    assert post_login(client, MEMBER).status_code == 302
    resp = client.post("/inloggen/code", data={"code": code, "csrf_token": csrf_token(client, "/inloggen/code")})
    return client, resp.status_code


def test_v7_5_1_new_codes_need_the_password_and_a_current_code(rc_app):
    client = rc_app.test_client()
    assert post_login(client, MEMBER).status_code == 302
    secret, old_codes = _enroll(client)
    before = _user(rc_app).totp_recovery_codes
    # wrong password
    resp = _regenerate(client, "niet mijn wachtwoord 123", _code(secret))
    assert resp.status_code == 400 and "Het huidige wachtwoord klopt niet." in resp.get_data(as_text=True)
    # wrong code, and a recovery code where an app code is asked
    assert _regenerate(client, PASSWORD, "000000").status_code == 400
    assert _regenerate(client, PASSWORD, old_codes[0]).status_code == 400
    assert _user(rc_app).totp_recovery_codes == before  # nothing changed
    assert _user(rc_app).failed_logins == 3  # each wrong answer counts towards the account throttle
    # without the CSRF token nothing happens either
    assert client.post("/tweestapsverificatie/herstelcodes", data={
        "herstel-current_password": PASSWORD, "herstel-code": _code(secret)}).status_code == 400
    assert _user(rc_app).totp_recovery_codes == before
    # right password and a current code
    resp = _regenerate(client, PASSWORD, _code(secret))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert "no-store" in resp.headers["Cache-Control"]
    new_codes = re.findall(CODE_RE, resp.get_data(as_text=True))
    assert len(new_codes) == accounts.RECOVERY_CODE_COUNT and not set(new_codes) & set(old_codes)
    with rc_app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.totp_recovery_regenerated"))
        assert event is not None and event.actor_id == _user(rc_app).id
    # stored as hashes only, and shown once
    stored = _user(rc_app).totp_recovery_codes
    assert all(c not in stored and c.replace("-", "") not in stored for c in new_codes)
    assert not re.findall(CODE_RE, client.get("/tweestapsverificatie").get_data(as_text=True))


def test_v6_5_1_old_codes_stop_working_at_once(rc_app):
    client = rc_app.test_client()
    assert post_login(client, MEMBER).status_code == 302
    secret, old_codes = _enroll(client)
    resp = _regenerate(client, PASSWORD, _code(secret))
    new_codes = re.findall(CODE_RE, resp.get_data(as_text=True))
    logout(client)
    # an old code no longer opens the second step; a new one does, once
    attempt, status = _login_with_code(rc_app, old_codes[1])
    assert status == 400 and not is_logged_in(attempt)
    attempt, status = _login_with_code(rc_app, new_codes[0])
    assert status == 302 and is_logged_in(attempt)
    attempt, status = _login_with_code(rc_app, new_codes[0])
    assert status == 400 and not is_logged_in(attempt)


def test_no_new_codes_without_totp(rc_app):
    client = rc_app.test_client()
    assert post_login(client, MEMBER).status_code == 302
    resp = _regenerate(client, PASSWORD, "123456")
    assert resp.status_code == 400
    assert _user(rc_app).totp_recovery_codes is None
