"""Highlighted snippets without re-running the Whoosh analyzer chain.

Whoosh 2.7 highlights a stored field by analysing its whole text again
through the field's analyzer (tokenizer, fold, stop words, stem and compound
parts: five generator stages per word) and marking the tokens whose text is
a query term. :func:`highlight_field` produces the same token stream in one
pass, with the same per-word analysis (``analysis.analyze_word``, cached),
then hands it to the same merge, fragmenter, fragment scorer and formatter,
so a snippet is the one ``hit.highlights(fieldname, top=top)`` gives
(``tests/test_search_speedups.py`` compares them).
"""

from __future__ import annotations

import re

from whoosh import highlight
from whoosh.analysis import Token

from .analysis import MAX_TOKEN_LEN, STOP_WORDS, WORD_PATTERN, _fold_word, analyze_word

_WORD = re.compile(WORD_PATTERN)


def _tokens(text: str, words: frozenset):
    """The stemmed fields' index-mode token stream of ``text`` (see
    ``analysis.dutch_analyzer``) with ``matched`` set as Whoosh's
    ``set_matched_filter`` sets it; one Token reused, as Whoosh does."""
    t = Token(positions=False, chars=True, removestops=False, mode="index")
    for m in _WORD.finditer(text):
        word = m.group()
        if len(word) > MAX_TOKEN_LEN:
            continue
        folded = _fold_word(word)
        t.startchar, t.endchar = m.start(), m.end()
        if folded in STOP_WORDS:
            t.text, t.stopped, t.matched = folded, True, folded in words
            yield t
            continue
        whole, parts = analyze_word(folded)
        t.text, t.stopped, t.part, t.matched = whole, False, False, whole in words
        yield t
        for p in parts:
            t.text, t.part, t.matched = p, True, p in words
            yield t


def highlight_field(hit, fieldname: str, top: int = 3, minscore: int = 1) -> str:
    """What ``hit.highlights(fieldname, top=top, minscore=minscore)`` returns
    for one of the stemmed text fields (title, summary, tags, body) with the
    results' fragmenter and formatter; ``""`` when nothing matched."""
    results = hit.results
    text = hit[fieldname]
    field = results.searcher.schema[fieldname]
    words = frozenset(field.from_bytes(term[1])
                      for term in results.query_terms(expand=True, fieldname=fieldname))
    highlighter = results.highlighter
    tokens = highlight.Highlighter._merge_matched_tokens(_tokens(text, words))
    fragments = highlighter.fragmenter.fragment_tokens(text, tokens)
    fragments = highlight.top_fragments(fragments, top, highlighter.scorer, highlighter.order, minscore=minscore)
    return highlighter.formatter.format(fragments)
