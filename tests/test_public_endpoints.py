"""Deny by default: every endpoint outside portal.web.public's explicit list
refuses an anonymous visitor, whatever its view does."""

from __future__ import annotations

import re

import pytest

from portal.web.public import PUBLIC_ENDPOINTS, is_public

from .conftest import make_app


@pytest.fixture(scope="module")
def open_app(tmp_path_factory):
    # CSRF off, so that a refused POST is refused for being anonymous, not for a missing token
    return make_app(tmp_path_factory.mktemp("public"), WTF_CSRF_ENABLED=False)


def _sample_url(rule) -> str:
    values = {}
    for name, conv in rule._converters.items():
        kind = type(conv).__name__
        if kind == "AnyConverter":
            values[name] = sorted(conv.items)[0] if hasattr(conv, "items") else "werkwijzen"
        elif kind in ("IntegerConverter", "NumberConverter"):
            values[name] = 1
        else:
            values[name] = "netwerk-sleutelfiguren-delft"
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: str(values[m.group(1)]), rule.rule)


def test_every_endpoint_outside_the_public_list_refuses_anonymous_visitors(open_app):
    client = open_app.test_client()
    checked = 0
    for rule in open_app.url_map.iter_rules():
        if is_public(rule.endpoint):
            continue
        url = _sample_url(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = client.open(url, method=method)
            assert resp.status_code in (302, 401, 403, 404), (rule.endpoint, method, url, resp.status_code)
            if resp.status_code == 302:
                assert "/inloggen" in resp.headers["Location"], (rule.endpoint, resp.headers["Location"])
            checked += 1
    assert checked > 40


def test_a_new_page_that_forgets_login_required_is_closed(tmp_path):
    app = make_app(tmp_path, content=False)
    # a route added after the factory, without any login check of its own
    app.add_url_rule("/vergeten-pagina", "forgotten", lambda: "geheim")
    resp = app.test_client().get("/vergeten-pagina")
    assert resp.status_code == 302 and "/inloggen" in resp.headers["Location"]


def test_the_public_list_names_only_existing_endpoints(open_app):
    endpoints = {r.endpoint for r in open_app.url_map.iter_rules()}
    assert PUBLIC_ENDPOINTS <= endpoints, PUBLIC_ENDPOINTS - endpoints
