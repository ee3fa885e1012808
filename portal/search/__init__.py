"""The app-facing search interface. Whoosh stays behind this module.

The index is derived from the database and can always be rebuilt from it:

* every change to an item writes a ``SearchChange`` row in the same
  transaction (``portal.services.common.log_search_change``);
* :func:`nudge` (called after each commit) applies pending rows in id order and
  records the last applied id inside the index, in the ``__state__`` document;
  when another process holds Whoosh's write lock, that process or the next
  nudge (``portal reindex --catch-up``, the next request) applies them;
* :func:`rebuild` builds a fresh index in a new generation folder and swaps
  it in by rewriting ``CURRENT`` atomically;
* every query ANDs the caller's permission labels in (CKAN's design), so a
  restricted item is never found, counted in a facet, or snippeted; ranking
  statistics (idf, average field lengths) come from the caller's visible
  documents too (:func:`visible_weighting`), so a hidden item changes no
  score or order either;
* questions to the network and their answers are documents too (type
  ``question``, id ``q-<id>``, label :data:`QUESTION_LABEL`), found only by
  callers that ask for them (``questions=True``) and may read the question
  pages (``permissions.can_view_questions``); their changes go through the
  same change log (:func:`log_question_change`).

Speed (issue #3): a query is evaluated whole, segment by segment, with
NumPy (:mod:`.dense`: every match and its exact score from postings decoded
once per segment; the caller's allowed documents, the match set, the top k
and the date order as arrays); facets are counted on bit masks
(:meth:`SearchIndex.facet_bits`). See also :mod:`.whoosh_speed` (decoded
postings blocks and block headers kept, field lengths read once per segment
when writing), :mod:`.snippets` (highlighting without the analyzer chain) and
the kept fuzzy and phrase expansions in :mod:`.matchers`. Every one gives
the results Whoosh's own code gives (``tests/search/test_dense.py``,
``tests/test_search_speedups.py``).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flask import current_app, has_app_context
from whoosh import highlight, index, query as wq
from whoosh.index import LockError
from whoosh.searching import Results

from . import dense, whoosh_speed
from .schema import FACET_FIELDS, build_schema

whoosh_speed.install()

log = logging.getLogger(__name__)

STATE_ID = "__state__"
#: Change-log actions of questions to the network (``SearchChange.item_id``
#: then holds the question's id); items use ``upsert`` and ``delete``.
QUESTION_UPSERT = "q-upsert"
QUESTION_DELETE = "q-delete"
QUESTION_ACTIONS = frozenset({QUESTION_UPSERT, QUESTION_DELETE})
#: The permission label of questions and answers (see ``question_labels``):
#: added to a caller's labels only when ``permissions.can_view_questions``
#: lets them read the question pages and the caller asked for questions.
QUESTION_LABEL = "questions"
CURRENT = "CURRENT"
SORTS = ("relevance", "date")
FILTER_FIELDS = FACET_FIELDS
#: "almost nothing": at most this many hits triggers the fuzzy retry
FUZZY_RETRY_AT = 0
MAX_PER_PAGE = 100
#: label and facet-value masks kept per searcher (see SearchIndex.allowed_mask)
MASKS_KEPT = 512
#: key terms of this many item versions are kept per process for "related items"
KEY_TERMS_KEPT = 4096


@dataclass
class Hit:
    id: int
    type: str
    slug: str
    title: str
    summary: str
    score: float
    snippet: str  # safe HTML: Whoosh's formatter escapes the text
    date: Any


@dataclass
class SearchResult:
    query: str
    total: int
    page: int
    per_page: int
    hits: list[Hit] = field(default_factory=list)
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    suggestion: str | None = None
    fuzzy: bool = False
    #: text was given but none of it is searchable (only stop words such as
    #: "de" or "wie", punctuation, or "words" too long to be words): nothing found
    no_words: bool = False
    error: str | None = None

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


class SearchIndex:
    """One process's handle on the on-disk index in ``directory``."""

    def __init__(self, directory: str):
        self.directory = directory
        self._ix = None
        self._generation: str | None = None
        self._lock = threading.RLock()
        self._local = threading.local()  # Whoosh searchers are not shared between threads
        self.key_terms: dict[tuple[int, int], list[tuple[str, float]]] = {}  # see related()

    # -- opening and generations -------------------------------------------------
    def _current_generation(self) -> str | None:
        try:
            with open(os.path.join(self.directory, CURRENT)) as fh:
                return fh.read().strip() or None
        except FileNotFoundError:
            return None

    def open(self):
        """The current Whoosh index; reopened when another process swapped in
        a new generation. Raises ``index.EmptyIndexError`` when there is none."""
        with self._lock:
            gen = self._current_generation()
            if gen is None:
                raise index.EmptyIndexError("no search index yet")
            if self._ix is None or gen != self._generation:
                self._ix = index.open_dir(os.path.join(self.directory, gen))
                self._generation = gen
            return self._ix

    def searcher(self):
        """This thread's searcher, kept between requests and refreshed only
        when the index changed (opening one costs tens of milliseconds and
        drops the reader's warm caches). Never close it: it is reused."""
        ix = self.open()
        local = self._local
        current = getattr(local, "searcher", None)
        if current is not None and getattr(local, "ix", None) is ix and current.up_to_date():
            return current
        # A fresh searcher, not ``refresh()``: Whoosh 2.7's refresh reuses
        # segment readers that miss deletions made since (an updated item
        # would then be found twice, once in its old version).
        if current is not None:
            current.close()
        current = ix.searcher()
        local.searcher, local.ix = current, ix
        local.facets = None
        return current

    def facet_sets(self, searcher) -> dict[str, dict[str, frozenset[int]]]:
        """``{field: {value: docnums}}`` for every facet field and ``labels``,
        so a query resolves permissions and counts facets with set operations
        instead of walking the index.

        Built per index segment and kept while the segment is unchanged (same
        id, place and number of deletions): after a save only the new segment
        is read, not the whole index, so frequent saves stay cheap for every
        worker. Deleted documents are never in the sets (Whoosh's postings
        leave them out)."""
        local = self._local
        if getattr(local, "searcher", None) is searcher and getattr(local, "facets", None) is not None:
            return local.facets
        cache: dict = getattr(local, "segment_sets", None) or {}
        fresh: dict = {}
        merged: dict[str, dict[str, set[int]]] = {name: {} for name in (*FACET_FIELDS, "labels")}
        for reader, offset in searcher.reader().leaf_readers():
            segment = reader.segment()
            key = (segment.segment_id(), offset, segment.deleted_count())
            part = cache.get(key)
            if part is None:
                part = _segment_sets(reader, offset)
            fresh[key] = part
            for name, values in part.items():
                target = merged[name]
                for value, docs in values.items():
                    target.setdefault(value, set()).update(docs)
        sets = {name: {v: frozenset(d) for v, d in values.items()} for name, values in merged.items()}
        local.segment_sets = fresh
        if getattr(local, "searcher", None) is searcher:
            local.facets = sets
        return sets

    def facet_bits(self, searcher) -> dict[str, list[tuple[str, int]]]:
        """``{field: [(value, bit mask of its docnums), ...]}`` for every
        facet field: :meth:`facet_sets` as Python ints (bit ``d`` set for
        document ``d``), so a facet count is one ``&`` and ``bit_count()``
        in C per value instead of a set intersection walked in Python. Kept
        with the facet sets while the searcher is current."""
        local = self._local
        sets = self.facet_sets(searcher)
        kept = getattr(local, "facet_bits", None)
        if kept is not None and kept[0] is sets:
            return kept[1]
        bits = {name: [(value, _bitmask(docs)) for value, docs in sets[name].items() if value]
                for name in FACET_FIELDS}
        if getattr(local, "searcher", None) is searcher:
            local.facet_bits = (sets, bits)
        return bits

    def value_mask(self, searcher, sets, name: str, value: str) -> np.ndarray:
        """The documents holding ``value`` in facet field ``name`` (or the
        permission label ``value`` for ``name="labels"``) as a bool array over
        the searcher's document numbers, from :meth:`facet_sets`. Kept with
        the facet sets while the searcher is current (at most
        :data:`MASKS_KEPT`, one per value used). Read-only: do not modify it."""
        local = self._local
        kept = getattr(local, "masks", None)
        if kept is None or kept[0] is not sets:
            kept = (sets, {})
            if getattr(local, "searcher", None) is searcher:
                local.masks = kept
        cache = kept[1]
        got = cache.get((name, value))
        if got is None:
            docs = sets[name].get(value, frozenset())
            got = np.zeros(searcher.doc_count_all(), dtype=bool)
            if docs:
                got[np.fromiter(docs, dtype=np.int64, count=len(docs))] = True
            if len(cache) >= MASKS_KEPT:
                cache.clear()
            cache[(name, value)] = got
        return got

    def allowed_mask(self, searcher, sets, labels: list[str], filters: dict[str, list[str]]) -> np.ndarray:
        """:func:`_allowed` as a new bool array over the searcher's document
        numbers: the documents the caller may see (any of ``labels``) that
        pass every filter (any value of a field, every field)."""
        allowed = np.zeros(searcher.doc_count_all(), dtype=bool)
        for label in labels:
            allowed |= self.value_mask(searcher, sets, "labels", label)
        for name, values in filters.items():
            values = [v for v in values if v]
            if name in FILTER_FIELDS and values:
                passing = np.zeros(len(allowed), dtype=bool)
                for value in values:
                    passing |= self.value_mask(searcher, sets, name, value)
                allowed &= passing
        return allowed

    def dates(self, searcher) -> np.ndarray:
        """Each document's sort key for "newest first" (int64, ascending =
        newer; equal dates equal keys, no date last), by global document
        number: the order of Whoosh's ``FieldFacet("date", reverse=True)``
        (which sorts on minus the column value; a document without a date
        holds the column's default, 0). The column is read once per segment
        and kept while the segment is unchanged."""
        local = self._local
        leaves = [sub.reader() for sub, _offset in searcher.leaf_searchers()]
        keys = tuple((r.segment().segment_id(), r.doc_count_all()) for r in leaves)
        kept = getattr(local, "date_order", None)
        if kept is not None and kept[0] == keys:
            return kept[1]
        cache: dict = getattr(local, "date_columns", None) or {}
        fresh: dict = {}
        parts = []
        for key, reader in zip(keys, leaves):
            raw = cache.get(key)
            if raw is None:
                column = reader.column_reader("date", translate=False)
                # unsigned 64-bit values: minus them does not fit an int64
                raw = np.fromiter((column[d] for d in range(reader.doc_count_all())),
                                  dtype=np.uint64, count=reader.doc_count_all())
            fresh[key] = raw
            parts.append(raw)
        local.date_columns = fresh
        if not parts:
            return np.zeros(0, dtype=np.int64)
        _values, rank = np.unique(np.concatenate(parts), return_inverse=True)
        order = rank.max(initial=0) - rank.astype(np.int64)
        local.date_order = (keys, order)
        return order

    def _new_generation(self) -> tuple[str, str]:
        os.makedirs(self.directory, exist_ok=True)
        gen = f"gen-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
        path = os.path.join(self.directory, gen)
        os.makedirs(path)
        return gen, path

    def _swap(self, gen: str) -> None:
        tmp = os.path.join(self.directory, f".{CURRENT}.{uuid.uuid4().hex}")
        with open(tmp, "w") as fh:
            fh.write(gen)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, os.path.join(self.directory, CURRENT))
        for name in os.listdir(self.directory):
            if name.startswith("gen-") and name != gen:
                shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)

    # -- writing -------------------------------------------------------------------
    def last_applied(self, searcher) -> int:
        stored = searcher.document(id=STATE_ID)
        return int(stored["slug"]) if stored else 0

    def rebuild(self, items, last_change_id: int, progress=None, expected: int | None = None) -> int:
        """Index ``items`` (an iterable of Item rows) into a new generation and
        swap it in; returns the number of documents written."""
        gen, path = self._new_generation()
        ix = index.create_in(path, build_schema())
        # Two processes with a segment each halve a large rebuild on two cores;
        # for a small library the extra process costs more than it saves.
        big = (expected or 0) >= 2000 and (os.cpu_count() or 1) > 1
        writer = ix.writer(limitmb=256, procs=2, multisegment=True) if big else ix.writer(limitmb=256)
        n = 0
        try:
            for item in items:
                doc = _document(item)
                if doc is not None:
                    writer.add_document(**doc)
                    n += 1
                if progress:
                    progress(1)
            writer.add_document(id=STATE_ID, slug=str(last_change_id))
            writer.commit()
        except BaseException:
            writer.cancel()
            shutil.rmtree(path, ignore_errors=True)
            raise
        self._swap(gen)
        return n

    def apply(self, changes: list[tuple[int, int, str]], load_items, timeout: float = 5.0,
              load_questions=None) -> int:
        """Apply change-log rows ``(change_id, item_id, action)`` newer than the
        index's state; ``load_items(ids) -> {id: Item}``; actions ``upsert`` /
        ``delete`` for items, :data:`QUESTION_UPSERT` / :data:`QUESTION_DELETE`
        for questions (``item_id`` is then a question id), loaded with
        ``load_questions(ids) -> {id: Question}`` (default: from the database).
        Returns the number applied. Raises ``LockError`` when the write lock
        stays taken."""
        ix = self.open()
        writer = ix.writer(timeout=timeout)
        try:
            with ix.searcher() as s:
                last = self.last_applied(s)
            pending = [c for c in changes if c[0] > last]
            if not pending:
                writer.cancel()
                return 0
            latest: dict[tuple[bool, int], str] = {}  # (is a question, id) -> last action
            for _cid, item_id, action in pending:
                latest[(action in QUESTION_ACTIONS, item_id)] = action
            items = load_items([i for (q, i), a in latest.items() if not q and a == "upsert"])
            asked = [i for (q, i), a in latest.items() if q and a == QUESTION_UPSERT]
            questions = (load_questions or _load_questions)(asked) if asked else {}
            for (is_question, key) in latest:
                if is_question:
                    doc, doc_id = _document(questions.get(key)), question_doc_id(key)
                else:
                    doc, doc_id = _document(items.get(key)), str(key)
                if doc is None:
                    writer.delete_by_term("id", doc_id)
                else:
                    writer.update_document(**doc)
            writer.update_document(id=STATE_ID, slug=str(pending[-1][0]))
            writer.commit()
            return len(pending)
        except BaseException:
            try:
                writer.cancel()
            except Exception:  # already committed or closed
                pass
            raise


