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
