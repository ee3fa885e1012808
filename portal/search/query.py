"""User input -> safe Whoosh query, synonyms and "did you mean".

Whoosh's query-language parser is never used on user input: any text
(``field:x``, ``*``, unbalanced quotes, ``AND/OR/NOT``, control characters,
10 kB of paste) is read as plain words. See :func:`build_query` for the
query's shape and :func:`suggest` for spelling suggestions.

The text analysis is shared with the index through
:func:`portal.search.analysis.analyze_word`, so a query word and the indexed
word meet on the same stem and compound parts.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from whoosh import matching
from whoosh import query as wq
from whoosh.util import make_binary_tree

from .analysis import (
    STOP_WORDS,
    WORD_PATTERN,
    analyze_word,
    display_form,
    fold,
    split_compound,
    stem,
    zipf,
)

__all__ = [
    "FIELD_BOOSTS",
    "AllWordsOr",
    "BuiltQuery",
    "DisMax",
    "Synonyms",
    "build_query",
    "highlight_terms",
    "load_synonyms",
    "suggest",
]

#: Field boosts: a title match counts most, the body least.
FIELD_BOOSTS = {"title": 3.0, "summary": 2.0, "tags": 2.0, "body": 1.0}
#: Fields with positions (``phrase=True`` in the schema): phrases run there;
#: other fields get an And of the phrase's terms instead.
PHRASE_FIELDS = frozenset({"title", "body"})
SPELL_FIELD = "spell"
STEMMED_FIELDS = ("title", "summary", "tags", "body")

SYNONYM_WEIGHT = 0.5  #: a synonym scores half of the word itself
PARTS_WEIGHT = 0.6  #: "werker voor jongeren" for the query "jongerenwerker"
SOFT_WEIGHT = 0.3  #: filler words of questions ("ik zoek iemand die ...")
FUZZY_WEIGHT = 0.6  #: typo-tolerant alternatives (fuzzy=True only)
ALL_WORDS_BOOST = 3.0  #: extra x(score of core words) when a document has them all
TIEBREAK = 0.1  #: DisjunctionMax: a little credit for matching more fields

MAX_INPUT_CHARS = 4000  #: the rest of a long paste is ignored
MAX_WORDS = 32  #: content words used from the input
MAX_WORD_LEN = 40  #: longer "words" are junk and ignored

#: Words that carry the question, not its subject. They still count, at
#: :data:`SOFT_WEIGHT`, but a document need not contain them to rank as
#: matching all words. Ignored when a query consists of nothing else.
SOFT_WORDS = frozenset(
    """
    zoek zoeken zoekt gezocht graag kent ken kennen weet weten vind vinden
    informatie info ervaring ervaringen tip tips voorbeeld voorbeelden manier
    manieren spreekt spreken praat praten iemand mensen
    """.split()
)

_QUOTES = str.maketrans({c: '"' for c in "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb"})
_WORD_RE = re.compile(WORD_PATTERN)
DEFAULT_SYNONYMS = os.path.join(os.path.dirname(__file__), "data", "synonyms.txt")


# --------------------------------------------------------------------------
# Synonyms
# --------------------------------------------------------------------------


def _analyze_phrase(text: str) -> tuple[str, ...]:
    """Stems of the content words of ``text`` (no compound parts)."""
    out = []
    for w in _WORD_RE.findall(text):
        f = fold(w)
        if f not in STOP_WORDS and len(f) <= MAX_WORD_LEN:
            out.append(stem(f))
    return tuple(out)


class Synonyms:
    """Synonym groups, matched on analysed (folded + stemmed) forms.

    Build with :func:`load_synonyms` or ``Synonyms.parse(text)``.
    ``Synonyms()`` is the empty set (no expansion).
    """

    def __init__(self, groups: Sequence[Sequence[str]] = ()):
        self._alts: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        for group in groups:
            keys = list(dict.fromkeys(k for k in map(_analyze_phrase, group) if k))
            for key in keys:
                alts = self._alts.setdefault(key, [])
                alts.extend(k for k in keys if k != key and k not in alts)
        #: longest key, in words: how far multi-word matching has to look
        self.max_words = max((len(k) for k in self._alts), default=0)

    @classmethod
    def parse(cls, text: str) -> Synonyms:
        """Parse the file format: one group a line, commas, ``#`` comments."""
        groups = []
        for line in text.splitlines():
            entries = [e.strip() for e in line.split("#", 1)[0].split(",")]
            entries = [e for e in entries if e]
            if len(entries) > 1:
                groups.append(entries)
        return cls(groups)

    def __len__(self) -> int:
        return len(self._alts)

    def expand(self, term_or_words: str | Sequence[str]) -> list[tuple[str, ...]]:
        """Alternatives for a word, a phrase or an analysed term.

        ``term_or_words``: raw text (``"sleutelfiguren"``, ``"midden- en
        kleinbedrijf"``), an already analysed stem (``"sleutelfigur"``) or a
        tuple of stems. Returns the other members of its group(s) as tuples
        of stems, one tuple per alternative phrase (``[("mkb",)]``); ``[]``
        when there are none. The input itself is never among them.
        """
        if isinstance(term_or_words, str):
            key = _analyze_phrase(term_or_words)
            found = self._alts.get(key) or self._alts.get((term_or_words,))
        else:
            found = self._alts.get(tuple(term_or_words))
        return list(found or [])

    def has(self, key: tuple[str, ...]) -> bool:
        return key in self._alts


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int, size: int) -> Synonyms:
    with open(path, encoding="utf-8") as fh:
        return Synonyms.parse(fh.read())


