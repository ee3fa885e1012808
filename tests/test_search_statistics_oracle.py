"""Ranking statistics leak nothing hidden (issue #5: "not even as a count").

BM25's idf and average field lengths are taken over the documents the caller
may see (``portal.search.visible_weighting``), not over the whole index: the
order (and the scores) of what a caller sees must not change when hidden
documents (a region-only profile, other users' drafts) contain a query word.
For a caller who may see everything, the scores stay Whoosh's own BM25F.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from whoosh import query as wq

from portal import search
from portal.extensions import db
from portal.models import User
from portal.search.query import build_query
from portal.services.items import SYSTEM, save_item
from portal.services.library import set_region

from .conftest import make_app

ATTACKER = "bijdrager@utrecht.example.org"  # contributor, Utrecht (region Utrecht)
OTHER = "bijdrager@delft.example.org"  # contributor, Delft (region Haaglanden)
QUERY = "jansen pietersen"
TODAY = date.today()
HIDDEN_PROFILE = {  # region-only in Haaglanden: the attacker may not see it
    "title": "Jan Jansen", "municipality": "Delft", "visibility": "region",
    "role": "jongerenwerker", "key_figure_type": "jongerenwerker", "formal": True,
    "expertise": ["buurtgesprekken"], "languages": ["nl"],
    "contact_email": "jan.jansen@voorbeeld.test", "contact_phone": "06-10101010",
    "consent": (TODAY - timedelta(days=10)).isoformat(),
}


def user(email):
    return db.session.scalar(select(User).where(User.email == email))


def ranking(who, text=QUERY):
    result = search.search(who, text, per_page=20)
    return [(h.slug, h.score) for h in result.hits]


def plain_bm25_order(who, text=QUERY):
    """The same query ranked by Whoosh's own BM25F (whole-index statistics)
    within what ``who`` may see: the ranking before issue #5's fix."""
    svc = search._service()
    searcher = svc.searcher()
    sets = svc.facet_sets(searcher)
    allowed = search._allowed(sets, search.caller_labels(who), {})
    results = searcher.search(build_query(text).query, filter=allowed, limit=20)
    return [hit["slug"] for hit in results]


@pytest.fixture
def attack(tmp_path):
    app = make_app(tmp_path / "oracle", content=False)
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        set_region(SYSTEM, "Regio Utrecht", ["Utrecht"])
        # something hidden exists from the start, as in any real library
        save_item(user(OTHER), "lesson", {"title": "Kladje over buurtfeesten"}, "Nog niet af.")
        attacker = user(ATTACKER)
        # two drafts only the attacker sees: one word each, same lengths
        a = save_item(attacker, "lesson", {"title": "Kladnotitie overleg"}, "Gesprek met jansen in de wijk.")
        b = save_item(attacker, "lesson", {"title": "Kladnotitie overleg"}, "Gesprek met pietersen in de wijk.")
        assert a.status == b.status == "draft"
    return app, a.slug, b.slug


def add_hidden_jansens(app):
    """A region-only profile of "Jan Jansen" and drafts of another user
    mentioning jansen: none of them visible to the attacker."""
    with app.app_context():
        profile = save_item(SYSTEM, "profile", HIDDEN_PROFILE, "Jan Jansen kent iedereen in de wijk.")
        assert profile.status == "published" and profile.visibility == "region"
        for n in range(6):
            save_item(user(OTHER), "lesson", {"title": f"Jansen en de buurt {n}"},
                      f"Verslag {n}: jansen belde, jansen kwam langs, de familie jansen hielp.")


def test_hidden_documents_do_not_change_the_attackers_ranking(attack):
    app, a, b = attack
    with app.app_context():
        attacker = user(ATTACKER)
        before = ranking(attacker)
        plain_before = plain_bm25_order(attacker)
    assert {a, b} <= {slug for slug, _ in before}
    add_hidden_jansens(app)
    with app.app_context():
        attacker = user(ATTACKER)
        after = ranking(attacker)
        plain_after = plain_bm25_order(attacker)
        # the hidden documents exist and hold the word: another user finds them
        assert search.search(user(OTHER), "jansen").total >= 6
        assert search.search(attacker, "jansen").total == 1
    # the attack works against whole-index BM25F (the old ranking): the order flips ...
    assert plain_before.index(a) < plain_before.index(b)
    assert plain_after.index(b) < plain_after.index(a)
    # ... but not against the portal's ranking: same order, same scores
    assert after == before
    assert [s for s, _ in after].index(a) < [s for s, _ in after].index(b)


def test_single_word_scores_ignore_hidden_documents(attack):
    """idf and average field length: a one-word query's score of the
    attacker's own draft stays the same when hidden documents add that word
    and change the index's lengths."""
    app, a, _b = attack
    with app.app_context():
        before = dict(ranking(user(ATTACKER), "jansen"))
    add_hidden_jansens(app)
    with app.app_context():
        after = dict(ranking(user(ATTACKER), "jansen"))
    assert list(after) == [a] and after == before


