"""ASVS 5.0 V6.2 (passwords), V6.4 (reset), V11.4.2 (password storage)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.errors import ValidationFailed
from portal.extensions import db
from portal.models import User
from portal.services import accounts
from portal.services.items import SYSTEM
from portal.services.library import create_user

from ..conftest import PASSWORD, csrf_token
from .helpers import is_logged_in, post_login

EMAIL = "lid@delft.example.org"


def _user(app, email=EMAIL) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        db.session.expunge(user)
        return user


def _change(client, current, new, end_others=False):
    data = {"current_password": current, "new_password": new, "csrf_token": csrf_token(client, "/wachtwoord-wijzigen")}
    if end_others:
        data["end_other_sessions"] = "y"
    return client.post("/wachtwoord-wijzigen", data=data)


@pytest.mark.parametrize("password", ["elf tekens!", "kort", "x" * 11, "ĳsvögel 🐦x"[:11]])
def test_v6_2_1_passwords_shorter_than_12_are_refused(password):
    assert len(password) < 12
    assert accounts.password_problems(password, email="an@delft.nl")


def test_v6_2_1_create_user_applies_the_policy(empty_app):
    with empty_app.app_context():
        with pytest.raises(ValidationFailed) as exc:
            create_user(SYSTEM, "nieuw@delft.nl", "member", password="gemeente2025")
        assert "password" in exc.value.errors
        assert db.session.scalar(select(User).where(User.email == "nieuw@delft.nl")) is None
        create_user(SYSTEM, "nieuw@delft.nl", "member", password="paarse olifanten dansen")


def test_v6_2_2_user_can_reach_the_change_password_page(empty_app, client_for):
    assert empty_app.test_client().get("/wachtwoord-wijzigen").status_code == 302  # login first
    client = client_for(empty_app, EMAIL)
    page = client.get("/").get_data(as_text=True)
    assert "/wachtwoord-wijzigen" in page
    assert client.get("/wachtwoord-wijzigen").status_code == 200


def test_v6_2_3_change_needs_the_current_password(empty_app, client_for):
    client = client_for(empty_app, EMAIL)
    before = _user(empty_app).password_hash
    resp = _change(client, "niet mijn wachtwoord", "een nieuw lang wachtwoord")
    assert resp.status_code == 400
    assert "Het huidige wachtwoord klopt niet." in resp.get_data(as_text=True)
    assert _user(empty_app).password_hash == before
    resp = _change(client, PASSWORD, "een nieuw lang wachtwoord")
    assert resp.status_code == 302
    fresh = empty_app.test_client()
    assert post_login(fresh, EMAIL).status_code == 400
    assert post_login(fresh, EMAIL, "een nieuw lang wachtwoord").status_code == 302


def test_v6_2_4_top_passwords_are_refused():
    common = accounts.common_passwords()
    assert len(common) >= 3000
    for pw in ("password1234", "qwertyuiop12", "123456789012", "iloveyou2024", "Welkom123456", "WACHTWOORD!!"):
        assert accounts.password_problems(pw), pw
    # ... also through the change-password form
    assert "veelgebruikte" in accounts.password_problems("football12345")[0]


@pytest.mark.parametrize("password", ["gemeente2025", "Gemeente2026!", "kennisportaal1", "Sleutelfiguren!!",
                                      "delft.example.org", "lid@delft.example.org", "delft20252025",
                                      "Wachtwoord 2025"])
def test_v6_2_11_context_words_are_refused(password):
    assert accounts.password_problems(password, email=EMAIL, name="Lid van Delft"), password


def test_v6_2_11_names_and_e_mail_are_context(empty_app):
    assert accounts.password_problems("janssen12345", email="p.janssen@utrecht.nl")
    assert accounts.password_problems("pietje!!!!!!!", email="x@y.nl", name="Pietje Puk")
    assert accounts.password_problems("ikbenp.janssen!", email="p.janssen@utrecht.nl")


@pytest.mark.parametrize("password", ["paarse olifanten dansen", "alllowercaseletters", "ĳsvogel 🐦 boven de sloot",
                                      "日本語のパスフレーズです", "   spaties tellen mee   ", "Ünïcödé–wachtzin"])
def test_v6_2_5_any_composition_is_accepted(password):
    assert accounts.password_problems(password, email=EMAIL) == []


def test_v6_2_5_unicode_password_logs_in(empty_app, client_for):
    client = client_for(empty_app, EMAIL)
    assert _change(client, PASSWORD, "ĳsvogel 🐦 boven de sloot").status_code == 302
    assert post_login(empty_app.test_client(), EMAIL, "ĳsvogel 🐦 boven de sloot").status_code == 302
    # the same passphrase in another Unicode form (decomposed) matches too
    import unicodedata

    assert post_login(empty_app.test_client(), EMAIL,
                      unicodedata.normalize("NFD", "ĳsvogel 🐦 boven de sloot")).status_code == 302


def test_v6_2_6_password_fields_are_type_password(empty_app, client_for):
    html = empty_app.test_client().get("/inloggen").get_data(as_text=True)
    assert re.search(r'<input[^>]*type="password"[^>]*name="password"|<input[^>]*name="password"[^>]*type="password"', html)
    html = client_for(empty_app, EMAIL).get("/wachtwoord-wijzigen").get_data(as_text=True)
    assert len(re.findall(r'type="password"', html)) == 2


def test_v6_2_8_password_verified_exactly_no_truncation(empty_app, client_for):
    long_pw = "een heel lange wachtzin " * 8 + "einde"  # 197 characters, beyond bcrypt's 72 bytes
    client = client_for(empty_app, EMAIL)
    assert _change(client, PASSWORD, long_pw).status_code == 302
    assert post_login(empty_app.test_client(), EMAIL, long_pw[:72]).status_code == 400
    assert post_login(empty_app.test_client(), EMAIL, long_pw[:-1]).status_code == 400
    assert post_login(empty_app.test_client(), EMAIL, long_pw.upper()).status_code == 400
    assert post_login(empty_app.test_client(), EMAIL, long_pw).status_code == 302


def test_v6_2_9_passwords_of_64_and_more_characters_are_permitted():
    for n in (64, 128, 1024):
        password = ("wacht zin " * 200)[:n - 1] + "!"
        assert len(password) == n
        assert accounts.password_problems(password, email=EMAIL) == []
    assert accounts.password_problems("a" * 1025 + "bc", email=EMAIL)  # refused with a message, never cut


def test_v11_4_2_passwords_stored_with_argon2id(empty_app):
    user = _user(empty_app)
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in user.password_hash


def test_v11_4_2_an_old_scrypt_hash_still_logs_in_and_is_rehashed(empty_app):
    from werkzeug.security import generate_password_hash

    with empty_app.app_context():
        user = db.session.scalar(select(User).where(User.email == EMAIL))
        user.password_hash = generate_password_hash(PASSWORD, method="scrypt")
        db.session.commit()
    assert post_login(empty_app.test_client(), EMAIL, PASSWORD).status_code == 302
    with empty_app.app_context():
        stored = db.session.scalar(select(User.password_hash).where(User.email == EMAIL))
    assert stored.startswith("$argon2id$")
    assert post_login(empty_app.test_client(), EMAIL, PASSWORD).status_code == 302


def _reset_link(app, email=EMAIL) -> str:
    result = app.test_cli_runner().invoke(args=["password-reset", email])
    assert result.exit_code == 0, result.output
    match = re.search(r"(/wachtwoord-herstellen/\S+)", result.output)
    assert match, result.output
    return match.group(1)


def _reset(client, link, new):
    return client.post(link, data={"new_password": new, "csrf_token": csrf_token(client, link)})


def test_v6_4_1_reset_link_is_single_use_and_stored_as_hash(empty_app, client_for):
    link = _reset_link(empty_app)
    token = link.rsplit("/", 1)[1]
    stored = _user(empty_app).reset_token_hash
    assert stored and token not in stored and len(token) >= 40
    logged_in = client_for(empty_app, EMAIL)
    client = empty_app.test_client()
    page = client.get(link)
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    assert _reset(client, link, "gemeente2025").status_code == 400  # policy applies
    assert _reset(client, link, "een vers en lang wachtwoord").status_code == 302
    assert post_login(empty_app.test_client(), EMAIL, "een vers en lang wachtwoord").status_code == 302
    assert not is_logged_in(logged_in)  # a reset ends every session
    assert client.get(link).status_code == 404  # used once
    other = empty_app.test_client()
    resp = other.post(link, data={"new_password": "nog een ander wachtwoord", "csrf_token": csrf_token(other)})
    assert resp.status_code == 404
    assert post_login(empty_app.test_client(), EMAIL, "nog een ander wachtwoord").status_code == 400


def test_v6_4_1_a_newer_reset_link_replaces_the_older(empty_app):
    old = _reset_link(empty_app)
    new = _reset_link(empty_app)
    client = empty_app.test_client()
    assert client.get(old).status_code == 404
    assert client.get(new).status_code == 200


def test_v6_4_1_reset_link_expires(empty_app, monkeypatch):
    monkeypatch.setattr(accounts, "RESET_TOKEN_LIFETIME", timedelta(seconds=-1))
    link = _reset_link(empty_app)
    client = empty_app.test_client()
    assert client.get(link).status_code == 404
    resp = client.post(link, data={"new_password": "een vers en lang wachtwoord", "csrf_token": csrf_token(client)})
    assert resp.status_code == 404
    assert post_login(empty_app.test_client(), EMAIL, "een vers en lang wachtwoord").status_code == 400


def test_v6_4_1_default_reset_lifetime_is_at_most_an_hour():
    assert accounts.RESET_TOKEN_LIFETIME <= timedelta(hours=1)


def test_reset_for_unknown_user_fails_cleanly(empty_app):
    result = empty_app.test_cli_runner().invoke(args=["password-reset", "niemand@example.org"])
    assert result.exit_code == 1
    assert "niemand@example.org" in result.output


def test_v7_4_3_change_can_end_other_sessions(empty_app, client_for):
    here, elsewhere = client_for(empty_app, EMAIL), client_for(empty_app, EMAIL)
    assert _change(here, PASSWORD, "een nieuw lang wachtwoord").status_code == 302
    assert is_logged_in(elsewhere)  # not asked: other sessions go on
    assert _change(here, "een nieuw lang wachtwoord", "nog een nieuw wachtwoord", end_others=True).status_code == 302
    assert is_logged_in(here)
    assert not is_logged_in(elsewhere)
