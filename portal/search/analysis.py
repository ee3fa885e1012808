"""Dutch text analysis for the search index: folding, stop words, compounds.

Two analyzers are used by ``portal.search.schema``:

* :func:`dutch_analyzer` (title, summary, tags, body; index AND query time):
  words -> lowercase + accent fold -> Dutch stop words -> compound parts ->
  Dutch Snowball stem (plus a few derivation rules, see :func:`stem`).
  A compound such as ``jongerenwerkersnetwerk`` is indexed as its own stem
  plus the stems of its parts (``jonger``, ``werker``, ``netwerk`` and the
  known sub-compound ``jongerenwerker``), all at the position and character
  range of the whole word, so phrases and highlighting keep working.
* :func:`plain_analyzer` (``spell``): words -> lowercase + accent fold only,
  so "did you mean" suggestions are real words, never stems or parts.

Compound splitting uses the Dutch word frequencies shipped with ``wordfreq``
(loaded lazily, once per process, ~0.3 s) and a Koehn & Knight (2003) style
rule: split when the mean Zipf frequency of the parts (= geometric mean of
their frequencies) beats the frequency of the whole word; see
:func:`split_compound`.

Everything the analyzers hold is picklable (Whoosh pickles the schema into
the index TOC): filters are module-level classes without state, and the word
list and caches live at module level. Renaming this module or its filter
classes therefore requires rebuilding the index.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import unicodedata

from whoosh.analysis import Filter, RegexTokenizer
from whoosh.lang.snowball.dutch import DutchStemmer

__all__ = [
    "STOP_WORDS",
    "analyze_word",
    "compound_terms",
    "display_form",
    "dutch_analyzer",
    "dutch_counts",
    "dutch_positions",
    "fold",
    "plain_analyzer",
    "plain_counts",
    "split_compound",
    "stem",
    "zipf",
]

#: A word: letters/digits plus combining marks (NFD input); anything else,
#: hyphens, apostrophes and underscores included, separates words.
WORD_PATTERN = r"(?:[^\W_]|[\u0300-\u036f])+"

#: Tokens longer than this are junk (base64, URLs glued together) and dropped.
MAX_TOKEN_LEN = 48

# --------------------------------------------------------------------------
# Folding
# --------------------------------------------------------------------------

_SPECIAL_FOLDS = str.maketrans(
    {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "þ": "th",
     "ð": "d", "ı": "i"}
)


@functools.lru_cache(maxsize=200_000)
def _fold_word(word: str) -> str:
    text = word.lower()
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKD", text.translate(_SPECIAL_FOLDS))
    return "".join(c for c in text if not unicodedata.combining(c))


def fold(text: str) -> str:
    """Lowercase ``text`` and strip accents (``Coördinator`` -> ``coordinator``).

    Handles both composed and decomposed (NFD) input, ligatures via NFKD
    (``ĳ`` -> ``ij``) and a few letters without a decomposition (``ß``, ``ø``).
    Never raises on str input; non-word characters are kept as they are.
    """
    return _fold_word(text) if len(text) <= MAX_TOKEN_LEN else _fold_word.__wrapped__(text)


# --------------------------------------------------------------------------
# Stop words
# --------------------------------------------------------------------------

#: Dutch function words: articles, pronouns, prepositions, conjunctions,
#: auxiliaries and a few adverbs. Unlike Whoosh's Snowball-derived list it
#: does not drop content words (``wezen``, ``doen``, ``altijd``, ``zelf``...)
#: and it adds question words so natural-language questions work.
STOP_WORDS = frozenset(
    """
    de het een der des den
    ik jij je u hij zij ze wij we jullie hen hun hem haar mij me mijn jouw jou
    uw ons onze zich zichzelf men dit dat deze die wie wat welk welke waar
    wanneer waarom hoe er daar hier iets niets iemand niemand
    aan bij door in met na naar naast om op over per te tot uit van voor vanaf
    tijdens tussen onder boven zonder tegen via volgens sinds rond
    en of maar want dus omdat als dan terwijl hoewel zodat noch doch
    ben bent is zijn was waren wordt worden werd werden geworden geweest
    heb hebt heeft hebben had hadden gehad zal zult zullen zou zouden
    kan kun kunt kunnen kon konden moet moeten moest mag mogen wil wilt
    niet geen ook nog al wel zo nu toen eens reeds toch even heel zeer
    alle alles elk elke ieder iedere andere ander meer veel
    """.split()
) | frozenset("abcdefghijklmnopqrstuvwxyz")


# --------------------------------------------------------------------------
# Word frequencies (lazy, once per process)
# --------------------------------------------------------------------------

_FREQ: dict[str, float] | None = None  # wordfreq's own dict, not copied
_FOLDED: dict[str, float] = {}  # folded form -> frequency, accented words only
_DISPLAY: dict[str, str] = {}  # folded form -> usual accented spelling
_LOAD_LOCK = threading.Lock()


def _freqs() -> dict[str, float]:
    """Load wordfreq's Dutch frequencies once (~0.2 s, 311k words)."""
    global _FREQ
    if _FREQ is not None:
        return _FREQ
    with _LOAD_LOCK:
        if _FREQ is not None:
            return _FREQ
        from wordfreq import get_frequency_dict

        freq = get_frequency_dict("nl", wordlist="best")
        best: dict[str, tuple[float, str]] = {}
        for word, f in freq.items():
            if word.isascii() or not word.isalpha():
                continue
            key = _fold_word.__wrapped__(word)
            if f > best.get(key, (0.0, ""))[0]:
                best[key] = (f, word)
        _FOLDED.update({k: f for k, (f, w) in best.items()})
        # show the accented spelling only when it is the more usual one
        _DISPLAY.update({k: w for k, (f, w) in best.items() if f >= freq.get(k, 0.0)})
        _FREQ = freq
    return _FREQ


