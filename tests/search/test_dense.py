"""Whole-segment scoring (``portal.search.dense``, issue #3 speed): every
match of a query with exactly the float Whoosh's own matcher gives it, the
top k and the date order Whoosh's unpruned search gives, on a real index
with several segments, one of them with deleted documents."""

import random
from datetime import datetime, timedelta

import numpy as np
import pytest
from whoosh import index, query as wq, sorting

from portal.search import SearchIndex, _evaluate, dense, visible_weighting
from portal.search.matchers import docset
from portal.search.query import build_match_query, build_query
from portal.search.schema import build_schema

pytestmark = pytest.mark.no_db  # no database: runs once (tests/conftest.py)

WORDS = ["jongeren", "radicalisering", "ouders", "moskee", "wijkagent", "sleutelfiguren", "netwerk", "sociale",
         "media", "vertrouwen", "preventie", "polarisatie", "gemeente", "imam", "vrijwilligers", "werving",
         "training", "school", "buurthuis", "signalen", "jongerenwerker", "coördinator", "café", "straatcoach",
         "radicaliseringspreventie", "sleutelfigurennetwerk", "extremisme", "weerbaarheid"]
QUERIES = ["jongeren", "sleutelfiguren", "wijkagent moskee", "sociale media jongeren", '"sociale media"',
           "ouders radicalisering preventie", "ik zoek een imam die ervaring heeft met polarisatie",
           "welke gemeente heeft een netwerk van sleutelfiguren", "jongerenwerk vertrouwen", "coordinator cafe",
           "preventie", "sleutelpersoon netwerk", "jeugdwerker", '"netwerk sleutelfiguren" werving']
TYPOS = ["polarsatie", "jongerenwerkr", "radicaliserng wijkagnet"]


@pytest.fixture(scope="module")
def searcher(tmp_path_factory):
    rnd = random.Random(7)
    ix = index.create_in(str(tmp_path_factory.mktemp("ix")), build_schema())
    start = datetime(2020, 1, 1)
    for part in range(3):  # three segments
        with ix.writer() as w:
            for i in range(120):
                def text(n):
                    return " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, n)))
                key = f"{part}-{i}"
                extra = {"date": start + timedelta(days=rnd.randint(0, 40))} if i % 7 else {}  # some undated
                w.add_document(id=key, type="practice", slug=key, title=text(4), summary=text(8), tags=text(2),
                               body=text(60), spell=text(20), labels="public" if i % 4 else "members", **extra)
    with ix.writer() as w:  # deletions in the first segment
        for i in range(0, 120, 5):
            w.delete_by_term("id", f"0-{i}")
    with ix.searcher() as s:
        assert len(s.leaf_searchers()) >= 2
        assert any(sub.reader().has_deletions() for sub, _o in s.leaf_searchers())
        yield s


def _stepped(q, sub, context):
    m = q.matcher(sub, context)
    out = {}
    while m.is_active():
        out[m.id()] = m.score()
        m.next()
    return out


def _contexts(searcher):
    public = {d for d in searcher.docs_for_query(wq.Term("labels", "public"))}
    sets = {"labels": {"public": frozenset(public)}}
    return [searcher.context(), searcher.context(weighting=visible_weighting(searcher, sets, ["public"]))]


@pytest.mark.parametrize("text", QUERIES)
def test_every_match_gets_whooshs_own_float(searcher, text):
    for fuzzy in (False, True):
        q = build_query(text, fuzzy=fuzzy).query
        for context in _contexts(searcher):
            for sub, _offset in searcher.leaf_searchers():
                expected = _stepped(q, sub, context)
                got = dense.evaluate(q.matcher(sub, context), sub.reader(), sub.doc_count_all())
                assert set(np.flatnonzero(got.mask).tolist()) == set(expected)
                # the same floats, not merely close
                assert {d: float(got.score[d]) for d in expected} == expected
                assert not got.score[~got.mask].any()


@pytest.mark.parametrize("text", QUERIES + TYPOS)
def test_the_matches_are_the_unscored_twins_docset(searcher, text):
    for fuzzy in (False, True):
        q = build_query(text, fuzzy=fuzzy).query
        found, _scores = _evaluate(searcher, q, searcher.context())
        assert set(np.flatnonzero(found).tolist()) == docset(searcher, build_match_query(text, fuzzy=fuzzy))