def test_everything_visible_scores_are_whooshs_own_bm25f(tmp_path):
    """A caller who may see every document gets exactly the scores of plain
    BM25F on the same index (compared with Whoosh's own scoring)."""
    app = make_app(tmp_path / "all-visible", content=False)
    texts = [("Sleutelfiguren in de wijk", "Jansen en Pietersen werken met sleutelfiguren in de wijk."),
             ("Wijkagent en moskee", "De wijkagent bezoekt de moskee met Jansen. " * 3),
             ("Pietersen over vertrouwen", "Vertrouwen groeit langzaam, zegt Pietersen."),
             ("Buurtgesprekken", "Gesprekken in de buurt over polarisatie en vertrouwen.")]
    with app.app_context():
        for n, (title, body) in enumerate(texts):
            save_item(SYSTEM, "practice", {"title": title, "visibility": "public" if n % 2 else "members"}, body)
        admin = user("beheer@example.org")
        svc = search._service()
        searcher = svc.searcher()
        sets = svc.facet_sets(searcher)
        visible = search._allowed(sets, search.caller_labels(admin), {})
        # every live document but the index's state document is the admin's
        assert len(visible) + 1 == searcher.doc_count()
        for text in ("jansen pietersen", "wijkagent", "vertrouwen in de wijk", '"in de wijk"'):
            q = build_query(text).query
            plain = searcher.search(q, filter=visible, limit=None)
            expected = {hit["slug"]: round(hit.score, 4) for hit in plain}
            got = {h.slug: h.score for h in search.search(admin, text, per_page=20).hits}
            assert got == expected, text
            assert got and all(s > 0 for s in got.values())
        # and a member who may not see everything is scored over what they see
        anonymous = search.search(None, "vertrouwen").hits
        public = search._allowed(sets, ["public"], {})
        plain = searcher.search(build_query("vertrouwen").query, filter=public, limit=None)
        assert [h.slug for h in anonymous] == [hit["slug"] for hit in plain]  # one public match


def test_related_items_ignore_hidden_documents(attack):
    """The "related items" list scores with the same visible statistics:
    hidden documents change none of its scores."""
    app, a, _b = attack
    with app.app_context():
        from portal.models import Item

        item = db.session.scalar(select(Item).where(Item.slug == a))
        before = [(h.slug, h.score) for h in search.related(user(ATTACKER), item)]
    add_hidden_jansens(app)
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.slug == a))
        after = [(h.slug, h.score) for h in search.related(user(ATTACKER), item)]
    assert before and after == before


def test_visible_document_frequency_counts_only_visible_postings(attack):
    """The statistics themselves: N and df over the attacker's documents."""
    from portal.search.matchers import visible_stats

    app, _a, _b = attack
    add_hidden_jansens(app)
    with app.app_context():
        svc = search._service()
        searcher = svc.searcher()
        sets = svc.facet_sets(searcher)
        labels = search.caller_labels(user(ATTACKER))
        visible = search._allowed(sets, labels, {})
        stats = visible_stats(searcher, ("test", frozenset(labels)), lambda: visible)
        assert stats.n == len(visible) and not stats.full
        stem = build_query("jansen").query
        terms = {t for t in stem.iter_all_terms() if t[0] == "body"}
        assert terms
        for field, text in terms:
            whole = searcher.doc_frequency(field, text)
            mine = stats.doc_frequency(field, text)
            assert mine == len(visible & set(searcher.docs_for_query(wq.Term(field, text))))
            assert mine == 1 and whole >= 8


def test_visible_average_length_agrees_with_whooshs_exact_average(tmp_path):
    """Over the same documents, the visible average (from Whoosh's one-byte
    per-document lengths, which round up by at most 3.5 %) stays within that
    bound of Whoosh's exact totals: callers who may see everything and
    callers who may not are scored on the same scale."""
    from portal.search.matchers import VisibleStats

    app = make_app(tmp_path / "lengths", content=False)
    with app.app_context():
        rnd = random.Random(5)
        for n in range(40):
            words = " ".join(rnd.choice(["overleg", "wijk", "jongeren", "moskee", "school", "buurt"])
                             + str(rnd.randint(0, 99)) for _ in range(rnd.randint(30, 900)))
            save_item(SYSTEM, "practice", {"title": f"Praktijk nummer {n}"}, words)
        searcher = search._service().searcher()
        live = set(searcher.document_numbers())
        stats = VisibleStats(searcher, frozenset(live))
        assert stats.full and stats.avg_field_length("body") == searcher.avg_field_length("body")
        exact = searcher.field_length("body") / len(live)  # only live documents have a body
        stats.full = False  # the visible-set computation, over everything
        ours = stats.avg_field_length("body")
        assert exact <= ours <= exact * 1.035