def _document(item: Any) -> dict[str, Any] | None:
    """The index document of ``item`` (an Item or a Question); None for
    none, or for one that cannot be indexed (a damaged row): that item is
    logged and left out, so one bad row never blocks the change log for every
    other change, and ``portal search-index-check`` lists it as missing."""
    from ..models import Question
    from .documents import question_document, safe_document

    if item is None:
        return None
    try:
        if isinstance(item, Question):
            return question_document(item)
        return safe_document(item)
    except Exception:
        log.exception("item %s cannot be indexed; it is left out of the search index", getattr(item, "id", "?"))
        return None


def _segment_sets(reader, offset: int) -> dict[str, dict[str, frozenset[int]]]:
    """One segment's ``{field: {value: docnums}}``, docnums made global by ``offset``."""
    out: dict[str, dict[str, frozenset[int]]] = {}
    names = set(reader.indexed_field_names())
    for name in (*FACET_FIELDS, "labels"):
        values: dict[str, frozenset[int]] = {}
        if name in names:
            for term in reader.lexicon(name):
                text = term.decode("utf-8") if isinstance(term, bytes) else term
                values[text] = frozenset(d + offset for d in reader.postings(name, term).all_ids())
        out[name] = values
    return out


def _service() -> SearchIndex:
    app = current_app._get_current_object()
    svc = app.extensions.get("portal_search")
    if svc is None:
        svc = app.extensions["portal_search"] = SearchIndex(app.config["INDEX_DIR"])
        # one budget per process (the postings cache is the process's, as the index files are)
        dense.POSTINGS_KEPT_MB = int(app.config.get("SEARCH_CACHE_MB", dense.POSTINGS_KEPT_MB))
    return svc


