"""Whole-segment scoring with NumPy: every match of a query, with its exact
score, in one pass per node of the matcher tree.

Why: at 100,000 items a common word has 30,000-60,000 postings per field.
Walking them in Python (set unions for the match set, then dicts of scores
for the groups of documents that could reach the top k) cost about a
second per question. Here a term's postings are decoded once into two arrays (document
numbers, term frequencies), kept while their segment is open
(:data:`POSTINGS_KEPT_MB`), and every node of the tree is a handful of
vectorised operations over arrays as long as the segment.

Exactness: :func:`evaluate` gives each matching document the float that
stepping Whoosh's matcher to it and calling ``score()`` gives, not an
approximation. Every operation is an IEEE-754 double operation done in the
same order as the matcher's Python code (NumPy's elementwise ``+ - * /`` on
float64 round exactly as Python floats do). A document absent from a node
carries 0.0 there, and ``x + 0.0 == x``, so sums over the present children
come out the same. ``tests/search/test_dense.py`` compares with Whoosh.

Nodes understood: the portal's own matchers (:class:`~.matchers._AllWordsMatcher`,
:class:`~.matchers._DisMaxMatcher`), Whoosh's union, intersection, wrapping
(boost) and filter (deleted documents) matchers, phrases (``SpanNear2``),
and term postings scored with BM25F. Any other node is stepped as Whoosh
steps it (correct, only slower).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from whoosh import matching
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.query.spans import SpanNear2

from . import matchers as mx
from .whoosh_speed import _file_key

__all__ = ["POSTINGS_KEPT_MB", "Scored", "clear", "evaluate", "kept_bytes", "postings", "top"]

#: decoded postings kept per process, in MB (least recently used out); the
#: portal sets it from ``PORTAL_SEARCH_CACHE_MB`` (default 256). The
#: benchmark's whole query mix at 100,000 items keeps about 60 MB.
POSTINGS_KEPT_MB = 256
_POSTINGS: OrderedDict = OrderedDict()  # (file key, start offset) -> (ids, tfs)
_SIZE = [0]
_LOCK = threading.Lock()
_LENGTHS: OrderedDict = OrderedDict()  # (segment id, docs, field) -> float64 lengths
LENGTHS_KEPT = 64


class Scored:
    """One node's result over a segment of ``n`` documents: ``mask`` (bool,
    shape ``(n,)``: the node matches the document) and ``score`` (float64,
    shape ``(n,)``: its score there, 0.0 where it does not match)."""

    __slots__ = ("mask", "score")

    def __init__(self, mask: np.ndarray, score: np.ndarray):
        self.mask = mask
        self.score = score


def clear() -> None:
    """Drop every kept postings array and length table (tests, memory)."""
    with _LOCK:
        _POSTINGS.clear()
        _SIZE[0] = 0
        _LENGTHS.clear()


def kept_bytes() -> int:
    """Bytes of decoded postings kept now (at most :data:`POSTINGS_KEPT_MB` MB)."""
    return _SIZE[0]


def postings(m: W3LeafMatcher) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, tfs)`` of a term's whole postings list: segment-relative
    document numbers (int64, ascending) and the stored weights (float64;
    Whoosh keeps them as float32, widened exactly), deleted documents
    included, as the segment stores them. ``m`` is rewound to its first
    block to read them. Kept per postings file and offset, so while a
    segment is open its blocks are decoded once (a new segment has a new
    file and a new key: see ``whoosh_speed._file_key``)."""
    key = (_file_key(m._postfile), m._startoffset)
    with _LOCK:
        got = _POSTINGS.get(key)
        if got is not None:
            _POSTINGS.move_to_end(key)
            return got
    m.reset()
    ids_parts, tf_parts = [], []
    while not m._atend and m._blocklength:
        if m._ids is None:
            m._read_ids()
        if m._weights is None:
            m._read_weights()
        ids_parts.append(np.asarray(m._ids, dtype=np.int64))
        tf_parts.append(np.asarray(m._weights, dtype=np.float64))
        m._next_block()
    m.reset()
    ids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, np.int64)
    tfs = np.concatenate(tf_parts) if tf_parts else np.zeros(0, np.float64)
    got = (ids, tfs)
    with _LOCK:
        _POSTINGS[key] = got
        _SIZE[0] += ids.nbytes + tfs.nbytes
        budget = POSTINGS_KEPT_MB * 1024 * 1024
        while _SIZE[0] > budget and len(_POSTINGS) > 1:
            _k, (a, b) = _POSTINGS.popitem(last=False)
            _SIZE[0] -= a.nbytes + b.nbytes
    return got


