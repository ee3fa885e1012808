"""A forged Host header is refused in production (OWASP ASVS 5.0 V13): the
portal answers only to the host of PORTAL_BASE_URL (or PORTAL_TRUSTED_HOSTS),
so feeds, calendar files, the API and every absolute link built from the
request name this portal and nothing else."""

from __future__ import annotations

import secrets

from portal.config import from_environment

from ..conftest import make_app

BASE = "https://portaal.example.nl"


def _production(tmp_path, **config):
    return make_app(tmp_path, content=False, ENV="production", SECRET_KEY=secrets.token_urlsafe(48),
                    BASE_URL=BASE, **config)


def test_production_answers_only_to_its_own_host(tmp_path):
    app = _production(tmp_path)
    client = app.test_client()
    own = client.get("/healthz", base_url=BASE)
    assert own.status_code == 200
    forged = client.get("/healthz", base_url="https://evil.example")
    assert forged.status_code == 400
    assert "evil.example" not in forged.get_data(as_text=True)


def test_trusted_hosts_from_the_environment(tmp_path, monkeypatch):
    assert from_environment({"PORTAL_TRUSTED_HOSTS": "Portaal.example.nl, intern.local"})["TRUSTED_HOSTS"] == [
        "portaal.example.nl", "intern.local"]
    monkeypatch.setenv("PORTAL_TRUSTED_HOSTS", "portaal.example.nl,healthcheck.internal")
    app = _production(tmp_path)
    client = app.test_client()
    assert client.get("/healthz", base_url="http://healthcheck.internal").status_code == 200
    assert client.get("/healthz", base_url="https://evil.example").status_code == 400


def test_development_answers_to_any_host(tmp_path):
    app = make_app(tmp_path, content=False)
    assert app.config["TRUSTED_HOSTS"] is None
    assert app.test_client().get("/healthz", base_url="http://anything.local").status_code == 200
