"""Custom Whoosh queries/matchers used by :mod:`portal.search.query`.

* :class:`DisMax`: a correct ``DisjunctionMax`` (max + tiebreak x min).
* :class:`AllWordsOr`: an ``Or`` of word clauses with an all-words bonus, in
  one pass; optionally IDF-aware (see there).

* :class:`SumOr`: an ``Or`` whose ``max_quality`` is a true bound.
* :class:`MatchSet`: the unscored docset of a query, from postings sets.

Top-k search (``searcher.search(q, limit=k)``) prunes through
``replace(minquality)`` and ``max_quality`` (MaxScore at the word level, see
:class:`_AllWordsMatcher`; field-level as Whoosh does, see
:class:`_DisMaxMatcher`). Block-quality skipping is not claimed
(``supports_block_quality`` is False): an exact version (skip only up to the
earliest block end among the children) skipped almost nothing on a 10,000
document index, since BM25 block bounds (max tf with min length) are loose.
With a ``limit``, a collector's count is NOT the number of matches (pruned
documents are never visited): count with :class:`MatchSet`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from whoosh import matching
from whoosh import query as wq
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.query.spans import SpanNear2
from whoosh.scoring import BM25F, BM25FScorer, WeightScorer
from whoosh.util import make_binary_tree

__all__ = ["ALL_WORDS_BOOST", "AllWordsOr", "DisMax", "bound_for", "clause_bounds", "FuzzyTerm", "MatchSet", "SumOr", "VisibleBM25F",
           "VisibleStats", "docset", "rewind", "score_docs", "score_docs_above", "visible_stats"]

ALL_WORDS_BOOST = 3.0  #: extra x(score of core words) when a document has them all


class SumOr(wq.Or):
    """``Or`` that always uses Whoosh's binary tree of union matchers.

    On small indexes (< 5,000 documents) a plain ``Or`` of 3+ clauses
    preloads its matches into an ``ArrayUnionMatcher``, whose
    ``max_quality`` is the *largest* clause maximum although scores are
    summed: not an upper bound, which breaks top-k pruning.
    """

    matcher_type = wq.Or.DEFAULT_MATCHER


# --------------------------------------------------------------------------
# DisjunctionMax
# --------------------------------------------------------------------------


class _DisMaxMatcher(matching.DisjunctionMaxMatcher):
    """A correct DisjunctionMax matcher.

    Whoosh 2.7.5's ``DisjunctionMaxMatcher.score`` takes the max over both
    sub-matchers even when one of them sits on another document (scores leak
    between documents) and ignores ``tiebreak``. Here a document scores
    ``max + tiebreak * min`` of the sub-matchers positioned on it.

    ``replace(minquality)`` prunes like Whoosh's: each side drops what cannot
    reach ``minquality`` on its own. A document in the top k keeps its best
    field, but may lose the ``tiebreak`` credit (<= 10 %) of a field whose
    best possible score is below the k-th score: its score can come out a
    little lower, never higher. Exact pruning would have to keep every field
    whenever another field alone can reach the threshold, i.e. almost always.
    """

    def score(self):
        a, b = self.a, self.b
        if not a.is_active():
            return b.score()
        if not b.is_active():
            return a.score()
        if a.id() != b.id():
            return (a if a.id() < b.id() else b).score()
        sa, sb = a.score(), b.score()
        return max(sa, sb) + self.tiebreak * min(sa, sb)

    def supports_block_quality(self):
        return False

    def max_quality(self):
        a, b = self.a, self.b
        qa = _maxq(a) if a.is_active() else 0.0
        qb = _maxq(b) if b.is_active() else 0.0
        return max(qa, qb) + self.tiebreak * min(qa, qb)

    def next(self):
        self._id = None  # UnionMatcher caches the current id
        a, b = self.a, self.b
        if not a.is_active():
            return b.next()
        if not b.is_active():
            return a.next()
        ida, idb = a.id(), b.id()
        r = False
        if ida <= idb:
            r = a.next() or r
        if idb <= ida:
            r = b.next() or r
        return r

    def copy(self):
        return self.__class__(self.a.copy(), self.b.copy(), tiebreak=self.tiebreak)

    def replace(self, minquality=0):
        a, b = self.a, self.b
        if not (a.is_active() or b.is_active()):
            return matching.NullMatcher()
        if not a.is_active():
            return b.replace(minquality)
        if not b.is_active():
            return a.replace(minquality)
        if minquality and self.max_quality() < minquality:
            return matching.NullMatcher()
        # as Whoosh's own DisjunctionMaxMatcher: each side may drop what scores
        # below ``minquality`` on its own (see the class notes)
        na, nb = a.replace(minquality), b.replace(minquality)
        if na is a and nb is b:
            return self
        if not na.is_active():
            return nb
        if not nb.is_active():
            return na
        return self.__class__(na, nb, tiebreak=self.tiebreak)


def _maxq(m) -> float:
    """``m.max_quality()``, or infinity when the matcher cannot tell."""
    try:
        return m.max_quality()
    except Exception:  # noqa: BLE001 - NoQualityAvailable and friends
        return math.inf


class DisMax(wq.DisjunctionMax):
    """``DisjunctionMax`` scored by :class:`_DisMaxMatcher` (see there)."""

    def _matcher(self, subs, searcher, context):
        m = make_binary_tree(_DisMaxMatcher, [q.matcher(searcher, context) for q in subs],
                             tiebreak=self.tiebreak)
        return matching.WrappingMatcher(m, self.boost) if self.boost != 1.0 else m


# --------------------------------------------------------------------------
# All words
# --------------------------------------------------------------------------


class _AllWordsMatcher(matching.Matcher):
    """Union of word clauses with an all-words (coverage) bonus.

    Per document: ``total = sum(mult_i * s_i)`` over the matching clauses,
    ``core = sum(mult_i * s_i)`` over the matching core clauses, and
    ``score = total + bonus * f(coverage) * core``. ``coverage`` is the share
    of the core clauses' weights (``cover``) the document matches. With
    ``power=None``, ``f`` is 1 at full coverage and 0 otherwise (what
    ``Or([And(core) ^ bonus, Or(all)])`` scores); with a power ``p``,
    ``f = coverage ** p`` (partial credit, steeply less for missing words).

    Top-k pruning (MaxScore, Turtle & Flood 1995): when the collector calls
    ``replace(k-th best score)``, the clauses whose combined best possible
    score (bonus included) stays below it become "non-essential": the matcher
    then visits only documents of the essential clauses and looks the others
    up (``skip_to``) just for those. A document matching only non-essential
    clauses cannot reach the top k, so the top k is exact; such documents are
    not visited, so a collector's count is no longer the number of matches.
    """

    def __init__(self, children, core, bonus, mult=None, cover=None, power=None,
                 cover_total=None, essential=None):
        self._kids = list(children)
        self._core = list(core)
        self._bonus = bonus
        self._mult = list(mult) if mult is not None else [1.0] * len(self._kids)
        self._cover = list(cover) if cover is not None else [1.0] * len(self._kids)
        self._power = power
        # coverage is relative to all core clauses, also those a replace()
        # dropped because they ran out of postings
        self._cover_total = cover_total or sum(w for w, c in zip(self._cover, self._core) if c) or 1.0
        n = len(self._kids)
        self._ess = [self._kids[i] for i in (range(n) if essential is None else essential)]
        self._pruned = len(self._ess) < n

    def _active(self):
        return [i for i, m in enumerate(self._kids) if m.is_active()]

    def is_active(self):
        return any(m.is_active() for m in self._ess)

    def id(self):
        return min(m.id() for m in self._ess if m.is_active())

    def _sync(self, current):
        # bring the non-essential clauses up to the current document
        for m in self._kids:
            if m.is_active() and m.id() < current:
                m.skip_to(current)

    def next(self):
        current = self.id()
        r = False
        for m in self._ess:
            if m.is_active() and m.id() == current:
                r = m.next() or r
        return r

    def skip_to(self, id):
        for m in self._kids:
            if m.is_active() and m.id() < id:
                m.skip_to(id)

    def _f(self, covered):
        if self._power is None:
            return 1.0 if covered >= self._cover_total - 1e-9 else 0.0
        return (covered / self._cover_total) ** self._power

    def score(self):
        current = self.id()
        if self._pruned:
            self._sync(current)
        total = core = covered = 0.0
        for m, is_core, mult, w in zip(self._kids, self._core, self._mult, self._cover):
            if m.is_active() and m.id() == current:
                sc = m.score() * mult
                total += sc
                if is_core:
                    core += sc
                    covered += w
        if not self._bonus or not core:
            return total
        return total + self._bonus * self._f(covered) * core

    def weight(self):
        current = self.id()
        if self._pruned:
            self._sync(current)
        return sum(m.weight() for m in self._kids if m.is_active() and m.id() == current)

    def children(self):
        if self._pruned and self.is_active():
            self._sync(self.id())
        return [m for m in self._kids if m.is_active()]

    def supports(self, astype):
        return all(m.supports(astype) for m in self._kids)

    def supports_block_quality(self):
        return False

    def _gains(self):
        """Per child: the factor its score gets at most (bonus included)."""
        return [mult * (1.0 + (self._bonus if core else 0.0))
                for mult, core in zip(self._mult, self._core)]

    def max_quality(self):
        return sum(_maxq(m) * g for m, g in zip(self._kids, self._gains()) if m.is_active())

    def _bound(self, idx, maxq):
        """Best score of a document matching only the clauses ``idx``."""
        total = core = covered = 0.0
        for i in idx:
            q = maxq[i] * self._mult[i]
            total += q
            if self._core[i]:
                core += q
                covered += self._cover[i]
        return total + (self._bonus * self._f(covered) * core if self._bonus and core else 0.0)

    def clause_bounds(self):
        """Each clause's best possible score (``max_quality``; 0 for an
        exhausted one), or ``None`` when some clause cannot tell. Take it
        from a fresh matcher, before stepping it."""
        maxq = [_maxq(m) if m.is_active() else 0.0 for m in self._kids]
        return None if math.inf in maxq else maxq

    def bound_for(self, present: Sequence[bool], maxq: Sequence[float]) -> float:
        """Best possible score of a document matching exactly the clauses
        flagged in ``present`` (``maxq`` from :meth:`clause_bounds`)."""
        return self._bound([i for i, p in enumerate(present) if p], maxq)

    def depth(self):
        return 1 + max((m.depth() for m in self._kids), default=0)

    def reset(self):
        for m in self._kids:
            m.reset()

    def copy(self):
        return self.__class__([m.copy() for m in self._kids], self._core, self._bonus, self._mult,
                              self._cover, self._power, self._cover_total,
                              [i for i, m in enumerate(self._kids) if m in self._ess])

    def replace(self, minquality=0):
        """Drop exhausted clauses; with ``minquality`` (the collector's k-th
        best score) split the clauses into essential and non-essential ones
        (see the class notes) and let each clause prune what cannot lift a
        document to ``minquality`` even with every other clause at its best."""
        if self._pruned:
            self._sync(self.id() if self.is_active() else 1 << 62)
        live = self._active()
        if not live or not any(self._kids[i].is_active() for i in live):
            return matching.NullMatcher()
        if self._power is None:
            done = any(c and not m.is_active() for m, c in zip(self._kids, self._core))
            bonus = 0.0 if done else self._bonus  # an exhausted core word: no bonus left
        else:
            bonus = self._bonus
        if len(live) == 1 and not bonus and self._mult[live[0]] == 1.0:
            return self._kids[live[0]].replace(minquality)
        kids = list(self._kids)
        essential = live
        if minquality:
            maxq = [_maxq(m) if m.is_active() else 0.0 for m in self._kids]
            if math.inf not in maxq:
                if self._bound(live, maxq) < minquality:
                    return matching.NullMatcher()
                # each clause: prune below what the others cannot make up for
                gains = self._gains()
                whole = sum(maxq[i] * gains[i] for i in live)
                for i in live:
                    need = (minquality - (whole - maxq[i] * gains[i])) / gains[i] if gains[i] else 0
                    if need > 0:
                        kids[i] = self._kids[i].replace(need)
                # non-essential: the weakest clauses whose joint best stays below
                order = sorted(live, key=lambda i: maxq[i] * gains[i])
                cut = 0
                while cut < len(order) and self._bound(order[:cut + 1], maxq) < minquality:
                    cut += 1
                essential = sorted(order[cut:])
        keep = [i for i in live if kids[i].is_active()]
        essential = [i for i in essential if kids[i].is_active()]
        if not essential:
            return matching.NullMatcher()
        pos = {i: n for n, i in enumerate(keep)}
        return self.__class__([kids[i] for i in keep], [self._core[i] for i in keep], bonus,
                              [self._mult[i] for i in keep], [self._cover[i] for i in keep],
                              self._power, self._cover_total, [pos[i] for i in essential])


def _idf(n: int, df: int) -> float:
    """Robertson/Sparck Jones idf as in Lucene's BM25: ln(1 + (N-df+.5)/(df+.5))."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def _whoosh_idf(n: int, df: int) -> float:
    """Whoosh's BM25F idf: ln(N/(df+1)) + 1 (never below 1: flat for common words)."""
    return math.log(n / (df + 1)) + 1.0


