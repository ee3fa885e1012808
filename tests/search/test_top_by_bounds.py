"""The executor's exact top k for multi-word queries (``_top_by_bounds``)
and ``score_docs``: same ranking and scores as Whoosh's unpruned search."""

import random

import pytest
from whoosh import index

from portal.search import _top_by_bounds
from portal.search.matchers import score_docs
from portal.search.query import build_match_query, build_query, build_unit_match_queries
from portal.search.schema import build_schema

pytestmark = pytest.mark.no_db  # no database: runs once (tests/conftest.py)

WORDS = ["jongeren", "radicalisering", "ouders", "moskee", "wijkagent", "sleutelfiguren", "netwerk", "sociale", "media", "vertrouwen", "preventie", "polarisatie", "gemeente", "imam", "vrijwilligers", "werving", "training", "school", "buurthuis", "signalen", "jongerenwerker"]
QUERIES = ["wijkagent moskee", "sociale media jongeren", "ouders radicalisering preventie",
           "ik zoek een imam die ervaring heeft met polarisatie",
           "welke gemeente heeft een netwerk van sleutelfiguren", "jongerenwerk vertrouwen"]


@pytest.fixture(scope="module")
def searcher(tmp_path_factory):
    rnd = random.Random(3)
    ix = index.create_in(str(tmp_path_factory.mktemp("ix")), build_schema())
    for part in range(2):  # two segments
        with ix.writer() as w:
            for i in range(150):
                def text(n):
                    return " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, n)))
                key = f"{part}-{i}"
                w.add_document(id=key, type="practice", slug=key, title=text(4), summary=text(8),
                               tags=text(2), body=text(60), labels="public")
    with ix.searcher() as s:
        assert len(s.leaf_searchers()) == 2
        yield s


@pytest.mark.parametrize("text", QUERIES)
def test_score_docs_gives_the_matcher_scores(searcher, text):
    q = build_query(text).query
    for sub, _offset in searcher.leaf_searchers():
        m = q.matcher(sub, searcher.context())
        expected = {}
        while m.is_active():
            expected[m.id()] = m.score()
            m.next()
        docs = sorted(expected)[::2] + [sub.doc_count_all() + 5]
        got = score_docs(q.matcher(sub, searcher.context()), sorted(docs))
        assert got == pytest.approx({d: expected[d] for d in docs if d in expected}, rel=1e-12)


@pytest.mark.parametrize("limit", [1, 10, 25])
@pytest.mark.parametrize("text", QUERIES)
def test_top_by_bounds_is_the_unpruned_top_k(searcher, text, limit):
    q = build_query(text).query
    units = build_unit_match_queries(text)
    allowed = {d for d in searcher.docs_for_query(build_match_query(text)) if d % 3}
    unit_sets = [allowed & set(searcher.docs_for_query(mq)) for mq, _core in units]
    assert set().union(*unit_sets) == allowed
    full = searcher.search(q, filter=allowed, limit=None, optimize=False)
    expected = [(round(h.score, 9), h.docnum) for h in full][:limit]
    got = _top_by_bounds(searcher, q, allowed, unit_sets, limit)
    assert [(round(s, 9), d) for s, d in got.top_n] == expected


def test_unit_match_queries_only_for_several_units():
    assert build_unit_match_queries("radicalisering") is None
    assert build_unit_match_queries("de het") is None
    units = build_unit_match_queries("ik zoek een imam")
    assert [core for _q, core in units] == [False, True]  # "ik", "een": stop words


def _stepped_scores(q, sub, searcher):
    """Every match of ``q`` in leaf ``sub`` with its score, by stepping Whoosh's matcher."""
    m = q.matcher(sub, searcher.context())
    expected = {}
    while m.is_active():
        expected[m.id()] = m.score()
        m.next()
    return expected


