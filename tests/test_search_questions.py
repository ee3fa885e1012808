"""Questions to the network in the search index (issue #9): a question's
title, text, themes, phase, municipality and its answers' texts are found by
members through the real path (service -> change log -> Whoosh index ->
permission labels), kept up to date on every change, and never reach an
anonymous visitor: not as a hit, a facet count or a "did you mean" word."""

from __future__ import annotations

import re
from types import SimpleNamespace as NS

import pytest
from sqlalchemy import delete, select

from portal import permissions, search
from portal.extensions import db
from portal.models import Question, SearchChange, User
from portal.network import questions as svc
from portal.search.documents import question_labels
from portal.services.library import set_region
from portal.services.items import SYSTEM

from .conftest import make_app
from .stubs import DELFT, UTRECHT, U

MEMBER = "lid@delft.example.org"
OTHER = "bijdrager@utrecht.example.org"  # a member of another municipality and region
CURATOR = "curator@delft.example.org"
#: words that occur nowhere in the starter library
TITLE = "Hoe bereik ik Pelikaanvissers in de wijk?"
BODY = "Wij zoeken contact met de kwartiermakersgroep rond de Zeehondenkade."
ANSWER = "Probeer de stichting Blauwvintonijn, zij kennen de buurt goed."


def user(email):
    return db.session.scalar(select(User).where(User.email == email))


@pytest.fixture(scope="module")
def qapp(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("search-questions"))
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        set_region(SYSTEM, "Regio Utrecht", ["Utrecht"])
        q = svc.ask_question(user(MEMBER), {"title": TITLE, "body": BODY, "themes": ["jongeren"],
                                            "phase": "opzetten", "municipality": "Delft"})
        app.config["QID"] = q.id
    return app


def hits(who, text, **kw):
    return search.search(who, text, questions=True, per_page=50, **kw)


def test_a_member_finds_title_text_and_theme(qapp):
    with qapp.app_context():
        qid = qapp.config["QID"]
        for who in (user(MEMBER), user(OTHER)):  # every member: the rule of the question pages
            for text in ("pelikaanvissers", "kwartiermakersgroep zeehondenkade"):
                found = [h for h in hits(who, text).hits if h.type == "question"]
                assert [h.id for h in found] == [qid], (who.email, text)
                assert found[0].title == TITLE
        result = hits(user(MEMBER), "kwartiermakersgroep")
        assert "<mark>" in result.hits[0].snippet
        assert result.facets["type"].get("question") == 1
        delft = db.session.scalar(select(Question).where(Question.id == qid)).municipality
        facet = hits(user(MEMBER), "pelikaanvissers").facets
        assert facet["municipality"] == {delft.cbs_code: 1}
        assert facet["phase"] == {"opzetten": 1} and facet["theme"] == {"jongeren": 1}
        assert facet["region"] == {str(delft.region_id): 1}
        only = hits(user(MEMBER), "", filters={"type": ["question"]})
        assert [h.id for h in only.hits] == [qid]


def test_never_found_without_asking_for_questions(qapp):
    """Callers that load hits as items (API, feeds, guide) never meet one."""
    with qapp.app_context():
        assert search.search(user(MEMBER), "pelikaanvissers").total == 0
        assert "question" not in search.search(user(MEMBER), "", per_page=1).facets["type"]


def test_anonymous_sees_nothing_not_even_a_count_or_suggestion(qapp):
    with qapp.app_context():
        for text in ("pelikaanvissers", "kwartiermakersgroep", "Blauwvintonijn", ""):
            result = hits(None, text)
            assert all(h.type != "question" for h in result.hits), text
            assert "question" not in result.facets.get("type", {}), text
        assert hits(None, "", filters={"type": ["question"]}).total == 0
        assert hits(None, "pelikaanvissers").total == 0
        # one letter off a word that only the question holds: no suggestion for anyone
        for who in (None, user(MEMBER)):
            assert (hits(who, "pelikaanvisser").suggestion or "").lower().find("pelikaanvissers") < 0
            assert hits(who, "kwartiermakersgroup").suggestion is None


def test_the_label_follows_the_rule_of_the_question_pages():
    """The label a question carries is given to exactly those callers
    ``permissions.can_view_questions`` admits."""
    label = question_labels(NS())[0]
    inactive = U(id=9, role="member", municipality=DELFT)
    inactive.is_active = False
    for who in (None, U(id=1, role="member", municipality=DELFT), U(id=2, role="admin", municipality=None),
                U(id=3, role="curator", municipality=UTRECHT), inactive):
        assert (label in search.caller_labels(who, questions=True)) == permissions.can_view_questions(who)
        assert label not in search.caller_labels(who)  # only when asked for
        assert label not in permissions.user_labels(who)


def test_kept_up_to_date_through_the_change_log(qapp):
    with qapp.app_context():
        qid = qapp.config["QID"]
        answer = svc.answer_question(user(OTHER), qid, ANSWER)
        assert [h.id for h in hits(user(MEMBER), "blauwvintonijn").hits] == [qid]
        assert hits(None, "blauwvintonijn").total == 0
        svc.mark_best(user(MEMBER), qid, answer.id)
        svc.close_question(user(MEMBER), qid)
        actions = db.session.scalars(select(SearchChange.action).order_by(SearchChange.id.desc()).limit(3)).all()
        assert actions == [search.QUESTION_UPSERT] * 3
        assert [h.id for h in hits(user(MEMBER), "blauwvintonijn").hits] == [qid]
        assert search.check() == {"missing": [], "orphaned": []}
        # a full rebuild keeps questions (and their answers)
        search.rebuild()
        assert [h.id for h in hits(user(MEMBER), "blauwvintonijn pelikaanvissers").hits] == [qid]


def test_a_deleted_question_leaves_the_index(tmp_path):
    app = make_app(tmp_path, content=False)
    with app.app_context():
        q = svc.ask_question(user(MEMBER), {"title": "Wie kent de Reigersvijverploeg?"})
        qid = q.id
        assert [h.id for h in hits(user(MEMBER), "reigersvijverploeg").hits] == [qid]
        db.session.execute(delete(Question).where(Question.id == qid))
        search.log_question_change(qid, deleted=True)
        db.session.commit()
        search.nudge()
        assert hits(user(MEMBER), "reigersvijverploeg").total == 0
        assert search.check() == {"missing": [], "orphaned": []}


def test_search_page_shows_questions_to_members_only(qapp, client_for):
    with qapp.app_context():
        qid = qapp.config["QID"]
    page = client_for(qapp, MEMBER).get("/zoeken?q=pelikaanvissers").get_data(as_text=True)
    assert f'href="/vragen/{qid}"' in page
    assert re.search(r'class="badge badge-question">\s*Vraag', page)
    assert re.search(r"type=question[^>]*>\s*Vraag\s*<span class=\"count\">\(1\)", page)
    for viewer in (None,):
        anon = client_for(qapp, viewer).get("/zoeken?q=pelikaanvissers").get_data(as_text=True)
        assert "Pelikaanvissers in de wijk" not in anon and f"/vragen/{qid}" not in anon
        assert "badge-question" not in anon