class AllWordsOr(wq.Or):
    """``Or`` of word clauses scored by :class:`_AllWordsMatcher`.

    ``core``: one flag per subquery, True for the words a document must all
    contain to get the ``bonus`` (filler words are not core).

    ``keys`` (optional, one per subquery): the analysed stems of each word
    (a tuple; several for a phrase) and ``parts`` their compound-part stems.
    With ``keys``, scoring is IDF-aware: each clause is rescaled from
    Whoosh's flat idf (``ln(N/(df+1)) + 1``, which gives a word in half of
    the documents still 40 % of a rare word) to the Robertson/Sparck Jones
    idf, and the all-words bonus becomes a coverage bonus weighted by that
    idf (``coverage ** power``), so missing a very common word costs little
    and missing the rare subject word costs a lot. ``df`` of a word: its
    stem's largest document frequency over ``fields``.
    """

    def __init__(self, subqueries, core=None, bonus=ALL_WORDS_BOOST, boost=1.0, keys=None,
                 fields: Sequence[str] = (), power=None):
        super().__init__(subqueries, boost=boost)
        self.core = list(core) if core is not None else [True] * len(subqueries)
        self.bonus = bonus
        self.keys = list(keys) if keys is not None else None
        self.fields = tuple(fields)
        self.power = power

    def _same(self, subs):
        return self.__class__(subs, self.core, self.bonus, self.boost, self.keys, self.fields,
                              self.power)

    def normalize(self):
        return self._same([q.normalize() for q in self.subqueries])

    def apply(self, fn):
        return self._same([fn(q) for q in self.subqueries])

    def __eq__(self, other):
        return (super().__eq__(other) and self.core == getattr(other, "core", None)
                and self.bonus == other.bonus and self.keys == other.keys
                and self.power == other.power)

    __hash__ = wq.Or.__hash__

    def _weights(self, searcher, context=None):
        if not self.keys or not self.fields:
            return None, None
        top = searcher.get_parent() if hasattr(searcher, "get_parent") else searcher
        fields = [f for f in self.fields if f in top.schema]
        # the caller's visible documents when the context says (issue #5)
        stats = getattr(getattr(context, "weighting", None), "stats", None)
        if stats is not None:
            n = max(1, stats.n)

            def df(stem):
                return max((stats.doc_frequency(f, stem) for f in fields), default=0)
        else:
            n = max(1, top.doc_count_all())

            def df(stem):
                return max((top.doc_frequency(f, stem) for f in fields), default=0)

        mult, cover = [], []
        for stems, parts in self.keys:
            d = min(df(s) for s in stems) if stems else 0
            if not d and parts:  # known only through its compound parts
                d = min(df(p) for p in parts)
            d = min(d, n - 1)
            idf = _idf(n, d)
            mult.append(idf / _whoosh_idf(n, d))
            cover.append(idf)
        return mult, cover

    def _matcher(self, subs, searcher, context):
        mult, cover = self._weights(searcher, context)
        m = _AllWordsMatcher([q.matcher(searcher, context) for q in subs], self.core,
                             self.bonus, mult, cover, self.power if mult else None)
        return matching.WrappingMatcher(m, self.boost) if self.boost != 1.0 else m


