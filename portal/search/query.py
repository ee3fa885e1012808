"""User input -> safe Whoosh query, synonyms and "did you mean".

Whoosh's query-language parser is never used on user input: any text
(``field:x``, ``*``, unbalanced quotes, ``AND/OR/NOT``, control characters,
10 kB of paste) is read as plain words. See :func:`build_query` for the
query's shape and :func:`suggest` for spelling suggestions.

The text analysis is shared with the index through
:func:`portal.search.analysis.analyze_word`, so a query word and the indexed
word meet on the same stem and compound parts.

Ranking notes (measured on ``benchmarks/relevance.py``):

* IDF-aware combination (:class:`~portal.search.matchers.AllWordsOr` with
  ``keys``): Whoosh's BM25F idf ``ln(N/(df+1)) + 1`` never drops below 1, so
  in a collection about key figures "sleutelfiguur" or "gemeente" still
  weigh half as much as the subject word of a question. Each word's clause is
  rescaled to the Robertson/Sparck Jones idf, and the all-words bonus is a
  coverage bonus ``3 x coverage ** 2`` with coverage = the idf-weighted share
  of the core words a document contains (1 = all of them, as before).
* Agent-noun derivation (``-er``): ``jongerenwerk`` ~ ``jongerenwerker``
  (and their synonyms, e.g. ``straatcoach``) at half weight, both ways.

Executor contract (speed): :func:`build_query` defines the ranking; the
executor (:func:`portal.search.search`) evaluates it whole over each segment
(:mod:`portal.search.dense`), which gives every match with the score
Whoosh's matcher gives it. :func:`build_match_query` is its unscored twin
(the same documents from postings sets), for callers that only count.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from whoosh import query as wq

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
from .matchers import ALL_WORDS_BOOST, AllWordsOr, DisMax, FuzzyTerm, MatchSet, SumOr

__all__ = [
    "FIELD_BOOSTS",
    "AllWordsOr",
    "BuiltQuery",
    "DisMax",
    "Synonyms",
    "build_match_query",
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
#: the activity for the agent noun and back: "jongerenwerk" ~ "jongerenwerker"
DERIVATION_WEIGHT = 0.5
DERIVATION_MIN_ZIPF = 2.5  #: the derived word must be a known Dutch word
SOFT_WEIGHT = 0.3  #: filler words of questions ("ik zoek iemand die ...")
FUZZY_WEIGHT = 0.6  #: typo-tolerant alternatives (fuzzy=True only)
#: all-words bonus x (idf-weighted share of the core words matched) ** this
COVERAGE_POWER = 2.0
TIEBREAK = 0.1  #: DisjunctionMax: a little credit for matching more fields

MAX_INPUT_CHARS = 4000  #: the rest of a long paste is ignored
MAX_WORDS = 32  #: content words used from the input
#: words that get typo tolerance (fuzzy retry) and spelling suggestions: each
#: walks the term dictionary with an automaton, the costly part of a query, so
#: a pasted paragraph of misspellings cannot make one request run for seconds
MAX_TYPO_WORDS = 8
MAX_WORD_LEN = 40  #: longer "words" are junk and ignored

#: Words that carry the question, not its subject. They still count, at
#: :data:`SOFT_WEIGHT`, but a document need not contain them to rank as
#: matching all words. Ignored when a query consists of nothing else.
SOFT_WORDS = frozenset(
    """
    zoek zoeken zoekt gezocht graag kent ken kennen weet weten vind vinden
    informatie info ervaring ervaringen tip tips voorbeeld voorbeelden manier
    manieren spreekt spreken praat praten iemand mensen
    sprekend sprekende krijg krijgt krijgen doe doet doen ga gaat gaan
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
    derived: tuple[str, ...] = ()  # stems of agent-noun derivations (-er)


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
                               soft=folded in SOFT_WORDS,
                               derived=() if quoted else _agent_derivations(folded, whole)))
        units.extend(_merge_synonym_phrases(plain, synonyms))
        if len(units) >= MAX_WORDS:
            break
    units = units[:MAX_WORDS]
    if all(u.soft for u in units):
        for u in units:
            u.soft = False
    return units