@pytest.mark.parametrize("limit", [1, 10, 25])
@pytest.mark.parametrize("text", QUERIES + TYPOS)
def test_top_k_is_whooshs_unpruned_ranking(searcher, text, limit):
    q = build_query(text).query
    found, scores = _evaluate(searcher, q, searcher.context())
    allowed = np.zeros_like(found)
    allowed[::3] = True  # a filter that cuts through ties and segments
    matched = found & allowed
    full = searcher.search(q, filter=set(np.flatnonzero(allowed).tolist()), limit=None, optimize=False)
    expected = [(h.score, h.docnum) for h in full][:limit]
    assert dense.top(scores, np.flatnonzero(matched), limit) == expected


def test_ties_go_to_the_lower_document_number():
    scores = np.array([1.0, 2.0, 2.0, 0.5, 2.0, 1.0])
    assert dense.top(scores, np.arange(6), 2) == [(2.0, 1), (2.0, 2)]
    assert dense.top(scores, np.array([0, 4, 5]), 2) == [(2.0, 4), (1.0, 0)]
    assert dense.top(scores, np.array([], dtype=np.int64), 3) == []


@pytest.mark.parametrize("text", ["", "jongeren", "sociale media"])
def test_newest_first_is_whooshs_date_order(searcher, text):
    dates = SearchIndex("/nonexistent").dates(searcher)
    assert len(dates) == searcher.doc_count_all()
    q = build_query(text).query or wq.Every()
    # as the portal's label sets, never a deleted document
    allowed = {d for d in range(searcher.doc_count_all()) if d % 2 and not searcher.reader().is_deleted(d)}
    by_date = sorting.MultiFacet([sorting.FieldFacet("date", reverse=True), sorting.ScoreFacet()])
    expected = [h.docnum for h in searcher.search(q, filter=allowed, limit=None, sortedby=by_date)]
    found, scores = _evaluate(searcher, q, searcher.context()) if text else (None, None)
    docs = np.array(sorted(allowed if found is None else allowed & set(np.flatnonzero(found).tolist())))
    keys = [docs, -scores[docs]] if scores is not None else [docs]
    assert docs[np.lexsort((*keys, dates[docs]))].tolist() == expected


def test_postings_are_decoded_once_and_dropped_beyond_the_budget(searcher, monkeypatch):
    dense.clear()
    sub = searcher.leaf_searchers()[-1][0]
    q = build_query("jongeren").query
    m = q.matcher(sub, sub.context())
    dense.evaluate(m, sub.reader(), sub.doc_count_all())
    kept = len(dense._POSTINGS)
    assert kept >= 4  # title, summary, tags, body
    one, other = list(sub.reader().lexicon("body"))[:2]
    first = dense.postings(sub.reader().postings("body", one))
    assert len(first[0]) == len(first[1]) == sub.reader().doc_frequency("body", one)
    assert dense.postings(sub.reader().postings("body", one)) is first  # kept, not decoded again
    monkeypatch.setattr(dense, "POSTINGS_KEPT_MB", 0)
    dense.postings(sub.reader().postings("body", other))
    assert len(dense._POSTINGS) == 1  # the budget holds only the newest
    dense.clear()


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


def test_the_cache_budget_comes_from_the_environment():
    from portal.config import defaults, from_environment

    assert defaults("/tmp")["SEARCH_CACHE_MB"] == 256
    assert from_environment({"PORTAL_SEARCH_CACHE_MB": " 64 "})["SEARCH_CACHE_MB"] == 64
    for bad in ("-1", "lots", "1.5"):
        with pytest.raises(ValueError, match="PORTAL_SEARCH_CACHE_MB"):
            from_environment({"PORTAL_SEARCH_CACHE_MB": bad})


def test_related_items_rank_as_whooshs_more_like(searcher):
    # related() scores an Or of an item's weighted key terms the dense way:
    # the same top k as Whoosh's collector with the item masked out
    docnum = next(d for d in range(searcher.doc_count_all()) if not searcher.reader().is_deleted(d))
    stored = searcher.stored_fields(docnum)
    terms = searcher.key_terms_from_text("body", stored.get("body", "") or "jongeren netwerk", numterms=12,
                                         normalize=True)
    assert terms
    like = wq.Or([wq.Term("body", word, boost=weight) for word, weight in terms])
    like.matcher_type = wq.Or.DEFAULT_MATCHER
    allowed = {d for d in range(searcher.doc_count_all()) if d % 2 and not searcher.reader().is_deleted(d)}
    expected = [(h.score, h.docnum) for h in searcher.search(like, filter=allowed, mask={docnum}, limit=5)]
    found, scores = _evaluate(searcher, like, searcher.context())
    keep = np.zeros_like(found)
    keep[sorted(allowed - {docnum})] = True
    assert dense.top(scores, np.flatnonzero(found & keep), 5) == expected