# --------------------------------------------------------------------------
# Typo-tolerant terms
# --------------------------------------------------------------------------


#: fuzzy expansions kept per index reader (cleared when full)
FUZZY_KEPT = 4096


class FuzzyTerm(wq.FuzzyTerm):
    """Whoosh's ``FuzzyTerm`` whose expansion (the indexed words within the
    edit distance, found by walking the term dictionary with an automaton,
    the costly part of a typo query) is kept on the index reader: the exact
    match set, the scored query and the highlighter of one search expand it
    once, not three times, and so does the next search while the index is
    unchanged (a new reader starts empty). Same terms, same results."""

    def _btexts(self, ixreader):
        cache = ixreader.__dict__.setdefault("_portal_fuzzy", {})
        key = (self.fieldname, self.text, self.maxdist, self.prefixlength)
        found = cache.get(key)
        if found is None:
            found = tuple(super()._btexts(ixreader))
            if len(cache) >= FUZZY_KEPT:
                cache.clear()
            cache[key] = found
        return found


# --------------------------------------------------------------------------
# Unscored docset
# --------------------------------------------------------------------------


class MatchSet(wq.Or):
    """An unscored ``Or`` whose matcher is built from sets, not a matcher tree.

    The docset is computed eagerly: a term's postings are read in blocks
    (``all_ids``), ``Or`` nodes are set unions and ``And`` nodes set
    intersections; other leaves (phrases, fuzzy terms) use their own matcher.
    Much cheaper than stepping a union tree document by document; every
    document scores 1.0, so use it for counts and facets only.
    """

    def _matcher(self, subs, searcher, context):
        ids = set()
        for q in subs:
            ids |= _ids(q, searcher)
        if not ids:
            return matching.NullMatcher()
        return matching.ListMatcher(sorted(ids), all_weights=1.0)

    def matcher(self, searcher, context=None):
        return self._matcher(self.subqueries, searcher, context)


