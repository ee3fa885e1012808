"""Query building, synonyms and suggestions against a real Whoosh index."""

import os
import time

import pytest
from whoosh import index
from whoosh import query as wq

from portal.search.query import (
    ALL_WORDS_BOOST,
    MAX_WORDS,
    AllWordsOr,
    DisMax,
    Synonyms,
    build_match_query,
    build_query,
    highlight_terms,
    load_synonyms,
    suggest,
)
from portal.search.schema import build_schema

pytestmark = pytest.mark.no_db  # no database: runs once (tests/conftest.py)

# id: (title, summary, tags, body)
DOCS = {
    "werving": (
        "Werving van sleutelfiguren",
        "Zo vond de gemeente nieuwe sleutelfiguren.",
        "werving",
        "De werving van sleutelfiguren verliep via buurthuizen en moskeeën.",
    ),
    "preventie": (
        "Radicaliseringspreventie op het mbo",
        "",
        "onderwijs",
        "Docenten leren signalen herkennen en bespreken ze met collega's.",
    ),
    "ahmed": (
        "Ahmed, jongerenwerker in Rotterdam",
        "",
        "Somalisch; Arabisch",
        "Ahmed spreekt Somalisch en heeft jaren ervaring in het jongerenwerk.",
    ),
    "werker": (
        "Een werker voor jongeren",
        "",
        "",
        "Zij is werker in een buurthuis en helpt jongeren.",
    ),
    "netwerk": (
        "Het sleutelfigurennetwerk van Utrecht",
        "",
        "",
        "Maandelijks komen de leden samen.",
    ),
    "coordinator": (
        "Coördinator polarisatie",
        "",
        "",
        "De coördinator brengt partijen samen in het café.",
    ),
    "ouders": (
        "Training voor opvoeders",
        "",
        "",
        "Ouders waren zeer geinteresseerd in de avonden.",
    ),
    "sleutelfiguur": (
        "Sleutelfiguur in de wijk",
        "",
        "",
        "Een portret van Fatima.",
    ),
    "bruggenbouwer": (
        "Bruggenbouwer in de wijk",
        "",
        "",
        "Een portret van Karim.",
    ),
    "mkb": (
        "Ondernemers en het MKB",
        "",
        "",
        "Winkeliers praten mee.",
    ),
    "kleinbedrijf": (
        "Ondernemers en het midden- en kleinbedrijf",
        "",
        "",
        "Winkeliers praten mee.",
    ),
    "buurt": (
        "Polarisatie in de buurt",
        "",
        "",
        "Bewoners praten over de verkiezingen.",
    ),
    "school": (
        "Lessen uit het onderwijs",
        "",
        "",
        "Een school ging het gesprek over polarisatie aan.",
    ),
    "titel": (
        "Weerbaarheid",
        "",
        "",
        "Een middag voor docenten.",
    ),
    "romp": (
        "Een middag voor docenten",
        "",
        "",
        "Over weerbaarheid.",
    ),
    "phrase": (
        "Kanaleneiland",
        "",
        "",
        "We zochten sleutelfiguren in de wijk Kanaleneiland.",
    ),
    "apart": (
        "Overvecht",
        "",
        "",
        "De wijk had al jaren sleutelfiguren.",
    ),
    "radicalisering": (
        "Radicalisering herkennen",
        "",
        "",
        "Signalen van radicalisering bij jongeren.",
    ),
}


@pytest.fixture(scope="module")
def searcher(tmp_path_factory):
    ix = index.create_in(str(tmp_path_factory.mktemp("ix")), build_schema())
    with ix.writer() as w:
        for key, (title, summary, tags, body) in DOCS.items():
            w.add_document(id=key, type="practice", slug=key, title=title, summary=summary,
                           tags=tags, body=body, spell=" ".join([title, summary, tags, body]),
                           labels="public")
    with ix.searcher() as s:
        yield s


def ids(searcher, text, **kwargs):
    q, _ = build_query(text, **kwargs)
    return [] if q is None else [hit["id"] for hit in searcher.search(q, limit=None)]


# -- language ----------------------------------------------------------------------


