"""Host-header poisoning of links in e-mails (OWASP WSTG-INPV-17): every
absolute link the portal mails is built by ``portal.links`` from
``PORTAL_BASE_URL``; a forged ``Host`` header never reaches a mailbox, and
``portal check-deploy`` refuses a production set-up without an https
BASE_URL."""

from __future__ import annotations

import re
import secrets

import pytest
from sqlalchemy import select

from portal import create_app
from portal.extensions import db
from portal.models import OutboxMessage
from portal.services.accounts import deployment_problems
from portal.services.items import SYSTEM
from portal.services.library import set_region
from portal.signup import service as signup

from ..conftest import csrf_token, make_app
from .test_deploy_check import GOOD

SITE = "https://portaal.example.nl"
EVIL = "evil.example"
NEW_PASSWORD = "lange zomeravond aan de Schie"


# -- check-deploy ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "   ", "http://portaal.example.nl", "portaal.example.nl", "https://",
                                   "https://iemand:geheim@portaal.example.nl", "https://portaal.example.nl/?x=1",
                                   "https://portaal.example.nl/#boven", "https://[::1"])
def test_check_deploy_refuses_a_missing_or_non_https_base_url(value):
    errors, _warnings = deployment_problems({**GOOD, "BASE_URL": value})
    assert [e for e in errors if "PORTAL_BASE_URL" in e], errors


@pytest.mark.parametrize("value", ["https://portaal.example.nl", "https://portaal.example.nl/",
                                   "https://example.nl/kennisportaal"])
def test_check_deploy_accepts_an_https_base_url(value):
    errors, _warnings = deployment_problems({**GOOD, "BASE_URL": value})
    assert not [e for e in errors if "PORTAL_BASE_URL" in e], errors


def _cli_app(tmp_path):
    return create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "INDEX_DIR": str(tmp_path / "index"),
                       "SQLALCHEMY_DATABASE_URI": "sqlite:///" + str(tmp_path / "x.sqlite3")})


def test_check_deploy_command_names_the_base_url(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_SECRET_KEY", secrets.token_urlsafe(48))
    monkeypatch.setenv("PORTAL_PROXY_COUNT", "1")
    monkeypatch.delenv("PORTAL_BASE_URL", raising=False)
    result = _cli_app(tmp_path / "a").test_cli_runner().invoke(args=["check-deploy"])
    assert result.exit_code == 1 and "PROBLEEM PORTAL_BASE_URL is niet gezet" in result.output
    monkeypatch.setenv("PORTAL_BASE_URL", "http://portaal.example.nl")
    result = _cli_app(tmp_path / "b").test_cli_runner().invoke(args=["check-deploy"])
    assert result.exit_code == 1 and "geen https-adres" in result.output
    monkeypatch.setenv("PORTAL_BASE_URL", SITE)
    result = _cli_app(tmp_path / "c").test_cli_runner().invoke(args=["check-deploy"])
    assert "PORTAL_BASE_URL" not in result.output


# -- a forged Host header never reaches a mailbox -----------------------------------------------


class Forged:
    """A test client whose every request carries ``Host: evil.example``."""

    def __init__(self, app, scheme="http"):
        self.client = app.test_client()
        self.base = f"{scheme}://{EVIL}"

    def get(self, path, **kw):
        return self.client.get(path, base_url=self.base, **kw)

    def post(self, path, **kw):
        return self.client.post(path, base_url=self.base, **kw)

    def token(self, path):
        html = self.get(path).get_data(as_text=True)
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)

    def sign_up(self, **fields):
        data = {"name": "An de Vries", "email": "an@delft.nl", "municipality": "GM0503", "password": NEW_PASSWORD,
                "motivation": "", **fields, "csrf_token": self.token("/account-aanvragen")}
        return self.post("/account-aanvragen", data=data)

    def login(self, email, password):
        data = {"email": email, "password": password, "csrf_token": self.token("/inloggen")}
        resp = self.post("/inloggen", data=data)
        assert resp.status_code == 302, resp.get_data(as_text=True)[:300]


def _app(tmp_path, **config):
    app = make_app(tmp_path, content=False, **config)
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        signup.add_domain(SYSTEM, "GM0503", "delft.nl")
    return app


