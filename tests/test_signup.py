"""Vetted membership (issue #9): sign-up from an allowed domain with a
confirmation link, access requests decided by the region's curators, the
domain allow-list, enumeration safety, rate limits, audit."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AccessRequest, AllowedDomain, AuditEvent, Notification, OutboxMessage, User
from portal.services.items import SYSTEM
from portal.services.library import create_user, set_region
from portal.signup import service

from .conftest import PASSWORD, csrf_token, login, make_app

NEW_PASSWORD = "lange zomeravond aan de Schie"
OTHER_CURATOR = "curator@utrecht.example.org"


def _setup(app) -> None:
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        set_region(SYSTEM, "Regio Utrecht", ["Utrecht"])
        create_user(SYSTEM, OTHER_CURATOR, "curator", name="Uta", password=PASSWORD, municipality="Utrecht")
        service.add_domain(SYSTEM, "GM0503", "delft.nl")


@pytest.fixture
def sapp(tmp_path):
    app = make_app(tmp_path / "signup", content=False)
    _setup(app)
    return app


def sign_up(client, **fields):
    data = {"name": "An de Vries", "email": "an.devries@delft.nl", "municipality": "GM0503",
            "password": NEW_PASSWORD, "motivation": "", **fields}
    data["csrf_token"] = csrf_token(client, "/account-aanvragen")
    return client.post("/account-aanvragen", data=data)


def mails_to(app, address: str) -> list[OutboxMessage]:
    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == address)
                                  .order_by(OutboxMessage.id)).all()
        db.session.expunge_all()
        return list(rows)


def link_in(message: OutboxMessage, kind: str = "account") -> str:
    m = re.search(rf"https?://\S+(/{kind}-bevestigen/\S+)", message.body)
    assert m, message.body
    return m.group(1)


def confirm_request(app, client, email: str, password: str = NEW_PASSWORD):
    """Use the address link of ``email``'s latest access-request mail."""
    path = link_in(mails_to(app, email)[-1], "aanvraag")
    return client.post(path, data={"csrf_token": csrf_token(client, path), "password": password})


def try_login(client, email, password):
    token = csrf_token(client, "/inloggen")
    return client.post("/inloggen", data={"email": email, "password": password, "csrf_token": token})


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


# -- domains --------------------------------------------------------------------------------------


def test_domains_are_normalised_and_match_exactly():
    assert service.normalise_domain(" Gemeente.Delft.NL. ") == "gemeente.delft.nl"
    assert service.normalise_domain("@delft.nl") == "delft.nl"
    assert service.normalise_domain("BÜCHER.nl") == "xn--bcher-kva.nl"
    for bad in ("", "nl", "delft nl", "-delft.nl", "a" * 64 + ".nl", "http://delft.nl"):
        with pytest.raises(ValueError):
            service.normalise_domain(bad)
    assert service.email_domain("rare@naam@Delft.nl") == "delft.nl"  # the part after the last @
    assert service.email_domain("geen-apenstaart") is None


def test_allow_list_exact_subdomain_and_idna(sapp):
    with sapp.app_context():
        from portal.models import Municipality

        delft = db.session.scalar(select(Municipality).where(Municipality.cbs_code == "GM0503"))
        assert service.domain_allowed(delft, "an@DELFT.nl")
        assert not service.domain_allowed(delft, "an@sub.delft.nl")
        assert not service.domain_allowed(delft, "an@notdelft.nl")
        service.add_domain(SYSTEM, "Delft", "bücher.nl")
        assert service.domain_allowed(delft, "an@BÜCHER.NL")
        assert service.domain_allowed(delft, "an@xn--bcher-kva.nl")
        with pytest.raises(Exception) as info:
            service.add_domain(SYSTEM, "GM0503", "Delft.NL")
        assert "staat al op de lijst" in str(info.value)


# -- allowed domain: confirm by link ------------------------------------------------------------


