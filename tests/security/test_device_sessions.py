"""Per-device sessions, "Mijn sessies" (issue #7): OWASP ASVS 5.0 V7.5.2
(users see their active sessions and end any or all of them) and V7.4.1
(an ended session is dead server-side: a copied cookie stops working)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, User, UserSession
from portal.services.accounts import describe_user_agent

from ..conftest import PASSWORD, csrf_token
from .helpers import copy_cookies, is_logged_in, logout, post_login

EMAIL = "lid@delft.example.org"
OTHER = "bijdrager@delft.example.org"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/131.0.0.0 Mobile Safari/537.36")


def _device(app, email=EMAIL, user_agent=FIREFOX, remember=False):
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    assert post_login(client, email, remember=remember).status_code == 302
    return client


def _session_ids(app, email=EMAIL) -> list[int]:
    with app.app_context():
        uid = db.session.scalar(select(User.id).where(User.email == email))
        return list(db.session.scalars(select(UserSession.id).where(UserSession.user_id == uid,
                                                                    UserSession.ended_at.is_(None))
                                       .order_by(UserSession.id)))


def _end(client, session_id: int, token: str | None = None, password: str | None = PASSWORD):
    """End a session from ``client``'s /sessies page, giving the current password (V7.5.2 re-authentication)."""
    token = token if token is not None else csrf_token(client, "/sessies")
    data = {"csrf_token": token} if password is None else {"csrf_token": token, "current_password": password}
    return client.post(f"/sessies/{session_id}/beeindigen", data=data)


def test_v7_5_2_sessions_page_lists_each_device_and_marks_this_one(empty_app):
    laptop = _device(empty_app, user_agent=FIREFOX)
    phone = _device(empty_app, user_agent=ANDROID)
    html = phone.get("/sessies").get_data(as_text=True)
    assert "Firefox / Windows" in html and "Chrome / Android" in html
    rows = [(a, b.strip()) for a, b in re.findall(r"<tr( aria-current=\"true\")?>\s*<td>([^<]+)", html)]
    assert ("", "Firefox / Windows") in rows and (' aria-current="true"', "Chrome / Android") in rows
    assert html.count("deze sessie") == 1
    # each row can be ended by a POST form; "end all others" too
    assert html.count("/beeindigen") == 2 and "/sessies/andere-beeindigen" in html
    assert "Firefox / Windows" in laptop.get("/sessies").get_data(as_text=True)
    # anonymous visitors do not get the page
    assert empty_app.test_client().get("/sessies").status_code == 302


def test_v7_4_1_ending_a_session_kills_its_copied_cookies(empty_app):
    laptop = _device(empty_app, user_agent=FIREFOX, remember=True)
    thief = empty_app.test_client()
    copy_cookies(laptop, thief)  # session and remember cookie
    thief_remember = empty_app.test_client()
    copy_cookies(laptop, thief_remember, names=("remember_token",))
    assert is_logged_in(thief)
    phone = _device(empty_app, user_agent=ANDROID)
    laptop_id, phone_id = _session_ids(empty_app)
    resp = _end(phone, laptop_id)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/sessies")
    assert not is_logged_in(thief)
    assert not is_logged_in(thief_remember)  # the remember cookie of that device is dead too
    assert not is_logged_in(laptop)
    assert is_logged_in(phone)  # the device that ended it goes on
    assert _session_ids(empty_app) == [phone_id]
    assert "Firefox / Windows" not in phone.get("/sessies").get_data(as_text=True)
    with empty_app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.session_ended"))
        assert event.detail["session"] == laptop_id


def test_v7_5_2_another_users_session_cannot_be_ended(empty_app):
    victim = _device(empty_app, EMAIL)
    attacker = _device(empty_app, OTHER)
    (victim_id,) = _session_ids(empty_app, EMAIL)
    resp = _end(attacker, victim_id)
    assert resp.status_code == 404
    assert is_logged_in(victim)
    assert _session_ids(empty_app, EMAIL) == [victim_id]
    # the same answer as for an id that does not exist
    assert _end(attacker, victim_id + 1000).status_code == 404
    with empty_app.app_context():
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.session_ended")) is None