@functools.lru_cache(maxsize=10_000)
def _agent_derivations(folded: str, whole: str) -> tuple[str, ...]:
    """Stems of the agent noun of an activity noun/verb and back.

    Dutch forms agent nouns with ``-er`` (``jongerenwerk`` -> ``jongerenwerker``,
    ``onderzoek`` -> ``onderzoeker``, ``sport`` -> ``sporter``); a searcher for
    the activity is served by texts about the people doing it and vice versa.
    Only when the other form is a known Dutch word (wordfreq) and the base has
    at least 5 letters, so ``ouder`` is not taken for ``oud`` + ``-er``.
    """
    out: list[str] = []
    if not folded.isalpha():
        return ()
    parts = split_compound(folded)
    head = parts[-1] if len(parts) > 1 and folded.endswith(parts[-1]) else ""
    candidates = [(folded + "er", head + "er" if head else "")]
    if folded.endswith("er") and not folded.endswith(("der", "ter")):
        candidates.append((folded[:-2], head[:-2] if head.endswith("er") else ""))
    for other, other_head in candidates:
        known = (len(other) >= 5 and zipf(other) >= DERIVATION_MIN_ZIPF
                 and len(min(other, folded, key=len)) >= 5)
        if not known and len(other_head) >= 4:  # jongeren|werk -> jongeren|werker
            known = zipf(other_head) >= DERIVATION_MIN_ZIPF
        if known and not other.endswith("d"):
            s = stem(other)
            if s != whole and s not in out:
                out.append(s)
    return tuple(out)


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


def _derived_alternatives(unit: _Unit, synonyms: Synonyms, taken) -> list[tuple[tuple[str, ...], float]]:
    """(stems, weight) of a unit's derivations and their synonyms."""
    seen = {tuple(unit.stems), *map(tuple, taken)}
    out = []
    for d in unit.derived:
        for alt, w in [((d,), DERIVATION_WEIGHT)] + [
                (a, DERIVATION_WEIGHT * SYNONYM_WEIGHT) for a in synonyms.expand((d,))]:
            if alt not in seen:
                seen.add(alt)
                out.append((alt, w))
    return out