def _lengths(reader, fieldname: str) -> np.ndarray:
    """:func:`~.matchers.field_lengths` as a float64 array (kept per segment)."""
    try:
        key = (reader.segment().segment_id(), reader.doc_count_all(), fieldname)
    except AttributeError:
        key = None
    table = _LENGTHS.get(key) if key is not None else None
    if table is None:
        table = np.asarray(mx.field_lengths(reader, fieldname), dtype=np.float64)
        if key is not None:
            with _LOCK:
                _LENGTHS[key] = table
                while len(_LENGTHS) > LENGTHS_KEPT:
                    _LENGTHS.popitem(last=False)
    return table


def _empty(n: int) -> Scored:
    return Scored(np.zeros(n, dtype=bool), np.zeros(n, dtype=np.float64))


def _stepped(m, n: int) -> Scored:
    """Any fresh matcher, stepped document by document as Whoosh does."""
    out = _empty(n)
    if not m.is_active():
        return out
    ids, scores = [], []
    while m.is_active():
        ids.append(m.id())
        scores.append(m.score())
        m.next()
    idx = np.asarray(ids, dtype=np.int64)
    out.mask[idx] = True
    out.score[idx] = scores
    return out


def _leaf(m: W3LeafMatcher, reader, n: int) -> Scored:
    scorer = m.scorer
    if reader is None or type(scorer) not in mx._BM25_SCORERS or m._term is None:
        m.reset()
        return _stepped(m, n)
    ids, tfs = postings(m)
    out = _empty(n)
    if not len(ids):
        return out
    fl = _lengths(reader, m._term[0])[ids]
    idf, avgfl, b, k1 = scorer.idf, scorer.avgfl, scorer.B, scorer.K1
    # Whoosh's bm25(), operation by operation (whoosh.scoring.bm25)
    out.mask[ids] = True
    out.score[ids] = idf * ((tfs * (k1 + 1)) / (tfs + k1 * ((1 - b) + b * fl / avgfl)))
    return out


def _phrase(m, reader, n: int) -> Scored:
    found = mx._kept_phrase_docs(m, reader)
    if found is None:
        docs = []
        while m.is_active():
            docs.append(m.id())
            m.next()
        found = frozenset(docs)
        words = [getattr(leaf, "_term", None) for leaf in m.ms]
        if reader is not None and all(type(leaf) is W3LeafMatcher and t is not None
                                      for leaf, t in zip(m.ms, words)):
            cache = reader.__dict__.setdefault("_portal_phrases", {})
            if len(cache) >= mx.PHRASES_KEPT:
                cache.clear()
            texts = tuple(t[1].decode("utf-8") if isinstance(t[1], bytes) else t[1] for t in words)
            cache[(words[0][0], texts, m.slop)] = found
    inner = evaluate(m.child, reader, n)
    keep = np.zeros(n, dtype=bool)
    if found:
        keep[np.fromiter(found, dtype=np.int64, count=len(found))] = True
    inner.mask &= keep
    inner.score = np.where(inner.mask, inner.score * m.boost, 0.0)
    return inner


