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

from whoosh import fields

from .analysis import dutch_analyzer, plain_analyzer

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


def build_schema() -> fields.Schema:
    """Return a fresh Schema; analyzers are created once per call."""
    text = dutch_analyzer()
    plain = plain_analyzer()
    return fields.Schema(
        id=fields.ID(stored=True, unique=True),
        type=fields.ID(stored=True),
        slug=fields.ID(stored=True),
        title=fields.TEXT(analyzer=text, stored=True, phrase=True),
        summary=fields.TEXT(analyzer=text, stored=True, phrase=False),
        tags=fields.TEXT(analyzer=text, stored=False, phrase=False),
        body=fields.TEXT(analyzer=text, stored=True, phrase=True),
        spell=fields.TEXT(analyzer=plain, stored=False, phrase=False, spelling=True),
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
