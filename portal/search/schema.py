"""The Whoosh schema of the portal's search index.

The index is derived data: every field is computed from an item row by
``portal.search.documents.item_document`` and can be rebuilt at any time.

Field roles:

* ``title`` / ``summary`` / ``tags`` / ``body``: stemmed Dutch text (see
  ``portal.search.analysis``); weighted at query time, title highest.
* ``spell``: unstemmed, accent-folded words of title, summary, tags and body,
  the source of "did you mean" suggestions (suggestions from a stemmed field
  would be stems).
* ``labels``: permission labels (``public``, ``members``,
  ``municipality-GM0503``, ``region-3``, ``author-12``); every query ANDs the
  caller's labels in, so nothing restricted is found, counted or snippeted.
* the remaining KEYWORD fields are facets and filters.
"""

from whoosh import fields, formats
from whoosh.system import pack_uint

from .analysis import dutch_analyzer, dutch_counts, dutch_positions, plain_analyzer, plain_counts

#: Facet fields: index field name -> label key used in the UI.
FACET_FIELDS = (
    "type",
    "theme",
    "phase",
    "step",
    "municipality",
    "region",
    "evidence",
    "key_figure_type",
    "profile_language",
)


class _FastText(fields.TEXT):
    """A TEXT field whose ``index()`` computes its postings with a per-word
    cached function instead of running the analyzer chain token by token
    (issue #3: about a third of a full reindex went to Whoosh's Token objects
    and generator filters). The postings are exactly those ``fields.TEXT``
    yields with the same analyzer and format (``tests/test_search_reindex_speed.py``
    compares both): the analyzer still serves queries, highlighting and any
    call ``index()`` gets with options or a non-str value.

    Subclasses set ``_counts(text) -> {term: freq}`` and, for phrase fields,
    ``_positions(text) -> {term: [pos]}``. Module-level classes: Whoosh
    pickles the schema into the index, so renaming them needs a rebuild.
    """

    _counts = None
    _positions = None

    def index(self, value, **kwargs):
        """Yields ``(term utf-8 bytes, frequency, weight, encoded value)`` per
        distinct term, like ``FieldType.index``."""
        fmt = self.format
        positional = type(fmt) is formats.Positions
        if (kwargs or not isinstance(value, str) or (positional and self._positions is None)
                or (not positional and type(fmt) is not formats.Frequency)):
            return super().index(value, **kwargs)
        boost = fmt.field_boost
        if positional:
            encode = fmt.encode
            return [(term.encode("utf-8"), len(poses), float(len(poses)) * boost, encode(poses))
                    for term, poses in type(self)._positions(value).items()]
        return [(term.encode("utf-8"), freq, float(freq) * boost, pack_uint(freq))
                for term, freq in type(self)._counts(value).items()]


class DutchText(_FastText):
    """``fields.TEXT`` with :func:`~.analysis.dutch_analyzer`, fast ``index()``."""

    _counts = staticmethod(dutch_counts)
    _positions = staticmethod(dutch_positions)


class PlainText(_FastText):
    """``fields.TEXT`` with :func:`~.analysis.plain_analyzer` and no phrases
    (the ``spell`` field), fast ``index()``."""

    _counts = staticmethod(plain_counts)


def build_schema() -> fields.Schema:
    """Return a fresh Schema; analyzers are created once per call."""
    text = dutch_analyzer()
    plain = plain_analyzer()
    return fields.Schema(
        id=fields.ID(stored=True, unique=True),
        type=fields.ID(stored=True),
        slug=fields.ID(stored=True),
        title=DutchText(analyzer=text, stored=True, phrase=True),
        summary=DutchText(analyzer=text, stored=True, phrase=False),
        tags=DutchText(analyzer=text, stored=False, phrase=False),
        body=DutchText(analyzer=text, stored=True, phrase=True),
        spell=PlainText(analyzer=plain, stored=False, phrase=False, spelling=True),
        labels=fields.KEYWORD(stored=False, commas=True, scorable=False),
        theme=fields.KEYWORD(stored=False, commas=True),
        phase=fields.KEYWORD(stored=False, commas=True),
        step=fields.KEYWORD(stored=False, commas=True),
        municipality=fields.KEYWORD(stored=False, commas=True),
        region=fields.KEYWORD(stored=False, commas=True),
        evidence=fields.ID(stored=False),
        key_figure_type=fields.KEYWORD(stored=False, commas=True),
        profile_language=fields.KEYWORD(stored=False, commas=True),
        language=fields.ID(stored=False),
        date=fields.DATETIME(stored=True, sortable=True),
        updated=fields.NUMERIC(stored=True, sortable=True),
    )
