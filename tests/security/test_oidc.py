"""Single sign-on through OpenID Connect (issue #7): OWASP ASVS 5.0 V10
(OAuth and OIDC, the portal as relying party) and V9 (self-contained
tokens). A real OpenID provider runs in this process, served on loopback:
discovery, JWKS, authorize and token endpoints, RS256 ID tokens signed with
authlib.jose, and a token endpoint that checks the PKCE code_verifier. The
portal talks to it over real HTTP; the browser is the Flask test client,
whose redirects to the provider are followed with ``requests``."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import warnings
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from flask import Flask, jsonify, redirect, request
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, User, UserIdentity
from portal.services import accounts
from portal.services.items import SYSTEM

from ..conftest import PASSWORD, csrf_token, make_app, serving
from .helpers import is_logged_in, post_login, totp_code

with warnings.catch_warnings():  # authlib.jose is deprecated in favour of joserfc; still the brief's choice
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, jwt

CLIENT_ID = "portaal-delft"
CLIENT_SECRET = "geheim-van-de-client-0123456789"
MEMBER = "lid@delft.example.org"


class FakeProvider:
    """An OpenID provider: keeps issued codes, who "logs in" next, and
    overrides for the next ID token's claims (to forge bad tokens)."""

    def __init__(self):
        self.key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "k1"})
        self.issuer = ""  # set once served
        self.user = {"sub": "delft-0001", "email": "jan@delft.nl", "name": "Jan Jansen"}
        self.claims_override: dict = {}
        self.signing_key = None  # another key: a forged signature
        self.codes: dict[str, dict] = {}
        self.authorize_requests: list[dict] = []
        self.token_requests: list[dict] = []
        self.app = self._make_app()

    def _make_app(self) -> Flask:
        app = Flask("fake_idp")

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify(issuer=self.issuer, authorization_endpoint=self.issuer + "/authorize",
                           token_endpoint=self.issuer + "/token", jwks_uri=self.issuer + "/jwks",
                           response_types_supported=["code"], subject_types_supported=["public"],
                           id_token_signing_alg_values_supported=["RS256"],
                           code_challenge_methods_supported=["S256"],
                           token_endpoint_auth_methods_supported=["client_secret_basic"])

        @app.get("/jwks")
        def jwks():
            return jsonify(keys=[self.key.as_dict(is_private=False)])

        @app.get("/authorize")
        def authorize():
            args = request.args.to_dict()
            self.authorize_requests.append(args)
            if (args.get("response_type") != "code" or args.get("client_id") != CLIENT_ID
                    or args.get("code_challenge_method") != "S256" or not args.get("code_challenge")):
                return "bad authorization request", 400
            code = secrets.token_urlsafe(16)
            # OpenID Connect Core 3.1.2.1: with max_age (or prompt=login) the provider asks for the
            # credentials again and must put auth_time in the ID token
            asked_again = "max_age" in args or args.get("prompt") == "login"
            self.codes[code] = {"redirect_uri": args["redirect_uri"], "nonce": args.get("nonce"),
                                "challenge": args["code_challenge"], "user": dict(self.user),
                                "auth_time": int(time.time()) if asked_again else None}
            return redirect(args["redirect_uri"] + "?" + urlencode({"code": code, "state": args.get("state", "")}))

        @app.post("/token")
        def token():
            form = request.form.to_dict()
            self.token_requests.append(form)
            auth = request.authorization
            if auth is None or (auth.username, auth.password) != (CLIENT_ID, CLIENT_SECRET):
                return jsonify(error="invalid_client"), 401
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
                return jsonify(error="invalid_grant"), 400
            verifier = form.get("code_verifier") or ""
            expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if not verifier or expected != grant["challenge"]:  # RFC 7636 section 4.6
                return jsonify(error="invalid_grant", error_description="PKCE verification failed"), 400
            now = int(time.time())
            claims = {"iss": self.issuer, "sub": grant["user"]["sub"], "aud": CLIENT_ID, "iat": now,
                      "exp": now + 300, "nonce": grant["nonce"], "email": grant["user"].get("email"),
                      "name": grant["user"].get("name"), "auth_time": grant["auth_time"]}
            claims.update(self.claims_override)
            claims = {k: v for k, v in claims.items() if v is not None}
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.signing_key or self.key).decode()
            return jsonify(access_token=secrets.token_urlsafe(16), token_type="Bearer", expires_in=300,
                           id_token=id_token)

        return app