def _all_words(m, reader, n: int) -> Scored:
    total = np.zeros(n, dtype=np.float64)
    core = np.zeros(n, dtype=np.float64)
    covered = np.zeros(n, dtype=np.float64)
    mask = np.zeros(n, dtype=bool)
    for kid, is_core, mult, w in zip(m._kids, m._core, m._mult, m._cover):
        r = evaluate(kid, reader, n)
        sc = r.score * mult
        total += sc
        if is_core:
            core += sc
            covered += np.where(r.mask, w, 0.0)
        mask |= r.mask
    if m._bonus:
        has_core = mask & (core != 0.0)
        if has_core.any():
            # f() is Python's (a power): evaluated once per distinct coverage
            values, where = np.unique(covered[has_core], return_inverse=True)
            f = np.array([m._f(float(v)) for v in values], dtype=np.float64)[where]
            total[has_core] = total[has_core] + m._bonus * f * core[has_core]
    return Scored(mask, total)


def evaluate(m, reader, n: int) -> Scored:
    """Every document matcher ``m`` (fresh, not pruned by ``replace``) matches
    in its segment of ``n`` documents (``reader.doc_count_all()``), with the
    score Whoosh gives it there: a :class:`Scored`. ``reader``: the segment
    reader the matcher reads (BM25F field lengths come from it; ``None``
    steps term postings instead)."""
    t = type(m)
    if t is mx._AllWordsMatcher and not m._pruned:
        return _all_words(m, reader, n)
    if t is mx._DisMaxMatcher:
        a, b = evaluate(m.a, reader, n), evaluate(m.b, reader, n)
        both = a.mask & b.mask
        tb = m.tiebreak
        score = a.score + b.score  # one of them is 0.0 where only one matches
        if both.any():
            x, y = a.score[both], b.score[both]
            score[both] = np.maximum(x, y) + tb * np.minimum(x, y)
        return Scored(a.mask | b.mask, score)
    if t is matching.UnionMatcher:
        a, b = evaluate(m.a, reader, n), evaluate(m.b, reader, n)
        return Scored(a.mask | b.mask, a.score + b.score)
    if t is matching.IntersectionMatcher:
        a, b = evaluate(m.a, reader, n), evaluate(m.b, reader, n)
        mask = a.mask & b.mask
        return Scored(mask, np.where(mask, a.score + b.score, 0.0))
    if t is matching.WrappingMatcher:
        r = evaluate(m.child, reader, n)
        r.score = r.score * m.boost
        return r
    if t is matching.FilterMatcher and type(m.child) is W3LeafMatcher:
        r = _leaf(m.child, reader, n)
        ids = m._ids
        if ids:
            sel = np.zeros(n, dtype=bool)
            listed = np.fromiter((i for i in ids if 0 <= i < n), dtype=np.int64)
            sel[listed] = True
            keep = ~sel if m._exclude else sel
        else:
            keep = np.ones(n, dtype=bool) if m._exclude else np.zeros(n, dtype=bool)
        r.mask &= keep
        r.score = np.where(r.mask, r.score * m.boost, 0.0)
        return r
    if t is W3LeafMatcher:
        return _leaf(m, reader, n)
    if t is SpanNear2.SpanNear2Matcher:
        return _phrase(m, reader, n)
    if t is matching.NullMatcherClass or not m.is_active():
        return _empty(n)
    return _stepped(m, n)


def top(scores: np.ndarray, candidates: np.ndarray, limit: int) -> list[tuple[float, int]]:
    """The ``limit`` best ``(score, docnum)`` among ``candidates`` (int
    document numbers indexing ``scores``): highest score first, ties by lower
    document number (Whoosh's order)."""
    if limit <= 0 or not len(candidates):
        return []
    sc = scores[candidates]
    if len(candidates) > limit:
        kth = np.partition(sc, len(sc) - limit)[len(sc) - limit]
        keep = sc >= kth
        candidates, sc = candidates[keep], sc[keep]
    order = np.lexsort((candidates, -sc))[:limit]
    return [(float(sc[i]), int(candidates[i])) for i in order]
