"""Speed-ups of Whoosh 2.7 that change no result and no byte of the index.

1. Reading postings: every query decodes the postings blocks of its terms
   (read, zlib, unpickle, delta-decode the document numbers) twice, for the
   exact match set and for scoring, and the next query with a common word
   or synonym does it again. :func:`install` keeps the decoded blocks of
   the :data:`BLOCKS_KEPT` most recently used blocks (least recently used
   out), keyed by the open postings file and the block's offset, so a block
   is decoded once while its segment is open. A block is immutable once
   written; Whoosh's matchers only read the decoded tuples.

2. Walking postings: a matcher steps from block to block by reading each
   block's header (seek, length, unpickled info tuple), also for blocks it
   skips without decoding: scoring a few hundred documents of a common
   word reads every header of its postings list. :func:`install` keeps the
   decoded headers of the :data:`HEADERS_KEPT` most recently read blocks
   (first in, first out), keyed like the blocks; a header is as immutable
   as its block. The matcher's state after ``_goto`` is the one Whoosh's
   own ``_goto`` leaves (the file position aside, which nothing reads:
   block data is read with ``postfile.get(offset, length)``).

3. Writing a segment (below).

While writing a segment's postings, ``FieldWriter.add_postings`` asks the
segment's per-document reader for the document's field length once per
posting (for the blocks' min/max lengths): a column lookup, and for fields
without lengths (IDs, keywords) a check whether the column file exists, every
time: about a tenth of a full reindex. :func:`install` wraps that reader so
each field's lengths are read once per segment into a list; the values are
the reader's own (``doc_field_length(docnum, fieldname)``), so the index is
the same. Installed on import of :mod:`portal.search`.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections import OrderedDict

from whoosh.codec import base
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.system import _INT_SIZE
from whoosh.util.numeric import byte_to_length

_ORIGINAL = base.FieldWriter.add_postings
_READ_DATA = W3LeafMatcher._read_data
_READ_IDS = W3LeafMatcher._read_ids
_GOTO = W3LeafMatcher._goto
_LEVENSHTEIN_DFA = base.Automata.__dict__["levenshtein_dfa"]  # the staticmethod object

#: Levenshtein automata kept per process (a typo word's automaton is the same
#: for every segment and field: Whoosh built it again for each, 5 fields x
#: the segments per word; with 19 segments 40 fresh words took 2-4 s)
DFA_KEPT = 512

#: decoded postings blocks kept per process (each at most 128 postings, with
#: positions about 13 kB decoded: about 50 MB; the benchmark's whole query mix
#: on 10,000 items touches about 4,900 blocks)
BLOCKS_KEPT = 4096
_BLOCKS: OrderedDict = OrderedDict()  # (postfile, offset) -> [data, ids or None]
_LOCK = threading.Lock()


_TOKENS = itertools.count(1)


def _file_key(postfile) -> int:
    """A number for ``postfile`` that is never reused, kept on the file.

    The caches must not hold the file itself: a postings file is a view on
    the segment's memory map, and a kept reference keeps that map, and its
    file descriptor, open after the segment is gone (each index change makes
    a segment; a long-running portal ran out of descriptors). ``id()`` would
    not do either: it is reused once the file is freed."""
    key = getattr(postfile, "_portal_cache_key", None)
    if key is None:
        key = postfile._portal_cache_key = next(_TOKENS)
    return key


def _cached_block(matcher) -> list:
    key = (_file_key(matcher._postfile), matcher._dataoffset)
    with _LOCK:
        entry = _BLOCKS.get(key)
        if entry is not None:
            _BLOCKS.move_to_end(key)
            return entry
    _READ_DATA(matcher)
    entry = [matcher._data, None]
    with _LOCK:
        _BLOCKS[key] = entry
        while len(_BLOCKS) > BLOCKS_KEPT:
            _BLOCKS.popitem(last=False)
    return entry


def _read_data(self):
    self._data = _cached_block(self)[0]


def _read_ids(self):
    entry = _cached_block(self)
    if entry[1] is None:
        self._data = entry[0]
        _READ_IDS(self)
        entry[1] = self._ids
    else:
        self._data = entry[0]
        self._ids = entry[1]


#: block headers kept per process (a tuple of 9 small values, ~0.2 kB each:
#: about 50 MB at most; 100,000 items have ~800 blocks per common word and field)
HEADERS_KEPT = 250_000
_HEADERS: OrderedDict = OrderedDict()  # (postfile, position) -> header tuple


def _goto(self, position):
    """Whoosh's ``W3LeafMatcher._goto`` with the block header kept."""
    self._data = None
    self._ids = None
    self._weights = None
    self._values = None
    self._i = 0
    key = (_file_key(self._postfile), position)
    header = _HEADERS.get(key)
    if header is None:
        postfile = self._postfile
        postfile.seek(position)
        length = postfile.read_int()
        last = length < 0
        if last:
            length = -length
        info = postfile.read_pickle()
        header = (last, position + _INT_SIZE + length, postfile.tell(), info[0], info[1], info[2],
                  info[3], byte_to_length(info[4]), byte_to_length(info[5]))
        with _LOCK:
            _HEADERS[key] = header
            while len(_HEADERS) > HEADERS_KEPT:
                _HEADERS.popitem(last=False)
    if header[0]:
        self._lastblock = True
    (_last, self._nextoffset, self._dataoffset, self._blocklength, self._maxid, self._maxweight,
     self._compression, self._minlength, self._maxlength) = header


def clear_blocks() -> None:
    """Forget the kept postings blocks and block headers (tests, memory)."""
    with _LOCK:
        _BLOCKS.clear()
        _HEADERS.clear()


class _LengthTables:
    """``doc_field_length`` of ``lengths`` (a per-document reader), one list
    per field, read on first use."""

    def __init__(self, lengths):
        self._lengths = lengths
        self._n = lengths.doc_count_all()
        self._tables: dict[str, list] = {}

    def doc_field_length(self, docnum, fieldname, default=0):
        if default == 0 and 0 <= docnum < self._n:
            table = self._tables.get(fieldname)
            if table is None:
                dfl = self._lengths.doc_field_length
                table = self._tables[fieldname] = [dfl(d, fieldname) for d in range(self._n)]
            return table[docnum]
        return self._lengths.doc_field_length(docnum, fieldname, default)


def _add_postings(self, schema, lengths, items):
    if lengths is not None and hasattr(lengths, "doc_count_all"):
        lengths = _LengthTables(lengths)
    return _ORIGINAL(self, schema, lengths, items)


@functools.lru_cache(maxsize=DFA_KEPT)
def _levenshtein_dfa(uterm, maxdist, prefix=0):
    """Whoosh's ``Automata.levenshtein_dfa``, kept: a DFA is only read when
    walking a term list (``next_valid_string``), never changed."""
    return _LEVENSHTEIN_DFA.__func__(uterm, maxdist, prefix)


def install() -> None:
    """Install the speed-ups (idempotent)."""
    base.Automata.levenshtein_dfa = staticmethod(_levenshtein_dfa)
    base.FieldWriter.add_postings = _add_postings
    W3LeafMatcher._read_data = _read_data
    W3LeafMatcher._read_ids = _read_ids
    W3LeafMatcher._goto = _goto


def uninstall() -> None:
    """Back to Whoosh's own code (for tests comparing both)."""
    base.Automata.levenshtein_dfa = _LEVENSHTEIN_DFA
    base.FieldWriter.add_postings = _ORIGINAL
    W3LeafMatcher._read_data = _READ_DATA
    W3LeafMatcher._read_ids = _READ_IDS
    W3LeafMatcher._goto = _GOTO
    clear_blocks()