def load_synonyms(path: str | os.PathLike | None = None, *, missing_ok: bool = False) -> Synonyms:
    """Load a synonyms file (default: ``portal/search/data/synonyms.txt``).

    Cached per path and modification time, so a curator's edit is picked up
    by the next query without a restart. Raises ``FileNotFoundError`` for a
    missing file unless ``missing_ok`` (then returns an empty ``Synonyms``).
    """
    path = os.fspath(path or DEFAULT_SYNONYMS)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if missing_ok:
            return Synonyms()
        raise
    return _load(os.path.abspath(path), st.st_mtime_ns, st.st_size)


# --------------------------------------------------------------------------
# Input -> units
# --------------------------------------------------------------------------


@dataclass
class _Unit:
    """One concept of the query: a word, a quoted phrase or a synonym phrase."""

    surface: list[str]  # the user's words
    stems: tuple[str, ...]  # one stem, or the stems of a phrase
    parts: tuple[str, ...] = ()  # leaf compound-part stems of a single word
    folded: str = ""  # the folded single word (spell field, fuzzy)
    exact: bool = False  # quoted: no parts, synonyms or fuzziness
    soft: bool = False


def _segments(text: str) -> list[tuple[str, bool]]:
    """Split into (segment, quoted) pieces; unbalanced quotes are ignored."""
    text = text.translate(_QUOTES)
    if text.count('"') < 2 or text.count('"') % 2:
        return [(text.replace('"', " "), False)]
    pieces = text.split('"')
    return [(p, i % 2 == 1) for i, p in enumerate(pieces) if p.strip()]


def _units(text: str, synonyms: Synonyms) -> list[_Unit]:
    units: list[_Unit] = []
    for segment, quoted in _segments(text[:MAX_INPUT_CHARS]):
        words = []
        for raw in _WORD_RE.findall(segment):
            folded = fold(raw)
            if folded in STOP_WORDS or len(folded) > MAX_WORD_LEN:
                continue
            words.append((raw, folded))
        if quoted and len(words) > 1:
            units.append(_Unit([w for w, _ in words], tuple(stem(f) for _, f in words), exact=True))
            continue
        plain = []
        for raw, folded in words:
            whole, _ = analyze_word(folded)
            leaves = () if quoted else tuple(dict.fromkeys(stem(p) for p in split_compound(folded)))
            plain.append(_Unit([raw], (whole,), leaves, folded, exact=quoted,
                               soft=folded in SOFT_WORDS))
        units.extend(_merge_synonym_phrases(plain, synonyms))
        if len(units) >= MAX_WORDS:
            break
    units = units[:MAX_WORDS]
    if all(u.soft for u in units):
        for u in units:
            u.soft = False
    return units


