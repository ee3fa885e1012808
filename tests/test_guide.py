"""'Waar staat u?' (issue #9): the guided entry through the phases and
sub-steps, what helps per sub-step as each visitor may see it, and a
municipality's progress (members of that municipality only, audited)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal import taxonomy
from portal.extensions import db
from portal.models import AuditEvent, GuideProgress, Item
from portal.services import guide as guide_service

from .conftest import csrf_token, make_app

DELFT_MEMBER = "lid@delft.example.org"
UTRECHT = "bijdrager@utrecht.example.org"
ADMIN = "beheer@example.org"


@pytest.fixture(scope="module")
def guide_app(tmp_path_factory):
    return make_app(tmp_path_factory.mktemp("guide"))


def _profile_names(app) -> list[str]:
    with app.app_context():
        return [i.title for i in db.session.scalars(select(Item).where(Item.type == "profile"))]


def _progress(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        return [(r.municipality.cbs_code, r.step, r.state)
                for r in db.session.scalars(select(GuideProgress).order_by(GuideProgress.id))]


def _mark(client, step, state, municipality="GM0503", token=None):
    token = token or csrf_token(client, "/waar-staat-u")
    return client.post("/waar-staat-u/voortgang", data={
        "csrf_token": token, "municipality": municipality, "step": step, "state": state})


def test_anonymous_sees_phases_steps_questions_and_public_items(guide_app, client_for):
    resp = client_for(guide_app).get("/waar-staat-u")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    for key, (label, _en) in taxonomy.BUILTIN["step"].items():
        assert f'id="stap-{key.replace(".", "-")}"' in html
        assert f"{key} {label}" in html
        assert len(guide_service.KEY_QUESTIONS[key]) >= 3
        assert guide_service.KEY_QUESTIONS[key][0].split(",")[0] in html
    assert "Fase 1: een netwerk van sleutelfiguren opzetten" in html  # a public practice at 1.1
    assert 'name="state"' not in html  # nothing to mark without logging in
    assert "Wat nu te lezen" in html and "1.1 Doel en bestaansrecht</strong>" in html


def test_no_profile_name_for_anonymous_visitors(guide_app, client_for):
    anon = client_for(guide_app)
    names = _profile_names(guide_app)
    assert names
    html = anon.get("/waar-staat-u").get_data(as_text=True)
    assert not [n for n in names if n in html]
    assert "/sleutelfiguren/" not in html
    assert anon.get("/inzicht").status_code == 302
    assert not [n for n in names if n in anon.get("/inzicht", follow_redirects=True).get_data(as_text=True)]


def test_members_see_people_who_help(guide_app, client_for):
    html = client_for(guide_app, DELFT_MEMBER).get("/waar-staat-u").get_data(as_text=True)
    assert "Sleutelfiguren die kunnen helpen" in html
    # the contact of the practice for step 1.1 (fase-opzetten)
    assert "Annemiek van Dorsten" in html


def test_people_respect_permissions(guide_app):
    """A profile only its own municipality may see is never offered to another."""
    from portal.models import User
    from portal.services.items import SYSTEM, save_item

    with guide_app.app_context():
        save_item(SYSTEM, "profile", {
            "title": "Verborgen Voorbeeldpersoon", "municipality": "Delft", "visibility": "municipality",
            "steps": ["2.2"], "consent": "2026-11-01", "status": "published"}, "Alleen Delft.")
        delft = db.session.scalar(select(User).where(User.email == DELFT_MEMBER))
        utrecht = db.session.scalar(select(User).where(User.email == UTRECHT))
        assert ("verborgen-voorbeeldpersoon", "Verborgen Voorbeeldpersoon") in guide_service.helpers(delft, "2.2")["people"]
        assert not [p for p in guide_service.helpers(utrecht, "2.2")["people"] if "Verborgen" in p[1]]
        assert guide_service.helpers(None, "2.2")["people"] is None


def test_member_marks_progress_and_sees_what_to_read_next(guide_app, client_for):
    member = client_for(guide_app, DELFT_MEMBER)
    html = member.get("/waar-staat-u").get_data(as_text=True)
    assert 'name="municipality" value="GM0503"' in html
    resp = _mark(member, "1.1", "gereed")
    assert resp.status_code == 302 and "/waar-staat-u#stap-1-1" in resp.headers["Location"]
    resp = _mark(member, "1.2", "bezig")
    assert resp.status_code == 302
    assert ("GM0503", "1.1", "gereed") in _progress(guide_app)
    html = member.get("/waar-staat-u").get_data(as_text=True)
    nu = html.split('id="nu-kop"', 1)[1].split("</section>", 1)[0]
    assert "1.2 Bestuurlijk draagvlak</strong>" in nu  # 1.1 is done, 1.2 is only under way
    assert re.search(r'id="stap-1-1".*?<span class="badge">Gereed</span>', html, re.S)
    assert re.search(r'value="bezig" checked', html)
    with guide_app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "guide.progress")).all()
        assert {(e.target, e.detail["step"], e.detail["state"]) for e in events} >= {
            ("municipality/GM0503", "1.1", "gereed"), ("municipality/GM0503", "1.2", "bezig")}
        assert all(e.actor_id for e in events)
    # changing it again updates the one row per step
    _mark(member, "1.1", "bezig")
    assert [r for r in _progress(guide_app) if r[:2] == ("GM0503", "1.1")] == [("GM0503", "1.1", "bezig")]
    # another municipality's member sees none of Delft's progress
    utrecht_html = client_for(guide_app, UTRECHT).get("/waar-staat-u").get_data(as_text=True)
    assert 'value="GM0344"' in utrecht_html and "GM0503" not in utrecht_html
    assert 'value="bezig" checked' not in utrecht_html


def test_marking_is_refused_for_anonymous_visitors(guide_app, client_for):
    anon = client_for(guide_app)
    before = _progress(guide_app)
    resp = _mark(anon, "2.1", "gereed", token=csrf_token(anon, "/inloggen"))
    assert resp.status_code == 302 and "/inloggen" in resp.headers["Location"]
    assert anon.post("/waar-staat-u/voortgang", data={"municipality": "GM0503", "step": "2.1",
                                                      "state": "gereed"}).status_code == 400  # no CSRF token
    assert _progress(guide_app) == before


def test_marking_is_refused_for_another_municipality(guide_app, client_for):
    before = _progress(guide_app)
    utrecht = client_for(guide_app, UTRECHT)
    resp = _mark(utrecht, "2.1", "gereed", municipality="GM0503")
    assert resp.status_code == 403
    admin = client_for(guide_app, ADMIN)  # an admin belongs to no municipality
    assert _mark(admin, "2.1", "gereed", municipality="GM0503").status_code == 403
    assert _mark(admin, "2.1", "gereed", municipality="").status_code == 403
    assert _progress(guide_app) == before


def test_bad_input_names_the_field_and_writes_nothing(guide_app, client_for):
    before = _progress(guide_app)
    member = client_for(guide_app, DELFT_MEMBER)
    resp = _mark(member, "2.1", "half-af")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "Stand: Kies bij" in html
    resp = _mark(member, "9.9", "gereed")
    assert resp.status_code == 400 and "Stap: Onbekende stap" in resp.get_data(as_text=True)
    assert _progress(guide_app) == before


def test_next_step_order():
    states = {k: "gereed" for k in taxonomy.BUILTIN["step"]}
    assert guide_service.next_step(states) is None
    states["2.2"] = "bezig"
    states["3.3"] = "niet-begonnen"
    assert guide_service.next_step(states) == "2.2"
