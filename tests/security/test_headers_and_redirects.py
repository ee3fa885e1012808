"""ASVS 5.0 V3.4 (security headers), V3.7.2 (redirects only to this
site), V16.5.1 / V13.4.2 (errors show no traceback, SQL or configuration)."""

from __future__ import annotations

import secrets

import pytest

from portal.auth import safe_next

from ..conftest import make_app
from .helpers import post_login

EMAIL = "lid@delft.example.org"


@pytest.mark.parametrize("path", ["/", "/inloggen", "/zoeken?q=x", "/bestaat-niet", "/static/portal.css"])
def test_v3_4_security_headers_on_every_response(library_app, path):
    resp = library_app.test_client().get(path)
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp  # V3.4.3
    assert "frame-ancestors 'none'" in csp and resp.headers["X-Frame-Options"] == "DENY"  # V3.4.6
    assert resp.headers["X-Content-Type-Options"] == "nosniff"  # V3.4.4
    assert resp.headers["Referrer-Policy"] in ("strict-origin-when-cross-origin", "no-referrer", "same-origin")  # V3.4.5
    assert "Strict-Transport-Security" not in resp.headers  # development over http


def test_v3_4_1_hsts_in_production(tmp_path):
    app = make_app(tmp_path, content=False, ENV="production", SECRET_KEY=secrets.token_urlsafe(48))
    resp = app.test_client().get("/", base_url="https://localhost")
    assert int(resp.headers["Strict-Transport-Security"].split("max-age=")[1].split(";")[0]) >= 31536000


OUTSIDE = [
    "https://evil.example/", "http://evil.example", "//evil.example", "///evil.example", "////evil.example",
    "\\\\evil.example", "/\\evil.example", "\\/evil.example", " //evil.example", "\t//evil.example",
    "/%09/evil.example", "https:evil.example", "javascript:alert(1)", "data:text/html,x", "evil.example",
    "//evil.example/%2F..", "/\t/evil.example", "/\r\n/evil.example", "%2F%2Fevil.example", "https:/\\evil.example",
    "http://localhost@evil.example", "/ /evil.example".replace(" ", "\u3000"),
]


@pytest.fixture(scope="module")
def redirect_app(tmp_path_factory):
    return make_app(tmp_path_factory.mktemp("redirects"), content=False)


@pytest.mark.parametrize("target", OUTSIDE)
def test_v3_7_2_login_redirects_only_to_own_paths(redirect_app, target):
    client = redirect_app.test_client()
    from ..conftest import csrf_token

    resp = client.post("/inloggen", query_string={"next": target},
                       data={"email": EMAIL, "password": "correct horse battery staple", "csrf_token": csrf_token(client)})
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location, location
    assert "evil.example" not in location or location.startswith("/%") or location == "/", location
    assert safe_next(target) in (None, target) and (safe_next(target) is None or not safe_next(target).startswith("//"))


def test_v3_7_2_own_paths_are_kept(redirect_app):
    client = redirect_app.test_client()
    from ..conftest import csrf_token

    resp = client.post("/inloggen", query_string={"next": "/gemeenten?x=1"},
                       data={"email": EMAIL, "password": "correct horse battery staple", "csrf_token": csrf_token(client)})
    assert resp.headers["Location"] == "/gemeenten?x=1"


def test_v16_5_1_errors_show_no_traceback_or_sql(empty_app, client_for):
    @empty_app.route("/_test_boom")
    def boom():
        raise RuntimeError("SELECT password_hash FROM users -- secret config SECRET_KEY")

    # a logged-in member: the test route is not on the public list
    resp = client_for(empty_app, EMAIL).get("/_test_boom")
    assert resp.status_code == 500
    text = resp.get_data(as_text=True)
    for leak in ("Traceback", "SELECT", "password_hash", "SECRET_KEY", "RuntimeError", "File \""):
        assert leak not in text
    assert "Er ging iets mis" in text


def test_v6_3_1_login_error_is_generic(empty_app):
    resp = post_login(empty_app.test_client(), EMAIL, "fout wachtwoord")
    assert "Het e-mailadres of het wachtwoord klopt niet." in resp.get_data(as_text=True)
