"""ASVS 5.0 V6.3.1 (brute force: per address and per account) and V6.3.8
(no user enumeration by answer or timing)."""

from __future__ import annotations

import re
import statistics
import time
from datetime import timedelta

from portal.services import accounts

from ..conftest import PASSWORD, make_app
from .helpers import post_login

EMAIL = "lid@delft.example.org"


def test_v6_3_1_failed_logins_from_one_address_get_429(tmp_path):
    app = make_app(tmp_path, content=False, LOGIN_FAILURE_LIMIT="3 per minute")
    client = app.test_client()
    for _ in range(3):
        assert post_login(client, "onbekend@example.org", "fout wachtwoord").status_code == 400
    resp = post_login(client, "onbekend@example.org", "fout wachtwoord")
    assert resp.status_code == 429
    assert "te veel verzoeken" in resp.get_data(as_text=True).lower()
    # another address is not affected
    other = app.test_client()
    assert post_login(other, EMAIL, environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 302


def _addr(i: int) -> dict:
    return {"environ_base": {"REMOTE_ADDR": f"10.1.{i // 250}.{i % 250 + 1}"}}


def test_v6_3_1_repeated_failures_on_one_account_slow_it_down(empty_app, monkeypatch):
    """From many addresses (no 429), the account itself refuses logins for a while."""
    monkeypatch.setattr(accounts, "FIRST_DELAY", timedelta(seconds=2))
    for i in range(accounts.FREE_FAILURES):
        assert post_login(empty_app.test_client(), EMAIL, f"gok nummer {i}", **_addr(i)).status_code == 400
    # now even the right password is refused, with the same answer
    resp = post_login(empty_app.test_client(), EMAIL, PASSWORD, **_addr(100))
    assert resp.status_code == 400
    assert "Het e-mailadres of het wachtwoord klopt niet." in resp.get_data(as_text=True)
    assert post_login(empty_app.test_client(), "bijdrager@delft.example.org", **_addr(101)).status_code == 302
    time.sleep(2.2)
    assert post_login(empty_app.test_client(), EMAIL, PASSWORD, **_addr(102)).status_code == 302


def test_v6_3_1_account_delay_grows_and_is_capped(empty_app):
    from portal.models.base import utcnow

    class U:
        failed_logins = accounts.FREE_FAILURES
        last_failed_login = utcnow()

    assert timedelta(seconds=25) < accounts.login_delay(U) <= accounts.FIRST_DELAY
    U.failed_logins += 3
    assert accounts.login_delay(U) > 3 * accounts.FIRST_DELAY
    U.failed_logins += 5000
    assert accounts.login_delay(U) <= accounts.MAX_DELAY
    U.last_failed_login = utcnow() - timedelta(hours=2)
    assert accounts.login_delay(U) == timedelta(0)  # forgotten after an hour
    U.failed_logins = accounts.FREE_FAILURES - 1
    U.last_failed_login = utcnow()
    assert accounts.login_delay(U) == timedelta(0)


def _body(resp) -> str:
    return re.sub(r'value="[^"]*"', 'value=""', resp.get_data(as_text=True))


def test_v6_3_8_same_answer_for_unknown_user_and_wrong_password(empty_app):
    known = post_login(empty_app.test_client(), EMAIL, "fout wachtwoord", **_addr(1))
    unknown = post_login(empty_app.test_client(), "niemand@delft.example.org", "fout wachtwoord", **_addr(2))
    assert known.status_code == unknown.status_code == 400
    assert _body(known).replace(EMAIL, "X") == _body(unknown).replace("niemand@delft.example.org", "X")


def test_v6_3_8_same_hashing_work_for_unknown_user_throttled_account_and_wrong_password(empty_app, monkeypatch):
    """Deterministic half of "same timing": each case runs exactly one argon2id verification."""
    from argon2 import PasswordHasher

    calls = []
    real = PasswordHasher.verify
    monkeypatch.setattr(PasswordHasher, "verify", lambda *a, **k: (calls.append(1), real(*a, **k))[1])

    def count(email, i):
        client = empty_app.test_client()
        client.get("/inloggen")
        calls.clear()
        assert post_login(client, email, "fout wachtwoord", **_addr(i)).status_code == 400
        return len(calls)

    assert count(EMAIL, 1) == 1  # wrong password
    assert count("niemand@delft.example.org", 2) == 1  # unknown address: a dummy hash
    for i in range(accounts.FREE_FAILURES):
        count(EMAIL, 10 + i)
    assert accounts.FREE_FAILURES <= 6
    assert count(EMAIL, 20) == 1  # throttled: a dummy hash too


def test_v6_3_8_similar_timing_for_unknown_user_and_wrong_password(empty_app):
    def timed(email, i):
        client = empty_app.test_client()
        client.get("/inloggen")
        start = time.perf_counter()
        post_login(client, email, "fout wachtwoord", **_addr(i))
        return time.perf_counter() - start

    known, unknown = [], []
    for i in range(8):  # interleaved, so a busy machine slows both alike
        known.append(timed(EMAIL if i % 2 else "bijdrager@delft.example.org", i))
        unknown.append(timed(f"niemand{i}@delft.example.org", 50 + i))
    # both hash a password (argon2id, tens of milliseconds): without the dummy
    # hash the unknown case takes a fraction of the known one
    assert statistics.median(unknown) > 0.4 * statistics.median(known), (known, unknown)
    assert statistics.median(unknown) < 2.5 * statistics.median(known), (known, unknown)


def test_v6_3_1_change_password_form_is_no_way_around_the_throttle(empty_app, client_for):
    """A stolen session cannot guess the current password on the change form."""
    from ..conftest import csrf_token

    client = client_for(empty_app, EMAIL)

    def change(current):
        return client.post("/wachtwoord-wijzigen", data={
            "current_password": current, "new_password": "een nieuw lang wachtwoord",
            "csrf_token": csrf_token(client, "/wachtwoord-wijzigen")})

    for i in range(accounts.FREE_FAILURES):
        assert change(f"gok {i}").status_code == 400
    resp = change(PASSWORD)  # right, but the account waits now
    assert resp.status_code == 400
    assert "Te veel mislukte pogingen" in resp.get_data(as_text=True)
    assert post_login(empty_app.test_client(), EMAIL, **_addr(7)).status_code == 400  # the login waits too
    for i in range(int(empty_app.config["LOGIN_FAILURE_LIMIT"].split()[0])):  # "30 per minute;..."
        change(f"nog een gok {i}")
    assert change(PASSWORD).status_code == 429  # and the address is limited