def test_accent_folding_both_directions(searcher):
    assert ids(searcher, "coordinator")[0] == "coordinator"
    assert ids(searcher, "cafe") == ["coordinator"]
    assert ids(searcher, "geïnteresseerd") == ["ouders"]  # the text has no accent


def test_singular_finds_plural(searcher):
    assert "werving" in ids(searcher, "sleutelfiguur")


def test_recruitment_verb_finds_recruitment_noun(searcher):
    assert ids(searcher, "sleutelfiguren werven")[0] == "werving"


@pytest.mark.parametrize("text, expected", [
    ("preventie", "preventie"),
    ("werker", "ahmed"),
    ("jongeren", "ahmed"),
    ("sleutelfiguur netwerk", "netwerk"),
])
def test_compound_parts_are_found(searcher, text, expected):
    assert expected in ids(searcher, text)


def test_compound_query_finds_its_parts_below_the_compound(searcher):
    found = ids(searcher, "jongerenwerker")
    assert found[0] == "ahmed" and "werker" in found


def test_natural_language_question(searcher):
    q, words = build_query("Wie spreekt Somalisch en kent jongerenwerk?")
    assert words == ["spreekt", "Somalisch", "kent", "jongerenwerk"]
    assert searcher.search(q)[0]["id"] == "ahmed"


def test_filler_words_do_not_change_the_top_result(searcher):
    top = ids(searcher, "ik zoek informatie over werving")[0]
    assert top == ids(searcher, "werving")[0] == "werving"


# -- synonyms ----------------------------------------------------------------------


def test_synonym_found_but_below_the_word_itself(searcher):
    # the two documents differ only in that word
    found = ids(searcher, "bruggenbouwer")
    assert found[0] == "bruggenbouwer" and "sleutelfiguur" in found
    found = ids(searcher, "sleutelfiguur")
    assert found.index("sleutelfiguur") < found.index("bruggenbouwer")
    assert ids(searcher, "opvoeders")[0] == "ouders"


def test_multi_word_synonyms_both_ways(searcher):
    assert ids(searcher, "mkb")[:2] == ["mkb", "kleinbedrijf"]
    assert ids(searcher, "midden- en kleinbedrijf")[:2] == ["kleinbedrijf", "mkb"]


def test_synonyms_expand_on_analysed_forms():
    syn = load_synonyms()
    assert ("sleutelperson",) in syn.expand("sleutelfiguren")
    assert syn.expand("sleutelfigur") == syn.expand("sleutelfiguur")
    assert ("mid", "kleinbedrijf") in syn.expand("MKB")
    assert ("mkb",) in syn.expand("midden- en kleinbedrijf")
    assert syn.expand("fiets") == []


def test_synonyms_file_format_and_path_override(tmp_path):
    path = tmp_path / "synonyms.txt"
    path.write_text("# comment\nfiets, rijwiel  # trailing comment\n\nalleen\n", encoding="utf-8")
    syn = load_synonyms(path)
    assert syn.expand("fietsen") == [("rijwiel",)] and len(syn) == 2
    time.sleep(0.01)
    path.write_text("fiets, tweewieler\n", encoding="utf-8")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert load_synonyms(path).expand("fiets") == [("tweewieler",)]  # reloaded on change
    assert len(load_synonyms(tmp_path / "missing.txt", missing_ok=True)) == 0
    with pytest.raises(FileNotFoundError):
        load_synonyms(tmp_path / "missing.txt")


def test_synonyms_can_be_switched_off(searcher):
    assert "sleutelfiguur" not in ids(searcher, "bruggenbouwer", synonyms=Synonyms())


# -- ranking -----------------------------------------------------------------------


def test_all_words_rank_above_some_words(searcher):
    found = ids(searcher, "polarisatie school")
    assert found[0] == "school"  # both words, only in the body
    assert "buurt" in found  # polarisatie in the title only


def test_title_ranks_above_body(searcher):
    assert ids(searcher, "weerbaarheid")[:2] == ["titel", "romp"]


def test_dismax_scores_do_not_leak_between_documents(searcher):
    # Whoosh 2.7.5's own DisjunctionMax gives a document the best score of
    # any sub-query, even one positioned on another document
    a, b = wq.Term("title", "weerbar"), wq.Term("body", "weerbar")
    single = {h["id"]: h.score for q in (a, b) for h in searcher.search(q)}
    both = {h["id"]: h.score for h in searcher.search(DisMax([a, b]))}
    assert both == pytest.approx(single)


