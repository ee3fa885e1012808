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

import functools
import re

from whoosh import highlight
from whoosh.analysis import Token

from .analysis import MAX_TOKEN_LEN, STOP_WORDS, WORD_PATTERN, _fold_word, analyze_word

_WORD = re.compile(WORD_PATTERN)


@functools.lru_cache(maxsize=200_000)
def _word_tokens(word: str) -> tuple[str, bool, tuple[str, ...]] | None:
    """``(first token's text, stop word?, compound part stems)`` of one
    matched word as :func:`_tokens` yields it; None for an overlong word
    (no token). One cached lookup per word instead of folding and
    analysing it (two more) every time it is highlighted."""
    if len(word) > MAX_TOKEN_LEN:
        return None
    folded = _fold_word(word)
    if folded in STOP_WORDS:
        return folded, True, ()
    whole, parts = analyze_word(folded)
    return whole, False, parts


def _tokens(text: str, words: frozenset):
    """The stemmed fields' index-mode token stream of ``text`` (see
    ``analysis.dutch_analyzer``) with ``matched`` set as Whoosh's
    ``set_matched_filter`` sets it; one Token reused, as Whoosh does
    (a stop word's token keeps the ``part`` flag of the token before it)."""
    t = Token(positions=False, chars=True, removestops=False, mode="index")
    analysed = _word_tokens
    for m in _WORD.finditer(text):
        found = analysed(m.group())
        if found is None:
            continue
        first, stopped, parts = found
        t.startchar, t.endchar = m.span()
        t.text, t.matched = first, first in words
        if stopped:
            t.stopped = True
            yield t
            continue
        t.stopped, t.part = False, False
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
