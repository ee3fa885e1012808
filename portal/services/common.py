"""Helpers every service uses: the audit log, the search change log, and the
vocabulary (controlled lists + municipalities) for validation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text

from ..extensions import db
from ..models import AuditEvent, Municipality, SearchChange, TaxonomyTerm
from ..validation import Vocabulary


def audit(actor: Any, action: str, target: str = "", **detail: Any) -> None:
    """Add an audit row to the current transaction (committed with the change)."""
    actor_id = getattr(actor, "id", None) if actor is not None and getattr(actor, "is_authenticated", False) else None
    db.session.add(AuditEvent(actor_id=actor_id, action=action, target=target, detail=detail))


#: Key of the PostgreSQL advisory lock that orders change-log writers.
CHANGE_LOG_LOCK = 0x706F7274616C  # "portal"


def log_search_change(item_id: int, action: str = "upsert") -> None:
    """Add a search change-log row to the current transaction.

    The indexer applies rows with an id above the last one it applied, so a
    row must never become visible after a row with a higher id. On PostgreSQL
    a sequence hands out ids at insert time but transactions commit in any
    order: transaction A takes id 6, B takes 7 and commits first, the indexer
    applies 7 and skips 6 for good. A transaction-scoped advisory lock taken
    before the insert makes writers of the change log take ids and commit
    one after another (SQLite's ``BEGIN IMMEDIATE`` already does this).
    Taking it twice in one transaction is harmless; it ends with the
    transaction (https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS).
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHANGE_LOG_LOCK})
    db.session.add(SearchChange(item_id=item_id, action=action))


def _strip_suffix(name: str) -> str:
    # CBS writes a few names with a province suffix: "Hengelo (O.)", "Beek (L.)".
    return name.split(" (", 1)[0]




#: Everyday names that differ from CBS's official ones.
ALIASES = {
    "den haag": "GM0518",  # 's-Gravenhage
    "den bosch": "GM0796",  # 's-Hertogenbosch
    "s-gravenhage": "GM0518",
    "s-hertogenbosch": "GM0796",
    "'s gravenhage": "GM0518",
    "'s hertogenbosch": "GM0796",
}


def municipality_resolver():
    """Return ``resolve(name_or_code) -> Municipality | None``.

    Accepts a CBS code (``GM0503``), the official name in any letter case
    (``'s-Hertogenbosch``), an everyday name (``Den Haag``, ``Den Bosch``), or
    a name without CBS's province suffix when that is unambiguous (``Hengelo``
    -> ``Hengelo (O.)``; ``Bergen`` stays unknown).
    """
    rows = db.session.scalars(select(Municipality)).all()
    by_code = {m.cbs_code.upper(): m for m in rows}
    by_name = {m.name.casefold(): m for m in rows}
    by_short: dict[str, list[Municipality]] = {}
    for m in rows:
        by_short.setdefault(_strip_suffix(m.name).casefold(), []).append(m)

    def resolve(value: str) -> Municipality | None:
        text = (value or "").strip()
        if not text:
            return None
        found = (by_code.get(text.upper()) or by_name.get(text.casefold())
                 or by_code.get(ALIASES.get(text.casefold(), "")))
        if found:
            return found
        candidates = by_short.get(text.casefold(), [])
        return candidates[0] if len(candidates) == 1 else None

    return resolve


def vocabulary(extra_terms: dict[str, dict[str, tuple[str, str]]] | None = None) -> Vocabulary:
    """The validation vocabulary: built-in lists, terms in the database, and
    ``extra_terms`` (a library's taxonomy.yaml being imported)."""
    extra: dict[str, dict[str, tuple[str, str]]] = {}
    for term in db.session.scalars(select(TaxonomyTerm)):
        extra.setdefault(term.kind, {})[term.key] = (term.label_nl, term.label_en)
    for kind, terms in (extra_terms or {}).items():
        extra.setdefault(kind, {}).update(terms)
    return Vocabulary(extra=extra, resolve_municipality=municipality_resolver())