def test_allowed_domain_confirm_link_then_login(sapp, client_for):
    client = client_for(sapp)
    resp = sign_up(client, email="An.deVries@Delft.NL")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account-aanvragen/verstuurd")
    assert try_login(client_for(sapp), "an.devries@delft.nl", NEW_PASSWORD).status_code == 400  # pending
    [mail] = mails_to(sapp, "an.devries@delft.nl")
    assert "Bevestig" in mail.subject and "48 uur" in mail.body
    path = link_in(mail)

    page = client.get(path)  # GET shows a button, changes nothing
    assert page.status_code == 200 and "Aanmelding bevestigen" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    with sapp.app_context():
        assert db.session.scalar(select(User.active).where(User.email == "an.devries@delft.nl")) is False

    token = csrf_token(client, path)
    wrong = client.post(path, data={"csrf_token": token, "password": PASSWORD})  # not the one chosen
    assert wrong.status_code == 400 and 'id="password-fout"' in wrong.get_data(as_text=True)
    with sapp.app_context():
        assert db.session.scalar(select(User.active).where(User.email == "an.devries@delft.nl")) is False
    done = client.post(path, data={"csrf_token": token, "password": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"].endswith("/inloggen")
    fresh = client_for(sapp)
    assert try_login(fresh, "an.devries@delft.nl", NEW_PASSWORD).status_code == 302
    with sapp.app_context():
        user = db.session.scalar(select(User).where(User.email == "an.devries@delft.nl"))
        assert (user.active, user.role, user.municipality.cbs_code, user.name) == (True, "member", "GM0503",
                                                                                    "An de Vries")
    actions = audit_actions(sapp)
    assert "signup.submit" in actions and "signup.confirm" in actions


def test_confirm_without_csrf_is_refused(sapp, client_for):
    client = client_for(sapp)
    sign_up(client)
    path = link_in(mails_to(sapp, "an.devries@delft.nl")[0])
    assert client.post(path, data={"password": NEW_PASSWORD}).status_code == 400
    with sapp.app_context():
        assert db.session.scalar(select(User.active).where(User.email == "an.devries@delft.nl")) is False


def test_link_reused_forged_expired_or_replaced(sapp, client_for):
    from itsdangerous import TimestampSigner, URLSafeTimedSerializer

    client = client_for(sapp)
    sign_up(client)
    path = link_in(mails_to(sapp, "an.devries@delft.nl")[0])
    token = path.rsplit("/", 1)[1]

    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    page = client.get(forged)
    assert page.status_code == 400 and "klopt niet" in page.get_data(as_text=True)
    assert client.post(forged, data={"csrf_token": csrf_token(client, path)}).status_code == 400

    class Old(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - 49 * 3600

    with sapp.app_context():
        _ok, payload = service._serializer().loads_unsafe(token)
        old = URLSafeTimedSerializer(sapp.config["SECRET_KEY"], salt=service.SALT, signer=Old).dumps(payload)
    page = client.get(f"/account-bevestigen/{old}")
    assert page.status_code == 400 and "verlopen" in page.get_data(as_text=True)

    assert client.post(path, data={"csrf_token": csrf_token(client, path), "password": NEW_PASSWORD}).status_code == 302
    again = client.post(path, data={"csrf_token": csrf_token(client, "/account-aanvragen"), "password": NEW_PASSWORD})
    assert again.status_code == 400 and "al gebruikt" in again.get_data(as_text=True)

    # A second sign-up while the first is unconfirmed replaces the link.
    other = client_for(sapp)
    sign_up(other, email="bo@delft.nl", name="Bo")
    sign_up(other, email="bo@delft.nl", name="Bo Bakker")
    first, second = mails_to(sapp, "bo@delft.nl")
    stale = other.get(link_in(first))
    assert stale.status_code == 400 and "vervangen" in stale.get_data(as_text=True)
    assert other.get(link_in(second)).status_code == 200


# -- other domains: access requests -------------------------------------------------------------


def test_access_request_decided_by_the_regions_curator(sapp, client_for):
    anon = client_for(sapp)
    missing = sign_up(anon, email="kees@gmail.example", name="Kees")
    assert missing.status_code == 400  # no motivation: asked for it, by field
    assert "Korte toelichting" in missing.get_data(as_text=True) and 'id="motivation-fout"' in missing.get_data(as_text=True)
    resp = sign_up(anon, email="kees@gmail.example", name="Kees", motivation="Jongerenwerker bij de wijkpost.")
    assert resp.status_code == 302
    assert confirm_request(sapp, anon, "kees@gmail.example").status_code == 302
    with sapp.app_context():
        req = db.session.scalar(select(AccessRequest).where(AccessRequest.email == "kees@gmail.example"))
        rid = req.id
        assert req.status == "pending" and req.password_hash.startswith("$argon2")
        assert db.session.scalar(select(User).where(User.email == "kees@gmail.example")) is None
        notified = set(db.session.scalars(select(User.email).join(Notification, Notification.user_id == User.id)
                                          .where(Notification.kind == "access_request")))
    assert {"curator@delft.example.org", "beheer@example.org"} <= notified  # the area's curator, the admins
    assert OTHER_CURATOR not in notified and "lid@delft.example.org" not in notified
    assert "ontvangen" in mails_to(sapp, "kees@gmail.example")[-1].subject
    assert try_login(client_for(sapp), "kees@gmail.example", NEW_PASSWORD).status_code == 400

    utrecht = client_for(sapp, OTHER_CURATOR)
    assert "kees@gmail.example" not in utrecht.get("/beheer/toegangsverzoeken").get_data(as_text=True)
    assert utrecht.get(f"/beheer/toegangsverzoeken/{rid}").status_code == 404
    token = csrf_token(utrecht, "/beheer/toegangsverzoeken")
    assert utrecht.post(f"/beheer/toegangsverzoeken/{rid}/goedkeuren", data={"csrf_token": token}).status_code == 404
    assert utrecht.post(f"/beheer/toegangsverzoeken/{rid}/weigeren",
                        data={"csrf_token": token, "reason": "nee"}).status_code == 404
    member = client_for(sapp, "lid@delft.example.org")
    assert member.get("/beheer/toegangsverzoeken").status_code == 403

    admin = client_for(sapp, "beheer@example.org")
    assert "kees@gmail.example" in admin.get("/beheer/toegangsverzoeken").get_data(as_text=True)
    curator = client_for(sapp, "curator@delft.example.org")
    listing = curator.get("/beheer/toegangsverzoeken").get_data(as_text=True)
    assert "kees@gmail.example" in listing
    detail = curator.get(f"/beheer/toegangsverzoeken/{rid}").get_data(as_text=True)
    assert "Jongerenwerker bij de wijkpost." in detail
    token = csrf_token(curator, f"/beheer/toegangsverzoeken/{rid}")
    ok = curator.post(f"/beheer/toegangsverzoeken/{rid}/goedkeuren", data={"csrf_token": token})
    assert ok.status_code == 302
    assert "goedgekeurd" in mails_to(sapp, "kees@gmail.example")[-1].subject
    assert try_login(client_for(sapp), "kees@gmail.example", NEW_PASSWORD).status_code == 302
    with sapp.app_context():
        user = db.session.scalar(select(User).where(User.email == "kees@gmail.example"))
        req = db.session.get(AccessRequest, rid)
        assert (user.role, user.active, user.municipality.cbs_code) == ("member", True, "GM0503")
        assert (req.status, req.user_id, req.password_hash) == ("approved", user.id, "")
    twice = curator.post(f"/beheer/toegangsverzoeken/{rid}/goedkeuren", data={"csrf_token": token})
    assert twice.status_code == 400 and "al besloten" in twice.get_data(as_text=True)
    assert "signup.approve" in audit_actions(sapp)


def test_refusal_needs_a_reason_and_mails_it(sapp, client_for):
    applicant = client_for(sapp)
    sign_up(applicant, email="piet@hotmail.example", name="Piet", motivation="Vrijwilliger.")
    assert confirm_request(sapp, applicant, "piet@hotmail.example").status_code == 302
    with sapp.app_context():
        rid = db.session.scalar(select(AccessRequest.id).where(AccessRequest.email == "piet@hotmail.example"))
    curator = client_for(sapp, "curator@delft.example.org")
    token = csrf_token(curator, f"/beheer/toegangsverzoeken/{rid}")
    empty = curator.post(f"/beheer/toegangsverzoeken/{rid}/weigeren", data={"csrf_token": token, "reason": "  "})
    assert empty.status_code == 400 and "Geef een reden" in empty.get_data(as_text=True)
    reason = "Dit portaal is voor medewerkers van gemeenten; vraag uw coördinator bij de gemeente."
    resp = curator.post(f"/beheer/toegangsverzoeken/{rid}/weigeren", data={"csrf_token": token, "reason": reason})
    assert resp.status_code == 302
    mail = mails_to(sapp, "piet@hotmail.example")[-1]
    assert "afgewezen" in mail.subject and reason in mail.body
    assert try_login(client_for(sapp), "piet@hotmail.example", NEW_PASSWORD).status_code == 400
    with sapp.app_context():
        req = db.session.get(AccessRequest, rid)
        assert (req.status, req.reason, req.password_hash) == ("refused", reason, "")
        assert db.session.scalar(select(User).where(User.email == "piet@hotmail.example")) is None
    assert "signup.refuse" in audit_actions(sapp)


# -- safety ---------------------------------------------------------------------------------------


def test_unknown_fields_are_ignored(sapp, client_for):
    extra = {"role": "admin", "active": "1", "status": "approved", "municipality_id": "1", "is_admin": "true",
             "user_id": "1"}
    client = client_for(sapp)
    sign_up(client, **extra)
    path = link_in(mails_to(sapp, "an.devries@delft.nl")[0])
    assert client.post(path, data={"csrf_token": csrf_token(client, path), "password": NEW_PASSWORD,
                                   **extra}).status_code == 302
    sign_up(client_for(sapp), email="x@elders.example", motivation="Hallo", **extra)
    with sapp.app_context():
        user = db.session.scalar(select(User).where(User.email == "an.devries@delft.nl"))
        assert (user.role, user.municipality.cbs_code) == ("member", "GM0503")
        req = db.session.scalar(select(AccessRequest).where(AccessRequest.email == "x@elders.example"))
        assert (req.status, req.user_id, req.municipality.cbs_code) == ("unconfirmed", None, "GM0503")


def test_same_answer_for_an_existing_address(sapp, client_for):
    with sapp.app_context():
        service.add_domain(SYSTEM, "GM0503", "delft.example.org")
        before = db.session.scalar(select(func.count(User.id)))
    new = sign_up(client_for(sapp), email="nieuw@delft.example.org", name="Nieuw")
    old = sign_up(client_for(sapp), email="lid@delft.example.org", name="Iemand Anders")
    assert (new.status_code, new.headers["Location"]) == (old.status_code, old.headers["Location"])
    a = client_for(sapp).get(new.headers["Location"]).get_data(as_text=True)
    b = client_for(sapp).get(old.headers["Location"]).get_data(as_text=True)
    unsigned = re.compile(r'name="csrf_token"[^>]*>|value="[^"]*"')  # per-session tokens differ
    assert unsigned.sub("", a) == unsigned.sub("", b)
    mail = mails_to(sapp, "lid@delft.example.org")[-1]
    assert "al een account" in mail.subject and "/account-bevestigen/" not in mail.body
    login(client_for(sapp), "lid@delft.example.org")  # the old password still works
    with sapp.app_context():
        assert db.session.scalar(select(func.count(User.id))) == before + 1
        assert db.session.scalar(select(User.name).where(User.email == "lid@delft.example.org")) == "lid"
    # the same on the access-request path
    elsewhere = sign_up(client_for(sapp), email="lid@delft.example.org", municipality="GM0344", motivation="x")
    assert (elsewhere.status_code, elsewhere.headers["Location"]) == (new.status_code, new.headers["Location"])
    with sapp.app_context():
        assert db.session.scalar(select(func.count(AccessRequest.id))) == 0
    assert "signup.existing" in audit_actions(sapp)


def test_errors_per_field_keep_input_and_write_nothing(sapp, client_for):
    resp = sign_up(client_for(sapp), name="", email="geen-adres", municipality="GM9999", password="kort",
                   motivation="blijft staan")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    for text in ("Vul uw naam in.", "Vul een geldig e-mailadres in", "Kies een gemeente uit de lijst.",
                 "minstens 12 tekens"):
        assert text in html
    for field in ("name", "email", "municipality", "password"):
        assert f'id="{field}-fout"' in html and 'aria-describedby="' in html
    assert 'value="geen-adres"' in html and "blijft staan" in html
    assert "kort" not in re.findall(r'<input[^>]*name="password"[^>]*>', html)[0]
    resp = sign_up(client_for(sapp), password="welkom2025!!", email="an@delft.nl")  # policy of password change
    assert resp.status_code == 400 and 'id="password-fout"' in resp.get_data(as_text=True)
    with sapp.app_context():
        assert db.session.scalar(select(func.count(OutboxMessage.id)).where(
            OutboxMessage.to_address.in_(("geen-adres", "an@delft.nl")))) == 0
        assert db.session.scalar(select(User).where(User.email == "an@delft.nl")) is None


def test_sign_ups_are_rate_limited(tmp_path, client_for):
    app = make_app(tmp_path / "limited", content=False, SIGNUP_LIMIT="3 per hour", SIGNUP_EMAIL_LIMIT="1 per hour")
    with app.app_context():
        service.add_domain(SYSTEM, "GM0503", "delft.nl")
    client = client_for(app)
    assert sign_up(client, email="een@delft.nl").status_code == 302
    assert sign_up(client, email="een@delft.nl").status_code == 429  # per address
    assert sign_up(client, email="twee@delft.nl").status_code == 302
    assert sign_up(client, email="drie@delft.nl", password="kort").status_code == 400  # errors do not count
    assert sign_up(client, email="drie@delft.nl").status_code == 302
    resp = sign_up(client, email="vier@delft.nl")  # per network address
    assert resp.status_code == 429 and resp.headers.get("Retry-After")
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "vier@delft.nl")) is None


def test_pages_behind_the_gate(sapp, client_for):
    anon = client_for(sapp)
    assert anon.get("/account-aanvragen").status_code == 200
    assert "Account aanvragen" in anon.get("/inloggen").get_data(as_text=True)
    for path in ("/beheer/toegangsverzoeken", "/beheer/domeinen"):
        resp = anon.get(path)
        assert resp.status_code == 302 and "/inloggen" in resp.headers["Location"]


# -- domain administration ----------------------------------------------------------------------


def test_admin_page_adds_and_removes_domains(sapp, client_for):
    curator = client_for(sapp, "curator@delft.example.org")
    assert curator.get("/beheer/domeinen").status_code == 403
    admin = client_for(sapp, "beheer@example.org")
    token = csrf_token(admin, "/beheer/domeinen")
    bad = admin.post("/beheer/domeinen", data={"csrf_token": token, "municipality": "GM0344", "domain": "geen domein"})
    assert bad.status_code == 400 and "Vul een domeinnaam in" in bad.get_data(as_text=True)
    assert 'value="geen domein"' in bad.get_data(as_text=True)
    ok = admin.post("/beheer/domeinen", data={"csrf_token": token, "municipality": "GM0344", "domain": "Utrecht.NL"})
    assert ok.status_code == 302
    assert "utrecht.nl" in admin.get("/beheer/domeinen").get_data(as_text=True)
    with sapp.app_context():
        row_id = db.session.scalar(select(AllowedDomain.id).where(AllowedDomain.domain == "utrecht.nl"))
    assert admin.post(f"/beheer/domeinen/{row_id}/verwijderen", data={"csrf_token": token}).status_code == 302
    with sapp.app_context():
        assert db.session.get(AllowedDomain, row_id) is None
    actions = audit_actions(sapp)
    assert "signup.domain_add" in actions and "signup.domain_remove" in actions


def test_allow_domain_command(sapp):
    runner = sapp.test_cli_runner()
    result = runner.invoke(args=["allow-domain", "GM0344", "utrecht.nl"])
    assert result.exit_code == 0, result.output
    assert "utrecht.nl is toegestaan voor Utrecht (GM0344)" in result.output
    result = runner.invoke(args=["allow-domain", "GM0344", "utrecht.nl"])
    assert result.exit_code == 1 and "staat al op de lijst" in result.output
    result = runner.invoke(args=["allow-domain", "GM9999", "utrecht.nl"])
    assert result.exit_code == 1 and "Kies een gemeente" in result.output
    result = runner.invoke(args=["allow-domain", "GM0344", "utrecht.nl", "--remove"])
    assert result.exit_code == 0, result.output
    with sapp.app_context():
        assert db.session.scalar(select(AllowedDomain).where(AllowedDomain.domain == "utrecht.nl")) is None
    result = runner.invoke(args=["allow-domain", "GM0344", "utrecht.nl", "--remove"])
    assert result.exit_code == 1


def test_audit_labels_cover_signup_actions():
    from portal.services.audit_labels import AUDIT_LABELS

    for code in ("signup.submit", "signup.confirm", "signup.approve", "signup.refuse", "signup.request",
                 "signup.existing", "signup.domain_add", "signup.domain_remove", "signup.request_repeated"):
        assert AUDIT_LABELS.get(code), code


def test_names_are_escaped_on_every_page(sapp, client_for):
    evil = '<script>alert(1)</script>Eva'
    client = client_for(sapp)
    sign_up(client, name=evil, email="eva@delft.nl")
    applicant = client_for(sapp)
    sign_up(applicant, name=evil, email="eva@elders.example", motivation=evil)
    page = applicant.get(link_in(mails_to(sapp, "eva@elders.example")[0], "aanvraag")).get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert confirm_request(sapp, applicant, "eva@elders.example").status_code == 302
    page = client.get(link_in(mails_to(sapp, "eva@delft.nl")[0])).get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    with sapp.app_context():
        rid = db.session.scalar(select(AccessRequest.id).where(AccessRequest.email == "eva@elders.example"))
    curator = client_for(sapp, "curator@delft.example.org")
    for path in ("/beheer/toegangsverzoeken", f"/beheer/toegangsverzoeken/{rid}"):
        html = curator.get(path).get_data(as_text=True)
        assert "<script>alert" not in html and "&lt;script&gt;alert" in html, path


# -- access requests prove the address first ------------------------------------------------------


def _request_row(app, email):
    with app.app_context():
        row = db.session.scalar(select(AccessRequest).where(AccessRequest.email == email))
        db.session.expunge_all()
        return row


def _notified(app) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(User.email).join(Notification, Notification.user_id == User.id)
                                      .where(Notification.kind == "access_request")))


