"""New questions to the network in the digest (issue #9): a member who follows
a theme, phase, municipality or region finds in their digest the questions
asked there in the period by others, with a link; never their own, never
the asker's name (the question page shows it; e-mail leaves the portal, as
for key-figure profiles). Runs on SQLite, and on PostgreSQL with
PORTAL_TEST_BACKEND=postgresql."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import OutboxMessage, Question, Region, User
from portal.models.base import utcnow
from portal.network import questions as question_service
from portal.services import follows as follow_service
from portal.services.items import SYSTEM
from portal.services.library import create_user, set_region

from .conftest import PASSWORD, make_app

BASE = "https://portaal.example.nl"
MEMBER = "lid@delft.example.org"  # Delft, region Haaglanden
ASKER = "vrager@utrecht.example.org"
ASKER_NAME = "Henriëtte Vraagsteller"
OTHER = "lid@utrecht.example.org"


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path / "digestq", content=False, BASE_URL=BASE)
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        set_region(SYSTEM, "Midden-Nederland", ["Utrecht"])
        create_user(SYSTEM, ASKER, "member", name=ASKER_NAME, password=PASSWORD, municipality="Utrecht")
        create_user(SYSTEM, OTHER, "member", name="Lid Utrecht", password=PASSWORD, municipality="Utrecht")
    return app


def _user(address: str) -> User:
    return db.session.scalar(select(User).where(User.email == address))


def _ask(who: str, title: str, **data) -> int:
    return question_service.ask_question(_user(who), {"title": title, "body": "Toelichting.", **data}).id


def _run(app, now) -> str:
    result = app.test_cli_runner().invoke(args=["send-digests", "--now", now.isoformat()])
    assert result.exit_code == 0, result.output
    return result.output


def _digest_of(app, to: str) -> list[OutboxMessage]:
    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == to)
                                  .order_by(OutboxMessage.id)).all()
        db.session.expunge_all()
    return [m for m in rows if m.headers and "List-Unsubscribe" in m.headers]


def test_new_question_in_a_followed_theme_is_in_text_and_html_without_the_askers_name(app):
    with app.app_context():
        follow_service.follow(_user(MEMBER), "theme", "jongeren")
        wanted = _ask(ASKER, "Hoe vinden we jongerenwerkers die willen meedoen?", themes=["jongeren"])
        _ask(ASKER, "Iets over een ander thema", themes=["religie"])
        _ask(MEMBER, "Mijn eigen vraag over jongeren", themes=["jongeren"])
    assert "Samenvattingen in de outbox: 1" in _run(app, utcnow())
    [mail] = _digest_of(app, MEMBER)
    assert "Nieuwe vragen aan het netwerk in wat u volgt:" in mail.body
    assert "Hoe vinden we jongerenwerkers die willen meedoen?" in mail.body
    assert f"{BASE}/vragen/{wanted}" in mail.body
    assert "Via: Thema: Jongeren" in mail.body
    assert f'<a href="{BASE}/vragen/{wanted}">Hoe vinden we jongerenwerkers die willen meedoen?</a>' \
        in mail.html_body
    assert "Nieuwe vragen aan het netwerk in wat u volgt</h2>" in mail.html_body
    everything = mail.subject + mail.body + mail.html_body
    assert "Iets over een ander thema" not in everything
    assert "Mijn eigen vraag" not in everything  # never one's own question
    assert ASKER_NAME not in everything and "Vraagsteller" not in everything  # no names by e-mail


def test_municipality_phase_and_region_follows_match_the_questions_place(app):
    with app.app_context():
        haaglanden = db.session.scalar(select(Region).where(Region.name == "Haaglanden"))
        follow_service.follow(_user(MEMBER), "region", str(haaglanden.id))
        follow_service.follow(_user(OTHER), "municipality", "GM0344")  # Utrecht
        follow_service.follow(_user(OTHER), "phase", "opzetten")
        in_delft = _ask(ASKER, "Wie heeft ervaring met een netwerk in Delft?", municipality="Delft")
        in_utrecht = _ask(ASKER, "Wie organiseert iets in Utrecht?", municipality="Utrecht")
        phase_only = _ask(ASKER, "Hoe begin je een netwerk?", phase="opzetten")
    _run(app, utcnow())
    [delft] = _digest_of(app, MEMBER)
    assert f"/vragen/{in_delft}" in delft.body and "Via: Regio: Haaglanden" in delft.body
    assert f"/vragen/{in_utrecht}" not in delft.body and f"/vragen/{phase_only}" not in delft.body
    [utrecht] = _digest_of(app, OTHER)
    assert f"/vragen/{in_utrecht}" in utrecht.body and "Via: Gemeente: Utrecht" in utrecht.body
    assert f"/vragen/{phase_only}" in utrecht.body and "Via: Fase:" in utrecht.body
    assert f"/vragen/{in_delft}" not in utrecht.body


def test_a_question_alone_makes_a_digest_and_only_in_its_period(app):
    with app.app_context():
        member = _user(MEMBER)
        follow_service.follow(member, "theme", "jongeren")
        start = utcnow()
        assert follow_service.compose_digest(member, start - timedelta(days=7), start).empty
        qid = _ask(ASKER, "Een vraag over jongeren", themes=["jongeren"])
        asked = db.session.get(Question, qid).created_at
        digest = follow_service.compose_digest(_user(MEMBER), asked - timedelta(seconds=1), asked)
        assert not digest.empty and [q.id for q, _via in digest.questions] == [qid]
        assert not digest.items and not digest.answers and not digest.profiles
        # outside the window (asked before ``since``): not news
        assert follow_service.compose_digest(_user(MEMBER), asked, asked + timedelta(days=1)).empty
        # one's own question alone leaves the digest empty
        assert follow_service.compose_digest(_user(ASKER), asked - timedelta(seconds=1), asked).empty
    now = utcnow()
    assert "Samenvattingen in de outbox: 1" in _run(app, now)
    # a week later the question is old news: nothing is sent again
    assert "Samenvattingen in de outbox: 0" in _run(app, now + timedelta(days=8))
    assert len(_digest_of(app, MEMBER)) == 1


def test_a_member_who_may_no_longer_read_questions_gets_none(app):
    with app.app_context():
        member = _user(MEMBER)
        follow_service.follow(member, "theme", "jongeren")
        qid = _ask(ASKER, "Een vraag over jongeren", themes=["jongeren"])
        asked = db.session.get(Question, qid).created_at
        member.active = False  # deactivated: may not read questions (permissions.can_view_questions)
        db.session.commit()
        assert follow_service._new_questions(member, [*member_follows(member)], asked - timedelta(seconds=1),
                                             asked, {}) == []
        assert follow_service.compose_digest(member, asked - timedelta(seconds=1), asked).empty


def member_follows(user: User):
    from portal.models import Follow

    return db.session.scalars(select(Follow).where(Follow.user_id == user.id)).all()


def test_follow_names_in_the_digest_follow_the_members_language(app):
    with app.app_context():
        member = _user(MEMBER)
        follow_service.follow(member, "theme", "jongeren")
        member.language = "en"
        db.session.commit()
        _ask(ASKER, "Een vraag over jongeren", themes=["jongeren"])
    _run(app, utcnow())
    [mail] = _digest_of(app, MEMBER)
    assert "New questions to the network in what you follow:" in mail.body
    assert "Theme: Young people" in mail.body
    assert "Nieuwe vragen" not in mail.body + mail.html_body
