"""ASVS 5.0 V15.3.3 (mass assignment): extra form fields such as owner,
author, status, role or municipality are ignored where the user may not set
them."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import Item, User

from ..conftest import PASSWORD, csrf_token

CONTRIBUTOR = "bijdrager@delft.example.org"
EXTRA = {"role": "admin", "owner": "beheer@example.org", "author_id": "1", "author": "beheer@example.org",
         "active": "1", "is_admin": "1", "password_hash": "x", "session_token": "x", "failed_logins": "0",
         "id": "1", "type": "profile", "slug": "overgenomen", "region": "1", "version": "1"}


def _user(app, email) -> tuple:
    with app.app_context():
        u = db.session.scalar(select(User).where(User.email == email))
        return (u.id, u.email, u.role, u.active, u.municipality_id, u.password_hash, u.session_token)


def test_v15_3_3_item_form_ignores_owner_status_and_role(app, client_for):
    client = client_for(app, CONTRIBUTOR)
    before = _user(app, CONTRIBUTOR)
    data = {"title": "Een werkwijze met extra velden", "summary": "Samenvatting.", "body": "Tekst van de werkwijze.",
            "status": "published", "municipality": "Delft", **EXTRA,
            "csrf_token": csrf_token(client, "/nieuw/werkwijzen")}
    resp = client.post("/nieuw/werkwijzen", data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.title == "Een werkwijze met extra velden"))
        assert item is not None
        assert item.type == "practice" and item.slug != "overgenomen"
        assert item.status != "published"  # a contributor cannot publish by adding a field
        assert item.author_id == before[0]
        assert db.session.scalar(select(Item).where(Item.slug == "overgenomen")) is None
    after = _user(app, CONTRIBUTOR)
    assert after[:6] == before[:6]


def test_v15_3_3_account_forms_ignore_extra_fields(empty_app, client_for):
    email = "lid@delft.example.org"
    client = client_for(empty_app, email)
    before = _user(empty_app, email)
    resp = client.post("/wachtwoord-wijzigen", data={
        "current_password": PASSWORD, "new_password": "een nieuw lang wachtwoord", "email": "ander@example.org",
        "municipality": "Utrecht", **EXTRA, "csrf_token": csrf_token(client, "/wachtwoord-wijzigen")})
    assert resp.status_code == 302
    after = _user(empty_app, email)
    assert after[:5] == before[:5]  # id, e-mail, role, active, municipality unchanged
    assert after[5] != before[5]  # only the password changed
    other = empty_app.test_client()
    resp = other.post("/inloggen", data={"email": email, "password": "een nieuw lang wachtwoord", **EXTRA,
                                         "csrf_token": csrf_token(other)})
    assert resp.status_code == 302
    assert _user(empty_app, email)[2] == "member"