def _outbox(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        return [(m.to_address, m.subject, m.body + (m.html_body or ""))
                for m in db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def _link(app, address, kind) -> str:
    body = [b for to, _s, b in _outbox(app) if to == address][-1]
    return re.search(rf"\S*/{kind}-bevestigen/\S+", body).group(0)


def test_with_base_url_set_forged_host_is_not_in_any_mail(tmp_path):
    from ..conftest import PASSWORD

    app = _app(tmp_path, BASE_URL=SITE)
    visitor = Forged(app)
    assert visitor.sign_up().status_code == 302  # allowed domain: the account confirmation mail
    assert visitor.sign_up(email="lid@delft.example.org", motivation="x").status_code == 302  # an existing account's mail
    assert visitor.sign_up(email="kees@elders.example", motivation="Buurtwerker.").status_code == 302
    confirm = _link(app, "an@delft.nl", "account")
    assert confirm.startswith(SITE + "/account-bevestigen/")
    request_link = _link(app, "kees@elders.example", "aanvraag")
    assert request_link.startswith(SITE + "/aanvraag-bevestigen/")
    path = request_link.removeprefix(SITE)
    assert visitor.post(path, data={"csrf_token": visitor.token(path),
                                    "password": NEW_PASSWORD}).status_code == 302  # curators are notified
    curator = Forged(app)
    curator.login("curator@delft.example.org", PASSWORD)
    with app.app_context():
        from portal.models import AccessRequest

        rid = db.session.scalar(select(AccessRequest.id).where(AccessRequest.email == "kees@elders.example"))
    page = f"/beheer/toegangsverzoeken/{rid}"
    assert curator.post(page + "/goedkeuren", data={"csrf_token": curator.token(page)}).status_code == 302

    mails = _outbox(app)
    kinds = {to: subject for to, subject, _b in mails}
    assert "al een account" in kinds["lid@delft.example.org"]
    assert "goedgekeurd" in kinds["kees@elders.example"]
    assert "aanvraag voor toegang" in kinds["curator@delft.example.org"]
    with_links = set()
    for to, subject, body in mails:
        assert EVIL not in body and EVIL not in subject, (to, subject, body)
        urls = re.findall(r"https?://[^\s<>\"]+", body)
        assert all(u.startswith(SITE + "/") for u in urls), (to, subject, urls)
        with_links |= {to} if urls else set()
    assert {"an@delft.nl", "lid@delft.example.org", "kees@elders.example", "curator@delft.example.org",
            "beheer@example.org"} <= with_links


def test_in_production_without_base_url_links_stay_relative(tmp_path):
    app = _app(tmp_path, ENV="production", CHECK_PRODUCTION=False, SESSION_COOKIE_SECURE=False)
    visitor = Forged(app)
    assert visitor.sign_up().status_code == 302
    assert visitor.sign_up(email="kees@elders.example", motivation="Buurtwerker.").status_code == 302
    assert _link(app, "an@delft.nl", "account").startswith("/account-bevestigen/")
    assert _link(app, "kees@elders.example", "aanvraag").startswith("/aanvraag-bevestigen/")
    assert all(EVIL not in body for _to, _s, body in _outbox(app))


def test_outside_production_without_base_url_the_request_host_stands_in(tmp_path):
    app = _app(tmp_path)
    client = app.test_client()
    token = csrf_token(client, "/account-aanvragen")
    client.post("/account-aanvragen", data={"name": "An", "email": "an@delft.nl", "municipality": "GM0503",
                                            "password": NEW_PASSWORD, "csrf_token": token})
    assert _link(app, "an@delft.nl", "account").startswith("http://localhost/account-bevestigen/")


def test_password_reset_link_uses_base_url(tmp_path):
    app = _app(tmp_path, BASE_URL=SITE + "/")
    result = app.test_cli_runner().invoke(args=["password-reset", "lid@delft.example.org"])
    assert result.exit_code == 0, result.output
    assert re.search(rf"^  {re.escape(SITE)}/wachtwoord-herstellen/\S+$", result.output, re.M), result.output
    bare = _app(tmp_path / "bare")
    result = bare.test_cli_runner().invoke(args=["password-reset", "lid@delft.example.org"])
    assert re.search(r"^  /wachtwoord-herstellen/\S+$", result.output, re.M), result.output