def _unit_query(unit: _Unit, boosts: dict[str, float], synonyms: Synonyms, fuzzy: bool) -> wq.Query:
    alternatives = [] if unit.exact else synonyms.expand(unit.stems)
    fz = _fuzzy_params(unit.folded) if fuzzy and unit.folded and not unit.exact else None
    derived = _derived_alternatives(unit, synonyms, alternatives)
    per_field = []
    for field, boost in boosts.items():
        alts = [_terms(field, unit.stems, boost, phrase=True)]
        if len(unit.parts) > 1:
            alts.append(_terms(field, unit.parts, boost * PARTS_WEIGHT))
        alts += [_terms(field, alt, boost * SYNONYM_WEIGHT, phrase=True) for alt in alternatives]
        alts += [_terms(field, alt, boost * w) for alt, w in derived]
        if fz:
            alts.append(FuzzyTerm(field, unit.stems[0], boost=boost * FUZZY_WEIGHT,
                                     maxdist=fz[0], prefixlength=fz[1], constantscore=False))
        per_field.append(alts[0] if len(alts) == 1 else SumOr(alts))
    if fz:
        per_field.append(FuzzyTerm(SPELL_FIELD, unit.folded, boost=FUZZY_WEIGHT,
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
    not required for that bonus. That bonus and the words' weights are
    IDF-aware (see the module notes): missing a word found in most documents
    costs little, missing the rare subject word a lot. A word also finds its
    agent-noun derivation (``jongerenwerk`` <-> ``jongerenwerker``) and that
    form's synonyms at :data:`DERIVATION_WEIGHT`.

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
    clauses = [_unit_query(u, boosts, synonyms, fuzzy and i < MAX_TYPO_WORDS) for i, u in enumerate(units)]
    if len(clauses) == 1:
        return BuiltQuery(clauses[0], words)
    core = [not u.soft for u in units]
    bonus = ALL_WORDS_BOOST if sum(core) >= 2 else 0.0
    keys = [(u.stems, u.parts, u.derived) for u in units]
    return BuiltQuery(AllWordsOr(clauses, core, bonus, keys=keys, fields=tuple(boosts),
                                 power=COVERAGE_POWER), words)


def _unscored(q: wq.Query) -> wq.Query:
    """``q`` with DisMax/AllWordsOr turned into plain ``Or`` nodes."""
    if isinstance(q, (DisMax, wq.Or)):
        return wq.Or([_unscored(sub) for sub in q.subqueries])
    return q


def build_match_query(
    text: str,
    *,
    fields_boosts: dict[str, float] | None = None,
    fuzzy: bool = False,
    synonyms: Synonyms | None = None,
) -> wq.Query | None:
    """The unscored twin of :func:`build_query`: the same documents, no ranking.

    Same arguments; returns a :class:`~portal.search.matchers.MatchSet` over
    exactly the terms, compound-part ``And``s and phrases of
    ``build_query(text, ...)`` (so its docset is the scored query's docset),
    or ``None`` when that is ``None``. Its matcher builds the docset from set
    unions/intersections of postings, so ``set(searcher.docs_for_query(q))``
    is cheap; every document scores 1.0: for exact totals and facet counts
    while the scored query runs with a ``limit``.
    """
    q = build_query(text, fields_boosts=fields_boosts, fuzzy=fuzzy, synonyms=synonyms).query
    return None if q is None else MatchSet([_unscored(q)])


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
        for alt, _w in _derived_alternatives(unit, synonyms, ()):
            terms.update(alt)
        if not unit.exact:
            for alt in synonyms.expand(unit.stems):
                terms.update(alt)
    return terms


# --------------------------------------------------------------------------
# Did you mean
# --------------------------------------------------------------------------

KNOWN_WORD_ZIPF = 3.0  #: a common Dutch word is never "corrected"


def _correct_word(searcher, corrector, folded: str, public: frozenset | None = None) -> str | None:
    reader = searcher.reader()

    def live(word: str, field: str = SPELL_FIELD) -> bool:
        # Whoosh's term dictionary keeps the words of deleted documents until a
        # merge (a withdrawn item's names among them): only a live document,
        # and for ``public`` a live public one, makes a word count.
        docs = searcher.docs_for_query(wq.Term(field, word))
        return any(True for _ in docs) if public is None else not public.isdisjoint(docs)

    if reader.doc_frequency(SPELL_FIELD, folded) > 0 and live(folded):
        return None
    if zipf(folded) >= KNOWN_WORD_ZIPF or split_compound(folded):
        return None
    stemmed = stem(folded)  # "Somalisch" when the index only has "Somalische"
    for f in STEMMED_FIELDS:
        if f not in reader.schema or not reader.doc_frequency(f, stemmed):
            continue
        # Only public documents count, like the spell field's words: whether
        # a draft or a profile holds a word must not change the suggestion.
        if public is None or not public.isdisjoint(searcher.docs_for_query(wq.Term(f, stemmed))):
            return None
    for maxdist in (1, 2) if len(folded) >= 5 else (1,):
        candidates = [c for c in corrector.suggest(folded, limit=10, maxdist=maxdist, prefix=1)
                      if c != folded and not c.isdigit() and live(c)]
        if candidates:
            return max(candidates, key=lambda c: (zipf(c) > 0, reader.doc_frequency(SPELL_FIELD, c),
                                                  zipf(c)))
    return None


#: corrections kept per index reader (cleared when full)
CORRECTIONS_KEPT = 4096


def _kept_correction(searcher, corrector, folded: str, public: frozenset | None) -> str | None:
    """:func:`_correct_word`, kept on the index reader: the answer depends
    only on the index (and ``public``, derived from it), so it holds while
    the reader is open; walking the term dictionary for an unknown word is
    the costly part of a typo query. A new index generation or segment means
    a new reader and fresh answers."""
    reader = searcher.reader()
    cache = reader.__dict__.setdefault("_portal_corrections", {})
    key = (folded, public is None)  # ``public`` is a function of the reader's documents
    if key not in cache:
        if len(cache) >= CORRECTIONS_KEPT:
            cache.clear()
        cache[key] = _correct_word(searcher, corrector, folded, public)
    return cache[key]


def suggest(searcher, text: str, public: frozenset | None = None) -> str | None:
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
    the text (punctuation, quotes) is kept. ``public``: the document numbers
    of public items; when given, only they count for "another inflection is
    indexed", so hidden items (drafts, profiles) never change a suggestion.
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
        if checked > MAX_TYPO_WORDS:
            return raw
        fixed = _kept_correction(searcher, corrector, folded, public)
        if not fixed:
            return raw
        changed = True
        fixed = display_form(fixed)
        return fixed[:1].upper() + fixed[1:] if raw[:1].isupper() else fixed

    corrected = _WORD_RE.sub(replace, text)
    return " ".join(corrected.split()) if changed else None