def _merge_synonym_phrases(units: list[_Unit], synonyms: Synonyms) -> list[_Unit]:
    """Join runs of words that form a multi-word synonym entry into one unit."""
    out, i = [], 0
    while i < len(units):
        for n in range(min(synonyms.max_words, len(units) - i), 1, -1):
            run = units[i:i + n]
            key = tuple(u.stems[0] for u in run)
            if synonyms.has(key) and not any(u.exact for u in run):
                out.append(_Unit([w for u in run for w in u.surface], key))
                i += n
                break
        else:
            out.append(units[i])
            i += 1
    return out


# --------------------------------------------------------------------------
# Units -> Whoosh query
# --------------------------------------------------------------------------


class _DisMaxMatcher(matching.DisjunctionMaxMatcher):
    """A correct DisjunctionMax matcher.

    Whoosh 2.7.5's ``DisjunctionMaxMatcher.score`` takes the max over both
    sub-matchers even when one of them sits on another document (scores leak
    between documents) and ignores ``tiebreak``. Here a document scores
    ``max + tiebreak * min`` of the sub-matchers positioned on it. Block
    quality is switched off, so collectors never skip on a wrong bound.
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
        na, nb = a.replace(minquality), b.replace(minquality)
        if na is a and nb is b:
            return self
        return self.__class__(na, nb, tiebreak=self.tiebreak)


class DisMax(wq.DisjunctionMax):
    """``DisjunctionMax`` scored by :class:`_DisMaxMatcher` (see there)."""

    def _matcher(self, subs, searcher, context):
        m = make_binary_tree(_DisMaxMatcher, [q.matcher(searcher, context) for q in subs],
                             tiebreak=self.tiebreak)
        return matching.WrappingMatcher(m, self.boost) if self.boost != 1.0 else m


class _AllWordsMatcher(matching.Matcher):
    """Union of word clauses; all "core" words on a document add a bonus.

    Score = sum of the matching clauses + ``bonus`` x sum of the core
    clauses when every core clause matches: what ``Or([And(core) ^ bonus,
    Or(all)])`` scores, in one pass over the postings instead of two.
    """

    def __init__(self, children, core, bonus):
        self._kids, self._core, self._bonus = list(children), list(core), bonus

    def _active(self):
        return [(m, c) for m, c in zip(self._kids, self._core) if m.is_active()]

    def is_active(self):
        return any(m.is_active() for m in self._kids)

    def id(self):
        return min(m.id() for m in self._kids if m.is_active())

    def next(self):
        current = self.id()
        for m in self._kids:
            if m.is_active() and m.id() == current:
                m.next()

    def skip_to(self, id):
        for m in self._kids:
            if m.is_active() and m.id() < id:
                m.skip_to(id)

    def score(self):
        current, total, core, complete = self.id(), 0.0, 0.0, True
        for m, is_core in zip(self._kids, self._core):
            if m.is_active() and m.id() == current:
                sc = m.score()
                total += sc
                core += sc if is_core else 0.0
            elif is_core:
                complete = False
        return total + self._bonus * core if complete else total

    def weight(self):
        current = self.id()
        return sum(m.weight() for m in self._kids if m.is_active() and m.id() == current)

    def children(self):
        return [m for m in self._kids if m.is_active()]

    def supports(self, astype):
        return all(m.supports(astype) for m in self._kids)

    def supports_block_quality(self):
        return False

    def depth(self):
        return 1 + max((m.depth() for m in self._kids), default=0)

    def reset(self):
        for m in self._kids:
            m.reset()

    def copy(self):
        return self.__class__([m.copy() for m in self._kids], self._core, self._bonus)

    def replace(self, minquality=0):
        # children get minquality 0: a clause too weak alone still adds up
        live = self._active()
        if not live:
            return matching.NullMatcher()
        done = any(c and not m.is_active() for m, c in zip(self._kids, self._core))
        bonus = 0.0 if done else self._bonus  # an exhausted core word: no bonus left
        if len(live) == 1 and not bonus:
            return live[0][0].replace()
        return self.__class__([m.replace() for m, _ in live], [c for _, c in live], bonus)


class AllWordsOr(wq.Or):
    """``Or`` of word clauses scored by :class:`_AllWordsMatcher`.

    ``core``: one flag per subquery, True for the words a document must all
    contain to get the ``bonus`` (filler words are not core).
    """

    def __init__(self, subqueries, core=None, bonus=ALL_WORDS_BOOST, boost=1.0):
        super().__init__(subqueries, boost=boost)
        self.core = list(core) if core is not None else [True] * len(subqueries)
        self.bonus = bonus

    def normalize(self):
        subs = [q.normalize() for q in self.subqueries]
        return self.__class__(subs, self.core, self.bonus, self.boost)

    def apply(self, fn):
        return self.__class__([fn(q) for q in self.subqueries], self.core, self.bonus, self.boost)

    def _matcher(self, subs, searcher, context):
        m = _AllWordsMatcher([q.matcher(searcher, context) for q in subs], self.core, self.bonus)
        return matching.WrappingMatcher(m, self.boost) if self.boost != 1.0 else m


def _terms(field: str, stems: Sequence[str], boost: float, phrase: bool = False) -> wq.Query:
    if len(stems) == 1:
        return wq.Term(field, stems[0], boost=boost)
    if phrase and field in PHRASE_FIELDS:
        return wq.Phrase(field, list(stems), boost=boost)
    return wq.And([wq.Term(field, s) for s in stems], boost=boost)


def _fuzzy_params(word: str) -> tuple[int, int] | None:
    """(maxdist, prefixlength) for a word, None when too short to fuzz."""
    if len(word) < 4 or word.isdigit():
        return None
    return (2, 2) if len(word) >= 8 else (1, 1)


def _unit_query(unit: _Unit, boosts: dict[str, float], synonyms: Synonyms, fuzzy: bool) -> wq.Query:
    alternatives = [] if unit.exact else synonyms.expand(unit.stems)
    fz = _fuzzy_params(unit.folded) if fuzzy and unit.folded and not unit.exact else None
    per_field = []
    for field, boost in boosts.items():
        alts = [_terms(field, unit.stems, boost, phrase=True)]
        if len(unit.parts) > 1:
            alts.append(_terms(field, unit.parts, boost * PARTS_WEIGHT))
        alts += [_terms(field, alt, boost * SYNONYM_WEIGHT, phrase=True) for alt in alternatives]
        if fz:
            alts.append(wq.FuzzyTerm(field, unit.stems[0], boost=boost * FUZZY_WEIGHT,
                                     maxdist=fz[0], prefixlength=fz[1], constantscore=False))
        per_field.append(alts[0] if len(alts) == 1 else wq.Or(alts))
    if fz:
        per_field.append(wq.FuzzyTerm(SPELL_FIELD, unit.folded, boost=FUZZY_WEIGHT,
                                      maxdist=fz[0], prefixlength=fz[1], constantscore=False))
    q = per_field[0] if len(per_field) == 1 else DisMax(per_field, tiebreak=TIEBREAK)
    return q.with_boost(q.boost * SOFT_WEIGHT) if unit.soft else q


class BuiltQuery(NamedTuple):
    """What :func:`build_query` returns; unpacks as ``query, words``."""

    query: wq.Query | None
    words: list[str]


def build_query(
    text: str,
    *,
    fields_boosts: dict[str, float] | None = None,
    fuzzy: bool = False,
    synonyms: Synonyms | None = None,
) -> BuiltQuery:
    """Turn any user input into a Whoosh query over the stemmed fields.

    ``text``: anything (non-str is converted, ``None`` is empty); never parsed
    as query syntax, never raises on content. ``fields_boosts``: field ->
    boost, default :data:`FIELD_BOOSTS` (title 3 > summary 2 = tags 2 >
    body 1). ``synonyms``: default :func:`load_synonyms` (),
    ``Synonyms()`` for none. ``fuzzy``: add typo-tolerant ``FuzzyTerm``
    alternatives (edit distance 1 from 4 letters, 2 from 8; on the stemmed
    fields and on the unstemmed ``spell`` field), for the caller's retry when
    the plain query finds (almost) nothing.

    Shape: each content word (stop words dropped, at most :data:`MAX_WORDS`)
    becomes a ``DisjunctionMax`` over the fields of ``Or(stem, And(compound
    parts) x0.6, synonyms x0.5[, fuzzy x0.6])``; a balanced ``"quoted
    phrase"`` becomes a ``Phrase`` (title, body) or ``And`` (other fields)
    without synonyms or parts. Several words are combined by
    :class:`AllWordsOr`, which scores like ``Or(And(words) x3, Or(words))``
    in one pass, so documents matching every word rank above those matching
    some; filler words of questions (:data:`SOFT_WORDS`) count less and are
    not required for that bonus.

    Returns ``BuiltQuery(query, words)``: ``query`` is ``None`` when the
    input has no content words (empty, only stop words or punctuation);
    ``words`` are the user's content words as typed, in order.
    """
    if text is None:
        text = ""
    text = str(text)
    if synonyms is None:
        synonyms = load_synonyms(missing_ok=True)
    boosts = dict(fields_boosts or FIELD_BOOSTS)
    units = _units(text, synonyms)
    words = [w for u in units for w in u.surface]
    if not units:
        return BuiltQuery(None, [])
    clauses = [_unit_query(u, boosts, synonyms, fuzzy) for u in units]
    if len(clauses) == 1:
        return BuiltQuery(clauses[0], words)
    core = [not u.soft for u in units]
    bonus = ALL_WORDS_BOOST if sum(core) >= 2 else 0.0
    return BuiltQuery(AllWordsOr(clauses, core, bonus), words)


def highlight_terms(text: str, synonyms: Synonyms | None = None) -> set[str]:
    """Index terms (stems, compound parts, synonyms) a query for ``text`` uses.

    For callers that highlight without a Whoosh query object; the terms are
    analysed forms, to be matched against the stemmed fields' tokens.
    """
    synonyms = load_synonyms(missing_ok=True) if synonyms is None else synonyms
    terms: set[str] = set()
    for unit in _units(str(text or ""), synonyms):
        terms.update(unit.stems)
        terms.update(unit.parts)
        if not unit.exact:
            for alt in synonyms.expand(unit.stems):
                terms.update(alt)
    return terms


# --------------------------------------------------------------------------
# Did you mean
# --------------------------------------------------------------------------

KNOWN_WORD_ZIPF = 3.0  #: a common Dutch word is never "corrected"


def _correct_word(searcher, corrector, folded: str) -> str | None:
    reader = searcher.reader()
    if reader.doc_frequency(SPELL_FIELD, folded) > 0:
        return None
    if zipf(folded) >= KNOWN_WORD_ZIPF or split_compound(folded):
        return None
    stemmed = stem(folded)  # "Somalisch" when the index only has "Somalische"
    if any(reader.doc_frequency(f, stemmed) for f in STEMMED_FIELDS if f in reader.schema):
        return None
    for maxdist in (1, 2) if len(folded) >= 5 else (1,):
        candidates = [c for c in corrector.suggest(folded, limit=10, maxdist=maxdist, prefix=1)
                      if c != folded and not c.isdigit()]
        if candidates:
            return max(candidates, key=lambda c: (zipf(c) > 0, reader.doc_frequency(SPELL_FIELD, c),
                                                  zipf(c)))
    return None


def suggest(searcher, text: str) -> str | None:
    """"Did you mean": ``text`` with unknown words replaced, or ``None``.

    A word is corrected only when it does not occur in the index's ``spell``
    field, its stem occurs in no stemmed field (another inflection of it is
    indexed), it is not a common Dutch word or compound, and the corrector
    (``searcher.corrector("spell")``) finds a word within edit distance 1
    (then 2, for words of 5+ letters) sharing its first letter; among those
    the most common (known Dutch words first) wins. Suggestions come from the
    unstemmed ``spell`` field, so they are real words, shown in their usual
    spelling (``coordinator`` -> ``coördinator``) and with the user's initial
    capital. Stop words, digits and short words are left alone; the rest of
    the text (punctuation, quotes) is kept.
    """
    text = str(text or "")[:MAX_INPUT_CHARS]
    corrector = searcher.corrector(SPELL_FIELD)
    changed, checked = False, 0

    def replace(match: re.Match) -> str:
        nonlocal changed, checked
        raw = match.group(0)
        folded = fold(raw)
        if folded in STOP_WORDS or not 3 <= len(folded) <= MAX_WORD_LEN or folded.isdigit():
            return raw
        checked += 1
        if checked > MAX_WORDS:
            return raw
        fixed = _correct_word(searcher, corrector, folded)
        if not fixed:
            return raw
        changed = True
        fixed = display_form(fixed)
        return fixed[:1].upper() + fixed[1:] if raw[:1].isupper() else fixed

    corrected = _WORD_RE.sub(replace, text)
    return " ".join(corrected.split()) if changed else None