def test_access_request_reaches_curators_only_after_the_address_is_confirmed(sapp, client_for):
    applicant = client_for(sapp)
    assert sign_up(applicant, email="kim@elders.example", name="Kim", motivation="Buurtcoach.").status_code == 302
    row = _request_row(sapp, "kim@elders.example")
    assert row.status == "unconfirmed" and row.token_hash and row.confirmed_at is None
    assert _notified(sapp) == set()  # nobody is told yet
    with sapp.app_context():
        assert db.session.scalar(select(func.count(OutboxMessage.id)).where(
            OutboxMessage.to_address != "kim@elders.example")) == 0
    [mail] = mails_to(sapp, "kim@elders.example")
    assert "Bevestig uw aanvraag" in mail.subject and "48 uur" in mail.body
    path = link_in(mail, "aanvraag")
    curator = client_for(sapp, "curator@delft.example.org")
    admin = client_for(sapp, "beheer@example.org")
    for who in (curator, admin):
        assert "kim@elders.example" not in who.get("/beheer/toegangsverzoeken").get_data(as_text=True)
        assert who.get(f"/beheer/toegangsverzoeken/{row.id}").status_code == 404
        token = csrf_token(who, "/beheer/toegangsverzoeken")
        assert who.post(f"/beheer/toegangsverzoeken/{row.id}/goedkeuren",
                        data={"csrf_token": token}).status_code == 404

    page = applicant.get(path)  # GET shows a button and changes nothing
    assert page.status_code == 200 and "Aanvraag bevestigen" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert _request_row(sapp, "kim@elders.example").status == "unconfirmed"
    assert applicant.post(path, data={"password": NEW_PASSWORD}).status_code == 400  # no CSRF token
    token = csrf_token(applicant, path)
    wrong = applicant.post(path, data={"csrf_token": token, "password": PASSWORD})
    assert wrong.status_code == 400 and 'id="password-fout"' in wrong.get_data(as_text=True)
    assert _request_row(sapp, "kim@elders.example").status == "unconfirmed" and _notified(sapp) == set()

    done = applicant.post(path, data={"csrf_token": token, "password": NEW_PASSWORD})
    assert done.status_code == 302
    row = _request_row(sapp, "kim@elders.example")
    assert row.status == "pending" and row.token_hash is None and row.confirmed_at is not None
    notified = _notified(sapp)
    assert {"curator@delft.example.org", "beheer@example.org"} <= notified and OTHER_CURATOR not in notified
    assert "ontvangen" in mails_to(sapp, "kim@elders.example")[-1].subject
    assert "kim@elders.example" in curator.get("/beheer/toegangsverzoeken").get_data(as_text=True)
    again = applicant.post(path, data={"csrf_token": token, "password": NEW_PASSWORD})
    assert again.status_code == 400 and "al gebruikt" in again.get_data(as_text=True)
    with sapp.app_context():  # one notification per decider, not one more for the reused link
        assert db.session.scalar(select(func.count(Notification.id)).where(
            Notification.kind == "access_request")) == len(notified)
    actions = audit_actions(sapp)
    assert actions.index("signup.submit") < actions.index("signup.request")


