"""ASVS 5.0 V16 (security logging): authentication events, failed
authorisation, no secrets in the log, log injection prevented."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, User

from ..conftest import PASSWORD, csrf_token
from .helpers import logout, post_login

EMAIL = "lid@delft.example.org"


def _events(app) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def _actions(app) -> list[str]:
    return [e.action for e in _events(app)]


def _user_id(app, email=EMAIL) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


def test_v16_3_1_login_failed_login_and_logout_are_recorded(empty_app):
    start = len(_events(empty_app))
    client = empty_app.test_client()
    post_login(client, EMAIL, "fout wachtwoord")
    post_login(client, "niemand@example.org", "fout wachtwoord")
    post_login(client, EMAIL)
    logout(client)
    events = _events(empty_app)[start:]
    assert [e.action for e in events] == ["auth.login_failed", "auth.login_failed", "auth.login", "auth.logout"]
    uid = _user_id(empty_app)
    assert events[0].target == EMAIL and events[0].detail["known"] is True
    assert events[1].target == "niemand@example.org" and events[1].detail["known"] is False
    assert events[2].actor_id == uid and events[3].actor_id == uid
    assert all(e.at is not None for e in events)  # when, who, what


def test_v16_3_1_password_change_and_reset_are_recorded(empty_app, client_for):
    client = client_for(empty_app, EMAIL)
    client.post("/wachtwoord-wijzigen", data={"current_password": PASSWORD, "new_password": "een nieuw lang wachtwoord",
                                              "csrf_token": csrf_token(client, "/wachtwoord-wijzigen")})
    empty_app.test_cli_runner().invoke(args=["password-reset", EMAIL])
    actions = _actions(empty_app)
    assert "auth.password_change" in actions
    assert "auth.password_reset_issued" in actions


def test_v16_3_3_role_change_is_recorded(empty_app):
    result = empty_app.test_cli_runner().invoke(args=["set-role", EMAIL, "curator"])
    assert result.exit_code == 0, result.output
    event = _events(empty_app)[-1]
    assert event.action == "user.role_change"
    assert event.target == EMAIL and event.detail == {"old": "member", "new": "curator"}


def test_v16_3_2_denied_access_is_recorded(empty_app, client_for):
    client = client_for(empty_app, EMAIL)  # a member may not write practices
    resp = client.get("/nieuw/werkwijzen")
    assert resp.status_code == 403
    event = _events(empty_app)[-1]
    assert event.action == "access.denied"
    assert event.target == "/nieuw/werkwijzen"
    assert event.actor_id == _user_id(empty_app)
    assert event.detail["method"] == "GET"


def test_v16_2_5_no_passwords_tokens_or_cookies_in_the_audit_log(empty_app, client_for):
    client = client_for(empty_app, EMAIL)
    new = "een geheim nieuw wachtwoord"
    client.post("/wachtwoord-wijzigen", data={"current_password": PASSWORD, "new_password": new,
                                              "csrf_token": csrf_token(client, "/wachtwoord-wijzigen")})
    post_login(empty_app.test_client(), EMAIL, "mijn foute gok 123")
    result = empty_app.test_cli_runner().invoke(args=["password-reset", EMAIL])
    reset_token = re.search(r"/wachtwoord-herstellen/(\S+)", result.output).group(1)
    cookie = client.get_cookie("session").value
    with empty_app.app_context():
        session_token = db.session.scalar(select(User.session_token).where(User.email == EMAIL))
    dump = json.dumps([[e.action, e.target, e.detail] for e in _events(empty_app)], ensure_ascii=False)
    for secret in (PASSWORD, new, "mijn foute gok 123", reset_token, cookie, session_token):
        assert secret not in dump


def test_v16_4_1_newlines_in_user_input_are_escaped(empty_app):
    forged = "x@example.org\n2026-01-01 auth.login admin@example.org\r\tok"
    post_login(empty_app.test_client(), forged, "fout wachtwoord")
    event = _events(empty_app)[-1]
    assert event.action == "auth.login_failed"
    assert "\n" not in event.target and "\r" not in event.target and "\t" not in event.target
    assert event.target.startswith("x@example.org\\n2026-01-01")