@functools.lru_cache(maxsize=200_000)
def zipf(word: str) -> float:
    """Zipf frequency of a (folded) Dutch word, 0.0 when unknown.

    3 = once per million words, 6 = once per thousand (wordfreq's scale).
    """
    f = max(_freqs().get(word, 0.0), _FOLDED.get(word, 0.0))
    return math.log10(f) + 9.0 if f > 0.0 else 0.0


def display_form(word: str) -> str:
    """The usual spelling of a folded word (``coordinator`` -> ``coördinator``)."""
    _freqs()
    return _DISPLAY.get(word, word)


# --------------------------------------------------------------------------
# Compound splitting
# --------------------------------------------------------------------------

MIN_PART = 4  #: shorter parts give junk splits (be+leid, ver+keer, mos+kee)
MIN_PART_ZIPF = 2.5  #: a part must be a known word (>= 0.3 per million)
#: ... and short parts a common one: 4-letter strings are often junk words.
MIN_SHORT_PART_ZIPF = {4: 3.5, 5: 3.0}
SUBCOMPOUND_ZIPF = 1.5  #: joined neighbouring parts indexed if this common
MAX_PARTS = 4
MAX_SPLIT_LEN = 40
#: Linking morphemes between parts and their score penalty.
LINKERS = (("", 0.0), ("s", 0.15), ("en", 0.25), ("e", 0.5))
EXTRA_PART_PENALTY = 0.75  #: per part beyond two: prefer few, long parts
#: A frequent word is often a lexicalised compound whose parts drifted
#: (``hoofdstad``, ``tijdschrift``); it must beat its own Zipf by this much
#: per Zipf point above 3.
FREQUENT_MARGIN = 0.5
#: Inflectional endings: ``wetenschappers`` splits as ``wetenschapper`` does.
INFLECTIONS = ("en", "s", "e")