@pytest.mark.parametrize("text", QUERIES + ["sociale media jongeren imam"])
def test_score_docs_above_keeps_every_document_that_can_reach_the_floor(searcher, text):
    # The executor's rest phase (issue #3 speed): clause by clause, documents
    # that cannot reach the k-th score are dropped; the others keep the exact
    # float score_docs gives, and no document at or above the floor is lost.
    from portal.search.matchers import score_docs_above

    q = build_query(text).query
    units = build_unit_match_queries(text)
    for sub, _offset in searcher.leaf_searchers():
        expected = _stepped_scores(q, sub, searcher)
        docs = sorted(expected)
        present = {d: 0 for d in docs}
        for i, (mq, _core) in enumerate(units):
            for d in sub.docs_for_query(mq):
                if d in present:
                    present[d] |= 1 << i
        maxq = q.matcher(sub, searcher.context()).clause_bounds()
        exact = score_docs(q.matcher(sub, searcher.context()), docs, sub.reader())
        ranked = sorted(exact.values(), reverse=True)
        for floor in (ranked[0], ranked[len(ranked) // 10], ranked[len(ranked) // 2], 0.0):
            got = score_docs_above(q.matcher(sub, searcher.context()), docs, present, maxq, floor, sub.reader())
            assert {d for d, s in exact.items() if s >= floor} <= set(got)
            assert all(got[d] == exact[d] for d in got)  # the same floats, not merely close
            if floor == ranked[0]:
                assert len(got) < len(docs)  # something was actually pruned


def test_phrase_scored_from_the_kept_phrase_documents(searcher):
    # Once the exact match set has kept a phrase's documents on the segment
    # reader, score_docs scores the phrase from them (no positions walked):
    # the same documents and floats as stepping Whoosh's phrase matcher.
    from whoosh import query as wq

    from portal.search.matchers import MatchSet, _kept_phrase_docs, docset

    phrase = wq.Phrase("body", ["social", "media"], boost=1.5)
    docset(searcher, MatchSet([phrase]))  # keeps the phrase's documents per segment
    kept_somewhere = False
    for sub, _offset in searcher.leaf_searchers():
        expected = _stepped_scores(phrase, sub, searcher)
        assert expected  # the fixture's bodies hold the phrase
        m = phrase.matcher(sub, searcher.context())
        inner = m.child if hasattr(m, "child") and not hasattr(m, "ms") else m
        kept_somewhere |= _kept_phrase_docs(inner, sub.reader()) is not None
        docs = list(range(sub.doc_count_all()))
        assert score_docs(phrase.matcher(sub, searcher.context()), docs, sub.reader()) == expected
    assert kept_somewhere


@pytest.mark.parametrize("text", QUERIES + ["sociale media jongeren imam"])
def test_rewound_matcher_scores_like_a_fresh_one(searcher, text):
    # The executor walks a matcher for its first batch, rewinds it and walks
    # it again (instead of building it from the query twice).
    from portal.search.matchers import rewind

    q = build_query(text).query
    for sub, _offset in searcher.leaf_searchers():
        docs = list(range(sub.doc_count_all()))
        fresh = score_docs(q.matcher(sub, searcher.context()), docs, sub.reader())
        m = q.matcher(sub, searcher.context())
        score_docs(m, docs[::3], sub.reader())  # walked to the end once
        assert rewind(m)
        assert score_docs(m, docs, sub.reader()) == fresh
        assert rewind(m)
        assert score_docs(m, docs[1::2], sub.reader()) == {d: s for d, s in fresh.items() if d % 2}


SINGLE = ["jongeren", "sleutelfiguren", "jongerenwerker", "polarisatie", "sociale media", '"sociale media"']


@pytest.mark.parametrize("limit", [1, 10, 25])
@pytest.mark.parametrize("text", SINGLE[:4])
def test_single_word_top_by_field_bounds_is_the_unpruned_top_k(searcher, text, limit):
    # One word: its fields play the part of the words (issue #3 speed).
    from portal.search.query import build_field_match_queries

    q = build_query(text).query
    fields = build_field_match_queries(text)
    assert fields and len(fields) == 4  # title, summary, tags, body
    allowed = {d for d in searcher.docs_for_query(build_match_query(text)) if d % 3}
    field_sets = [allowed & set(searcher.docs_for_query(mq)) for mq in fields]
    assert set().union(*field_sets) == allowed
    full = searcher.search(q, filter=allowed, limit=None, optimize=False)
    expected = [(round(h.score, 9), h.docnum) for h in full][:limit]
    got = _top_by_bounds(searcher, q, allowed, field_sets, limit)
    assert [(round(s, 9), d) for s, d in got.top_n] == expected


@pytest.mark.parametrize("text", SINGLE)
def test_field_bounds_keep_every_document_that_can_reach_the_floor(searcher, text):
    from portal.search.matchers import bound_for, clause_bounds, score_docs_above
    from portal.search.query import build_field_match_queries

    q = build_query(text).query
    fields = build_field_match_queries(text)
    if fields is None:  # a quoted phrase is one unit but no DisMax of one word
        assert build_unit_match_queries(text) is None
        return
    for sub, _offset in searcher.leaf_searchers():
        expected = _stepped_scores(q, sub, searcher)
        docs = sorted(expected)
        present = {d: 0 for d in docs}
        for i, mq in enumerate(fields):
            for d in sub.docs_for_query(mq):
                if d in present:
                    present[d] |= 1 << i
        maxq = clause_bounds(q.matcher(sub, searcher.context()))
        m = q.matcher(sub, searcher.context())
        for d, s in expected.items():  # the bound of a document's fields is a bound of its score
            assert s <= bound_for(m, [bool(present[d] >> i & 1) for i in range(len(fields))], maxq) * (1 + 1e-12)
        exact = score_docs(q.matcher(sub, searcher.context()), docs, sub.reader())
        ranked = sorted(exact.values(), reverse=True)
        for floor in (ranked[0], ranked[len(ranked) // 10], ranked[len(ranked) // 2], 0.0):
            got = score_docs_above(q.matcher(sub, searcher.context()), docs, present, maxq, floor, sub.reader())
            assert {d for d, s in exact.items() if s >= floor} <= set(got)
            assert all(got[d] == exact[d] for d in got)


def test_facet_counts_on_bit_masks_are_the_set_counts(tmp_path):
    # Facets are counted as popcounts of bit masks (issue #3 speed): the
    # same counts, order and zero-dropping as intersecting the sets.
    from portal.search import CURRENT, SearchIndex, _count_facets
    from portal.search.schema import FACET_FIELDS

    rnd = random.Random(9)
    gen = tmp_path / "gen-1"
    gen.mkdir()
    ix = index.create_in(str(gen), build_schema())
    for part in range(2):  # two segments: document numbers past the first one's
        with ix.writer() as w:
            for i in range(300):
                w.add_document(id=f"{part}-{i}", type=rnd.choice(["practice", "lesson", "profile"]),
                               slug=f"{part}-{i}", title="t", theme=",".join(rnd.sample("abcdefg", 2)),
                               municipality=rnd.choice(["GM0363", "GM0599", ""]),
                               labels=rnd.choice(["public", "members"]))
    (tmp_path / CURRENT).write_text("gen-1")
    svc = SearchIndex(str(tmp_path))
    searcher = svc.searcher()
    sets, bits = svc.facet_sets(searcher), svc.facet_bits(searcher)
    assert svc.facet_bits(searcher) is bits  # kept with the searcher
    total = searcher.doc_count_all()
    for docs in [set(), {0}, {total - 1}, set(range(total)), set(rnd.sample(range(total), 250))]:
        expected = {}
        for name in FACET_FIELDS:
            counts = ((v, len(docs & members)) for v, members in sets[name].items() if v)
            expected[name] = dict(sorted(((k, n) for k, n in counts if n), key=lambda kv: (-kv[1], kv[0])))
        got = _count_facets(bits, docs)
        assert got == expected
        assert [list(v) for v in got.values()] == [list(v) for v in expected.values()]  # same order
    assert sum(_count_facets(bits, set(range(total)))["type"].values()) == 600
