"""The speed-ups of the search executor (issue #3) change nothing but time:
field-length tables give bit-identical BM25 scores, block-wise docsets are
the documents Whoosh's own ``docs_for_query`` yields (deletions included),
on a real multi-segment Whoosh index."""

from __future__ import annotations

import random

import pytest
from whoosh import index

from portal.search import matchers
from portal.search import dense
from portal.search.matchers import docset, field_lengths
from portal.search.query import build_match_query, build_query
from portal.search.schema import build_schema

pytestmark = pytest.mark.no_db  # no database: runs once (tests/conftest.py)

WORDS = ("jongeren radicalisering ouders moskee wijkagent sleutelfiguren netwerk sociale media vertrouwen "
         "preventie polarisatie gemeente imam vrijwilligers werving training school buurthuis signalen "
         "jongerenwerker radicaliseringspreventie sleutelfigurennetwerk coördinator café de van het, en. "
         "buurt-/wijkteam").split()
QUERIES = ["wijkagent moskee", "sociale media jongeren", "preventie", "sleutelfiguur netwerk",
           "ik zoek een imam die ervaring heeft met polarisatie", "coordinator cafe", '"sociale media"',
           "jongerenwerk vertrouwen"]


@pytest.fixture(scope="module")
def ix(tmp_path_factory):
    rnd = random.Random(5)
    ix = index.create_in(str(tmp_path_factory.mktemp("ix")), build_schema())

    def text(n):
        return " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, n)))

    for part in range(3):  # three segments
        w = ix.writer()
        for i in range(120):
            key = f"{part}-{i}"
            w.add_document(id=key, type="practice", slug=key, title=text(4), summary=text(8),
                           tags=text(2), body=text(80), labels="public")
        w.commit(merge=False)
    w = ix.writer()  # deletions in the first two segments
    for key in ("0-3", "0-4", "1-7", "1-100"):
        w.delete_by_term("id", key)
    w.commit(merge=False)
    return ix


@pytest.mark.parametrize("text", QUERIES)
def test_docsets_are_whooshs(ix, text):
    with ix.searcher() as s:
        assert len(s.leaf_searchers()) == 3
        assert sum(sub.reader().has_deletions() for sub, _ in s.leaf_searchers()) == 2
        mq = build_match_query(text)
        assert docset(s, mq) == set(s.docs_for_query(mq))
        assert docset(s, mq)  # the queries find something: the comparison is not empty
        for fuzzy in (True,):
            fq = build_match_query(text, fuzzy=fuzzy)
            assert docset(s, fq) == set(s.docs_for_query(fq))


@pytest.mark.parametrize("text", QUERIES)
def test_field_length_tables_give_identical_scores(ix, text):
    q = build_query(text).query
    with ix.searcher() as s:
        for sub, _offset in s.leaf_searchers():
            n = sub.doc_count_all()
            plain = dense.evaluate(q.matcher(sub, s.context()), None, n)  # postings stepped by Whoosh
            fast = dense.evaluate(q.matcher(sub, s.context()), sub.reader(), n)
            assert plain.mask.any() and (fast.mask == plain.mask).all()
            assert (fast.score == plain.score).all()  # exactly equal floats, not approximately


def test_field_length_table_is_whooshs_and_kept(ix):
    with ix.searcher() as s:
        sub, _ = s.leaf_searchers()[0]
        reader = sub.reader()
        table = field_lengths(reader, "body")
        assert table == [reader.doc_field_length(d, "body", 1) for d in range(reader.doc_count_all())]
        assert field_lengths(reader, "body") is table
        matchers._LENGTHS.clear()  # bounded: the oldest table goes
        for n in range(matchers.LENGTHS_KEPT):
            matchers._LENGTHS[("other", n)] = []
        field_lengths(reader, "title")
        assert len(matchers._LENGTHS) == matchers.LENGTHS_KEPT and ("other", 0) not in matchers._LENGTHS


HIGHLIGHT_QUERIES = QUERIES + ["de preventie van het netwerk", "sleutelfiguren", "cafés"]