def docset(searcher, q) -> set[int]:
    """The document numbers (global, deleted ones left out) matching ``q``,
    as :func:`_ids` computes them per segment: what
    ``set(searcher.docs_for_query(q))`` gives for a :class:`MatchSet`,
    without sorting the set into a list matcher and yielding it back one
    number at a time."""
    out: set[int] = set()
    for sub, offset in searcher.leaf_searchers():
        ids = _ids(q, sub)
        out |= {d + offset for d in ids} if offset else ids
    return out


def _postings_ids(m) -> set[int]:
    """All document numbers of a postings matcher, read block by block
    (``W3LeafMatcher``) instead of one ``all_ids()`` step per posting."""
    if type(m) is not W3LeafMatcher:
        return set(m.all_ids()) if m.is_active() else set()
    out: set[int] = set()
    while not m._atend:
        if m._ids is None:
            m._read_ids()
        out.update(m._ids)
        m._next_block()
    return out


def _ids(q, searcher) -> set[int]:
    if type(q) is wq.Term:  # postings without a scorer (no idf, no field lengths)
        if q.fieldname not in searcher.schema:
            return set()
        try:
            text = searcher.schema[q.fieldname].to_bytes(q.text)
        except ValueError:
            return set()
        reader = searcher.reader()
        if (q.fieldname, text) not in reader:
            return set()
        return _postings_ids(reader.postings(q.fieldname, text))
    if isinstance(q, wq.Or):
        out: set[int] = set()
        for sub in q.subqueries:
            out |= _ids(sub, searcher)
        return out
    if isinstance(q, wq.And):
        out = None
        for sub in q.subqueries:
            ids = _ids(sub, searcher)
            out = ids if out is None else out & ids
            if not out:
                return set()
        return out or set()
    if isinstance(q, wq.Phrase):
        # walking positions is the costly part of a phrase: its documents are
        # kept on the segment reader while it is open (a changed index means
        # a new reader); callers get a copy
        cache = searcher.reader().__dict__.setdefault("_portal_phrases", {})
        key = (q.fieldname, tuple(q.words), q.slop)
        found = cache.get(key)
        if found is None:
            m = q.matcher(searcher)
            found = frozenset(_postings_ids(m) if m.is_active() else ())
            if len(cache) >= PHRASES_KEPT:
                cache.clear()
            cache[key] = found
        return set(found)
    m = q.matcher(searcher)
    return _postings_ids(m) if m.is_active() else set()


#: phrase document sets kept per segment reader (cleared when full)
PHRASES_KEPT = 2048


# --------------------------------------------------------------------------
# Scoring a given set of documents
# --------------------------------------------------------------------------


def field_lengths(reader, fieldname: str) -> list:
    """``reader.doc_field_length(d, fieldname, 1)`` for every document number
    ``d`` of a segment reader, as a list: BM25 reads one field length per
    posting scored, and a list index is much cheaper than Whoosh's column
    lookup. Kept per segment (its field lengths never change: deletions
    leave them, a merge makes a new segment) and field, for the
    :data:`LENGTHS_KEPT` latest."""
    try:
        key = (reader.segment().segment_id(), reader.doc_count_all(), fieldname)
    except AttributeError:  # not a segment reader: no cache
        key = None
    table = _LENGTHS.get(key) if key is not None else None
    if table is None:
        dfl = reader.doc_field_length
        table = [dfl(d, fieldname, 1) for d in range(reader.doc_count_all())]
        if key is not None:
            if len(_LENGTHS) >= LENGTHS_KEPT:
                try:
                    _LENGTHS.pop(next(iter(_LENGTHS)))
                except (KeyError, StopIteration, RuntimeError):  # another thread got there
                    pass
            _LENGTHS[key] = table
    return table


#: field-length tables kept (segments x scored fields)
LENGTHS_KEPT = 64
_LENGTHS: dict = {}


