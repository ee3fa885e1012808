"""Shared helpers for the security tests (fixtures live in tests/conftest.py)."""

from __future__ import annotations

from ..conftest import PASSWORD, csrf_token

LOGGED_IN_PAGE = "/wachtwoord-wijzigen"  # login_required: 200 when logged in, 302 to the login page otherwise


def post_login(client, email, password=PASSWORD, remember=False, **kwargs):
    data = {"email": email, "password": password, "csrf_token": csrf_token(client)}
    if remember:
        data["remember"] = "y"
    return client.post("/inloggen", data=data, **kwargs)


def is_logged_in(client) -> bool:
    resp = client.get(LOGGED_IN_PAGE)
    assert resp.status_code in (200, 302), resp.status_code
    return resp.status_code == 200


def logout(client):
    return client.post("/uitloggen", data={"csrf_token": csrf_token(client, "/")})


def copy_cookies(source, target, names=("session", "remember_token")) -> None:
    """Put ``source``'s cookies (as an attacker who stole them would) into ``target``."""
    for name in names:
        cookie = source.get_cookie(name)
        if cookie is not None:
            target.set_cookie(name, cookie.value)
