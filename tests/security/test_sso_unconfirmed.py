"""A self sign-up that was never confirmed must not lock its owner out of
single sign-on, and must not become a way into their account either
(pre-account-takeover: whoever typed the address chose the password).
Also the other direction (a sign-up for an address with an SSO account),
and "Mijn sessies" for an account without a password: ending another
session needs a fresh login through the organisation (ASVS 5.0 V7.5.2).

The real OpenID provider of ``test_oidc`` runs on loopback."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, OutboxMessage, SignupConfirmation, User, UserIdentity, UserSession
from portal.models.base import utcnow
from portal.services import accounts
from portal.services.items import SYSTEM

from ..conftest import csrf_token, make_app, serving
from .helpers import is_logged_in, post_login
from .test_oidc import FakeProvider, _at_provider, _back, _sso_login, _start, _tenant

JAN = "jan@delft.nl"
SIGNUP_PASSWORD = "een zelfgekozen lange zin van de aanmelder"


@pytest.fixture(scope="module")
def idp():
    provider = FakeProvider()
    with serving(provider.app) as url:
        provider.issuer = url
        yield provider


@pytest.fixture
def app(tmp_path, idp):
    idp.claims_override = {}
    idp.signing_key = None
    idp.user = {"sub": "delft-0001", "email": JAN, "name": "Jan Jansen"}
    app = make_app(tmp_path / "sso", content=False, OIDC_TENANTS={"delft": _tenant(idp)})
    from portal.signup import service as signup

    with app.app_context():
        signup.add_domain(SYSTEM, "GM0503", "delft.nl")
    return app


def _sign_up(app, email=JAN, password=SIGNUP_PASSWORD):
    client = app.test_client()
    resp = client.post("/account-aanvragen", data={
        "name": "Iemand", "email": email, "municipality": "GM0503", "password": password,
        "csrf_token": csrf_token(client, "/account-aanvragen")})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account-aanvragen/verstuurd")


def _mails(app, to=JAN) -> list[str]:
    with app.app_context():
        return [m.body for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == to)
                                                   .order_by(OutboxMessage.id))]


def _confirm_link(app) -> str:
    found = re.search(r"https?://[^\s]+(/account-bevestigen/[^\s]+)", _mails(app)[-1])
    assert found
    return found.group(1)


def _user(app, email=JAN) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        db.session.expunge_all()
        return user


def _reasons(app) -> list[str]:
    with app.app_context():
        return [e.detail.get("reason") for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "auth.login_failed").order_by(AuditEvent.id))]


# --- the bug: an unconfirmed sign-up blocked single sign-on -------------------------------

def test_sso_takes_over_an_unconfirmed_sign_up_and_drops_its_password(app, idp):
    _sign_up(app)
    signed_up = _user(app)
    assert not signed_up.active and signed_up.password_hash
    link = _confirm_link(app)
    client = app.test_client()
    resp = _sso_login(client)
    assert resp.status_code == 302 and resp.headers["Location"] == "/", resp.headers["Location"]
    assert is_logged_in(client)
    user = _user(app)
    assert user.id == signed_up.id and user.active and user.role == "member"
    assert user.password_hash == "" and user.name == "Jan Jansen" and user.municipality_id is not None
    with app.app_context():
        ident = db.session.scalar(select(UserIdentity).where(UserIdentity.user_id == user.id))
        assert (ident.subject, ident.tenant) == ("delft-0001", "delft")
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "signup.confirmed_by_sso")).target == JAN
    # whoever signed up with that address cannot use the password chosen then
    assert post_login(app.test_client(), JAN, password=SIGNUP_PASSWORD).status_code == 400
    # the confirmation link is used up
    page = app.test_client().get(link)
    assert page.status_code == 400 and "al gebruikt" in page.get_data(as_text=True)
    # and the next SSO login finds the same account
    assert _sso_login(app.test_client()).status_code == 302 and _user(app).id == user.id


def test_an_expired_unconfirmed_sign_up_is_taken_over_too(app, idp):
    _sign_up(app)
    with app.app_context():
        row = db.session.scalar(select(SignupConfirmation))
        row.expires_at = utcnow() - timedelta(days=3)  # the link ran out long ago
        db.session.commit()
    client = app.test_client()
    assert _sso_login(client).status_code == 302 and is_logged_in(client)


def test_a_confirmed_sign_up_is_never_taken_over(app, idp):
    _sign_up(app)
    client = app.test_client()
    link = _confirm_link(app)
    assert client.post(link, data={"password": SIGNUP_PASSWORD,
                                   "csrf_token": csrf_token(client, link)}).status_code == 302
    attacker = app.test_client()
    resp = _sso_login(attacker)
    assert resp.headers["Location"].endswith("/inloggen") and not is_logged_in(attacker)
    assert _reasons(app)[-1] == "email_in_use"
    assert _user(app).password_hash and post_login(app.test_client(), JAN, password=SIGNUP_PASSWORD).status_code == 302


def test_an_unconfirmed_sign_up_closed_by_an_admin_is_never_taken_over(app, idp):
    _sign_up(app)
    link = _confirm_link(app)
    with app.app_context():
        accounts.set_active(SYSTEM, JAN, False)
    client = app.test_client()
    assert _sso_login(client).status_code == 302
    assert not is_logged_in(client) and _reasons(app)[-1] == "email_in_use"
    assert not _user(app).active
    # its link died, and a new sign-up does not reopen it
    assert app.test_client().get(link).status_code == 400
    _sign_up(app)
    assert "U hebt al een account" in _mails(app)[-1]
    assert not _user(app).active


def test_an_address_the_provider_calls_unverified_takes_over_nothing(app, idp):
    _sign_up(app)
    idp.claims_override = {"email_verified": False}
    client = app.test_client()
    assert _sso_login(client).status_code == 302
    assert not is_logged_in(client) and _reasons(app)[-1] == "email_in_use"
    assert not _user(app).active and _user(app).password_hash


def test_sign_up_for_an_address_with_an_sso_account(app, idp):
    """The reverse: the SSO account stays as it is, nothing is activated,
    no password is set, and the mail says how to log in."""
    assert _sso_login(app.test_client()).status_code == 302
    before = _user(app)
    _sign_up(app)
    after = _user(app)
    assert (after.id, after.active, after.password_hash, after.name) == (before.id, True, "", before.name)
    body = _mails(app)[-1]
    assert "U hebt al een account" in body and "via uw organisatie" in body
    with app.app_context():
        assert db.session.scalar(select(SignupConfirmation)) is None
    assert post_login(app.test_client(), JAN, password=SIGNUP_PASSWORD).status_code == 400


# --- /sessies for an account without a password ------------------------------------------------

def _own_session_ids(app, email=JAN) -> list[int]:
    with app.app_context():
        uid = db.session.scalar(select(User.id).where(User.email == email))
        return list(db.session.scalars(select(UserSession.id).where(UserSession.user_id == uid,
                                                                    UserSession.ended_at.is_(None))
                                       .order_by(UserSession.id)))


def _end(client, session_id):
    return client.post(f"/sessies/{session_id}/beeindigen", data={"csrf_token": csrf_token(client, "/sessies")})


def _age_login(client, seconds=600):
    with client.session_transaction() as sess:
        sess["_reauth_at"] -= seconds


def test_sso_only_user_ends_a_session_right_after_logging_in(app, idp):
    laptop, phone = app.test_client(), app.test_client()
    _sso_login(laptop)
    _sso_login(phone)
    laptop_id, _phone_id = _own_session_ids(app)
    html = phone.get("/sessies").get_data(as_text=True)
    assert 'name="current_password"' not in html  # nothing to type: there is no password
    assert _end(phone, laptop_id).status_code == 302
    assert not is_logged_in(laptop) and is_logged_in(phone)


def test_sso_only_user_must_confirm_again_after_five_minutes(app, idp):
    laptop, phone = app.test_client(), app.test_client()
    _sso_login(laptop)
    _sso_login(phone)
    laptop_id, _phone_id = _own_session_ids(app)
    _age_login(phone)
    resp = _end(phone, laptop_id)
    assert resp.status_code == 400 and "Bevestig eerst via uw organisatie" in resp.get_data(as_text=True)
    assert phone.post("/sessies/andere-beeindigen",
                      data={"csrf_token": csrf_token(phone, "/sessies")}).status_code == 400
    assert is_logged_in(laptop)
    html = phone.get("/sessies").get_data(as_text=True)
    assert "Bevestigen via Gemeente Delft" in html and "/sessies/bevestigen/delft" in html
    # confirm through the provider: it is asked to ask again (prompt=login)
    location = _start(phone, path="/sessies/bevestigen/delft")
    assert parse_qs(urlsplit(location).query)["prompt"] == ["login"]
    back = _back(phone, _at_provider(location))
    assert back.status_code == 302 and back.headers["Location"].endswith("/sessies")
    assert _end(phone, laptop_id).status_code == 302
    assert not is_logged_in(laptop) and is_logged_in(phone)
    assert len(_own_session_ids(app)) == 1  # the confirmation made no new session


def test_confirming_as_someone_else_does_not_count(app, idp):
    laptop, phone = app.test_client(), app.test_client()
    _sso_login(laptop)
    _sso_login(phone)
    laptop_id, _phone_id = _own_session_ids(app)
    _age_login(phone)
    idp.user = {"sub": "iemand-anders", "email": "anders@delft.nl", "name": "Anders"}
    back = _back(phone, _at_provider(_start(phone, path="/sessies/bevestigen/delft")))
    assert back.status_code == 302 and back.headers["Location"].endswith("/sessies")
    assert _reasons(app)[-1] == "reauth_other_account"
    assert _user(app, "anders@delft.nl") is None  # a confirmation never makes an account
    assert _end(phone, laptop_id).status_code == 400 and is_logged_in(laptop)


def test_a_stale_auth_time_does_not_count(app, idp):
    laptop, phone = app.test_client(), app.test_client()
    _sso_login(laptop)
    _sso_login(phone)
    laptop_id, _phone_id = _own_session_ids(app)
    _age_login(phone)
    idp.claims_override = {"auth_time": int(time.time()) - 3600}  # the provider did not ask again
    assert _back(phone, _at_provider(_start(phone, path="/sessies/bevestigen/delft"))).status_code == 302
    assert _reasons(app)[-1] == "reauth_not_fresh"
    assert _end(phone, laptop_id).status_code == 400 and is_logged_in(laptop)


@pytest.mark.parametrize("auth_time", [None, "nu", True])
def test_a_provider_that_ignores_max_age_confirms_nothing(app, idp, auth_time):
    """The confirmation asks ``prompt=login`` and ``max_age=0``; a provider
    that ignores both and sends no (or no numeric) ``auth_time`` would turn
    its still-open session into a "confirmation": it does not count."""
    laptop, phone = app.test_client(), app.test_client()
    _sso_login(laptop)
    _sso_login(phone)
    laptop_id, _phone_id = _own_session_ids(app)
    _age_login(phone)
    idp.claims_override = {"auth_time": auth_time}  # None: the claim is left out
    assert _back(phone, _at_provider(_start(phone, path="/sessies/bevestigen/delft"))).status_code == 302
    assert idp.authorize_requests[-1].get("max_age") == "0" and idp.authorize_requests[-1].get("prompt") == "login"
    # a text auth_time is already refused by Authlib's claim check; a missing or true one by ours
    assert _reasons(app)[-1] == ("InvalidClaimError" if auth_time == "nu" else "reauth_not_fresh")
    assert _end(phone, laptop_id).status_code == 400 and is_logged_in(laptop)