def score_docs(m, docs: Sequence[int], reader=None) -> dict[int, float]:
    """``{docnum: m's score}`` for the documents of ``docs`` (sorted, the
    matcher's own segment-relative numbers) that fresh, unpruned matcher
    ``m`` matches; the others are left out.

    The same scores as stepping ``m`` to each document and calling
    ``score()`` (same operations, same order), but evaluated node by node of
    the matcher tree: each leaf is walked once over ``docs`` and the inner
    nodes combine dicts, instead of every document going through every node's
    ``is_active``/``id``/``skip_to``. For scoring a few thousand candidates.
    ``reader``: the segment reader ``m`` reads; with it, BM25 postings are
    scored with :func:`field_lengths` (the same formula and operations as
    Whoosh's ``BM25FScorer``, so the same floats).
    """
    t = type(m)
    if t is _AllWordsMatcher and not m._pruned:
        acc: dict[int, list[float]] = {}
        for kid, is_core, mult, w in zip(m._kids, m._core, m._mult, m._cover):
            for d, s in score_docs(kid, docs, reader).items():
                sc = s * mult
                a = acc.get(d)
                if a is None:
                    a = acc[d] = [0.0, 0.0, 0.0]
                a[0] += sc
                if is_core:
                    a[1] += sc
                    a[2] += w
        bonus, f = m._bonus, m._f
        if not bonus:
            return {d: a[0] for d, a in acc.items()}
        return {d: (a[0] + bonus * f(a[2]) * a[1] if a[1] else a[0]) for d, a in acc.items()}
    if t is _DisMaxMatcher:
        sa, sb = score_docs(m.a, docs, reader), score_docs(m.b, docs, reader)
        tb = m.tiebreak
        out = dict(sb)
        for d, x in sa.items():
            y = out.get(d)
            out[d] = x if y is None else max(x, y) + tb * min(x, y)
        return out
    if t is matching.UnionMatcher:
        sa, sb = score_docs(m.a, docs, reader), score_docs(m.b, docs, reader)
        out = dict(sb)
        for d, x in sa.items():
            y = out.get(d)
            out[d] = x if y is None else x + y
        return out
    if t is matching.IntersectionMatcher:
        sa = score_docs(m.a, docs, reader)
        if not sa:
            return {}
        sb = score_docs(m.b, sorted(sa), reader)
        return {d: sa[d] + y for d, y in sb.items()}
    if t is matching.WrappingMatcher:
        boost = m.boost
        return {d: s * boost for d, s in score_docs(m.child, docs, reader).items()}
    if t is W3LeafMatcher:
        return _score_postings(m, docs, reader)
    if t is SpanNear2.SpanNear2Matcher:
        return _score_phrase(m, docs, reader)
    # any other matcher: step it over the documents
    out = {}
    if not m.is_active():
        return out
    is_active, mid, skip_to, score = m.is_active, m.id, m.skip_to, m.score
    for d in docs:
        cur = mid()
        if cur < d:
            skip_to(d)
            if not is_active():
                break
            cur = mid()
        if cur == d:
            out[d] = score()
    return out


def rewind(m) -> bool:
    """Put a matcher tree that :func:`score_docs` has walked back to its
    start, for another :func:`score_docs` pass, instead of building it again
    from the query (term lookups, scorers, phrase starts: milliseconds for
    a question). True when done; False when the tree holds a node this does
    not know (build a fresh matcher then): only the term postings
    (``W3LeafMatcher.reset``, the state its constructor leaves) and phrases
    (Whoosh's ``reset``: words re-aligned) keep positions that
    :func:`score_docs` reads; the inner nodes it combines (all words,
    DisMax, unions, intersections, boosts) it never steps."""
    t = type(m)
    if t is W3LeafMatcher:
        m.reset()
        return True
    if t is SpanNear2.SpanNear2Matcher:
        if not all(type(leaf) is W3LeafMatcher for leaf in m.ms):
            return False
        m.reset()
        return True
    if t is _AllWordsMatcher:
        return not m._pruned and all(rewind(k) for k in m._kids)
    if t in (_DisMaxMatcher, matching.UnionMatcher, matching.IntersectionMatcher):
        return rewind(m.a) and rewind(m.b)
    if t is matching.WrappingMatcher:
        return rewind(m.child)
    return t is matching.NullMatcherClass


# --------------------------------------------------------------------------
# Bounds of a single word's DisMax over the fields
# --------------------------------------------------------------------------


def _dismax_parts(m):
    """``(boost, shape, fields)`` of a (boosted) :class:`_DisMaxMatcher`
    tree, or ``None`` for any other matcher. ``fields``: the field
    clauses' matchers in order (the order of the query's subqueries);
    ``shape``: the tree, leaves as indexes into ``fields``, nodes as
    ``(tiebreak, left, right)``."""
    boost = 1.0
    if type(m) is matching.WrappingMatcher:
        boost, m = m.boost, m.child
    if type(m) is not _DisMaxMatcher or not boost > 0:
        return None
    fields: list = []

    def walk(node):
        if type(node) is _DisMaxMatcher:
            return (node.tiebreak, walk(node.a), walk(node.b))
        fields.append(node)
        return len(fields) - 1

    return boost, walk(m), fields


def _dismax_value(shape, values):
    """``shape`` combined over ``values`` (None: no match in that field) as
    :func:`score_docs` combines a :class:`_DisMaxMatcher` tree."""
    if type(shape) is int:
        return values[shape]
    tb, a, b = shape
    x, y = _dismax_value(a, values), _dismax_value(b, values)
    if x is None:
        return y
    if y is None:
        return x
    return max(x, y) + tb * min(x, y)


def clause_bounds(m) -> list[float] | None:
    """Each clause's best possible score for :func:`bound_for`: the words of
    an :class:`_AllWordsMatcher` (:meth:`_AllWordsMatcher.clause_bounds`) or
    the fields of a single word's DisMax; ``None`` when ``m`` is neither or
    some clause cannot tell. Take it from a fresh matcher."""
    if type(m) is _AllWordsMatcher:
        return m.clause_bounds()
    parts = _dismax_parts(m)
    if parts is None or not 0.0 <= _tiebreak(parts[1]) <= 1.0:  # the bound needs tiebreak <= 1
        return None
    maxq = [_maxq(f) if f.is_active() else 0.0 for f in parts[2]]
    return None if math.inf in maxq else maxq


def _tiebreak(shape) -> float:
    return 0.0 if type(shape) is int else max(shape[0], _tiebreak(shape[1]), _tiebreak(shape[2]))