def test_all_words_or_scores_like_and_plus_or_in_one_pass(searcher):
    words = [wq.Or([wq.Term("title", "polariser"), wq.Term("body", "polariser")]),
             wq.Or([wq.Term("title", "less"), wq.Term("body", "schol")])]
    one_pass = {h["id"]: h.score for h in searcher.search(AllWordsOr(words), limit=None)}
    assert len(one_pass) == 3 and max(one_pass, key=one_pass.get) == "school"
    two_pass = wq.Or([wq.And(words, boost=ALL_WORDS_BOOST), wq.Or(words)])
    assert one_pass == pytest.approx({h["id"]: h.score for h in searcher.search(two_pass)})


def test_field_boosts_can_be_overridden(searcher):
    assert ids(searcher, "weerbaarheid", fields_boosts={"body": 1.0}) == ["romp"]


def test_quoted_phrase(searcher):
    found = ids(searcher, '"sleutelfiguren in de wijk"')
    assert "phrase" in found and "apart" not in found
    assert "apart" in ids(searcher, "sleutelfiguren in de wijk")


def test_unbalanced_quote_is_plain_text(searcher):
    q, words = build_query('"sleutelfiguren in de wijk')
    assert words == ["sleutelfiguren", "wijk"]
    assert "apart" in [h["id"] for h in searcher.search(q)]


# -- robustness --------------------------------------------------------------------

