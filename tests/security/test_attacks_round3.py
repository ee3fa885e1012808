"""Attacks on the surfaces of the third round (vetted membership, following
and digests, single sign-on and device sessions, profile erasure): every
test here failed before its fix. Runs on SQLite and PostgreSQL
(``PORTAL_TEST_BACKEND=postgresql``)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AccessRequest, Follow, OutboxMessage, User
from portal.services.items import SYSTEM
from portal.services.library import create_user, set_region
from portal.signup import service as signup_service

from ..conftest import PASSWORD, csrf_token, login, make_app
from .helpers import totp_code

NEW_PASSWORD = "lange zomeravond aan de Schie"
MEMBER = "lid@delft.example.org"


@pytest.fixture
def sapp(tmp_path):
    app = make_app(tmp_path / "round3", content=False)
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        signup_service.add_domain(SYSTEM, "GM0503", "delft.nl")
    return app


def _sign_up(client, **fields):
    data = {"name": "An de Vries", "email": "an.devries@delft.nl", "municipality": "GM0503",
            "password": NEW_PASSWORD, "motivation": "", **fields}
    data["csrf_token"] = csrf_token(client, "/account-aanvragen")
    return client.post("/account-aanvragen", data=data)


def _rows(app, model):
    with app.app_context():
        rows = list(db.session.scalars(select(model)))
        db.session.expunge_all()
        return rows


# -- sign-up: odd input must be a Dutch field error, never a 500 or a stored control character ---------


@pytest.mark.parametrize("fields", [
    {"email": "a\x00b@delft.nl"},                  # NUL: PostgreSQL refuses it (500)
    {"email": "a\x01b@delft.nl"},                  # C0 control in the local part
    {"email": "\u202eab@delft.nl"},                # right-to-left override: a spoofed address in lists
    {"email": "ab\u200b@delft.nl"},                # zero-width space
    {"email": "x@other.example", "motivation": "hallo\x00"},   # NUL in the motivation of an access request
    {"municipality": "GM\x000503"},                # NUL in the municipality
    {"name": "An\u202e de Vries"},                 # bidi override in the name
])
def test_signup_control_characters_are_refused_by_field(sapp, fields):
    client = sapp.test_client()
    resp = _sign_up(client, **fields)
    assert resp.status_code == 400, resp.status_code
    field = next(iter(fields))
    if field == "email" and "motivation" in fields:
        field = "motivation"
    html = resp.get_data(as_text=True)
    assert f'aria-describedby="{field}-fout"' in html or f"{field}-fout" in html, html[:2000]
    bad = [u.email for u in _rows(sapp, User) if any(ord(c) < 32 or c in "\u202e\u200b" for c in u.email)]
    assert bad == []
    assert [r.email for r in _rows(sapp, AccessRequest)] == []


@pytest.mark.parametrize("email", [
    "fw@ｄｅｌｆｔ.ｎｌ",            # full-width letters: UTS #46 maps them to delft.nl
    "sh@del\u00adft.nl",            # soft hyphen: UTS #46 ignores it
    "up@DELFT.nl",
])
def test_signup_stores_and_mails_the_address_whose_domain_was_checked(sapp, email):
    """The allow-list is checked on the normalised domain; the account and the
    confirmation mail must use that same domain, not the raw text typed."""
    client = sapp.test_client()
    resp = _sign_up(client, email=email)
    assert resp.status_code in (302, 400)
    for user in _rows(sapp, User):
        assert user.email.isascii() or not user.email.endswith("delft.nl"), user.email
        domain = user.email.rpartition("@")[2]
        assert domain == signup_service.email_domain(user.email), user.email
    for mail in _rows(sapp, OutboxMessage):
        domain = mail.to_address.rpartition("@")[2]
        assert domain == signup_service.email_domain(mail.to_address), mail.to_address


def test_signup_with_lookalike_domain_does_not_make_a_second_account_for_a_mailbox(sapp):
    with sapp.app_context():
        create_user(SYSTEM, "an.devries@delft.nl", "member", name="An", password=PASSWORD, municipality="Delft")
    client = sapp.test_client()
    assert _sign_up(client, email="an.devries@ｄｅｌｆｔ.nl").status_code == 302
    users = [u for u in _rows(sapp, User) if u.email.startswith("an.devries@")]
    assert [u.email for u in users] == ["an.devries@delft.nl"]
    mails = [m for m in _rows(sapp, OutboxMessage) if m.to_address.startswith("an.devries@")]
    assert [m.to_address for m in mails] == ["an.devries@delft.nl"]
    assert "al een account" in mails[0].subject


# -- following: odd keys and the ``next`` field --------------------------------------------------------


@pytest.mark.parametrize("kind,key", [
    ("region", "²"),            # str.isdigit() is True, int() raises
    ("collection", "²"),
    ("region", "9" * 40),       # out of range for SQLite and PostgreSQL integers
    ("collection", "9" * 40),
    ("region", "١"),            # Arabic-Indic digit one: int() accepts it
])
def test_follow_with_odd_numeric_key_is_a_field_error_not_a_500(sapp, kind, key):
    client = sapp.test_client()
    login(client, MEMBER)
    resp = client.post("/volgen", data={"kind": kind, "key": key, "csrf_token": csrf_token(client, "/volgen")})
    assert resp.status_code == 302, resp.status_code
    assert _rows(sapp, Follow) == []


@pytest.mark.parametrize("target", ["/\t/evil.example", "/\n/evil.example", "/\r/evil.example",
                                    "/\x00/evil.example", "//evil.example", "/\\evil.example"])
@pytest.mark.parametrize("path", ["/volgen", "/volgen/stoppen"])
def test_follow_next_cannot_leave_the_site(sapp, target, path):
    client = sapp.test_client()
    login(client, MEMBER)
    resp = client.post(path, data={"kind": "municipality", "key": "GM0503", "next": target,
                                   "csrf_token": csrf_token(client, "/volgen")})
    assert resp.status_code == 302
    location = resp.headers["Location"]
    cleaned = "".join(c for c in location if c not in "\t\r\n\x00")
    assert not cleaned.startswith("//") and "evil.example" not in cleaned, location


# -- races: two decisions on one access request at once (PostgreSQL runs them truly in parallel) -------


def _pending_request(app) -> int:
    client = app.test_client()
    assert _sign_up(client, email="iemand@other.example", motivation="Ik werk voor Delft.").status_code == 302
    with app.test_request_context():
        mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == "iemand@other.example")
                                  ).all()[-1]
        import re

        token = re.search(r"/aanvraag-bevestigen/(\S+)", mail.body).group(1)
        row = signup_service.confirm_request(token, NEW_PASSWORD)
        return row.id


def _race(app, *calls):
    """Run ``calls`` (functions of no arguments) at once, each in its own app
    context and thread; returns what each returned or raised."""
    import threading

    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, fn):
        with app.test_request_context():
            barrier.wait()
            try:
                results[i] = fn()
            except Exception as exc:  # noqa: BLE001 - the outcome is what is compared
                results[i] = exc
            finally:
                db.session.rollback()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def _actor(email):
    return db.session.scalar(select(User).where(User.email == email))


@pytest.mark.parametrize("round_", range(12))
def test_approve_and_refuse_at_once_decide_once(sapp, round_):
    request_id = _pending_request(sapp)
    with sapp.app_context():
        create_user(SYSTEM, "curator2@delft.example.org", "curator", name="Cor", password=PASSWORD,
                    municipality="Delft")
    results = _race(
        sapp,
        lambda: signup_service.approve_request(_actor("curator@delft.example.org"), request_id),
        lambda: signup_service.refuse_request(_actor("curator2@delft.example.org"), request_id, "Onbekend."),
    )
    ok = [r for r in results if not isinstance(r, Exception)]
    assert len(ok) == 1, results
    assert all(isinstance(r, signup_service.ValidationFailed) for r in results if isinstance(r, Exception)), results
    with sapp.app_context():
        row = db.session.get(AccessRequest, request_id)
        account = db.session.scalar(select(User).where(User.email == "iemand@other.example"))
        decisions = db.session.scalars(select(OutboxMessage.subject).where(
            OutboxMessage.to_address == "iemand@other.example",
            OutboxMessage.subject.like("%is goedgekeurd") | OutboxMessage.subject.like("%is afgewezen"))).all()
        assert len(decisions) == 1, decisions
        assert (row.status == "approved") == (account is not None), (row.status, account)


# -- a recovery code (or a TOTP code) used twice at once ---------------------------------------------


@pytest.mark.parametrize("round_", range(8))
def test_recovery_code_used_twice_at_once_works_once(sapp, round_):

    from portal.services import accounts

    with sapp.app_context():
        user = _actor(MEMBER)
        secret = accounts.start_totp_enrollment(user)
        codes = accounts.confirm_totp(_actor(MEMBER), totp_code(secret))
    code = codes[0]
    results = _race(sapp, *(lambda: accounts.check_second_factor(_actor(MEMBER), code) for _i in range(2)))
    assert sorted(results, key=str) == [False, True], results
    with sapp.app_context():
        assert len((_actor(MEMBER).totp_recovery_codes or "").split()) == len(codes) - 1


# -- a confirmation link outliving its domain on the allow-list -------------------------------------


def test_confirmation_link_stops_working_when_its_domain_leaves_the_allow_list(sapp):
    import re

    client = sapp.test_client()
    assert _sign_up(client).status_code == 302
    with sapp.app_context():
        mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == "an.devries@delft.nl")
                                  ).all()[-1]
        path = re.search(r"https?://\S+(/account-bevestigen/\S+)", mail.body).group(1)
        signup_service.remove_domain(SYSTEM, "GM0503", "delft.nl")
    assert client.get(path).status_code == 400
    resp = client.post(path, data={"password": NEW_PASSWORD, "csrf_token": csrf_token(client, "/account-aanvragen")})
    assert resp.status_code == 400
    with sapp.app_context():
        assert db.session.scalar(select(User.active).where(User.email == "an.devries@delft.nl")) is False


# -- an address with one "@" in an allowed domain whose mail also reaches another mailbox ---------------

#: Each has one "@" and the allowed domain after it, and passes validation.EMAIL_RE; the outbox's
#: ``To`` header parses them as (also) another address: SMTP's envelope follows the header.
SMUGGLING = [
    "=?utf-8?b?ZXZpbEBldmlsLmV4YW1wbGUs?=x@delft.nl",   # encoded word: "evil@evil.example," then x@delft.nl
    "=?utf-8?q?evil=40evil.example?=,x@delft.nl",       # encoded word and a comma
    "postmaster,x@delft.nl",                            # two recipients: a local one and x@delft.nl
    "x<y>@delft.nl",                                    # parses as the address "y"
]


def _recipients(app, to_address):
    from email.utils import getaddresses

    from portal.services.notifications import as_email

    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == to_address)).all()
        return [getaddresses(as_email(row, "noreply@portaal.example").get_all("To")) for row in rows]


@pytest.mark.parametrize("email", SMUGGLING)
def test_signup_confirmation_link_cannot_be_mailed_outside_the_checked_domain(sapp, email):
    client = sapp.test_client()
    resp = _sign_up(client, email=email)
    assert resp.status_code == 400, resp.status_code  # "Vul een geldig e-mailadres in"
    assert 'aria-describedby="email-fout"' in resp.get_data(as_text=True) or "email-fout" in resp.get_data(as_text=True)
    assert _recipients(sapp, email) == []
    assert [u.email for u in _rows(sapp, User) if u.email.endswith("@delft.nl")] == []


def test_mails_to_exactly_accepts_ordinary_addresses():
    from portal.services.accounts import mails_to_exactly

    for good in ("an.devries@delft.nl", "a.b+c@delft.nl", "o'brien@delft.nl", "jän@delft.nl"):
        assert mails_to_exactly(good), good
    for bad in SMUGGLING:
        assert not mails_to_exactly(bad), bad


def test_outbox_sends_only_to_the_stored_address(sapp):
    """Whatever reached the outbox (an older row, a path that skipped the
    form's check), SMTP gets the stored address as its envelope and never an
    address that parses as another mailbox: such a row is refused, not sent."""
    import socket

    from aiosmtpd.controller import Controller

    from portal.services.library import create_user
    from portal.errors import ValidationFailed

    with sapp.app_context():
        for bad in SMUGGLING:  # the input path refuses them too
            with pytest.raises(ValidationFailed):
                create_user(SYSTEM, bad, "member", name="X", municipality="Delft")
        db.session.add(OutboxMessage(to_address=SMUGGLING[0], subject="Test", body="Tekst."))
        db.session.add(OutboxMessage(to_address="an.devries@delft.nl", subject="Test", body="Tekst."))
        db.session.commit()
    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope.rcpt_tos)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sapp.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), MAIL_FROM="portal@example.org")
        result = sapp.test_cli_runner().invoke(args=["send-mail"])
    finally:
        controller.stop()
    assert result.exit_code in (0, 1), result.output
    assert received == [["an.devries@delft.nl"]]
    with sapp.app_context():
        refused = db.session.scalar(select(OutboxMessage).where(OutboxMessage.to_address == SMUGGLING[0]))
        assert refused.sent_at is None and "refused" in refused.last_error


@pytest.mark.parametrize("email", SMUGGLING[:2])
def test_sso_does_not_make_an_account_for_a_smuggling_address(sapp, email):
    from portal.services import accounts

    tenant = {"issuer": "https://idp.delft.example", "municipality": "GM0503", "client_id": "x"}
    with sapp.test_request_context():
        with pytest.raises(accounts.SsoRefused):
            accounts.sso_user("delft", tenant, {"iss": tenant["issuer"], "sub": "s-1", "email": email})
    assert [u.email for u in _rows(sapp, User) if u.email == email] == []


# -- single sign-on: the redirect_uri follows PORTAL_BASE_URL, not the visitor's Host header -----------


def test_sso_redirect_uri_is_built_from_base_url_not_the_host_header(tmp_path):
    from urllib.parse import parse_qs, urlsplit

    from .test_oidc import FakeProvider, _tenant
    from ..conftest import serving

    idp = FakeProvider()
    with serving(idp.app) as url:
        idp.issuer = url
        app = make_app(tmp_path / "sso3", content=False, BASE_URL="https://portaal.example.nl",
                       OIDC_TENANTS={"delft": _tenant(idp)})
        import re

        client = app.test_client()
        html = client.get("/inloggen", base_url="http://evil.example").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
        resp = client.post("/inloggen/sso/delft", data={"csrf_token": token}, base_url="http://evil.example")
        assert resp.status_code == 302, resp.status_code
        query = parse_qs(urlsplit(resp.headers["Location"]).query)
        assert query["redirect_uri"] == ["https://portaal.example.nl/inloggen/sso/delft/terug"], query


def test_sso_email_in_another_spelling_does_not_make_a_second_account(sapp):
    from portal.services import accounts

    with sapp.app_context():
        create_user(SYSTEM, "jan@delft.nl", "member", name="Jan", password=PASSWORD, municipality="Delft")
    tenant = {"issuer": "https://idp.delft.example", "municipality": "GM0503", "client_id": "x"}
    with sapp.test_request_context():
        with pytest.raises(accounts.SsoRefused) as refused:
            accounts.sso_user("delft", tenant, {"iss": tenant["issuer"], "sub": "s-2", "email": "Jan@ＤＥＬＦＴ.nl"})
        assert refused.value.reason == "email_in_use"
    assert sorted(u.email for u in _rows(sapp, User) if u.email.startswith("jan@")) == ["jan@delft.nl"]


# -- the same address signed up twice at once ------------------------------------------------------


@pytest.mark.parametrize("round_", range(5))
def test_two_sign_ups_of_one_address_at_once_both_get_the_same_answer(sapp, round_):
    form = {"name": "An", "email": f"tegelijk{round_}@delft.nl", "municipality": "GM0503",
            "password": NEW_PASSWORD, "motivation": ""}
    results = _race(sapp, lambda: signup_service.sign_up(dict(form)), lambda: signup_service.sign_up(dict(form)))
    assert [getattr(r, "outcome", r) for r in results] == ["confirm", "confirm"], results
    assert [u.email for u in _rows(sapp, User)].count(form["email"]) == 1