def bound_for(m, present: Sequence[bool], maxq: Sequence[float]) -> float:
    """Best possible score of a document matching exactly the clauses
    flagged in ``present`` (``maxq`` from :func:`clause_bounds`). For a
    DisMax tree with tiebreaks <= 1: ``boost x (M + tb x (S - M))``, ``M``
    the largest and ``S`` the sum of the present fields' bounds, ``tb`` the
    largest tiebreak (each node ``max + tb x min`` is at most that, by
    induction over the tree)."""
    if type(m) is _AllWordsMatcher:
        return m.bound_for(present, maxq)
    boost, shape, _fields = _dismax_parts(m)
    vals = [q for q, p in zip(maxq, present) if p]
    if not vals:
        return 0.0
    top = max(vals)
    return boost * (top + _tiebreak(shape) * (sum(vals) - top))


def _dismax_above(m, docs, present, maxq, floor, reader):
    """:func:`score_docs_above` for a single word's DisMax over the fields:
    field by field (best bound first) each document's exact field scores so
    far and the bounds of its other fields bound its score (see
    :func:`bound_for`); a document that cannot reach ``floor`` is dropped.
    The survivors' scores are combined from the field scores exactly as
    :func:`score_docs` combines the tree."""
    boost, shape, fields = _dismax_parts(m)
    n = len(fields)
    if len(maxq) != n or not 0.0 <= _tiebreak(shape) <= 1.0:
        return None
    tb = _tiebreak(shape)
    order = sorted(range(n), key=lambda i: -maxq[i])
    # per mask and step: (largest, sum) of the bounds of the fields still to score
    rest: dict[int, list[tuple[float, float]]] = {}
    for mask in set(present.get(d, 0) for d in docs):
        steps = []
        for j in range(n + 1):
            later = [maxq[i] for i in order[j:] if mask >> i & 1]
            steps.append((max(later, default=0.0), sum(later)))
        rest[mask] = steps
    cut = floor - 1e-9 * max(1.0, abs(floor))
    got_max = dict.fromkeys(docs, 0.0)
    got_sum = dict.fromkeys(docs, 0.0)
    field_scores: list[dict[int, float]] = [{} for _ in range(n)]
    alive = set(docs)
    for j, i in enumerate(order):
        bit = 1 << i
        wanted = sorted(d for d in alive if present.get(d, 0) & bit)
        if not wanted:
            continue
        scores = score_docs(fields[i], wanted, reader)
        field_scores[i] = scores
        for d in wanted:
            sc = scores.get(d)
            if sc is not None:
                got_sum[d] += sc
                if sc > got_max[d]:
                    got_max[d] = sc
            r_max, r_sum = rest[present.get(d, 0)][j + 1]
            top = got_max[d] if got_max[d] > r_max else r_max
            if boost * (top + tb * (got_sum[d] + r_sum - top)) < cut:
                alive.discard(d)
    out: dict[int, float] = {}
    for d in sorted(alive):
        value = _dismax_value(shape, [f.get(d) for f in field_scores])
        if value is not None:
            out[d] = value * boost if boost != 1.0 else value
    return out


def score_docs_above(m, docs: Sequence[int], present: dict[int, int], maxq: Sequence[float],
                     floor: float, reader=None) -> dict[int, float] | None:
    """:func:`score_docs` for the documents of ``docs`` that can score at
    least ``floor``; the others (their score is certainly below it) are left
    out. ``None`` when ``m`` is not a fresh, unpruned :class:`_AllWordsMatcher`
    or a single word's DisMax over the fields (:func:`_dismax_above`; score
    with :func:`score_docs` then).

    ``present``: each document's clauses as a bit mask (bit ``i`` = clause
    ``i`` of ``m`` matches it; a clause flagged but not matching only makes
    the bound looser), ``maxq``: the clauses' best scores
    (:meth:`_AllWordsMatcher.clause_bounds`). Clause by clause, most
    important first (MaxScore's order, Turtle & Flood 1995, applied per
    document instead of per posting), each surviving document's exact
    partial score plus the best its remaining clauses can add (with the
    coverage bonus its mask earns) bounds its score; a document whose bound
    falls below ``floor`` is dropped before its remaining clauses are
    scored. The scores returned are the floats :func:`score_docs` gives
    (clauses summed in ``m``'s order, same formula): a candidate set of
    thousands of documents that mostly miss the rare subject word of a
    question is settled after one or two clauses.
    """
    if type(m) is not _AllWordsMatcher:
        return _dismax_above(m, docs, present, maxq, floor, reader) if _dismax_parts(m) else None
    if m._pruned or len(maxq) != len(m._kids):
        return None
    kids, core, mult, cover = m._kids, m._core, m._mult, m._cover
    bonus, f = m._bonus, m._f
    n = len(kids)
    best = [maxq[i] * mult[i] for i in range(n)]
    # per document (dicts of floats: no tracked objects for the cyclic GC):
    # the bonus factor its clauses earn, the best its unscored clauses can
    # add (all / core ones), and its exact partial scores (all / core ones)
    factor: dict[int, float] = {}
    rest_all: dict[int, float] = {}
    rest_core: dict[int, float] = {}
    got_all = dict.fromkeys(docs, 0.0)
    got_core = dict.fromkeys(docs, 0.0)
    by_mask: dict[int, tuple[float, float, float]] = {}
    for d in docs:
        mask = present.get(d, 0)
        known = by_mask.get(mask)
        if known is None:
            r_all = r_core = covered = 0.0
            for i in range(n):
                if mask >> i & 1:
                    r_all += best[i]
                    if core[i]:
                        r_core += best[i]
                        covered += cover[i]
            known = by_mask[mask] = (bonus * f(covered) if bonus else 0.0, r_all, r_core)
        factor[d], rest_all[d], rest_core[d] = known
    # slack for the different summation order of the bound (floats)
    cut = floor - 1e-9 * max(1.0, abs(floor))
    clause_scores: list[dict[int, float]] = [{} for _ in range(n)]
    alive = set(docs)
    for i in sorted(range(n), key=lambda i: -best[i] * (1.0 + (bonus if core[i] else 0.0))):
        bit = 1 << i
        wanted = sorted(d for d in alive if present.get(d, 0) & bit)
        if not wanted:
            continue
        scores = score_docs(kids[i], wanted, reader)
        clause_scores[i] = scores
        top, is_core, mi = best[i], core[i], mult[i]
        for d in wanted:
            sc = scores.get(d, 0.0) * mi
            r_all = rest_all[d] = rest_all[d] - top
            g_all = got_all[d] = got_all[d] + sc
            if is_core:
                r_core = rest_core[d] = rest_core[d] - top
                g_core = got_core[d] = got_core[d] + sc
            else:
                r_core, g_core = rest_core[d], got_core[d]
            # exact so far + the best the rest can add
            c = g_core + (r_core if r_core > 0.0 else 0.0)
            if g_all + (r_all if r_all > 0.0 else 0.0) + (factor[d] * c if c else 0.0) < cut:
                alive.discard(d)
    out: dict[int, float] = {}
    for d in sorted(alive):
        total = core_sum = covered = 0.0
        matched = False
        for i in range(n):  # as score_docs sums them: clause order
            s = clause_scores[i].get(d)
            if s is None:
                continue
            matched = True
            sc = s * mult[i]
            total += sc
            if core[i]:
                core_sum += sc
                covered += cover[i]
        if matched:
            out[d] = total + bonus * f(covered) * core_sum if bonus and core_sum else total
    return out


