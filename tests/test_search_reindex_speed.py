"""The reindex speed-ups (issue #3) change no byte of what is indexed: the
fast ``index()`` of the schema's text fields (``portal.search.schema.DutchText``
and ``PlainText``) yields exactly the postings Whoosh's own ``fields.TEXT``
yields with the same analyzer, on a real Whoosh index: the same terms per
field, documents, weights, encoded positions/frequencies, field lengths and
stored fields."""

from __future__ import annotations

import random
import unicodedata

import pytest
from whoosh import fields, index

from portal.search.analysis import dutch_analyzer, dutch_counts, dutch_positions, plain_analyzer, plain_counts
from portal.search.schema import DutchText, PlainText, build_schema

pytestmark = pytest.mark.no_db  # no database: runs once (tests/conftest.py)

TEXT_FIELDS = ("title", "summary", "tags", "body", "spell")

WORDS = ("jongeren radicalisering ouders moskee moskeeën wijkagent sleutelfiguren netwerk sociale media "
         "vertrouwen preventie polarisatie gemeente imam vrijwilligers werving training school buurthuis "
         "jongerenwerkersnetwerk radicaliseringspreventie sleutelfigurennetwerk Coördinator café CAFÉ de "
         "van het en een is a b x 7 42 2024 Straße Ĳssel ø æ ı geïnteresseerd extremisten kinderen steden "
         "bedrijven huizen methodes jongens mensen werkers geradicaliseerd moslimhaat online-haat "
         "buurt-/wijkteam d'r café's e-mail under_score").split()
#: Overlong tokens (dropped, keeping their place), NFD input, punctuation only.
EDGE = ["x" * 49, "Y" * 48, unicodedata.normalize("NFD", "coördinator geïnteresseerd"), "…, ; -- !!", ""]


def _text(rnd: random.Random, n: int) -> str:
    words = [rnd.choice(WORDS) for _ in range(rnd.randint(0, n))]
    if rnd.random() < 0.3:
        words.insert(rnd.randint(0, len(words)), rnd.choice(EDGE))
    return rnd.choice([" ", ", ", ". ", "\n"]).join(words)


def _docs(seed: int = 11, n: int = 150) -> list[dict]:
    rnd = random.Random(seed)
    docs = []
    for i in range(n):
        doc = {"id": str(i), "type": "practice", "slug": f"p-{i}", "labels": "public",
               "title": _text(rnd, 6), "summary": _text(rnd, 15), "tags": _text(rnd, 5),
               "body": _text(rnd, 200)}
        doc["spell"] = " ".join(doc[f] for f in ("title", "summary", "tags", "body"))
        docs.append({k: v for k, v in doc.items() if v != ""})
    docs.append({"id": "edge", "title": " ".join(EDGE), "body": " ".join(EDGE + ["de het"] * 3),
                 "spell": " ".join(EDGE + ["a b 1 22"])})
    return docs


def _reference_schema() -> fields.Schema:
    """``build_schema()`` with Whoosh's own TEXT fields (the previous code)."""
    schema = build_schema()
    for name in TEXT_FIELDS:
        field = schema[name]
        positional = type(field.format).__name__ == "Positions"
        schema.remove(name)
        schema.add(name, fields.TEXT(analyzer=field.analyzer, stored=field.stored, phrase=positional,
                                     spelling=field.spelling))
    return schema


def _build(path, schema: fields.Schema, docs: list[dict]):
    path.mkdir()
    ix = index.create_in(path, schema)
    writer = ix.writer()
    for doc in docs:
        writer.add_document(**doc)
    writer.commit()
    return ix


def _snapshot(ix) -> dict:
    with ix.reader() as reader:
        docnums = range(reader.doc_count_all())
        return {
            "postings": list(reader.iter_postings()),
            "terms": {f: list(reader.lexicon(f)) for f in TEXT_FIELDS},
            "lengths": [[reader.doc_field_length(d, f) for f in TEXT_FIELDS] for d in docnums],
            "stored": list(reader.all_stored_fields()),
        }


def test_schema_uses_the_fast_fields():
    schema = build_schema()
    assert [type(schema[f]) for f in TEXT_FIELDS] == [DutchText] * 4 + [PlainText]
    assert isinstance(schema["body"], fields.TEXT)  # query code that checks for TEXT still sees one


def test_fast_fields_index_exactly_what_whoosh_does(tmp_path):
    docs = _docs()
    ref = _snapshot(_build(tmp_path / "ref", _reference_schema(), docs))
    new = _snapshot(_build(tmp_path / "new", build_schema(), docs))
    assert len(ref["postings"]) > 5000 and all(ref["terms"].values())  # a real comparison
    for part in ("terms", "lengths", "stored", "postings"):
        assert new[part] == ref[part], part


def test_positions_and_counts_match_the_analyzers():
    rnd = random.Random(3)
    texts = [_text(rnd, 60) for _ in range(200)] + EDGE + [" ".join(EDGE)]
    dutch, plain = dutch_analyzer(), plain_analyzer()
    for text in texts:
        poses: dict[str, list[int]] = {}
        for t in dutch(text, positions=True, mode="index"):
            if not t.stopped:
                poses.setdefault(t.text, []).append(t.pos)
        assert dutch_positions(text) == poses, text
        assert dutch_counts(text) == {k: len(v) for k, v in poses.items()}, text
        counts: dict[str, int] = {}
        for t in plain(text, mode="index"):
            counts[t.text] = counts.get(t.text, 0) + 1
        assert plain_counts(text) == counts, text
    # stop words leave no gap, overlong tokens keep their place
    assert dutch_positions("de moskee " + "x" * 49 + " het imam") == {"moskee": [0], "imam": [2]}


@pytest.mark.parametrize("value, kwargs", [(["moskee", "Wijkagent"], {}), ("de moskeeën", {"mode": "query"})])
def test_other_calls_take_whooshs_own_path(value, kwargs):
    new, ref = build_schema()["body"], _reference_schema()["body"]
    assert list(new.index(value, **kwargs)) == list(ref.index(value, **kwargs))
    assert list(new.index(value, **kwargs))


def test_two_process_writer_gives_the_same_index(tmp_path):
    """``SearchIndex.rebuild`` writes with two processes (``procs=2,
    multisegment=True``) from 2,000 expected items: the pickled schema with
    the fast fields works in the sub-writers and gives the same terms,
    postings per document and stored fields as Whoosh's own fields."""
    docs = _docs(seed=5, n=260)
    ref = _snapshot(_build(tmp_path / "ref", _reference_schema(), docs))
    (tmp_path / "mp").mkdir()
    ix = index.create_in(str(tmp_path / "mp"), build_schema())
    writer = ix.writer(limitmb=64, procs=2, multisegment=True, batchsize=50)
    for doc in docs:
        writer.add_document(**doc)
    writer.commit()
    with ix.searcher() as searcher:
        assert len(searcher.leaf_searchers()) >= 2  # really written by sub-writers
        reader = searcher.reader()
        assert {f: list(reader.lexicon(f)) for f in TEXT_FIELDS} == ref["terms"]
        by_id = {}
        for docnum, stored in reader.iter_docs():
            by_id[stored["id"]] = docnum
        ref_by_id = {s["id"]: n for n, s in enumerate(ref["stored"])}
        got = sorted((f, t, ref_by_id[reader.stored_fields(d)["id"]], w, v)
                     for f, t, d, w, v in reader.iter_postings())
        assert got == sorted(ref["postings"])