#: Particles, prefixes and short words that start derivations, not compounds
#: (``onder|zoek``, ``samen|werking``, ``best|ellen``, ``acht|eraf``): never a
#: non-final part.
_NOT_MODIFIER = frozenset(
    """
    aan af bij door in mee na om onder op over tegen toe uit voor achter terug
    samen weg neer vast binnen buiten boven beneden rond tussen voorbij ver be
    ge ont her er mis hier daar waar ten ter tevoren
    best acht waard buit enge inter mini over ende vooruit voort overeen
    daarop daarin daarmee hierop hierin nabij dicht mede zelf aller
    """.split()
)
#: Suffix-like and inflection-like words (``werkelijk|heid``, ``park|eren``,
#: ``kant|oren``, ``ontdek|king``, ``waarde|ring``): never a non-initial part.
_NOT_HEAD = frozenset(
    """
    heid heden schap schappen baar bare lijk lijke lijken loos loze achtig
    achtige ster sters isme isch ische ing ingen erij tjes zaam zame waardig
    waardige matig matige wijze dien enen
    eren ellen eden innen ende enden oren erge eraf eruit erbij erin erop
    eraan ering king kingen ring ringen erde ente ster tering teren ieren
    ogen atie aties ties teit iteit sel sels nis nissen ging gingen
    """.split()
)


def _part_ok(part: str, initial: bool, final: bool) -> bool:
    if len(part) < MIN_PART or part in STOP_WORDS:
        return False
    if not final and part in _NOT_MODIFIER:
        return False
    if not initial and part in _NOT_HEAD:
        return False
    return zipf(part) >= MIN_SHORT_PART_ZIPF.get(len(part), MIN_PART_ZIPF)


def _segmentations(word: str, initial: bool, depth: int):
    """Yield (parts, joins, penalty) for ``word`` split into >= 1 parts.

    ``joins`` are the linkers following each part but the last.
    """
    if _part_ok(word, initial, True):
        yield [word], [], 0.0
    if depth <= 1:
        return
    for i in range(MIN_PART, len(word) - MIN_PART + 1):
        left = word[:i]
        if not _part_ok(left, initial, False):
            continue
        for linker, penalty in LINKERS:
            if not word.startswith(linker, i):
                continue
            rest = word[i + len(linker):]
            if len(rest) < MIN_PART:
                continue
            if linker and zipf(linker + rest) >= MIN_PART_ZIPF:
                continue  # belang|stellende, not belang|s|tellende
            for parts, joins, pen in _segmentations(rest, False, depth - 1):
                yield [left] + parts, [linker] + joins, pen + penalty


_VOWELS = frozenset("aeiouy")


def _lemma_candidates(word: str):
    """(ending, base) pairs for an inflected form: ``straten`` -> ``straat``,
    ``diefstallen`` -> ``diefstal``, ``werkers`` -> ``werker``."""
    for ending in INFLECTIONS:
        if not word.endswith(ending) or len(word) - len(ending) < MIN_PART:
            continue
        base = word[: -len(ending)]
        yield ending, base
        if ending == "en" and base[-1] == base[-2] and base[-1] not in _VOWELS:
            yield ending, base[:-1]
        if ending in ("en", "e") and base[-2] in "aeou" and base[-3] not in _VOWELS:
            yield ending, base[:-1] + base[-2] + base[-1]


