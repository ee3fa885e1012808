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

The portal's search does not step these matchers document by document: it
evaluates the whole tree at once over each segment (:mod:`portal.search.dense`),
with the scores defined here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from whoosh import matching
from whoosh import query as wq
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.scoring import BM25F, BM25FScorer, WeightScorer
from whoosh.util import make_binary_tree

__all__ = ["ALL_WORDS_BOOST", "AllWordsOr", "DisMax", "FuzzyTerm", "MatchSet", "SumOr", "VisibleBM25F",
           "VisibleStats", "docset", "field_lengths", "visible_stats"]

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
    stem's largest document frequency over ``fields``, or its agent-noun
    derivations' (an optional third item of its key) when larger: the word
    finds those too.
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
        for key in self.keys:
            stems, parts = key[0], key[1]
            d = min(df(s) for s in stems) if stems else 0
            if not d and parts:  # known only through its compound parts
                d = min(df(p) for p in parts)
            if len(key) > 2 and key[2]:
                # the word matches its agent-noun derivation too ("jongerenwerk"
                # finds "jongerenwerker"): as rare as the commoner of the two
                d = max(d, max(df(x) for x in key[2]))
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


def field_lengths(reader, fieldname: str, default: int = 1) -> list:
    """``reader.doc_field_length(d, fieldname, default)`` for every document
    number ``d`` of a segment reader, as a list: BM25 reads one field length
    per posting scored, and a list index is much cheaper than Whoosh's column
    lookup. ``default`` only shows in a segment without a length column for
    the field (no document of it has the field; a document that matches a
    word has a length). Kept per segment (its field lengths never change:
    deletions leave them, a merge makes a new segment), field and default,
    for the :data:`LENGTHS_KEPT` latest."""
    try:
        key = (reader.segment().segment_id(), reader.doc_count_all(), fieldname, default)
    except AttributeError:  # not a segment reader: no cache
        key = None
    table = _LENGTHS.get(key) if key is not None else None
    if table is None:
        dfl = reader.doc_field_length
        table = [dfl(d, fieldname, default) for d in range(reader.doc_count_all())]
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
                # a segment without the field counts 0 per document, as
                # Whoosh's totals do: the default 1 made the __state__
                # document (seen by all) weigh in whenever the last change
                # was to a hidden item, a public score then told of it
                table = field_lengths(reader, fieldname, 0)
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