# -- database side ------------------------------------------------------------------
def _load_items(ids: list[int]) -> dict[int, Any]:
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from ..extensions import db
    from ..models import Item

    if not ids:
        return {}
    rows = db.session.scalars(
        select(Item).where(Item.id.in_(ids)).options(selectinload(Item.municipalities))
    ).all()
    return {i.id: i for i in rows}


def _load_questions(ids: list[int]) -> dict[int, Any]:
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from ..extensions import db
    from ..models import Question

    if not ids:
        return {}
    rows = db.session.scalars(
        select(Question).where(Question.id.in_(ids))
        .options(selectinload(Question.answers), selectinload(Question.municipality))
    ).all()
    return {q.id: q for q in rows}


def question_doc_id(question_id: int) -> str:
    """The index ``id`` of a question's document (items use their plain id)."""
    return f"q-{question_id}"


def log_question_change(question_id: int, deleted: bool = False) -> None:
    """Add a change-log row for a question (asked, edited, answered, best
    answer, closed, deleted) to the current transaction; call
    :func:`nudge` after the commit."""
    from ..services.common import log_search_change

    log_search_change(question_id, QUESTION_DELETE if deleted else QUESTION_UPSERT)


def _pending_changes(after: int = 0, limit: int = 2000) -> list[tuple[int, int, str]]:
    from sqlalchemy import select

    from ..extensions import db
    from ..models import SearchChange

    rows = db.session.execute(
        select(SearchChange.id, SearchChange.item_id, SearchChange.action)
        .where(SearchChange.id > after).order_by(SearchChange.id).limit(limit)
    ).all()
    return [tuple(r) for r in rows]