@pytest.fixture(scope="module")
def provider():
    idp = FakeProvider()
    with serving(idp.app) as url:
        idp.issuer = url
        yield idp


def _tenant(provider, **changes) -> dict:
    tenant = {"name": "Gemeente Delft", "issuer": provider.issuer,
              "discovery_url": provider.issuer + "/.well-known/openid-configuration",
              "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "municipality": "GM0503"}
    tenant.update(changes)
    return tenant


@pytest.fixture
def sso_app(tmp_path, provider):
    provider.claims_override = {}
    provider.signing_key = None
    provider.user = {"sub": "delft-0001", "email": "jan@delft.nl", "name": "Jan Jansen"}
    return make_app(tmp_path / "sso", content=False, OIDC_TENANTS={
        "delft": _tenant(provider),
        "elders": _tenant(provider, name="Gemeente Elders", issuer="https://idp.elders.example"),
    })


def _start(client, tenant="delft", path=None):
    """Press the tenant's button; returns the provider URL the portal redirects to."""
    path = path or f"/inloggen/sso/{tenant}"
    data = {"csrf_token": csrf_token(client, "/inloggen" if "sessies" not in path else "/sessies")}
    if path.startswith("/sessies/koppelen/"):
        data["current_password"] = PASSWORD  # linking asks the password of an account that has one
    resp = client.post(path, data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    return resp.headers["Location"]


def _at_provider(location: str) -> str:
    """The browser at the provider: it answers with a redirect back to the portal."""
    resp = requests.get(location, allow_redirects=False, timeout=10)
    assert resp.status_code == 302, resp.text[:300]
    return resp.headers["Location"]


def _back(client, callback: str):
    parts = urlsplit(callback)
    return client.get(urlunsplit(("", "", parts.path, parts.query, "")))


def _sso_login(client, tenant="delft"):
    location = _start(client, tenant)
    assert location.startswith("http://127.0.0.1:")
    return _back(client, _at_provider(location))


def _events(app, action):
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _user(app, email):
    with app.app_context():
        return db.session.scalar(select(User).where(User.email == email))


def _refused(app, client, resp, reason_part="", logins=0, error_part=""):
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/inloggen")
    assert not is_logged_in(client)
    failed = [e for e in _events(app, "auth.login_failed") if e.detail.get("method") == "oidc"]
    assert failed, "a refused single sign-on is audited as a failed login"
    assert reason_part in failed[-1].detail.get("reason", "")
    assert error_part in failed[-1].detail.get("error", ""), failed[-1].detail
    assert len(_events(app, "auth.login")) == logins  # no successful login was recorded


# --- happy path ----------------------------------------------------------------------

def test_v10_happy_path_code_flow_with_state_nonce_and_pkce(sso_app, provider):
    client = sso_app.test_client()
    location = _start(client)
    query = parse_qs(urlsplit(location).query)
    assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT_ID]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 20 and len(query["nonce"][0]) >= 20
    assert "openid" in query["scope"][0].split()
    resp = _back(client, _at_provider(location))
    assert resp.status_code == 302 and resp.headers["Location"] == "/", resp.get_data(as_text=True)[:300]
    assert is_logged_in(client)
    assert provider.token_requests[-1]["code_verifier"]  # the verifier went to the token endpoint
    with sso_app.app_context():
        user = db.session.scalar(select(User).where(User.email == "jan@delft.nl"))
        assert user.role == "member" and user.municipality.cbs_code == "GM0503" and user.active
        assert not user.check_password("") and user.password_hash == ""  # no password: SSO only
        ident = db.session.scalar(select(UserIdentity).where(UserIdentity.user_id == user.id))
        assert (ident.issuer, ident.subject, ident.tenant) == (provider.issuer, "delft-0001", "delft")
    login = _events(sso_app, "auth.login")[-1]
    assert login.actor_id == user.id and login.detail["method"] == "oidc" and login.detail["tenant"] == "delft"
    # a second login finds the same account by (issuer, subject), also after an e-mail change at the provider
    provider.user = {"sub": "delft-0001", "email": "jan.jansen@delft.nl", "name": "Jan Jansen"}
    other = sso_app.test_client()
    assert _sso_login(other).status_code == 302 and is_logged_in(other)
    with sso_app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(User).where(User.email.like("jan%"))) == 1
    assert _events(sso_app, "auth.login")[-1].actor_id == user.id


