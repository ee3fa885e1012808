"""Dutch analysis: folding, tokens, stop words, stemming, compounds, pickling."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from whoosh import index

from portal.search.analysis import (
    analyze_word,
    display_form,
    dutch_analyzer,
    fold,
    plain_analyzer,
    split_compound,
    stem,
)

pytestmark = pytest.mark.no_db  # no database: runs once (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]


def texts(analyzer, text):
    return [t.text for t in analyzer(text)]


def stems(word):
    return analyze_word(fold(word))[0]


# -- folding and tokens ------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, folded",
    [
        ("Coördinator", "coordinator"),
        ("geïnteresseerd", "geinteresseerd"),
        ("CAFÉ", "cafe"),
        ("Coo\u0308rdinator", "coordinator"),  # decomposed (NFD) input
        ("\u0132sselmeer", "ijsselmeer"),  # the IJ ligature
        ("Straße", "strasse"),
    ],
)
def test_fold(raw, folded):
    assert fold(raw) == folded


def test_accents_fold_to_the_same_index_terms_both_ways():
    an = dutch_analyzer()
    accented = texts(an, "coördinator café geïnteresseerd")
    assert accented == texts(an, "coordinator cafe geinteresseerd")
    assert texts(an, "Coo\u0308rdinator") == texts(an, "coordinator")


def test_tokens_split_on_hyphens_and_punctuation_and_keep_digits():
    toks = texts(plain_analyzer(), "Covid-19: MKB-bedrijven (2024), auto's; e-mail_adres")
    assert toks == ["covid", "19", "mkb", "bedrijven", "2024", "auto", "mail", "adres"]


def test_stop_words_dropped_without_position_gaps():
    stream = dutch_analyzer()("de werving van de sleutelfiguren", positions=True)
    toks = [(t.text, t.pos) for t in stream]
    assert toks[0] == (stem("werving"), 0)
    assert ("sleutelfigur", 1) in toks


def test_content_words_are_not_stop_words():
    # Whoosh's Dutch list drops these; they carry meaning in this portal
    expected = [stem("wezen"), stem("altijd"), stem("doen")]
    assert texts(dutch_analyzer(), "wezen altijd doen") == expected


def test_overlong_tokens_are_dropped():
    assert texts(dutch_analyzer(), "a" * 500 + " beleid") == ["beleid"]


def test_plain_analyzer_keeps_words_whole():
    toks = texts(plain_analyzer(), "De sleutelfiguren en Coördinatoren")
    assert toks == ["de", "sleutelfiguren", "en", "coordinatoren"]


# -- stemming ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "a, b",
    [
        ("sleutelfiguur", "sleutelfiguren"),
        ("werven", "werving"),  # Snowball alone keeps these apart
        ("werving", "wervingen"),
        ("polarisatie", "polariseren"),
        ("radicalisering", "radicalisatie"),
        ("radicalisering", "geradicaliseerde"),
        ("moskee", "moskeeën"),
        ("extremisme", "extremisten"),
        ("jongerenwerker", "jongerenwerkers"),
        ("coördinator", "coordinatoren"),
        ("mens", "mensen"),  # Snowball: men / mens
        ("jongen", "jongens"),  # Snowball: jong / jongen
        ("bedrijf", "bedrijven"),  # Snowball: bedrijf / bedrijv
        ("huis", "huizen"),
        ("kind", "kinderen"),
    ],
)
def test_related_forms_share_a_stem(a, b):
    assert stems(a) == stems(b)


def test_different_words_keep_different_stems():
    assert stems("islamitisch") != stems("islamisme")
    assert stems("beleid") != stems("leiding")


# -- compounds ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "word, parts",
    [
        ("radicaliseringspreventie", ["radicalisering", "preventie"]),  # linking -s-
        ("jongerenwerker", ["jongeren", "werker"]),
        ("sleutelfigurennetwerk", ["sleutel", "figuren", "netwerk"]),
        ("jongerenwerkersnetwerk", ["jongeren", "werkers", "netwerk"]),  # three parts
        ("Zorgcoördinator", ["zorg", "coordinator"]),
    ],
)
def test_split_compound(word, parts):
    assert split_compound(word) == parts


@pytest.mark.parametrize("word", ["verkeer", "beleid", "gemeente", "moskee", "onderzoek",
                                  "samenwerking", "", "x", "2024", "covid19", "a" * 60])
def test_not_compounds(word):
    assert split_compound(word) == []


def test_parts_share_position_and_characters_with_the_whole_word():
    toks = [(t.text, t.pos, t.startchar, t.endchar, t.part)
            for t in dutch_analyzer()("het sleutelfigurennetwerk", positions=True, chars=True)]
    assert toks[0] == ("sleutelfigurennetwerk", 0, 4, 25, False)
    assert {t[0] for t in toks[1:]} == {"sleutel", "figur", "netwerk", "sleutelfigur"}
    assert all(t[1:4] == (0, 4, 25) and t[4] for t in toks[1:])


# Hand-written lists, not taken from the splitter's output. "a|b" separates
# acceptable segmentations, "+" the parts.
COMPOUNDS = """
radicaliseringspreventie=radicalisering+preventie jongerenwerker=jongeren+werker
sleutelfigurennetwerk=sleutel+figuren+netwerk|sleutelfiguren+netwerk
jongerenwerkersnetwerk=jongeren+werkers+netwerk|jongeren+werker+netwerk|jongerenwerkers+netwerk
sleutelfiguur=sleutel+figuur gemeenteraad=gemeente+raad veiligheidsbeleid=veiligheid+beleid
buurtbewoners=buurt+bewoners wijkagent=wijk+agent moskeebestuur=moskee+bestuur
ouderavond=ouder+avond straatcoach=straat+coach jeugdwerker=jeugd+werker
schoolleiding=school+leiding vrijwilligerswerk=vrijwilligers+werk|vrijwilliger+werk
gezondheidszorg=gezondheid+zorg politiebureau=politie+bureau huisbezoek=huis+bezoek
integratiebeleid=integratie+beleid wijkteam=wijk+team netwerkbijeenkomst=netwerk+bijeenkomst
onderwijsinstelling=onderwijs+instelling informatiebijeenkomst=informatie+bijeenkomst
extremismebestrijding=extremisme+bestrijding polarisatieaanpak=polarisatie+aanpak
gemeentehuis=gemeente+huis ouderbetrokkenheid=ouder+betrokkenheid
jongerencentrum=jongeren+centrum buurthuis=buurt+huis kennisdeling=kennis+deling
deskundigheidsbevordering=deskundigheid+bevordering geloofsgemeenschap=geloof+gemeenschap
moskeebezoekers=moskee+bezoekers signaleringsinstrument=signalering+instrument
trainingsprogramma=training+programma voetbalvereniging=voetbal+vereniging
sportvereniging=sport+vereniging stadsdeel=stad+deel vluchtelingenwerk=vluchtelingen+werk
schooldirecteur=school+directeur taalcursus=taal+cursus bewonersavond=bewoners+avond
stadsbestuur=stad+bestuur levensbeschouwing=leven+beschouwing
terrorismebestrijding=terrorisme+bestrijding wijkbewoners=wijk+bewoners jeugdzorg=jeugd+zorg
straatcoaches=straat+coaches moskeebesturen=moskee+besturen vredesactivist=vrede+activist
gemeenteraadsvergadering=gemeente+raad+vergadering|gemeenteraad+vergadering
veiligheidsregio=veiligheid+regio gespreksleider=gesprek+leider
burgerinitiatief=burger+initiatief vrouwengroep=vrouwen+groep huisbezoeken=huis+bezoeken
""".split()
NON_COMPOUNDS = """
verkeer beleid gemeente moskee radicalisering polarisatie preventie netwerk samenwerking
onderzoek onderwijs overheid bijeenkomst vereniging organisatie ontwikkeling burgemeester
gesprekken geschiedenis werkelijkheid mogelijkheden verantwoordelijkheid betrokkenheid
gemeenschap opvoeding leerlingen vrijwilligers discriminatie extremisme vertrouwen aanpak
afspraken ervaring begeleiding bewoners uitvoering tegenstellingen democratie identiteit
weerbaarheid signalering professionals informatie overleg handhaving standaard belangrijk
bovendien eigenlijk natuurlijk hierover daarnaast vervolgens medewerker kinderen
persoonlijk maatschappij oplossing diefstallen kantoren parkeren waardering bestellen
besteden wetenschappers ontdekking
""".split()


def test_compound_splitting_precision_and_recall():
    """Precision = correct splits / all splits made over both lists."""
    correct = made = 0
    missed = []
    for entry in COMPOUNDS:
        word, expected = entry.split("=")
        got = "+".join(split_compound(word))
        made += bool(got)
        correct += got in expected.split("|")
        if got not in expected.split("|"):
            missed.append((word, got))
    false_splits = [w for w in NON_COMPOUNDS if split_compound(w)]
    made += len(false_splits)
    precision, recall = correct / made, correct / len(COMPOUNDS)
    print(f"compounds: {len(COMPOUNDS)}, non-compounds: {len(NON_COMPOUNDS)}, "
          f"precision {precision:.3f}, recall {recall:.3f}, missed {missed}, false {false_splits}")
    assert len(COMPOUNDS) >= 40 and len(NON_COMPOUNDS) >= 40
    assert precision >= 0.95
    assert recall >= 0.9


def test_display_form_restores_accents():
    assert display_form("coordinator") == "coördinator"
    assert display_form("cafe") == "café"
    assert display_form("beleid") == "beleid"


# -- engineering -------------------------------------------------------------------


def test_analyzers_pickle_and_survive_an_index_round_trip(tmp_path):
    from portal.search.schema import build_schema

    an = pickle.loads(pickle.dumps(dutch_analyzer()))  # noqa: S301 (our own bytes, as Whoosh stores a schema)
    assert texts(an, "jongerenwerkers") == texts(dutch_analyzer(), "jongerenwerkers")
    assert texts(pickle.loads(pickle.dumps(plain_analyzer())), "Café") == ["cafe"]  # noqa: S301
    index.create_in(str(tmp_path), build_schema())
    reopened = index.open_dir(str(tmp_path))
    body = reopened.schema["body"].analyzer
    assert texts(body, "sleutelfiguren") == ["sleutelfigur", "sleutel", "figur"]


def test_word_list_loads_lazily_and_once_in_a_fresh_process():
    # Not a timing (the machines are shared): the mechanism that keeps start-up
    # cheap. Importing the analyser does not load wordfreq's 311k words; the
    # first split does, once, and later splits reuse the same dict.
    code = (
        "import sys; from portal.search import analysis as a; "
        "print('wordfreq' in sys.modules, a._FREQ is None); "
        "a.split_compound('jongerenwerker'); f = a._FREQ; a.split_compound('sleutelfigurennetwerk'); "
        "print(f is not None and a._FREQ is f and len(f) > 100000)"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    assert out.stdout.split() == ["False", "True", "True"]