def test_v3_5_1_ending_needs_a_post_with_csrf(empty_app):
    laptop = _device(empty_app, user_agent=FIREFOX)
    phone = _device(empty_app, user_agent=ANDROID)
    laptop_id, _phone_id = _session_ids(empty_app)
    assert phone.get(f"/sessies/{laptop_id}/beeindigen").status_code == 405
    assert _end(phone, laptop_id, token="").status_code == 400
    assert phone.post("/sessies/andere-beeindigen").status_code == 400
    assert is_logged_in(laptop)


def test_v7_5_2_end_all_other_sessions(empty_app):
    devices = [_device(empty_app, user_agent=ua) for ua in (FIREFOX, ANDROID, FIREFOX)]
    keep = devices[1]
    resp = keep.post("/sessies/andere-beeindigen", data={"csrf_token": csrf_token(keep, "/sessies"),
                                                         "current_password": PASSWORD})
    assert resp.status_code == 302
    assert [is_logged_in(d) for d in devices] == [False, True, False]
    assert len(_session_ids(empty_app)) == 1


def test_v7_4_1_logout_ends_this_device_only(empty_app):
    laptop = _device(empty_app, user_agent=FIREFOX)
    thief = empty_app.test_client()
    copy_cookies(laptop, thief)
    phone = _device(empty_app, user_agent=ANDROID)
    assert logout(laptop).status_code == 302
    assert not is_logged_in(thief) and not is_logged_in(laptop)
    assert is_logged_in(phone)


def test_ending_the_current_session_logs_out(empty_app):
    laptop = _device(empty_app)
    (own,) = _session_ids(empty_app)
    assert _end(laptop, own).status_code == 302
    assert not is_logged_in(laptop)


def test_last_active_is_kept_and_sessions_of_an_old_token_are_gone(empty_app):
    laptop = _device(empty_app)
    (own,) = _session_ids(empty_app)
    with empty_app.app_context():
        row = db.session.get(UserSession, own)
        row.last_seen_at = row.last_seen_at - timedelta(minutes=10)
        old, old_hash = row.last_seen_at, row.token_hash
        db.session.commit()
    with laptop.session_transaction() as sess:
        sess["_seen_at"] -= 120
    assert is_logged_in(laptop)
    with empty_app.app_context():
        assert db.session.get(UserSession, own).last_seen_at > old
    # a password reset or deactivation changes the user token: its sessions leave the list
    from portal.services import accounts

    with empty_app.app_context():
        user = db.session.scalar(select(User).where(User.email == EMAIL))
        accounts.end_sessions(user, reason="auth.sessions_ended")
    phone = _device(empty_app, user_agent=ANDROID)
    html = phone.get("/sessies").get_data(as_text=True)
    assert "Firefox / Windows" not in html and "Chrome / Android" in html
    assert not is_logged_in(laptop)
    with empty_app.app_context():  # the dead row was deleted at the next login, not only hidden
        assert db.session.scalar(select(UserSession).where(UserSession.token_hash == old_hash)) is None