def test_login_page_shows_only_allow_listed_tenants(sso_app, provider):
    client = sso_app.test_client()
    html = client.get("/inloggen").get_data(as_text=True)
    assert "Inloggen met Gemeente Delft" in html and "/inloggen/sso/delft" in html
    assert client.post("/inloggen/sso/onbekend", data={"csrf_token": csrf_token(client)}).status_code == 404
    # the button is a POST with CSRF: without the token nothing starts
    before = len(provider.authorize_requests)
    assert client.post("/inloggen/sso/delft").status_code == 400
    assert len(provider.authorize_requests) == before


# --- the attacks -----------------------------------------------------------------------

def test_v10_1_2_tampered_state_is_refused(sso_app, provider):
    client = sso_app.test_client()
    callback = _at_provider(_start(client))
    parts = urlsplit(callback)
    query = parse_qs(parts.query)
    query["state"] = [query["state"][0][:-2] + "xx"]
    resp = client.get(parts.path + "?" + urlencode({k: v[0] for k, v in query.items()}))
    _refused(sso_app, client, resp, "MismatchingState")
    assert _user(sso_app, "jan@delft.nl") is None


def test_v10_1_2_callback_without_a_started_login_is_refused(sso_app, provider):
    """A code and state sent to a browser that never started a login (login CSRF)."""
    attacker = sso_app.test_client()
    callback = _at_provider(_start(attacker))
    victim = sso_app.test_client()
    resp = _back(victim, callback)
    assert resp.status_code == 302 and not is_logged_in(victim)
    assert _user(sso_app, "jan@delft.nl") is None


def test_v10_5_1_wrong_nonce_is_refused(sso_app, provider):
    provider.claims_override = {"nonce": "een-andere-nonce"}
    client = sso_app.test_client()
    _refused(sso_app, client, _sso_login(client), "InvalidClaim", error_part="nonce")
    provider.claims_override = {"nonce": None}  # no nonce at all
    client = sso_app.test_client()
    _refused(sso_app, client, _sso_login(client), "MissingClaim", error_part="nonce")
    assert _user(sso_app, "jan@delft.nl") is None


def test_v10_2_1_code_injection_fails_pkce(sso_app, provider):
    """An attacker's authorization code (issued for the attacker's own
    code_challenge) injected into the victim's callback with the victim's
    state: the victim's code_verifier does not fit, the provider refuses."""
    victim, attacker = sso_app.test_client(), sso_app.test_client()
    victim_callback = _at_provider(_start(victim))
    attacker_callback = _at_provider(_start(attacker))
    victim_state = parse_qs(urlsplit(victim_callback).query)["state"][0]
    attacker_code = parse_qs(urlsplit(attacker_callback).query)["code"][0]
    path = urlsplit(victim_callback).path
    resp = victim.get(path + "?" + urlencode({"code": attacker_code, "state": victim_state}))
    _refused(sso_app, victim, resp, "OAuthError", error_part="invalid_grant")
    assert provider.token_requests[-1]["code"] == attacker_code  # it was tried, and refused by PKCE