def test_unconfirmed_request_link_forged_expired_replaced_and_purged(sapp, client_for):
    from datetime import timedelta

    from itsdangerous import TimestampSigner, URLSafeTimedSerializer

    from portal.models.base import utcnow

    client = client_for(sapp)
    sign_up(client, email="lou@elders.example", name="Lou", motivation="Eerste poging.")
    sign_up(client, email="lou@elders.example", name="Lou Smit", motivation="Tweede poging.")
    first, second = mails_to(sapp, "lou@elders.example")
    with sapp.app_context():  # a repeat renews the one unconfirmed request, it does not add one
        rows = db.session.scalars(select(AccessRequest).where(AccessRequest.email == "lou@elders.example")).all()
        assert [(r.name, r.motivation) for r in rows] == [("Lou Smit", "Tweede poging.")]
    stale = client.get(link_in(first, "aanvraag"))
    assert stale.status_code == 400 and "vervangen" in stale.get_data(as_text=True)
    path = link_in(second, "aanvraag")
    assert client.get(path).status_code == 200
    forged = client.get(path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB"))
    assert forged.status_code == 400 and "klopt niet" in forged.get_data(as_text=True)
    # an account-confirmation token is no access-request token (different salt), and vice versa
    token = path.rsplit("/", 1)[1]
    assert client.get(f"/account-bevestigen/{token}").status_code == 400

    class Old(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - 49 * 3600

    with sapp.app_context():
        _ok, payload = service._serializer(service.REQUEST_SALT).loads_unsafe(token)
        old = URLSafeTimedSerializer(sapp.config["SECRET_KEY"], salt=service.REQUEST_SALT, signer=Old).dumps(payload)
    page = client.get(f"/aanvraag-bevestigen/{old}")
    assert page.status_code == 400 and "verlopen" in page.get_data(as_text=True)

    # Past its 48 hours (stored expiry), the link is refused and the request (with its hash) is deleted.
    with sapp.app_context():
        row = db.session.scalar(select(AccessRequest).where(AccessRequest.email == "lou@elders.example"))
        row.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    page = client.get(path)
    assert page.status_code == 400 and "verlopen" in page.get_data(as_text=True)
    resp = client.post(path, data={"csrf_token": csrf_token(client, "/account-aanvragen"), "password": NEW_PASSWORD})
    assert resp.status_code == 400 and _notified(sapp) == set()
    sign_up(client_for(sapp), email="ander@elders.example", name="Ander", motivation="x")  # housekeeping on the way
    with sapp.app_context():
        assert db.session.scalar(select(AccessRequest).where(AccessRequest.email == "lou@elders.example")) is None
        row = db.session.scalar(select(AccessRequest).where(AccessRequest.email == "ander@elders.example"))
        row.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        assert service.purge_unconfirmed_requests() == 1
        assert db.session.scalar(select(func.count(AccessRequest.id))) == 0


def test_same_answer_for_allowed_request_and_existing(sapp, client_for):
    allowed = sign_up(client_for(sapp), email="nina@delft.nl", name="Nina")
    request = sign_up(client_for(sapp), email="nina@elders.example", name="Nina", motivation="x")
    existing = sign_up(client_for(sapp), email="lid@delft.example.org", municipality="GM0344", motivation="x")
    answers = {(r.status_code, r.headers["Location"]) for r in (allowed, request, existing)}
    assert answers == {(302, "/account-aanvragen/verstuurd")}
    assert _notified(sapp) == set()


def test_a_repeat_after_confirmation_is_not_announced_twice(sapp, client_for):
    first = client_for(sapp)
    sign_up(first, email="sam@elders.example", name="Sam", motivation="x")
    sign_up(first, email="sam@elders.example", name="Sam", motivation="x")
    # Two links of the same request: only the newest works.
    assert confirm_request(sapp, first, "sam@elders.example").status_code == 302
    assert sign_up(first, email="sam@elders.example", name="Sam", motivation="x").status_code == 302
    assert "nog beoordeeld" in mails_to(sapp, "sam@elders.example")[-1].subject
    with sapp.app_context():
        assert db.session.scalar(select(func.count(AccessRequest.id))) == 1
        assert db.session.scalar(select(func.count(Notification.id)).where(
            Notification.kind == "access_request")) == len(_notified(sapp))


# -- the way in for those who decide --------------------------------------------------------------


def test_menu_and_dashboard_link_to_the_requests_with_their_count(sapp, client_for):
    applicant = client_for(sapp)
    sign_up(applicant, email="jo@elders.example", name="Jo", motivation="x")
    curator = client_for(sapp, "curator@delft.example.org")
    nav = re.compile(r'<a href="/beheer/toegangsverzoeken">Toegangsverzoeken(.*?)</a>', re.S)
    m = nav.search(curator.get("/").get_data(as_text=True))
    assert m and "badge" not in m.group(1)  # unconfirmed requests are not counted
    assert "0 openstaand" in curator.get("/curatie").get_data(as_text=True)
    confirm_request(sapp, applicant, "jo@elders.example")
    for email in ("curator@delft.example.org", "beheer@example.org"):
        html = client_for(sapp, email).get("/").get_data(as_text=True)
        m = nav.search(html)
        assert m and re.search(r'badge-count">1<', m.group(1)), email
    assert "1 openstaand" in curator.get("/curatie").get_data(as_text=True)
    other = client_for(sapp, OTHER_CURATOR)  # another region: the link, without this request's count
    m = nav.search(other.get("/").get_data(as_text=True))
    assert m and "badge" not in m.group(1)
    for email in ("lid@delft.example.org", None):
        html = client_for(sapp, email).get("/").get_data(as_text=True)
        assert "Toegangsverzoeken" not in html and "/beheer/toegangsverzoeken" not in html


def test_confirming_when_the_address_already_has_an_open_request_drops_the_duplicate(sapp, client_for):
    """Two sign-ups racing past each other can leave an unconfirmed request
    beside an open one; confirming it then adds nothing and tells nobody."""
    applicant = client_for(sapp)
    sign_up(applicant, email="ria@elders.example", name="Ria", motivation="x")
    with sapp.app_context():  # the other, already confirmed request of the same address
        db.session.add(AccessRequest(email="ria@elders.example", name="Ria", municipality_id=db.session.scalar(
            select(AccessRequest.municipality_id)), password_hash="", motivation="eerder", status="pending",
            reason=""))
        db.session.commit()
    assert confirm_request(sapp, applicant, "ria@elders.example").status_code == 302
    with sapp.app_context():
        rows = db.session.scalars(select(AccessRequest).where(AccessRequest.email == "ria@elders.example")).all()
        assert [(r.status, r.motivation) for r in rows] == [("pending", "eerder")]
    assert _notified(sapp) == set()