def test_v7_5_2_ending_another_session_asks_for_the_current_password(empty_app):
    """ASVS 5.0 V7.5.2 / 4.0 V3.3.4: re-authentication before terminating
    sessions; a stolen session cannot throw the owner out."""
    laptop = _device(empty_app, user_agent=FIREFOX)
    phone = _device(empty_app, user_agent=ANDROID)
    laptop_id, _phone_id = _session_ids(empty_app)
    html = phone.get("/sessies").get_data(as_text=True)
    assert html.count('name="current_password"') == 2  # the laptop's row and "end all others"; not this session's
    assert 'autocomplete="current-password"' in html
    missing = _end(phone, laptop_id, password=None)
    assert missing.status_code == 400 and "Vul uw huidige wachtwoord in." in missing.get_data(as_text=True)
    wrong = _end(phone, laptop_id, password="niet het goede wachtwoord")
    assert wrong.status_code == 400 and "Het huidige wachtwoord klopt niet." in wrong.get_data(as_text=True)
    others = phone.post("/sessies/andere-beeindigen", data={"csrf_token": csrf_token(phone, "/sessies")})
    assert others.status_code == 400
    assert is_logged_in(laptop) and len(_session_ids(empty_app)) == 2
    with empty_app.app_context():
        failed = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.reauth_failed")))
        assert [e.detail["purpose"] for e in failed] == ["session_end"]  # the wrong one; a missing one is not tried
        assert db.session.scalar(select(User).where(User.email == EMAIL)).failed_logins == 1  # counts for the throttle
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.session_ended")) is None
    assert _end(phone, laptop_id).status_code == 302 and not is_logged_in(laptop)


def test_v7_5_2_the_login_throttle_holds_for_ending_sessions(empty_app):
    laptop = _device(empty_app, user_agent=FIREFOX)
    phone = _device(empty_app, user_agent=ANDROID)
    laptop_id, _phone_id = _session_ids(empty_app)
    for _i in range(5):
        assert _end(phone, laptop_id, password="fout fout fout fout").status_code == 400
    refused = _end(phone, laptop_id)  # now even the right password waits
    assert refused.status_code == 400 and "Te veel mislukte pogingen" in refused.get_data(as_text=True)
    assert is_logged_in(laptop)


def test_ending_ones_own_session_needs_no_password(empty_app):
    laptop = _device(empty_app)
    (own,) = _session_ids(empty_app)
    assert _end(laptop, own, password=None).status_code == 302
    assert not is_logged_in(laptop)


@pytest.mark.browser
def test_the_sessions_page_with_password_fields_has_no_wcag_violations(empty_app):
    """axe-core (WCAG 2.1 A + AA) over /sessies with another session to end
    (a password field per row and for "end all others") and after a wrong password."""
    from ..test_accessibility import CHROMEDRIVER, CHROMIUM, axe_violations, browser_login, report, see

    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver")
    import shutil
    import tempfile

    from selenium.webdriver.common.by import By

    from ..conftest import serving
    from ..test_browser import start_chromium

    _device(empty_app, user_agent=ANDROID)
    profile = tempfile.mkdtemp(prefix="portal-a11y-sessions-")
    drv = start_chromium(profile)
    drv.set_script_timeout(30)
    found = {}
    try:
        with serving(empty_app) as base:
            browser_login(drv, base, EMAIL)
            drv.get(base + "/sessies")
            assert len(drv.find_elements(By.NAME, "current_password")) == 2
            found["/sessies"] = axe_violations(drv)
            drv.find_element(By.ID, "wachtwoord-alle").send_keys("niet het goede wachtwoord")
            drv.find_element(By.CSS_SELECTOR, "form[action$='andere-beeindigen'] button").click()
            see(drv, "Het huidige wachtwoord klopt niet.")
            found["/sessies (fout)"] = axe_violations(drv)
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)
    found = {k: v for k, v in found.items() if v}
    assert not found, report(found)


def test_user_agent_summaries():
    assert describe_user_agent(FIREFOX) == "Firefox / Windows"
    assert describe_user_agent(ANDROID) == "Chrome / Android"
    assert describe_user_agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
                               "(KHTML, like Gecko) Version/17.5 Safari/605.1.15") == "Safari / macOS"
    assert describe_user_agent("Mozilla/5.0 (Windows NT 10.0) Chrome/131.0 Safari/537.36 Edg/131.0") == "Edge / Windows"
    assert describe_user_agent("") == ""