@pytest.mark.parametrize("text", HIGHLIGHT_QUERIES)
def test_snippets_are_whooshs_highlights(ix, text):
    from whoosh import highlight

    from portal.search import MarkFormatter, _expand_terms_once
    from portal.search.snippets import highlight_field

    with ix.searcher() as s:
        results = s.search(build_query(text).query, limit=30)
        results.fragmenter = highlight.ContextFragmenter(maxchars=240, surround=60)
        results.formatter = MarkFormatter()
        assert len(results) > 0
        marked = 0
        for hit in results:
            _expand_terms_once(hit.results)
            for name, top in (("body", 2), ("summary", 1), ("title", 1)):
                if hit.get(name):
                    ours = highlight_field(hit, name, top=top)
                    assert ours == hit.highlights(name, top=top), (name, hit["id"])
                    marked += "<mark>" in ours
        assert marked  # something was highlighted: the comparison is not between empty strings


def _build(path, patched: bool):
    from portal.search import whoosh_speed

    (whoosh_speed.install if patched else whoosh_speed.uninstall)()
    try:
        rnd = random.Random(11)
        path.mkdir()
        ix = index.create_in(str(path), build_schema())
        w = ix.writer()
        for i in range(300):
            words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 200)))
            w.add_document(id=str(i), type="practice", slug=str(i), title=words[:40], body=words, labels="public")
        w.commit()
        return ix
    finally:
        whoosh_speed.install()


def _snapshot(ix):
    """Every term's postings: ids, weights and each block's length bounds."""
    out = {}
    with ix.reader() as r:
        for fieldname, text in r.all_terms():
            m = r.postings(fieldname, text)
            blocks = []
            while m.is_active():
                blocks.append((m.block_min_length(), m.block_max_length(), m.block_max_weight()))
                m._next_block()
            out[(fieldname, text)] = (blocks, [(p.id(), p.weight()) for p in _walk(r.postings(fieldname, text))])
    return out


def _walk(m):
    while m.is_active():
        yield m
        m.next()


def test_patched_writer_and_block_cache_change_nothing(tmp_path):
    from portal.search import whoosh_speed

    plain, fast = _build(tmp_path / "plain", False), _build(tmp_path / "fast", True)
    whoosh_speed.uninstall()
    try:
        expected = _snapshot(plain)
        with plain.searcher() as s:
            ranked = {t: [(h.docnum, h.score) for h in s.search(build_query(t).query, limit=None)] for t in QUERIES}
    finally:
        whoosh_speed.install()
    assert _snapshot(fast) == expected and len(expected) > 50
    for _ in range(2):  # cold and then served from the kept blocks
        assert _snapshot(plain) == expected
        with plain.searcher() as s:
            assert {t: [(h.docnum, h.score) for h in s.search(build_query(t).query, limit=None)]
                    for t in QUERIES} == ranked
    assert whoosh_speed._BLOCKS  # the blocks were kept
    assert whoosh_speed._HEADERS  # and the block headers (the same postings walked from them)


def test_kept_phrase_and_fuzzy_sets_follow_the_index(tmp_path):
    """Phrase documents and fuzzy expansions are kept per open reader: a
    changed index (new reader) answers from its own documents."""
    from whoosh import query as wq

    from portal.search.matchers import FuzzyTerm

    ix = index.create_in(str(tmp_path), build_schema())
    with ix.writer() as w:
        w.add_document(id="1", type="practice", slug="1", body="sociale media en jongeren", labels="public")
    phrase = build_match_query('"sociale media"')
    from portal.search.analysis import stem

    word = stem("jongeren")
    fuzzy = FuzzyTerm("body", word + "q", maxdist=1, prefixlength=1)  # one letter off
    with ix.searcher() as s:
        assert docset(s, phrase) == {0} == docset(s, phrase)  # computed, then kept
        assert [t.decode() if isinstance(t, bytes) else t for t in fuzzy._btexts(s.reader())] == [word]
        assert fuzzy._btexts(s.reader()) is fuzzy._btexts(s.reader())  # kept
    with ix.writer() as w:
        w.add_document(id="2", type="practice", slug="2", body="Sociale media!", labels="public")
        w.delete_by_term("id", "1")
    with ix.searcher() as s:
        assert docset(s, phrase) == set(s.docs_for_query(phrase)) == {1}
        plain = wq.FuzzyTerm("body", word + "q", maxdist=1, prefixlength=1)
        assert fuzzy._btexts(s.reader()) == tuple(plain._btexts(s.reader()))  # Whoosh's own answer
        assert "_portal_fuzzy" in s.reader().__dict__  # this reader's own cache