@functools.lru_cache(maxsize=100_000)
def _best_split(word: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Best segmentation of a folded word as (parts, linkers), or ((), ())."""
    if len(word) < 2 * MIN_PART or len(word) > MAX_SPLIT_LEN or not word.isalpha():
        return (), ()
    for _ending, base in _lemma_candidates(word):
        if zipf(base) >= MIN_PART_ZIPF:
            parts, joins = _best_split(base)
            if not parts:
                return (), ()
            prefix = "".join(p + j for p, j in zip(parts, joins))
            if word.startswith(prefix) and len(word) - len(prefix) >= MIN_PART:
                return parts[:-1] + (word[len(prefix):],), joins
            return parts, joins
    whole = zipf(word)
    best = ((), ())
    best_score = whole + FREQUENT_MARGIN * max(0.0, whole - 3.0)
    for parts, joins, penalty in _segmentations(word, True, MAX_PARTS):
        if len(parts) < 2:
            continue
        score = (
            sum(zipf(p) for p in parts) / len(parts)
            - penalty
            - EXTRA_PART_PENALTY * (len(parts) - 2)
        )
        if score > best_score:
            best, best_score = (tuple(parts), tuple(joins)), score
    return best


def split_compound(word: str) -> list[str]:
    """Split a Dutch compound into its parts; ``[]`` when it is not one.

    ``word`` is folded first. Returns the leaf parts without linking
    morphemes: ``radicaliseringspreventie`` -> ``["radicalisering",
    "preventie"]``, ``jongerenwerkersnetwerk`` -> ``["jongeren", "werker",
    "netwerk"]`` (or ``"werkers"``, whichever is more frequent).

    Rule (after Koehn & Knight 2003, "Empirical methods for compound
    splitting"): every part is a word of at least :data:`MIN_PART` letters
    with Zipf frequency >= :data:`MIN_PART_ZIPF`, not a stop word, not a
    particle/prefix as modifier (``onder|zoek``) and not a suffix-like word as
    head (``werkelijk|heid``); parts may be joined by ``s``, ``en`` or ``e``.
    Of all segmentations into 2..4 parts the one with the highest mean part
    Zipf (i.e. geometric mean of frequencies) minus small penalties for
    linkers and extra parts wins, and only if it beats the Zipf frequency of
    the whole word: ``verkeer``, ``beleid`` or ``samenwerking`` stay whole,
    rare compounds split.
    """
    return list(_leaves(fold(word)))


@functools.lru_cache(maxsize=100_000)
def _leaves(word: str) -> tuple[str, ...]:
    parts = _best_split(word)[0]
    return tuple(leaf for part in parts for leaf in (_leaves(part) or (part,)))


@functools.lru_cache(maxsize=100_000)
def compound_terms(word: str) -> tuple[str, ...]:
    """All words a folded compound is indexed under besides itself.

    The parts of the best split, their own parts (recursively: the leaves of
    :func:`split_compound`) and every join of neighbouring parts that is
    itself a known word (``jongerenwerker`` inside ``jongerenwerkersnetwerk``),
    so a query for a sub-compound matches too.
    """
    parts, joins = _best_split(word)
    if not parts:
        return ()
    terms = [t for part in parts for t in (part, *compound_terms(part))]
    for start in range(len(parts)):
        for end in range(start + 2, len(parts) + 1):
            if (start, end) == (0, len(parts)):
                continue
            inner = "".join(p + j for p, j in zip(parts[start:end - 1], joins[start:end - 1]))
            joined = inner + parts[end - 1]
            if zipf(joined) >= SUBCOMPOUND_ZIPF:
                terms.append(joined)
    return tuple(dict.fromkeys(terms))


# --------------------------------------------------------------------------
# Stemming
# --------------------------------------------------------------------------

_snowball = DutchStemmer().stem
MIN_PLURAL_ZIPF = 3.0
#: Plurals no suffix rule reaches (kind/kinderen, stad/steden).
_IRREGULAR = {"kinderen": "kind", "steden": "stad", "volkeren": "volk", "liederen": "lied"}


@functools.lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Dutch Snowball stem of a folded word, plus plural and derivation rules.

    Snowball leaves some forms apart that searchers expect together, so
    around it (word frequencies from wordfreq decide where noted):

    * ``-ing`` nouns of verbs: a stem ending in ``ing`` (>= 6 letters) is
      re-stemmed as the infinitive: ``werving`` -> ``werv`` = ``werven``;
      ``leerlingen`` and ``leerling`` stay equal.
    * ``-isatie`` = ``-iseren``: ``polarisatie`` -> ``polariser``.
    * past participles ``ge...eerd``: ``geradicaliseerd`` -> ``radicaliser``.
    * plurals in ``-ëen`` (folded ``-eeen``/``-ieen``): ``moskeeën`` ->
      ``moskee``, ``strategieën`` -> ``strategie``.
    * ``-s`` plurals after a vowel, when the singular is a common word:
      ``methodes`` -> ``methode``, ``cafés`` -> ``café``.
    * singulars ending in consonant + ``s`` whose ``-en`` plural is a common
      word stem like that plural: ``mens``/``mensen``, ``fiets``/``fietsen``.
    * ``-ens`` plurals of ``-en`` words: ``jongens`` stems like ``jongen``.
    * f/v and s/z alternation: a stem ending in ``v``/``z`` ends in ``f``/``s``
      (``bedrijven`` = ``bedrijf``, ``huizen`` = ``huis``, ``grenzen`` =
      ``grens``).
    * a few irregular plurals: ``kinderen`` -> ``kind``, ``steden`` -> ``stad``.
    * ``-isme``/``-ist``/``-istisch`` share a stem (``extremisme``,
      ``extremisten``, ``extremistisch`` -> ``extremist``).
    """
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith(("eeen", "ieen")) and len(word) > 5:
        word = word[:-2]
    elif word.endswith("s") and len(word) >= 5 and word[-2] in _VOWELS:
        if zipf(word[:-1]) >= MIN_PLURAL_ZIPF:
            word = word[:-1]  # methodes -> methode, niveaus -> niveau
    elif word.endswith("s") and len(word) >= 4 and word[-2] not in _VOWELS | {"s", "j"}:
        # Snowball strips a final -s after a consonant (werkers -> werker),
        # which also cuts singulars (mens -> men, fiets -> fiet) away from
        # their -en plurals (mensen -> mens): stem those as the plural.
        for plural in (word + "en", word[:-1] + "zen"):
            if zipf(plural) >= MIN_PLURAL_ZIPF:
                word = plural
                break
        else:
            if zipf(word[:-1]) >= MIN_PLURAL_ZIPF:
                word = word[:-1]  # jongens -> jongen, like jongen itself
    s = _snowball(word)
    if s.endswith("isatie"):
        s = _snowball(s[:-4] + "eren")
    elif s.startswith("ge") and s.endswith("eerd") and len(s) >= 10:
        s = _snowball(s[2:-4] + "eren")
    elif s.endswith("ing") and len(s) >= 6:
        s = _snowball(s[:-3] + "en")
    if s.endswith("ism"):
        s = s[:-1] + "t"
    elif s.endswith("istisch"):
        s = s[:-4]
    elif s.endswith("v"):
        s = s[:-1] + "f"  # bedrijven -> bedrijf
    elif s.endswith("z"):
        s = s[:-1] + "s"  # huizen -> huis
    return s


@functools.lru_cache(maxsize=200_000)
def analyze_word(word: str) -> tuple[str, tuple[str, ...]]:
    """(stem, compound part stems) of one folded, non-stop word.

    The part stems exclude the word's own stem and duplicates. This is the
    single source of truth shared by the index analyzer and the query
    builder.
    """
    whole = stem(word)
    parts = tuple(dict.fromkeys(s for s in map(stem, compound_terms(word)) if s != whole))
    return whole, parts


# --------------------------------------------------------------------------
# Whoosh filters and analyzers
# --------------------------------------------------------------------------


class FoldFilter(Filter):
    """Lowercase + accent fold; drops tokens longer than MAX_TOKEN_LEN."""

    def __call__(self, tokens):
        for t in tokens:
            if len(t.text) > MAX_TOKEN_LEN:
                continue
            t.text = _fold_word(t.text)
            yield t


class DutchStopFilter(Filter):
    """Removes :data:`STOP_WORDS` without leaving position gaps.

    Positions are renumbered (like Whoosh's ``StopFilter(renumber=True)``) so
    ``"midden- en kleinbedrijf"`` is a phrase ``midden kleinbedrijf``. With
    ``removestops=False`` (Whoosh query mode) stop tokens are marked stopped.
    """

    def __call__(self, tokens):
        gap = 0
        for t in tokens:
            if t.text in STOP_WORDS:
                if t.removestops:
                    gap += 1
                    continue
                t.stopped = True
            else:
                t.stopped = False
            if gap and t.positions:
                t.pos -= gap
            yield t


class CompoundStemFilter(Filter):
    """Stems each token and adds the stems of its compound parts.

    The parts follow the whole word with the same ``pos``/``startchar``/
    ``endchar``; they carry ``t.part = True`` (the whole word ``False``).
    """

    def __call__(self, tokens):
        for t in tokens:
            if t.stopped:
                yield t
                continue
            whole, parts = analyze_word(t.text)
            t.text, t.part = whole, False
            yield t
            for p in parts:
                t.text, t.part = p, True
                yield t


def dutch_analyzer():
    """Analyzer for the stemmed Dutch fields, used at index and query time.

    Tokens: words and numbers (split on hyphens, apostrophes, punctuation),
    folded, minus :data:`STOP_WORDS`, stemmed, with compound part stems at the
    same position (see :class:`CompoundStemFilter`).
    """
    return (
        RegexTokenizer(WORD_PATTERN) | FoldFilter() | DutchStopFilter() | CompoundStemFilter()
    )


def plain_analyzer():
    """Analyzer for the ``spell`` field: words, folded, nothing else.

    Keeps stop words and never stems or splits, so every indexed term is a
    word as written (modulo case and accents); only single letters and
    overlong tokens are dropped.
    """
    return RegexTokenizer(WORD_PATTERN) | FoldFilter() | _SingleLetterFilter()


class _SingleLetterFilter(Filter):
    def __call__(self, tokens):
        for t in tokens:
            if len(t.text) > 1 or t.text.isdigit():
                yield t


# --------------------------------------------------------------------------
# Index-time fast path (issue #3): the analyzers' output without the Token
# machinery, one cached lookup per distinct word as written.
# --------------------------------------------------------------------------

#: The tokenizer's own pattern (``RegexTokenizer`` compiles it the same way).
_WORD_RE = re.compile(WORD_PATTERN, re.UNICODE)


@functools.lru_cache(maxsize=300_000)
def _dutch_terms(token: str) -> tuple[str, ...]:
    """What :func:`dutch_analyzer` makes of one token (a match of
    :data:`WORD_PATTERN`, at most :data:`MAX_TOKEN_LEN` long): ``()`` for a
    stop word, else the stem followed by its compound part stems."""
    word = _fold_word(token)
    if word in STOP_WORDS:
        return ()
    whole, parts = analyze_word(word)
    return (whole, *parts)


def dutch_positions(text: str) -> dict[str, list[int]]:
    """``{term: [positions]}`` exactly as :func:`dutch_analyzer` indexes
    ``text`` (terms in first-seen order, positions ascending).

    Positions follow the analyzer: a token's position is its match index
    minus the stop words before it (:class:`DutchStopFilter` renumbers);
    overlong tokens are dropped but keep their place (:class:`FoldFilter`
    does not renumber); compound part stems share the whole word's position.
    """
    poses: dict[str, list[int]] = {}
    gap = 0
    for pos, match in enumerate(_WORD_RE.finditer(text)):
        token = match.group()
        if len(token) > MAX_TOKEN_LEN:
            continue
        terms = _dutch_terms(token)
        if not terms:
            gap += 1
            continue
        pos -= gap
        for term in terms:
            found = poses.get(term)
            if found is None:
                poses[term] = [pos]
            else:
                found.append(pos)
    return poses


def dutch_counts(text: str) -> dict[str, int]:
    """``{term: frequency}`` exactly as :func:`dutch_analyzer` indexes ``text``."""
    counts: dict[str, int] = {}
    get = counts.get
    for token in _WORD_RE.findall(text):
        if len(token) > MAX_TOKEN_LEN:
            continue
        for term in _dutch_terms(token):
            counts[term] = get(term, 0) + 1
    return counts


@functools.lru_cache(maxsize=300_000)
def _plain_term(token: str) -> str | None:
    """What :func:`plain_analyzer` makes of one token: the folded word, or
    None for a single letter (single digits are kept)."""
    word = _fold_word(token)
    return word if len(word) > 1 or word.isdigit() else None


def plain_counts(text: str) -> dict[str, int]:
    """``{term: frequency}`` exactly as :func:`plain_analyzer` indexes ``text``."""
    counts: dict[str, int] = {}
    get = counts.get
    for token in _WORD_RE.findall(text):
        if len(token) > MAX_TOKEN_LEN:
            continue
        term = _plain_term(token)
        if term is not None:
            counts[term] = get(term, 0) + 1
    return counts