HOSTILE = [
    "", "   ", "de het een", "title:werving", "*", "?", "werv*", "sleutel~2", 'a"b', '"""',
    '"', '""', "AND OR NOT", "NOT werving", "(((", "[a TO z]", "^3",
    "\x00\x01\x1f werving \x7f", "\u202e\u200b",
    "🙂 werving 🙂", "x" * 10000, "é" * 5000, "werving " * 2000, "werving\n" * 1500 + '"',
    " ".join(str(i) for i in range(3000)), "-werving +sleutel", "\\", "%s %d {0}", None, 42,
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_never_raises(searcher, text):
    for fuzzy in (False, True):
        q, words = build_query(text, fuzzy=fuzzy)
        assert len(words) <= MAX_WORDS
        if q is not None:
            searcher.search(q, limit=5)
    suggest(searcher, text)


def test_stop_words_only_gives_no_query():
    assert build_query("wie is het?") == (None, [])


def test_words_are_capped():
    _, words = build_query(" ".join(f"woord{i}" for i in range(100)))
    assert len(words) == MAX_WORDS and words[0] == "woord0"


def test_long_input_is_fast():
    started = time.perf_counter()
    build_query("polarisatie in de wijk " * 2500, fuzzy=True)
    assert time.perf_counter() - started < 0.5


# -- fuzzy retry and did-you-mean --------------------------------------------------


def test_fuzzy_retry_finds_typos(searcher):
    assert ids(searcher, "radicalisring") == []
    assert ids(searcher, "radicalisring", fuzzy=True)[0] == "radicalisering"
    assert "werving" in ids(searcher, "sleutelfiguuren", fuzzy=True)


def test_suggest_returns_real_words(searcher):
    assert suggest(searcher, "radicalisring") == "radicalisering"  # not the stem "radicaliser"
    assert suggest(searcher, "Radicalisring bij jongeren") == "Radicalisering bij jongeren"
    assert suggest(searcher, "coordinater") == "coördinator"


def test_no_suggestion_for_known_words(searcher):
    assert suggest(searcher, "radicalisering bij jongeren") is None
    assert suggest(searcher, "fietsenstalling") is None  # a real word, just not in the index
    assert suggest(searcher, "Somalische") is None  # the index has "Somalisch"
    assert suggest(searcher, "") is None


def test_highlight_terms():
    terms = highlight_terms("jongerenwerker mkb")
    assert {"jongerenwerker", "jonger", "werker", "mkb", "mid", "kleinbedrijf"} <= terms


# -- derivations, IDF-aware coverage, unscored docset -------------------------------


def test_agent_noun_derivation_both_ways(searcher):
    from portal.search.query import _agent_derivations

    assert _agent_derivations("jongerenwerk", "jongerenwerk") == ("jongerenwerker",)
    assert _agent_derivations("jongerenwerker", "jongerenwerker") == ("jongerenwerk",)
    assert _agent_derivations("ouder", "ouder") == ()  # not oud + -er
    assert "jongerenwerker" in highlight_terms("jongerenwerk")
    assert ids(searcher, "jongerenwerk")[0] == "ahmed"  # "jongerenwerker" in the title


def test_language_participle_is_filler():
    q, words = build_query("Somalisch sprekende jongerenwerker")
    assert words == ["Somalisch", "sprekende", "jongerenwerker"]
    assert q.core == [True, False, True]


def test_rare_word_counts_more_than_common_word(searcher):
    # "sleutelfiguren" is in many documents, "Kanaleneiland" in one: missing
    # the common word costs less than missing the rare one
    found = ids(searcher, "sleutelfiguren Kanaleneiland")
    assert found[0] == "phrase"
    q, _ = build_query("sleutelfiguren Kanaleneiland")
    m = q.matcher(searcher)
    assert m._mult[1] > m._mult[0] and m._cover[1] > m._cover[0]


@pytest.mark.parametrize("text", ["sleutelfiguren werving", "polarisatie school buurt",
                                  "jongerenwerk Somalisch", "wie spreekt Arabisch", "radicalisering",
                                  "sleutelfiguren in de wijk Kanaleneiland", "docenten weerbaarheid"])
@pytest.mark.parametrize("k", [1, 3])
def test_top_k_pruning_keeps_the_full_ranking(searcher, text, k):
    # MaxScore/replace() pruning: the same documents in the same order; a
    # score may only lose DisMax tiebreak credit (<= 10 %)
    q, _ = build_query(text)
    full = searcher.search(q, limit=None)
    top = searcher.search(q, limit=k)
    assert [h["id"] for h in top] == [h["id"] for h in full][:k]
    for a, b in zip(top, full):
        assert b.score * 0.9 <= a.score <= b.score + 1e-9


def test_sum_or_max_quality_is_an_upper_bound(searcher):
    from portal.search.matchers import SumOr

    # a plain Or of 3+ clauses on a small index preloads an ArrayUnionMatcher
    # whose max_quality is the largest clause maximum, not their sum
    q = SumOr([wq.Term("body", "sleutelfigur"), wq.Term("body", "wijk"), wq.Term("title", "wijk")])
    m = q.matcher(searcher)
    bound = m.max_quality()
    best = 0.0
    while m.is_active():
        best = max(best, m.score())
        m.next()
    assert best <= bound + 1e-9


@pytest.mark.parametrize("text", ["sleutelfiguren werving", "jongerenwerkers", "mkb",
                                  '"sleutelfiguren in de wijk"', "polarsatie", "ik zoek iemand"])
@pytest.mark.parametrize("fuzzy", [False, True])
def test_match_query_docset_equals_scored_docset(searcher, text, fuzzy):
    q, _ = build_query(text, fuzzy=fuzzy)
    scored = {h.docnum for h in searcher.search(q, limit=None)}
    assert set(searcher.docs_for_query(build_match_query(text, fuzzy=fuzzy))) == scored
    assert build_match_query("de het een") is None


def test_typo_tolerance_is_bounded_to_the_first_words():
    """A pasted paragraph of misspellings (an attacker's 500-character query
    took seconds) gets typo tolerance for its first MAX_TYPO_WORDS words only."""
    from portal.search.query import MAX_TYPO_WORDS

    text = " ".join(f"jongerenwerkr{chr(97 + i)}x" for i in range(30))
    q = build_query(text, fuzzy=True).query
    fuzzy = [leaf for leaf in q.leaves() if isinstance(leaf, wq.FuzzyTerm)]
    words = {leaf.text for leaf in fuzzy}
    assert 0 < len(words) <= MAX_TYPO_WORDS * 2, words  # a word may have a stem and a surface form
    few = build_query("jongerenwerkr sleutelfiguurr", fuzzy=True).query
    assert sum(isinstance(leaf, wq.FuzzyTerm) for leaf in few.leaves()) >= 2