def test_v10_5_4_wrong_audience_is_refused(sso_app, provider):
    provider.claims_override = {"aud": "een-andere-client"}
    client = sso_app.test_client()
    _refused(sso_app, client, _sso_login(client), "InvalidClaim", error_part="aud")


def test_v9_2_1_expired_id_token_is_refused(sso_app, provider):
    now = int(time.time())
    provider.claims_override = {"exp": now - 3600, "iat": now - 7200}
    client = sso_app.test_client()
    _refused(sso_app, client, _sso_login(client), "ExpiredToken")


def test_v9_1_1_id_token_signed_with_another_key_is_refused(sso_app, provider):
    provider.signing_key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "k1"})
    client = sso_app.test_client()
    _refused(sso_app, client, _sso_login(client), "BadSignature")


def test_v10_5_3_issuer_not_allowed_is_refused(sso_app, provider):
    # an ID token from another issuer than the tenant's
    provider.claims_override = {"iss": "https://idp.aanvaller.example"}
    client = sso_app.test_client()
    _refused(sso_app, client, _sso_login(client), "InvalidClaim", error_part="iss")
    # a tenant whose discovery document names another issuer than configured: refused before leaving
    client = sso_app.test_client()
    before = len(provider.authorize_requests)
    resp = client.post("/inloggen/sso/elders", data={"csrf_token": csrf_token(client)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/inloggen")
    assert len(provider.authorize_requests) == before  # the browser was never sent there
    # a tenant that is not on the allow-list does not exist, not even its callback
    assert client.post("/inloggen/sso/rotterdam", data={"csrf_token": csrf_token(client)}).status_code == 404
    assert client.get("/inloggen/sso/rotterdam/terug?code=x&state=y").status_code == 404
    assert _user(sso_app, "jan@delft.nl") is None


def test_v10_5_2_same_email_different_subject_takes_over_nothing(sso_app, provider):
    """The provider asserts an existing local user's e-mail: no login as that
    user, no link; the owner links from inside their account, and then only
    that subject logs in as them."""
    provider.user = {"sub": "indringer", "email": MEMBER, "name": "Indringer"}
    attacker = sso_app.test_client()
    _refused(sso_app, attacker, _sso_login(attacker), "email_in_use")
    with sso_app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(UserIdentity)) == 0
    # the owner links the identity from inside the logged-in account
    owner = sso_app.test_client()
    assert post_login(owner, MEMBER).status_code == 302
    provider.user = {"sub": "lid-echt", "email": "iets-anders@delft.nl"}
    location = _start(owner, path="/sessies/koppelen/delft")
    resp = _back(owner, _at_provider(location))
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/sessies")
    member = _user(sso_app, MEMBER)
    with sso_app.app_context():
        ident = db.session.scalar(select(UserIdentity).where(UserIdentity.subject == "lid-echt"))
        assert ident.user_id == member.id
    assert _events(sso_app, "auth.identity_linked")[-1].actor_id == member.id
    # the other subject with the owner's e-mail still gets nothing
    provider.user = {"sub": "indringer", "email": MEMBER}
    attacker = sso_app.test_client()
    _refused_again = _sso_login(attacker)
    assert _refused_again.headers["Location"].endswith("/inloggen") and not is_logged_in(attacker)
    # the linked subject logs in as the owner, whatever e-mail it asserts
    provider.user = {"sub": "lid-echt", "email": "nog-iets-anders@delft.nl"}
    client = sso_app.test_client()
    assert _sso_login(client).status_code == 302 and is_logged_in(client)
    assert _events(sso_app, "auth.login")[-1].actor_id == member.id


def test_an_identity_linked_to_one_account_cannot_be_linked_to_another(sso_app, provider):
    client = sso_app.test_client()
    _sso_login(client)  # jan's account now owns delft-0001
    owner = sso_app.test_client()
    assert post_login(owner, MEMBER).status_code == 302
    resp = _back(owner, _at_provider(_start(owner, path="/sessies/koppelen/delft")))
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/sessies")
    assert "hoort al bij een ander account" in owner.get("/sessies").get_data(as_text=True)
    with sso_app.app_context():
        ident = db.session.scalar(select(UserIdentity).where(UserIdentity.subject == "delft-0001"))
        assert ident.user_id == _user(sso_app, "jan@delft.nl").id
    assert _events(sso_app, "auth.login_failed")[-1].detail["reason"] == "already_linked"


def test_v7_4_2_deactivated_user_is_refused(sso_app, provider):
    client = sso_app.test_client()
    _sso_login(client)
    assert is_logged_in(client)
    with sso_app.app_context():
        accounts.set_active(SYSTEM, "jan@delft.nl", False)
    assert not is_logged_in(client)
    client = sso_app.test_client()
    _refused(sso_app, client, _sso_login(client), "inactive", logins=1)


def test_v6_3_3_totp_still_required_after_single_sign_on(sso_app, provider):

    owner = sso_app.test_client()
    assert post_login(owner, MEMBER).status_code == 302
    provider.user = {"sub": "lid-echt", "email": MEMBER}
    _back(owner, _at_provider(_start(owner, path="/sessies/koppelen/delft")))
    with sso_app.app_context():
        user = db.session.scalar(select(User).where(User.email == MEMBER))
        secret = accounts.start_totp_enrollment(user)
        accounts.confirm_totp(user, totp_code(secret, -1))
    client = sso_app.test_client()
    resp = _sso_login(client)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/inloggen/code")
    assert not is_logged_in(client)
    resp = client.post("/inloggen/code", data={"code": totp_code(secret), "csrf_token": csrf_token(client, "/inloggen/code")})
    assert resp.status_code == 302 and is_logged_in(client)
    login = _events(sso_app, "auth.login")[-1]
    assert login.detail.get("method") == "oidc" and login.detail.get("tenant") == "delft"


def test_tenants_come_from_the_environment():
    from portal.config import from_environment, oidc_tenants

    env = {"PORTAL_OIDC_TENANTS": "delft"}
    with pytest.raises(ValueError, match="PORTAL_OIDC_DELFT_NAME"):
        oidc_tenants(env)
    for field, value in (("NAME", "Gemeente Delft"), ("ISSUER", "https://login.delft.nl"),
                         ("DISCOVERY_URL", "https://login.delft.nl/.well-known/openid-configuration"),
                         ("CLIENT_ID", "portaal"), ("CLIENT_SECRET", "s3cret"), ("MUNICIPALITY", "GM0503")):
        env[f"PORTAL_OIDC_DELFT_{field}"] = value
    tenants = from_environment(env)["OIDC_TENANTS"]
    assert tenants == {"delft": {"name": "Gemeente Delft", "issuer": "https://login.delft.nl",
                                 "discovery_url": "https://login.delft.nl/.well-known/openid-configuration",
                                 "client_id": "portaal", "client_secret": "s3cret", "municipality": "GM0503"}}
    with pytest.raises(ValueError):
        oidc_tenants({"PORTAL_OIDC_TENANTS": "../x"})
    assert "OIDC_TENANTS" not in from_environment({})


def test_v13_4_2_check_deploy_wants_https_for_tenants(provider):
    from portal.services.accounts import deployment_problems

    errors, _warnings = deployment_problems({"OIDC_TENANTS": {"delft": _tenant(provider)}})
    assert any("PORTAL_OIDC_DELFT_ISSUER" in e for e in errors)
    assert any("PORTAL_OIDC_DELFT_DISCOVERY_URL" in e for e in errors)
    safe = _tenant(provider, issuer="https://login.delft.nl",
                   discovery_url="https://login.delft.nl/.well-known/openid-configuration")
    errors, _warnings = deployment_problems({"OIDC_TENANTS": {"delft": safe}})
    assert not any("PORTAL_OIDC" in e for e in errors)
