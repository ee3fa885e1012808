"""Erasing a person also redacts their name typed as free text anywhere
(issue #5, GDPR article 17): items, history, pending changes, kept forms,
questions, answers, meeting notes, notifications, outbox, audit log."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import JSON, String, Text, select

from portal import search
from portal.extensions import db
from portal.models import Item, Revision, User
from portal.network import meetings, questions
from portal.services import kept_forms, people
from portal.services import people_redaction as redaction
from portal.services.items import SYSTEM, save_item
from portal.services.library import create_user

import pytest

from .conftest import PASSWORD, make_app
from .test_people import OTHER_MEMBER, A, build_world, post, slug_of

NAME_FOLDED = "zwanette brinkhorst"
LOOSE = [  # how people type the name: case, accents, hyphen, line break
    "Zwanette Brinkhorst", "zwanétte BRINKHORST", "Zwanette-Brinkhorst", "Zwanette\nBrinkhorst",
    "Zwane\u0301tte Brinkhorst",  # decomposed accent (NFD)
]
KEEP = ["Brinkhorststraat", "Zwanettes", "Jan Brinkman"]  # other words: never touched


def _norm(value) -> str:
    """Folded text with every run of non-word characters as one space."""
    return " ".join(re.findall(r"[^\W_]+", redaction.fold(str(value))))


def _all_text(app) -> list[tuple[str, str, str]]:
    """``(table, column, normalised value)`` of every String/Text/JSON column
    of every table in the schema: nothing skipped."""
    out = []
    with app.app_context():
        with db.engine.connect() as conn:
            for table in db.metadata.sorted_tables:
                cols = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))]
                if not cols:
                    continue
                for row in conn.execute(select(*cols)):
                    for col, value in zip(cols, row):
                        if value is not None:
                            out.append((table.name, col.name, _norm(value)))
    return out


def _user(email):
    return db.session.scalar(select(User).where(User.email == email))


@pytest.fixture
def named_world(tmp_path):
    """The people test world plus texts naming Zwanette Brinkhorst (profile A)
    everywhere a member can type: returns ``(app, ids, places)``."""
    app = make_app(tmp_path / "named", content=False)
    ids = build_world(app)
    with app.app_context():
        create_user(SYSTEM, "vrager@delft.example.org", "member", password=PASSWORD, municipality="Delft")
        body = ("Samen met " + LOOSE[0] + " in Tanthof; ook " + LOOSE[1] + " en " + LOOSE[4] + ". "
                "Bel 06 11 22 33 44 of +31 6 11223344, mail Zwanette.Brinkhorst@voorbeeld.test. "
                "Jan Brinkman helpt ook.")
        practice = save_item(SYSTEM, "practice", {"title": "Avonden met Zwanette Brinkhorst",
                                                  "municipality": "Delft", "tags": ["zwanette-brinkhorst"]},
                             body)
        save_item(SYSTEM, "practice", {"title": "Avonden met " + LOOSE[1], "municipality": "Delft"}, body,
                  item=practice, note="door " + LOOSE[2])
        lesson = save_item(SYSTEM, "lesson", {"title": "Les van " + LOOSE[3], "municipality": "Delft"},
                           "## Les\nVraag " + LOOSE[0] + " vroeg.")
        ids["practice"], ids["lesson"] = practice.id, lesson.id
    # a contributor's pending change of the published practice (a revision waiting for review)
    with app.app_context():
        save_item(_user("bijdrager@delft.example.org"), "practice",
             {"title": "Avonden met Zwanette Brinkhorst", "municipality": "Delft"},
             "Wijziging: " + LOOSE[1] + " doet mee.", item=db.session.get(Item, ids["practice"]))
        pending = db.session.scalar(select(Revision).where(Revision.state == "pending"))
        assert pending is not None and "zwanétte" in pending.body.casefold()
        member = _user("vrager@delft.example.org")
        q = questions.ask_question(member, {"title": "Kent iemand Zwanette Brinkhorst?",
                                            "body": "Ik zoek " + LOOSE[2] + "."})
        questions.answer_question(_user("lid@delft.example.org"), q.id, "Ja, " + LOOSE[0] + " is top.")
        from datetime import datetime

        start = datetime.now() + timedelta(days=10)
        curator = _user("curator@delft.example.org")
        region = curator.region_id
        meeting = meetings.save_meeting(curator, {
            "title": "Avond met Zwanette Brinkhorst", "kind": "netwerkbijeenkomst",
            "description": "Spreker: " + LOOSE[0], "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"), "place": "Delft",
            "capacity": "20", "region": str(region) if region else ""})
        meetings.save_report(curator, meeting, "Verslag: " + LOOSE[1] + " vertelde.", [])
        kept_forms.keep_form(_user("bijdrager@delft.example.org").id, "practice", None,
                             [("title", "Concept over " + LOOSE[0]), ("body", "tekst")])
    return app, ids


def test_name_rule_guards_against_over_redaction():
    assert redaction.judge_name("Zwanette Brinkhorst").used
    assert redaction.judge_name("Jan de Vries").used  # two content words: a phrase, specific
    assert not redaction.judge_name("Ali").used  # fewer than 4 letters
    assert not redaction.judge_name("De").used
    assert not redaction.judge_name("Vrede").used  # a common Dutch word as a one-word pseudonym
    n = redaction.Needles(names=[("Zwanette Brinkhorst", redaction.name_pattern("Zwanette Brinkhorst"))])
    for loose in LOOSE:
        out, hits = redaction.redact_text(f"x {loose}, y", n)
        assert (out, hits) == ("x [naam verwijderd], y", 1), loose
    for keep in KEEP + ["ZwanetteBrinkhorst", "Zwanette Brinkhorstweg"]:
        assert redaction.redact_text(keep, n) == (keep, 0), keep


def test_preview_lists_places_then_erasure_redacts_everywhere(named_world, client_for):
    app, ids = named_world
    pid = ids["A"]
    # e-mails in the outbox and notifications name the person (a practice title)
    other = client_for(app, OTHER_MEMBER)
    other.get("/zoeken", query_string={"q": "zwanétte brinkhorst"})
    assert any(NAME_FOLDED in v for _t, _c, v in _all_text(app))

    for email in ("lid@delft.example.org", "curator@delft.example.org"):
        assert client_for(app, email).get(f"/beheer/personen/{pid}/wissen").status_code == 403
    admin = client_for(app, "beheer@example.org")
    page = admin.get(f"/beheer/personen/{pid}/wissen")
    assert page.status_code == 200 and "no-store" in page.headers["Cache-Control"]
    html = page.get_data(as_text=True)
    # places, named by their (redacted) titles; not the texts themselves
    for label in ("Werkwijze “Avonden met [naam verwijderd]”", "Les “Les van [naam verwijderd]”",
                  "wijziging ter beoordeling", "Vraag “Kent iemand [naam verwijderd]?”", "Antwoord",
                  "Bijeenkomst “Avond met [naam verwijderd]”", "Bewaard formulier"):
        assert label.replace("“", "&#8220;") in html or label in html, label
    assert "Samen met" not in html and "06 11 22 33 44" not in html  # no body text
    with app.app_context():
        preview = people.erasure_preview(_user("beheer@example.org"), pid)
        tables = {h.table for h in preview.places}
        assert {"items", "revisions", "questions", "answers", "meetings", "kept_forms"} <= tables
        assert not any(h.table == "items" and h.key[0] == pid for h in preview.places)

    assert post(admin, f"/beheer/personen/{pid}/wissen", {"bevestig": "ja"},
                f"/beheer/personen/{pid}/wissen").status_code == 302

    # the schema walk: no text column of any table still holds the name or contact details
    leftovers = [(t, c) for t, c, v in _all_text(app)
                 if NAME_FOLDED in v or "06 11 22 33 44" in v or "6 11223344" in v
                 or "zwanette brinkhorst voorbeeld test" in v or slug_of(A) in v]
    assert not leftovers, leftovers
    with app.app_context():
        practice = db.session.get(Item, ids["practice"])
        assert practice.title == "Avonden met [naam verwijderd]"
        assert "Jan Brinkman helpt ook." in practice.body and "Tanthof" in practice.body  # no over-redaction
        assert "[contactgegevens verwijderd]" in practice.body
        assert all("[naam verwijderd]" in r.body for r in practice.revisions)
        search.catch_up()
        admin_user = _user("beheer@example.org")
        for q in ("Zwanette Brinkhorst", "zwanette", "brinkhorst"):
            res = search.search(admin_user, q)
            assert res.total == 0 and not res.hits, (q, [h.title for h in res.hits])
        # the redacted practice is still found by its other words, with the new text
        hits = search.search(admin_user, "Tanthof").hits
        assert any(h.id == ids["practice"] for h in hits)
