"""A search that finds nothing or almost nothing (issue #9) offers to ask the
network (members) or to log in for it (visitors), and suggests up to five
profiles matching the query that the viewer may see, through the expert
finder (``can_view`` re-checked, privacy audit written)."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from portal import search
from portal.extensions import db
from portal.models import AuditEvent, Item, User
from portal.search.suggestions import FEW_RESULTS, MAX_EXPERTS, few_results, suggest_experts
from portal.services import people
from portal.services.items import SYSTEM, save_item

from .conftest import make_app
from .test_people import OTHER_MEMBER, PROFILES, build_world

MEMBER = "lid@delft.example.org"  # Delft, region Haaglanden: may see the region-only profile B
B = PROFILES["B"]  # region-only (Haaglanden), expertise "voetbaltraining"
QUERY = "voetbaltraining"


def user(email):
    return db.session.scalar(select(User).where(User.email == email))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("search-suggestions"))
    ids = build_world(app)
    return app, ids


def page(client, q):
    return client.get("/zoeken", query_string={"q": q}).get_data(as_text=True)


def test_few_results_rule():
    assert few_results("x", 0) and few_results("x", FEW_RESULTS - 1)
    assert not few_results("x", FEW_RESULTS) and not few_results("  ", 0) and not few_results("", 1)
    assert few_results("x", FEW_RESULTS + 2, questions=3)  # the library itself has almost nothing
    assert not few_results("x", FEW_RESULTS + 2, questions=2)


def test_asking_is_offered_when_only_questions_match(world, client_for):
    from portal.network.questions import ask_question

    app, _ids = world
    with app.app_context():
        for n in range(4):
            ask_question(user(MEMBER), {"title": f"Wie kent de Zilverreigeraanpak, deel {n}?"})
    text = page(client_for(app, MEMBER), "zilverreigeraanpak")
    assert text.count("badge-question") == 4  # the questions already asked are listed
    assert 'id="weinig-kop"' in text and "/vragen/nieuw?titel=zilverreigeraanpak" in text


def test_profile_suggestions_only_where_the_viewer_may_see_them(world):
    app, ids = world
    with app.app_context():
        assert search.search(user(MEMBER), QUERY).total < FEW_RESULTS  # the premise: almost nothing
        assert suggest_experts(user(MEMBER), QUERY)[0].id == ids["B"]
        # region-only, other region (the starter library's footballer may be suggested)
        assert ids["B"] not in [p.id for p in suggest_experts(user(OTHER_MEMBER), QUERY)]
        assert suggest_experts(None, QUERY) == []
        # a members-only expertise shared by A (Delft), B (region-only) and E (Utrecht)
        other = [p.title for p in suggest_experts(user(OTHER_MEMBER), "buurtgesprekken")]
        assert B["title"] not in other and PROFILES["E"]["title"] == other[0]  # own region first
        assert PROFILES["A"]["title"] in other
        for i in range(8):  # never more than five
            save_item(SYSTEM, "profile", {"title": f"Sleutelpersoon Kaapstander {i}", "municipality": "Delft",
                                          "visibility": "members", "expertise": ["kaapstanderwerk"],
                                          "consent": "2026-11-01"}, "Tekst.")
        assert len(suggest_experts(user(MEMBER), "kaapstanderwerk")) == MAX_EXPERTS


def test_member_page_offers_the_question_and_the_people(world, client_for):
    app, ids = world
    client = client_for(app, MEMBER)
    before = _searches(app)
    text = page(client, QUERY)
    assert 'id="weinig-kop"' in text
    link = re.search(r'class="ask-network"><a href="([^"]+)"', text).group(1)
    parts = urlsplit(html.unescape(link))
    assert parts.path == "/vragen/nieuw" and parse_qs(parts.query) == {"titel": [QUERY]}
    suggestions = text.split('class="expert-suggestions"', 1)[1].split("</ul>", 1)[0]
    assert B["title"] in suggestions and "/sleutelfiguren/grietje-walvisvangst" in suggestions
    # the finder wrote the privacy audit of the profiles it suggested
    after = _searches(app)
    assert any(ids["B"] in e for e in after[len(before):])
    # the question form takes the query as its title
    form = client.get(html.unescape(link)).get_data(as_text=True)
    assert re.search(r'<input[^>]*name="title"[^>]*value="voetbaltraining"', form) or \
        re.search(r'<input[^>]*value="voetbaltraining"[^>]*name="title"', form)


def test_other_region_and_anonymous_get_no_region_only_profile(world, client_for):
    app, _ids = world
    other = page(client_for(app, OTHER_MEMBER), QUERY)
    assert 'id="weinig-kop"' in other and "/vragen/nieuw?titel=voetbaltraining" in other
    assert B["title"] not in other and "grietje-walvisvangst" not in other
    anon = page(client_for(app, None), QUERY)
    assert 'id="weinig-kop"' in anon
    assert B["title"] not in anon and "expert-suggestions" not in anon
    assert 'href="/vragen/nieuw' not in anon  # a login invitation instead
    link = html.unescape(re.search(r'class="ask-network"><a href="([^"]+)"', anon).group(1))
    parts = urlsplit(link)
    assert parts.path == "/inloggen" and parse_qs(parts.query)["next"] == ["/vragen/nieuw?titel=voetbaltraining"]
    for name in (p["title"] for p in PROFILES.values()):
        assert name not in page(client_for(app, None), "buurtgesprekken")


def test_no_offer_when_the_search_found_enough(world, client_for):
    app, _ids = world
    text = page(client_for(app, MEMBER), "jongeren")
    assert "resultaten" in text and 'id="weinig-kop"' not in text and "expert-suggestions" not in text


def _searches(app) -> list[list[int]]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == people.SEARCH)
                                  .order_by(AuditEvent.id)).all()
        return [list((r.detail or {}).get("profile_ids", [])) for r in rows]


def test_an_expired_profile_is_never_suggested(world):
    app, ids = world
    with app.app_context():
        d = db.session.get(Item, ids["D"])  # consent expired long ago
        assert suggest_experts(user(MEMBER), "toestemmingsgesprekken") == []
        assert d.title not in [p.title for p in suggest_experts(user(MEMBER), d.title)]
