"""TOTP second factor (issue #7): OWASP ASVS 5.0 V6.3.3 (multi-factor for
level 2), V6.5 (one-time codes and recovery codes), V6.4.4 / V6.5.6 (a lost
factor removed by an administrator). Real app, real database, real pyotp
codes computed as an authenticator app would."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, User
from portal.services import accounts
from portal.services.accounts import deployment_problems

from ..conftest import PASSWORD, csrf_token, make_app
from .helpers import is_logged_in, logout, post_login, totp_code

ADMIN = "beheer@example.org"
MEMBER = "lid@delft.example.org"
OTHER = "bijdrager@utrecht.example.org"


@pytest.fixture
def totp_app(tmp_path):
    return make_app(tmp_path / "totp", content=False, REQUIRE_TOTP_FOR_ADMINS=True)


def _code(secret: str, offset: int = 0) -> str:
    return totp_code(secret, offset)


def _enroll(client) -> tuple[str, list[str]]:
    """Start and confirm enrollment through the pages; returns (secret, recovery codes)."""
    token = csrf_token(client, "/tweestapsverificatie")
    assert client.post("/tweestapsverificatie/starten",
                       data={"csrf_token": token, "current_password": PASSWORD}).status_code == 302
    html = client.get("/tweestapsverificatie").get_data(as_text=True)
    secret = re.search(r'class="totp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    # the step before now (allowed drift): the current and next steps stay free for the test
    resp = client.post("/tweestapsverificatie/bevestigen",
                       data={"code": _code(secret, -1), "csrf_token": csrf_token(client, "/tweestapsverificatie")})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:400]
    codes = re.findall(r"<li><code>([0-9a-f]{6}-[0-9a-f]{6})</code></li>", resp.get_data(as_text=True))
    assert len(codes) == accounts.RECOVERY_CODE_COUNT
    return secret, codes


def _enrolled_client(app, email=MEMBER):
    client = app.test_client()
    assert post_login(client, email).status_code == 302
    secret, codes = _enroll(client)
    logout(client)
    return client, secret, codes


def _post_code(client, code):
    return client.post("/inloggen/code", data={"code": code, "csrf_token": csrf_token(client, "/inloggen/code")})


def _user(app, email) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        db.session.expunge(user)
        return user


def _actions(app, email) -> list[str]:
    with app.app_context():
        return [e.action for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.target == email).order_by(AuditEvent.id))]


def test_v6_3_3_enrollment_needs_a_valid_code(totp_app):
    client = totp_app.test_client()
    post_login(client, MEMBER)
    token = csrf_token(client, "/tweestapsverificatie")
    client.post("/tweestapsverificatie/starten", data={"csrf_token": token, "current_password": PASSWORD})
    html = client.get("/tweestapsverificatie").get_data(as_text=True)
    secret = re.search(r'class="totp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    assert "otpauth://totp/" in html and "<svg" in html and "<script" not in html
    wrong = f"{(int(_code(secret)) + 1) % 1_000_000:06d}"
    resp = client.post("/tweestapsverificatie/bevestigen",
                       data={"code": wrong, "csrf_token": csrf_token(client, "/tweestapsverificatie")})
    assert resp.status_code == 400
    assert not _user(totp_app, MEMBER).totp_enabled
    resp = client.post("/tweestapsverificatie/bevestigen",
                       data={"code": _code(secret), "csrf_token": csrf_token(client, "/tweestapsverificatie")})
    assert resp.status_code == 200
    user = _user(totp_app, MEMBER)
    assert user.totp_enabled
    assert secret not in (user.totp_secret or "")  # encrypted at rest
    assert "auth.totp_enabled" in _actions(totp_app, MEMBER)
    assert "auth.totp_failed" in _actions(totp_app, MEMBER)


def test_v6_3_3_login_with_totp_needs_the_code(totp_app):
    client, secret, _codes = _enrolled_client(totp_app)
    resp = post_login(client, MEMBER)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/inloggen/code")
    assert not is_logged_in(client)  # the password alone logs nobody in
    client.get("/")  # other pages are no way round the second step
    assert not is_logged_in(client)
    resp = _post_code(client, _code(secret))
    assert resp.status_code == 302
    assert is_logged_in(client)
    # the pending marker is gone: the code page sends a logged-in user on
    assert client.get("/inloggen/code").status_code == 302


def test_v6_3_1_wrong_codes_are_refused_and_throttled(totp_app):
    client, secret, _codes = _enrolled_client(totp_app)
    post_login(client, MEMBER)
    for _ in range(accounts.FREE_FAILURES):
        resp = _post_code(client, "000000" if _code(secret) != "000000" else "111111")
        assert resp.status_code == 400
        assert "De code klopt niet" in resp.get_data(as_text=True)
    resp = _post_code(client, _code(secret))  # right, but the account is throttled now
    assert resp.status_code == 400
    assert not is_logged_in(client)
    assert _actions(totp_app, MEMBER).count("auth.totp_failed") >= accounts.FREE_FAILURES


def test_v6_3_1_code_step_has_the_per_address_limit(tmp_path):
    app = make_app(tmp_path / "limit", content=False, LOGIN_FAILURE_LIMIT="3 per minute")
    client, _secret, _codes = _enrolled_client(app)
    post_login(client, MEMBER)
    statuses = [_post_code(client, "999999").status_code for _ in range(4)]
    assert statuses[:3] == [400, 400, 400] and statuses[3] == 429


def test_v6_5_1_a_code_is_used_once(totp_app):
    client, secret, _codes = _enrolled_client(totp_app)
    code = _code(secret, 1)  # next step: within the allowed drift
    post_login(client, MEMBER)
    assert _post_code(client, code).status_code == 302
    logout(client)
    post_login(client, MEMBER)
    assert _post_code(client, code).status_code == 400  # replayed
    # an older step than the last used one is refused as well
    assert _post_code(client, _code(secret, 0)).status_code == 400
    assert not is_logged_in(client)


def test_v6_5_5_codes_outside_one_step_of_drift_are_refused(totp_app):
    client, secret, _codes = _enrolled_client(totp_app)
    post_login(client, MEMBER)
    assert _post_code(client, _code(secret, -3)).status_code == 400
    assert _post_code(client, _code(secret, 3)).status_code == 400
    assert _post_code(client, _code(secret, 1)).status_code == 302


def test_v6_5_1_recovery_code_works_once_and_is_stored_hashed(totp_app):
    client, _secret, codes = _enrolled_client(totp_app)
    stored = _user(totp_app, MEMBER).totp_recovery_codes
    assert all(c not in stored and c.replace("-", "") not in stored for c in codes)  # V6.5.2
    post_login(client, MEMBER)
    assert _post_code(client, codes[0].upper()).status_code == 302
    assert "auth.totp_recovery_used" in _actions(totp_app, MEMBER)
    logout(client)
    post_login(client, MEMBER)
    assert _post_code(client, codes[0]).status_code == 400
    assert _post_code(client, codes[1]).status_code == 302


@pytest.mark.parametrize("email, role", [(ADMIN, "admin"), ("fg@example.org", "privacy")])
def test_v6_3_3_admin_and_privacy_officer_without_totp_are_gated_to_enrollment(totp_app, email, role):
    if role == "privacy":
        from portal.services.items import SYSTEM
        from portal.services.library import create_user

        with totp_app.app_context():
            create_user(SYSTEM, email, role, name="fg", password=PASSWORD)
    client = totp_app.test_client()
    assert post_login(client, email).status_code == 302
    for path in ("/", "/wachtwoord-wijzigen", "/beheer/logboek", "/account/sleutels"):
        resp = client.get(path)
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/tweestapsverificatie"), path
    assert client.get("/api/items").status_code in (403, 401)
    assert client.get("/tweestapsverificatie").status_code == 200
    _enroll(client)
    assert client.get("/wachtwoord-wijzigen").status_code == 200  # free once enrolled
    # a member is never gated
    member = totp_app.test_client()
    post_login(member, MEMBER)
    assert member.get("/wachtwoord-wijzigen").status_code == 200


def test_admins_are_not_gated_when_the_requirement_is_off(tmp_path):
    app = make_app(tmp_path / "off", content=False)  # conftest: REQUIRE_TOTP_FOR_ADMINS False
    client = app.test_client()
    post_login(client, ADMIN)
    assert client.get("/wachtwoord-wijzigen").status_code == 200


def test_v6_5_6_disabling_needs_password_and_code(totp_app):
    client, secret, _codes = _enrolled_client(totp_app)
    post_login(client, MEMBER)
    _post_code(client, _code(secret))

    def disable(password, code):
        return client.post("/tweestapsverificatie/uitzetten", data={
            "current_password": password, "code": code, "csrf_token": csrf_token(client, "/tweestapsverificatie")})

    assert disable("not the password at all", _code(secret, 1)).status_code == 400
    assert disable(PASSWORD, "123456" if _code(secret, 1) != "123456" else "654321").status_code == 400
    assert _user(totp_app, MEMBER).totp_enabled
    assert disable(PASSWORD, _code(secret, 1)).status_code == 302
    assert not _user(totp_app, MEMBER).totp_enabled
    assert "auth.totp_disabled" in _actions(totp_app, MEMBER)
    logout(client)
    assert post_login(client, MEMBER).headers["Location"].endswith("/")  # the password alone again


def test_v6_4_4_reset_totp_cli_removes_the_factor_and_ends_sessions(totp_app):
    client, secret, _codes = _enrolled_client(totp_app)
    post_login(client, MEMBER)
    _post_code(client, _code(secret))
    assert is_logged_in(client)
    result = totp_app.test_cli_runner().invoke(args=["reset-totp", MEMBER])
    assert result.exit_code == 0, result.output
    assert not is_logged_in(client)  # the session ended
    assert not _user(totp_app, MEMBER).totp_enabled
    assert "auth.totp_reset" in _actions(totp_app, MEMBER)
    bad = totp_app.test_cli_runner().invoke(args=["reset-totp", "niemand@example.org"])
    assert bad.exit_code == 1 and "Fout" in bad.output


def test_pending_second_step_shows_nothing_protected(totp_app):
    """Anonymous visitors and a half-logged-in user (password right, no
    code) reach neither the enrollment page nor the code page of another."""
    anon = totp_app.test_client()
    assert anon.get("/tweestapsverificatie").status_code == 302
    assert anon.get("/inloggen/code").status_code == 302
    assert anon.post("/tweestapsverificatie/starten", data={"csrf_token": csrf_token(anon)}).status_code == 302
    client, secret, _codes = _enrolled_client(totp_app)
    post_login(client, MEMBER)
    html = client.get("/tweestapsverificatie")
    assert html.status_code == 302  # login_required: not logged in
    other = totp_app.test_client()
    post_login(other, OTHER)
    page = other.get("/tweestapsverificatie").get_data(as_text=True)
    assert secret not in page and MEMBER not in page


def test_v13_4_2_check_deploy_reports_the_requirement_switched_off():
    errors, _ = deployment_problems({"ENV": "production", "REQUIRE_TOTP_FOR_ADMINS": False})
    assert any("PORTAL_REQUIRE_TOTP_FOR_ADMINS" in e for e in errors)
    errors, _ = deployment_problems({"ENV": "production", "REQUIRE_TOTP_FOR_ADMINS": True})
    assert not any("PORTAL_REQUIRE_TOTP_FOR_ADMINS" in e for e in errors)


def test_require_totp_setting_comes_from_the_environment(tmp_path, monkeypatch):
    from portal import create_app

    monkeypatch.setenv("PORTAL_REQUIRE_TOTP_FOR_ADMINS", "0")
    app = create_app({"INSTANCE_PATH": str(tmp_path / "i"), "INDEX_DIR": str(tmp_path / "x"),
                      "SQLALCHEMY_DATABASE_URI": "sqlite:///" + str(tmp_path / "x.sqlite3")})
    assert app.config["REQUIRE_TOTP_FOR_ADMINS"] is False
    monkeypatch.delenv("PORTAL_REQUIRE_TOTP_FOR_ADMINS")
    app = create_app({"INSTANCE_PATH": str(tmp_path / "j"), "INDEX_DIR": str(tmp_path / "y"),
                      "SQLALCHEMY_DATABASE_URI": "sqlite:///" + str(tmp_path / "y.sqlite3")})
    assert app.config["REQUIRE_TOTP_FOR_ADMINS"] is True


def test_v6_5_5_the_second_step_expires(totp_app):
    """A right password only opens the code step for 5 minutes."""
    from portal.auth import PENDING_LIFETIME

    client, secret, _codes = _enrolled_client(totp_app)
    post_login(client, MEMBER)
    with client.session_transaction() as sess:
        assert MEMBER not in str(sess) and _user(totp_app, MEMBER).session_token not in str(sess)
        pending = dict(sess["_totp_pending"])
        pending["at"] -= PENDING_LIFETIME + 1
        sess["_totp_pending"] = pending
    assert client.get("/inloggen/code").status_code == 302
    resp = client.post("/inloggen/code", data={"code": _code(secret), "csrf_token": csrf_token(client)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/inloggen")
    assert not is_logged_in(client)


def test_v11_4_2_old_password_hash_of_a_totp_user_is_rehashed(totp_app):
    from werkzeug.security import generate_password_hash

    client, secret, _codes = _enrolled_client(totp_app)
    with totp_app.app_context():
        user = db.session.scalar(select(User).where(User.email == MEMBER))
        user.password_hash = generate_password_hash(PASSWORD, method="scrypt")
        db.session.commit()
    post_login(client, MEMBER)
    assert _user(totp_app, MEMBER).password_hash.startswith("$argon2id$")
    assert _post_code(client, _code(secret)).status_code == 302