def rebuild(progress=None) -> int:
    """Rebuild the whole index from the database (items, then questions to
    the network with their answers) and swap it in.

    ``progress(n)`` is called once per item or question indexed. Returns
    the number of documents written.
    """
    from sqlalchemy import func, select
    from sqlalchemy.orm import selectinload

    from itertools import chain

    from ..extensions import db
    from ..models import Item, Question, SearchChange

    last = db.session.scalar(select(func.max(SearchChange.id))) or 0
    expected = db.session.scalar(select(func.count(Item.id))) or 0
    items = db.session.scalars(
        select(Item).options(selectinload(Item.municipalities)).order_by(Item.id)
    ).yield_per(500)

    def questions():  # queried once the items are read: one open cursor at a time
        yield from db.session.scalars(
            select(Question).options(selectinload(Question.answers), selectinload(Question.municipality))
            .order_by(Question.id)
        ).yield_per(500)

    return _service().rebuild(chain(items, questions()), last, progress, expected=expected)


def _usable(svc: SearchIndex) -> Exception | None:
    """None when the current index opens and reads; else the error."""
    try:
        with svc.open().searcher() as s:
            svc.last_applied(s)
        return None
    except Exception as exc:  # missing, empty or corrupt
        return exc


def ensure_index() -> bool:
    """Rebuild when the index is missing or unreadable; True when it did.

    Several processes may find the index gone at once (gunicorn workers);
    an exclusive lock on ``<INDEX_DIR>/.rebuild.lock`` lets one rebuild
    while the others wait and then find it usable. Without the lock two
    rebuilds would each swap in their generation and delete the other's.
    """
    import fcntl

    svc = _service()
    if _usable(svc) is None:
        return False
    os.makedirs(svc.directory, exist_ok=True)
    with open(os.path.join(svc.directory, ".rebuild.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            problem = _usable(svc)
            if problem is None:  # another process rebuilt it while we waited
                return False
            log.warning("search index unusable (%s); rebuilding from the database", problem)
            rebuild()
            return True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _searcher(svc: SearchIndex):
    """This thread's searcher; a missing or unreadable index is rebuilt from
    the database first, so a deleted ``search_index/`` heals on the next
    search instead of failing every page."""
    try:
        return svc.searcher()
    except Exception:
        ensure_index()  # this process rebuilds, or waits for the one that does
        return svc.searcher()


def catch_up(timeout: float = 5.0) -> int:
    """Apply every pending change-log row; returns how many were applied."""
    svc = _service()
    total = 0
    while True:
        with svc.open().searcher() as s:
            last = svc.last_applied(s)
        changes = _pending_changes(after=last)
        if not changes:
            return total
        total += svc.apply(changes, _load_items, timeout=timeout)


def nudge() -> None:
    """After a commit: try to apply pending changes now. A held write lock or
    a broken index never fails the user's request: the change is safe in the
    change log and the next nudge or ``portal reindex --catch-up`` applies it."""
    if not has_app_context():
        return
    try:
        catch_up(timeout=current_app.config.get("INDEX_WRITE_TIMEOUT", 5.0))
    except LockError:
        log.info("search index busy; change left for the next catch-up")
    except Exception:
        log.exception("search index catch-up failed; change left in the change log")


def check() -> dict[str, list[str]]:
    """Compare index and database: ``{"missing": [...], "orphaned": [...],
    "stale": [...]}`` as ``type/slug`` (or ``id:N`` for orphans)."""
    from sqlalchemy import select

    from ..extensions import db
    from ..models import Item, Question

    svc = _service()
    with svc.open().searcher() as s:
        indexed = {f["id"]: f for f in s.all_stored_fields() if f.get("id") != STATE_ID}
    rows = {str(i.id): (i.type, i.slug) for i in db.session.scalars(select(Item))}
    rows.update({question_doc_id(qid): ("question", str(qid))
                 for qid in db.session.scalars(select(Question.id))})
    return {
        "missing": sorted(f"{t}/{slug}" for k, (t, slug) in rows.items() if k not in indexed),
        "orphaned": sorted(f"id:{k}" for k in indexed if k not in rows),
    }


# -- querying -------------------------------------------------------------------------
def search(
    user: Any,
    text: str = "",
    *,
    filters: dict[str, list[str]] | None = None,
    page: int = 1,
    per_page: int = 10,
    sort: str = "relevance",
    facets: bool = True,
    questions: bool = False,
) -> SearchResult:
    """Search as ``user`` (``None`` = anonymous visitor).

    ``questions``: also find questions to the network (type ``question``, a
    hit's ``id`` is then the question's id and ``slug`` its id as text), for
    callers that show them (the web search); they are found only when
    ``permissions.can_view_questions(user)``, the rule of the question
    pages, and never by default, so a caller that loads hits as items never
    meets one.

    ``text``: any user input (never parsed as query syntax); ``filters``: facet
    field -> allowed values (values of one field ORed, fields ANDed); ``sort``:
    ``relevance`` or ``date``; ``page`` is 1-based. An empty ``text`` lists
    everything the filters allow, newest first; a ``text`` without any
    searchable word (only stop words or punctuation) finds nothing and sets
    ``no_words``. Returns a ``SearchResult``
    whose total and facet counts cover only what ``user`` may see.

    How it runs: the documents ``user`` may see (permission labels) and the
    filters are resolved to a set of document numbers from per-index caches;
    the query is scored only within that set; facets are counted by set
    intersection; a query that finds nothing is retried with typo tolerance.
    """
    from .query import build_query, suggest

    page = max(1, int(page))
    per_page = max(1, min(int(per_page), MAX_PER_PAGE))
    sort = sort if sort in SORTS else "relevance"
    text = text or ""
    result = SearchResult(query=text, total=0, page=page, per_page=per_page)

    svc = _service()
    searcher = _searcher(svc)
    sets = svc.facet_sets(searcher)
    labels = caller_labels(user, questions)
    allowed = svc.allowed_mask(searcher, sets, labels, filters or {})
    if (allowed & svc.value_mask(searcher, sets, "type", "profile")).any():  # else no query needed
        for docnum in _lapsed_profile_docs(user, searcher):
            allowed[docnum] = False  # not a hit, nor a count in a total or facet
    q, words = build_query(text)
    if words:
        result.suggestion = suggest(searcher, text, public=sets["labels"].get("public", frozenset()))
    if not allowed.any():
        return result
    scores = None
    if q is None and text.strip():
        # something was typed, but nothing to search for: listing the whole
        # library under "resultaten voor 'de'" would answer a question nobody asked
        result.no_words = True
        matched = np.zeros_like(allowed)
    elif q is None:
        # the label sets never hold a deleted document (see facet_sets): every
        # document allowed is a match of the empty query
        q, matched = wq.Every(), allowed
        sort = "date"
    else:
        # Every match with its exact score, in one vectorised pass over the
        # segments (see portal.search.dense); a query that finds nothing is
        # retried with typo tolerance.
        context = searcher.context(weighting=visible_weighting(searcher, sets, labels))
        found, scores = _evaluate(searcher, q, context)
        matched = found & allowed
        if np.count_nonzero(matched) <= FUZZY_RETRY_AT:
            fq = build_query(text, fuzzy=True).query
            if fq is not None:
                fuzzy_found, fuzzy_scores = _evaluate(searcher, fq, context)
                fuzzy_matched = fuzzy_found & allowed
                if np.count_nonzero(fuzzy_matched) > np.count_nonzero(matched):
                    q, matched, scores, result.fuzzy = fq, fuzzy_matched, fuzzy_scores, True
    result.total = int(np.count_nonzero(matched))
    region_id = getattr(user, "region_id", None) if getattr(user, "is_authenticated", False) else None
    own = sets["region"].get(str(region_id), frozenset()) if region_id is not None else frozenset()
    if result.total and (page - 1) * per_page < result.total:
        extra = per_page if own and sort != "date" else 0  # room for the own-region tie rule
        limit = page * per_page + extra
        if sort == "date" or scores is None:
            results = _by_date(searcher, q, matched, limit, scores)
        else:
            results = _decorated(Results(searcher, q, dense.top(scores, np.flatnonzero(matched), limit)))
        result.hits = _page_hits(results, page, per_page, sort, own)
        _drop_unseeable_profiles(user, result)
    if facets:
        result.facets = _count_facets(svc.facet_bits(searcher), _mask_int(matched))
    return result


def _evaluate(searcher, q, context) -> tuple[np.ndarray, np.ndarray]:
    """``(matches, scores)`` of ``q`` over the whole index: a bool and a
    float64 array indexed by global document number (``scores`` 0.0 where
    it does not match), segment by segment with :func:`dense.evaluate`."""
    n = searcher.doc_count_all()
    found = np.zeros(n, dtype=bool)
    scores = np.zeros(n, dtype=np.float64)
    for sub, offset in searcher.leaf_searchers():
        size = sub.doc_count_all()
        r = dense.evaluate(q.matcher(sub, context), sub.reader(), size)
        found[offset:offset + size] = r.mask
        scores[offset:offset + size] = r.score
    return found, scores


def _by_date(searcher, q, matched: np.ndarray, limit: int, scores: np.ndarray | None):
    """The first ``limit`` of ``matched`` newest first (no date last), equal
    dates by score (when ``scores``), then by document number: Whoosh's
    ``MultiFacet(date reversed, score)`` order, from a per-segment column of
    dates (see :meth:`SearchIndex.dates`)."""
    dates = _service().dates(searcher)
    docs = np.flatnonzero(matched)
    keys = [docs, -scores[docs]] if scores is not None else [docs]
    order = np.lexsort((*keys, dates[docs]))[:limit]
    top = [(float(scores[d]) if scores is not None else 0.0, int(d)) for d in docs[order]]
    return _decorated(Results(searcher, q, top))


def _decorated(results):
    results.fragmenter = highlight.ContextFragmenter(maxchars=240, surround=60)
    results.formatter = MarkFormatter()
    return results


def _mask_int(mask: np.ndarray) -> int:
    """A bool array as one int, bit ``d`` set where ``mask[d]`` (for
    :func:`_count_facets`' ``&`` and ``bit_count()``)."""
    return int.from_bytes(np.packbits(mask, bitorder="little").tobytes(), "little")


def caller_labels(user: Any, questions: bool = False) -> list[str]:
    """The permission labels ``user``'s queries are restricted to:
    ``permissions.user_labels``, plus :data:`QUESTION_LABEL` when
    ``questions`` is asked for and ``permissions.can_view_questions(user)``."""
    from .. import permissions

    labels = permissions.user_labels(user)
    if questions and permissions.can_view_questions(user):
        labels = [*labels, QUESTION_LABEL]
    return labels


#: a profile's consent runs for 24 months (permissions.CONSENT_MONTHS), at
#: least 730 days: profiles whose consent began this many days ago or longer
#: are read from the database and checked exactly
_CONSENT_MIN_DAYS = 700


def _lapsed_profile_docs(user: Any, searcher) -> list[int]:
    """Index document numbers of published profiles ``user`` may no longer
    see because their consent ran out (``permissions.consent_valid``) while
    the index still gives them reader labels: consent ends by the calendar,
    not by a change the index hears of, until ``portal consent-check``
    unpublishes them. Their editors still see them (``permissions.can_view``).

    One query for the few candidates (no consent, a recorded end that has
    passed, or a start at least :data:`_CONSENT_MIN_DAYS` ago), each checked
    exactly; taken out of the allowed documents before anything is counted,
    so such a profile is no hit, no total and no facet count (found in attack
    round 6: the hit was dropped, the counts kept it)."""
    from datetime import timedelta

    from sqlalchemy import and_, or_, select

    from .. import permissions
    from ..extensions import db
    from ..models import Item

    today = permissions._today()
    ids = db.session.scalars(select(Item.id).where(
        Item.type == "profile", Item.status == "published",
        or_(Item.consent.is_(None),
            and_(Item.consent_expires.is_not(None), Item.consent_expires <= today),
            and_(Item.consent_expires.is_(None), Item.consent <= today - timedelta(days=_CONSENT_MIN_DAYS))),
    )).all()
    if not ids:
        return []
    rows = _load_items(list(ids))
    out = []
    for item_id, row in rows.items():
        if not permissions.consent_valid(row) and not permissions.can_view(user, row):
            docnum = searcher.document_number(id=str(item_id))
            if docnum is not None:
                out.append(docnum)
    return out


def _drop_unseeable_profiles(user: Any, result: SearchResult) -> None:
    """Profile hits re-checked against the database (``can_view``): consent
    runs out by the calendar, not by a change the index hears of, and until
    ``portal consent-check`` unpublishes an expired profile its index entry
    still carries reader labels. Only profiles: everything else changes
    through the change log. The total drops with them."""
    from .. import permissions

    ids = [h.id for h in result.hits if h.type == "profile"]
    if not ids:
        return
    rows = _load_items(ids)
    gone = {i for i in ids if i not in rows or not permissions.can_view(user, rows[i])}
    if gone:
        result.hits = [h for h in result.hits if h.id not in gone]
        result.total = max(0, result.total - len(gone))


def _allowed(sets, labels: list[str], filters: dict[str, list[str]]) -> set[int]:
    """Document numbers the caller may see (any of their labels) that pass
    every filter (any value of a field, every field)."""
    allowed: set[int] = set()
    for label in labels:
        allowed |= sets["labels"].get(label, frozenset())
    for name, values in filters.items():
        values = [v for v in values if v]
        if name in FILTER_FIELDS and values:
            passing: set[int] = set()
            for value in values:
                passing |= sets[name].get(value, frozenset())
            allowed &= passing
    return allowed


def visible_weighting(searcher, sets, labels: list[str]):
    """BM25F over the documents ``labels`` may see (issue #5).

    Ranking statistics (idf: number of documents and document frequency per
    term; average field lengths) are taken over the documents any of
    ``labels`` opens (facet filters left out: they narrow the results, not
    what the caller may know), plus the ``__state__`` document (no text; every
    caller's, so someone who may see every item gets Whoosh's own BM25F,
    same floats). Hidden documents (profiles, drafts, region-only items,
    questions) then change no score and no order. Returns a
    :class:`~portal.search.matchers.VisibleBM25F` for ``searcher.context``;
    the statistics are kept per label set while the index is unchanged
    (:func:`~portal.search.matchers.visible_stats`)."""
    from .matchers import VisibleBM25F, visible_stats

    def visible() -> set[int]:
        docs = _allowed(sets, labels, {})
        state = searcher.document_number(id=STATE_ID)
        if state is not None:
            docs.add(state)
        return docs

    # labels that open no document (the author label of someone without
    # drafts) change nothing: callers with the same documents share statistics
    key = ("labels", frozenset(label for label in labels if sets["labels"].get(label)))
    return VisibleBM25F(visible_stats(searcher, key, visible))


_BITS = tuple(1 << i for i in range(8))


def _bitmask(docs) -> int:
    """The document numbers ``docs`` (non-negative ints) as one int, bit
    ``d`` set for each ``d``: built in a byte array (setting bits of a big
    int one by one would copy it every time)."""
    if not docs:
        return 0
    buf = bytearray((max(docs) >> 3) + 1)
    bits = _BITS
    for d in docs:
        buf[d >> 3] |= bits[d & 7]
    return int.from_bytes(buf, "little")


def _count_facets(bits: dict[str, list[tuple[str, int]]], docs) -> dict[str, dict[str, int]]:
    """``{field: {value: documents of docs holding it}}``, most first (ties
    by value), zero counts left out; ``bits``: :meth:`SearchIndex.facet_bits`;
    ``docs``: document numbers, or already a bit mask (an int, :func:`_mask_int`)."""
    mask = docs if isinstance(docs, int) else _bitmask(docs)
    out = {}
    for name in FACET_FIELDS:
        counts = ((value, (mask & members).bit_count()) for value, members in bits[name])
        out[name] = dict(sorted(((k, n) for k, n in counts if n), key=lambda kv: (-kv[1], kv[0])))
    return out


class MarkFormatter(highlight.HtmlFormatter):
    """Wraps each matched term in a bare ``<mark>``; all other text is
    HTML-escaped by the base class, so a snippet is safe HTML. Fragments are
    joined with a spaced ellipsis."""

    def __init__(self):
        super().__init__(between=" … ")

    def format_token(self, text, token, replace=False):
        return "<mark>%s</mark>" % highlight.htmlescape(highlight.get_text(text, token, replace), quote=False)


def _expand_terms_once(results) -> None:
    """Whoosh's highlighter asks ``results.query_terms(expand=True, ...)`` for
    every hit, expanding fuzzy and prefix terms against the term dictionary
    each time; the answer (a set) is the same for every hit of one query, so
    it is kept on the results object after the first hit."""
    if not getattr(results, "_portal_terms_kept", False):
        results.query_terms = functools.lru_cache(maxsize=None)(results.query_terms)
        results._portal_terms_kept = True


def _page_hits(results, page: int, per_page: int, sort: str, own: frozenset) -> list[Hit]:
    from .snippets import highlight_field

    start = (page - 1) * per_page
    by_date = sort == "date"
    if own and not by_date:
        # Equal scores: the caller's own region first (the expert finder's tie rule).
        window = list(results[0:page * per_page + per_page])
        window.sort(key=lambda h: (-round(float(h.score or 0.0), 6), h.docnum not in own))
    else:
        window = list(results[start:start + per_page])
        start = 0
    hits = []
    for hit in window[start:start + per_page]:
        _expand_terms_once(hit.results)
        snippet = ""
        for name, top in (("body", 2), ("summary", 1)):
            if not snippet and hit.get(name):  # an empty field is not stored at all
                snippet = highlight_field(hit, name, top=top)  # = hit.highlights(name, top=top)
        if not snippet:
            snippet = highlight.htmlescape((hit.get("summary") or hit.get("body") or "")[:240])
        hits.append(Hit(
            id=int(hit["slug"]) if hit["type"] == "question" else int(hit["id"]), type=hit["type"], slug=hit["slug"], title=hit.get("title", ""),
            summary=hit.get("summary", ""), score=0.0 if by_date else round(float(hit.score or 0.0), 4),
            snippet=snippet, date=hit.get("date"),
        ))
    return hits


def related(user: Any, item: Any, limit: int = 5) -> list[Hit]:
    """Up to ``limit`` items most like ``item`` by their key terms, among what
    ``user`` may see; profiles and ``item`` itself left out. Among the similar
    ones, items from other municipalities come first: what a colleague
    elsewhere did is what the reader cannot find in their own town hall."""
    from .. import permissions

    svc = _service()
    searcher = _searcher(svc)
    docnum = searcher.document_number(id=str(item.id))
    if docnum is None:
        return []
    sets = svc.facet_sets(searcher)
    labels = permissions.user_labels(user)
    allowed = svc.allowed_mask(searcher, sets, labels, {})
    allowed &= ~svc.value_mask(searcher, sets, "type", "profile")
    allowed[docnum] = False  # not the item itself
    if not allowed.any():
        return []
    terms = svc.key_terms.get((item.id, item.version))
    if terms is None:
        # Analysing the whole text (compound splitting included) is most of
        # the cost; the terms change with the item's text, hardly with the
        # rest of the corpus, so they are kept per item version.
        stored = searcher.stored_fields(docnum)
        text = " ".join([stored.get("title", "")] * 2 + [stored.get("summary", ""), stored.get("body", "")])
        terms = searcher.key_terms_from_text("body", text, numterms=12, normalize=True)
        if len(svc.key_terms) >= KEY_TERMS_KEPT:
            svc.key_terms.clear()
        svc.key_terms[(item.id, item.version)] = terms
    if not terms:
        return []
    # What Whoosh's Searcher.more_like does with the terms: an OR of them,
    # weighted, scored like every search (all matches at once, see dense).
    like = wq.Or([wq.Term("body", word, boost=weight) for word, weight in terms])
    like.matcher_type = wq.Or.DEFAULT_MATCHER  # a tree of union matchers (dense reads those)
    context = searcher.context(weighting=visible_weighting(searcher, sets, labels))
    found, scores = _evaluate(searcher, like, context)
    results = Results(searcher, like, dense.top(scores, np.flatnonzero(found & allowed), limit))
    same_place: set[int] = set()
    for m in item.municipalities:
        same_place |= sets["municipality"].get(m.cbs_code, frozenset())
    # The most similar items, other municipalities first (stable: similarity order otherwise).
    # (a slice: len() of these results would ask a collector they never had)
    ranked = sorted(results[0:limit], key=lambda h: h.docnum in same_place)
    return [Hit(id=int(h["id"]), type=h["type"], slug=h["slug"], title=h.get("title", ""),
                summary=h.get("summary", ""), score=float(h.score or 0), snippet="",
                date=h.get("date")) for h in ranked[:limit]]