def _score_phrase(m, docs: Sequence[int], reader=None) -> dict[int, float]:
    """:func:`score_docs` for a phrase (Whoosh's ``SpanNear2Matcher``, what
    ``Phrase`` matches with): its documents are those of the words'
    intersection with a span, its score the intersection's (a
    ``WrappingMatcher`` of boost 1). When :func:`_ids` has kept the phrase's
    documents on ``reader`` (the exact match set of the same search did),
    only the intersection is scored, over those of ``docs``; otherwise
    positions are compared only at the documents of ``docs`` (the matcher's
    own ``skip_to`` compares them at every document holding all the words
    until the next phrase, the costly part of scoring a phrase)."""
    out: dict[int, float] = {}
    child, boost = m.child, m.boost
    if not m.is_active():
        return out
    found = _kept_phrase_docs(m, reader)
    if found is not None:
        return {d: sc * boost for d, sc in score_docs(child, [d for d in docs if d in found], reader).items()}
    is_active, mid, skip_to, score = child.is_active, child.id, child.skip_to, child.score
    for d in docs:
        cur = mid()
        if cur < d:
            skip_to(d)
            if not is_active():
                break
            cur = mid()
        if cur == d and m._get_spans():
            out[d] = score() * boost
    return out


def _kept_phrase_docs(m, reader) -> frozenset | None:
    """The documents :func:`_ids` kept on segment ``reader`` for the phrase
    of ``m`` (a ``SpanNear2Matcher`` of term postings), or ``None``."""
    cache = getattr(reader, "__dict__", {}).get("_portal_phrases") if reader is not None else None
    if not cache:
        return None
    words = []
    for leaf in m.ms:
        term = getattr(leaf, "_term", None)
        if type(leaf) is not W3LeafMatcher or term is None:
            return None
        words.append(term[1].decode("utf-8") if isinstance(term[1], bytes) else term[1])
    return cache.get((term[0], tuple(words), m.slop))


def _score_postings(m, docs: Sequence[int], reader=None) -> dict[int, float]:
    """:func:`score_docs` for a term's postings (Whoosh 2.7's ``W3LeafMatcher``):
    block by block, skipping the blocks without any of ``docs`` undecoded and
    scanning the others' document numbers instead of ``skip_to`` per document.
    Same scores: a BM25F posting is scored with Whoosh's ``bm25`` formula
    (same operations, same order) on the posting's weight and the document's
    field length from :func:`field_lengths`; any other scorer is asked with
    the matcher positioned on the posting."""
    out: dict[int, float] = {}
    wanted = set(docs)
    j, n = 0, len(docs)
    scorer = m.scorer
    bm25 = reader is not None and type(scorer) in _BM25_SCORERS and m._term is not None
    if bm25:
        lengths = field_lengths(reader, m._term[0])
        idf, avgfl, b, k1 = scorer.idf, scorer.avgfl, scorer.B, scorer.K1
    score = m.score
    while j < n and m.is_active():
        last = m.block_max_id()
        if docs[j] <= last:
            if m._ids is None:
                m._read_ids()
            ids = m._ids
            k = bisect.bisect_right(docs, last, j)
            if (k - j) * 8 < len(ids):  # few candidates in this block: look them up
                found = []
                for d in docs[j:k]:
                    i = bisect.bisect_left(ids, d)
                    if i < len(ids) and ids[i] == d:
                        found.append((i, d))
            else:  # many: one pass over the block
                found = [(i, d) for i, d in enumerate(ids) if d in wanted]
            if bm25:
                if m._weights is None:
                    m._read_weights()
                weights = m._weights
                for i, d in found:
                    tf = weights[i]
                    out[d] = idf * ((tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * lengths[d] / avgfl)))
            else:
                for i, d in found:
                    m._i = i
                    out[d] = score()
            j = k
        m._next_block()
    return out


# --------------------------------------------------------------------------
# Ranking statistics over the documents a caller may see (issue #5)
# --------------------------------------------------------------------------


