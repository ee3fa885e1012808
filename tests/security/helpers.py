"""Shared helpers for the security tests (fixtures live in tests/conftest.py)."""

from __future__ import annotations

import time

from ..conftest import PASSWORD, csrf_token

#: seconds before a TOTP step ends in which :func:`totp_code` waits for the next step
TOTP_MARGIN = 3.0

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


def totp_code(secret: str, offset: int = 0) -> str:
    """The RFC 6238 code of ``secret`` for the current 30-second step plus
    ``offset`` steps (pyotp). In the last :data:`TOTP_MARGIN` seconds of a
    step it first waits for the next one: a code made just before a step
    ends would be judged in the next step, one step further off than the
    test meant (a code of step -1 becomes -2 and is refused), so a slow
    request near the boundary would fail the test now and then."""
    import pyotp

    totp = pyotp.TOTP(secret)
    left = totp.interval - time.time() % totp.interval
    if left < TOTP_MARGIN:
        time.sleep(left + 0.05)
    return totp.generate_otp(int(time.time()) // totp.interval + offset)