class VisibleStats:
    """BM25 collection statistics over ``visible`` only (issue #5: hidden
    items must not leak, "not even as a count").

    Whoosh's BM25F takes idf (``ln(N/(df+1)) + 1``) and the average field
    length over the whole index, hidden documents (profiles, drafts,
    region-only items, questions) included, so the order of two documents a
    caller may see could tell whether hidden ones contain a word. Here:

    * ``n``: ``len(visible)`` (document numbers, global, live), the N of idf;
    * ``doc_frequency(field, text)``: ``|postings(field, text) & visible|``;
    * ``avg_field_length(field)``: the mean of the segments' per-document
      field lengths (:func:`field_lengths`, Whoosh's one-byte lengths, which
      round a length up by at most 3.5 %: the lengths BM25 reads per
      document anyway) over ``visible``.

    ``full``: ``visible`` is every live document of the index (someone who
    may see everything): the statistics are then Whoosh's own, so the same
    floats as plain BM25F. Those still count deleted documents not yet merged
    away (Whoosh keeps them in its totals), as before, for such callers only.
    Only whether anything at all is hidden tells the two ways apart (in the
    last digits of a score: Whoosh's exact length totals against the sum of
    its one-byte per-document lengths).

    Thread-bound like the searcher it was built from; memoises its answers.
    """

    def __init__(self, searcher, visible):
        self._searcher = searcher
        self.visible = visible
        self.full = len(visible) == searcher.doc_count()
        # N as Whoosh counts it (deleted documents too) when ``full``
        self.n = searcher.doc_count_all() if self.full else len(visible)
        self._df: dict = {}
        self._avgfl: dict = {}
        self._leaves = [(sub.reader(), offset) for sub, offset in searcher.leaf_searchers()]

    def doc_frequency(self, fieldname: str, text) -> int:
        """Visible documents holding the term (``text``: str or bytes)."""
        if self.full:
            return self._searcher.doc_frequency(fieldname, text)
        if isinstance(text, str):
            try:
                text = self._searcher.schema[fieldname].to_bytes(text)
            except (KeyError, ValueError):
                return 0
        key = (fieldname, text)
        df = self._df.get(key)
        if df is None:
            df = 0
            vis = self.visible
            for reader, offset in self._leaves:
                try:
                    if (fieldname, text) not in reader:
                        continue
                    ids = _postings_ids(reader.postings(fieldname, text))
                except (KeyError, ValueError):  # unknown field or term
                    continue
                df += len(vis.intersection(map(offset.__add__, ids)) if offset else vis & ids)
            if len(self._df) >= STATS_TERMS_KEPT:
                self._df.clear()
            self._df[key] = df
        return df

    def idf(self, fieldname: str, text) -> float:
        """Whoosh's BM25F idf, ``ln(N/(df+1)) + 1``, over the visible documents."""
        if self.full:
            return self._searcher.idf(fieldname, text)
        return math.log(max(self.n, 1) / (self.doc_frequency(fieldname, text) + 1)) + 1.0

    def avg_field_length(self, fieldname: str) -> float:
        """Mean length (in terms) of ``fieldname`` over the visible documents
        (0.0 when none)."""
        if self.full:
            return self._searcher.avg_field_length(fieldname) or 0.0
        avg = self._avgfl.get(fieldname)
        if avg is None:
            total = 0
            vis = self.visible
            for reader, offset in self._leaves:
                if fieldname not in reader.schema or not reader.schema[fieldname].scorable:
                    continue
                table = field_lengths(reader, fieldname)
                end = offset + len(table)
                total += sum(table[d - offset] or 0 for d in vis if offset <= d < end)  # None: no field
            avg = self._avgfl[fieldname] = total / self.n if self.n else 0.0
        return avg


#: visible document frequencies memoised per :class:`VisibleStats`
STATS_TERMS_KEPT = 8192


class VisibleBM25FScorer(BM25FScorer):
    """Whoosh's ``BM25FScorer`` (same formula, same ``_score``) with idf and
    average field length from a :class:`VisibleStats`."""

    def __init__(self, searcher, fieldname, text, B, K1, stats: VisibleStats, qf=1):
        self.idf = stats.idf(fieldname, text)
        self.avgfl = stats.avg_field_length(fieldname) or 1
        self.B = B
        self.K1 = K1
        self.qf = qf
        self.setup(searcher, fieldname, text)


#: scorers :func:`_score_postings` scores with Whoosh's ``bm25`` formula
_BM25_SCORERS = (BM25FScorer, VisibleBM25FScorer)


class VisibleBM25F(BM25F):
    """Whoosh's ``BM25F`` (B=0.75, K1=1.2 as the searcher's default) whose
    statistics come from ``stats`` (:class:`VisibleStats`). Pass it in the
    search context (``searcher.context(weighting=...)``): every term matcher
    of a query (terms, phrases, fuzzy expansions) then scores with it, and
    :class:`AllWordsOr` takes its idf weights from the same ``stats``."""

    def __init__(self, stats: VisibleStats, B=0.75, K1=1.2, **field_B):
        super().__init__(B=B, K1=K1, **field_B)
        self.stats = stats

    def idf(self, searcher, fieldname, text):
        return self.stats.idf(fieldname, text)

    def scorer(self, searcher, fieldname, text, qf=1):
        if not searcher.schema[fieldname].scorable:
            return WeightScorer.for_(searcher, fieldname, text)
        B = self._field_B.get(fieldname, self.B)
        return VisibleBM25FScorer(searcher, fieldname, text, B, self.K1, self.stats, qf=qf)


def visible_stats(searcher, key, visible) -> VisibleStats:
    """The :class:`VisibleStats` of the documents ``visible()`` returns (a
    set of global document numbers; called only when not kept) on
    ``searcher``, kept on its reader under ``key`` (hashable, e.g. the
    caller's permission labels: the same key must mean the same documents on
    one reader). A changed index means a new reader, so new statistics; the
    :data:`STATS_KEPT` latest keys are kept."""
    cache = searcher.reader().__dict__.setdefault("_portal_visible_stats", {})
    stats = cache.get(key)
    if stats is None:
        if len(cache) >= STATS_KEPT:
            try:
                cache.pop(next(iter(cache)))
            except (KeyError, StopIteration, RuntimeError):  # another thread got there
                pass
        stats = cache[key] = VisibleStats(searcher, frozenset(visible()))
    return stats


#: statistics kept per index reader (one per distinct visible document set)
STATS_KEPT = 32
