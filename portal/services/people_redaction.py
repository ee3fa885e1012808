"""Redacting an erased person's name from free text everywhere (issue #5).

Erasing a profile (``people.erase_person``) removes the profile and every row
that refers to it. People also *type* a key figure's name into other texts:
a practice's body, a lesson's title, a pending change, a kept form, a
question or answer, meeting notes, a notification, an e-mail in the outbox,
the audit log. This module finds those occurrences (``scan``: for the
admin's preview before erasing) and replaces them in place
(``redact_everywhere``, inside the erasure's transaction) with
``[naam verwijderd]``; e-mail addresses and phone numbers of the profile with
``[contactgegevens verwijderd]``.

Revision history is rewritten too: the right to erasure (GDPR / AVG article
17(1), https://eur-lex.europa.eu/eli/reg/2016/679/oj, art. 17) overrides the
portal's wish to keep every version as it was typed.

Which names, and how they match (the guard against over-redaction):

* the profile's display name and every earlier display name in its
  revisions (a pseudonym changed later is still the person's name);
* matched as whole words (never inside a longer word: "Ali" never hits
  "Alibaba"), ignoring case and accents ("zwanétte BRINKHORST" matches
  "Zwanette Brinkhorst") and what separates the words (space, hyphen,
  apostrophe, line end: "Gerrit-Jan" matches "gerrit jan");
* a name is *not used* when it has fewer than ``MIN_LETTERS`` (4) letters in
  all ("Ali", "Jo": far too many other words and people would be hit), when
  it has no word outside the stop words ("De"), or when its only word
  outside the stop words is a common Dutch word (Zipf frequency of at least
  ``COMMON_ZIPF``, 3.0 = once per million words in wordfreq's Dutch list,
  the same list the search uses): a single-word pseudonym "Imam" or "Vrede"
  would blank every text about imams or peace. A name of two or more
  content words ("Jan de Vries") is always used: as a phrase it is specific.
  Names not used are listed on the preview with the reason, so the admin can
  edit those texts by hand.

Columns walked: every ``String``, ``Text`` and ``JSON`` column of every table
in the metadata (new tables are covered without a change here), except
reference data and secrets (``SKIP_TABLES``, ``_SKIP_COLUMN``). Slug-like
values (``SLUG_COLUMNS`` and the JSON keys ``slug``, ``contact``,
``related``) get ``naam-verwijderd`` so they stay valid slugs; a changed item
or dossier slug stays unique (random suffix). Links to a renamed slug from
other items' ``related`` follow only when they redact to the same value.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext
from sqlalchemy import JSON, String, Text, select, update

from ..extensions import db
from ..search.analysis import STOP_WORDS, zipf

REDACTED = "[naam verwijderd]"
REDACTED_CONTACT = "[contactgegevens verwijderd]"
REDACTED_SLUG = "naam-verwijderd"
MIN_LETTERS = 4
COMMON_ZIPF = 3.0

#: Reference data and accounts: never rewritten by a profile's erasure (a
#: user account is its own data subject, erased through the account itself).
SKIP_TABLES = frozenset({"users", "regions", "municipalities", "taxonomy_terms", "search_changes",
                         "alembic_version"})
_SKIP_COLUMN = re.compile(r"hash|token|secret|password|recovery|sha256|stored_name|prefix|content_type")
SLUG_COLUMNS = frozenset({"items.slug", "collections.slug", "items.contact", "items.related", "meetings.related"})
SLUG_KEYS = frozenset({"slug", "contact", "related"})

#: Dutch labels of tables for the preview; unknown tables show their name.
TABLE_LABELS = {
    "items": "Item", "revisions": "Versie van", "kept_forms": "Bewaard formulier",
    "questions": "Vraag", "answers": "Antwoord", "meetings": "Bijeenkomst",
    "notifications": "Melding", "outbox_messages": "E-mail in de wachtrij", "audit_events": "Auditlogboek",
    "search_log": "Zoeklogboek", "collections": "Dossier", "introduction_requests": "Introductieverzoek",
    "attachments": "Bijlage", "api_tokens": "API-sleutel", "guide_progress": "Voortgang handreiking",
}
#: Dutch labels of columns for the preview; others show their name.
FIELD_LABELS = {
    "title": lazy_gettext("titel"), "body": lazy_gettext("tekst"), "summary": lazy_gettext("samenvatting"),
    "meta": lazy_gettext("gegevens"), "note": lazy_gettext("notitie"), "comment": lazy_gettext("opmerking"),
    "description": lazy_gettext("beschrijving"), "notes": lazy_gettext("verslag"),
    "message": lazy_gettext("bericht"), "subject": lazy_gettext("onderwerp"), "fields": lazy_gettext("velden"),
    "introduction": lazy_gettext("inleiding"), "query": lazy_gettext("zoekvraag"),
}
TYPE_LABELS = {"practice": "Werkwijze", "lesson": "Les", "profile": "Sleutelfiguur"}
_SPECIAL_FOLDS = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "þ": "th",
                                "ð": "d", "ı": "i"})
_WORD = re.compile(r"[^\W_]+")


# -- folding with a map back to the original ------------------------------------------
def _fold_char(c: str) -> str:
    text = unicodedata.normalize("NFKD", c.lower().translate(_SPECIAL_FOLDS))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def fold_with_map(text: str) -> tuple[str, list[int]]:
    """``(folded, where)``: ``text`` lowercased without accents, and for each
    character of ``folded`` the index in ``text`` it came from. Linear."""
    if text.isascii():
        return text.lower(), list(range(len(text)))
    out: list[str] = []
    where: list[int] = []
    for i, c in enumerate(text):
        f = _fold_char(c) if not c.isascii() else c.lower()
        out.append(f)
        where.extend([i] * len(f))
    return "".join(out), where


def fold(text: str) -> str:
    return fold_with_map(text)[0]


# -- which names ---------------------------------------------------------------------
@dataclass
class NameRule:
    name: str
    used: bool
    reason: Any = ""  # Dutch (lazy, translated when shown), why a name is not used


def judge_name(name: str) -> NameRule:
    """Whether ``name`` is specific enough to redact (see the module docstring)."""
    words = _WORD.findall(fold(name or ""))
    if sum(len(w) for w in words) < MIN_LETTERS:
        return NameRule(name, False, lazy_gettext("korter dan %(n)s letters", n=MIN_LETTERS))
    content = [w for w in words if w not in STOP_WORDS]
    if not content:
        return NameRule(name, False, lazy_gettext("alleen lidwoorden en voorzetsels"))
    if len(content) == 1 and zipf(content[0]) >= COMMON_ZIPF:
        return NameRule(name, False, lazy_gettext("een gewoon Nederlands woord"))
    return NameRule(name, True)


def name_pattern(name: str) -> re.Pattern:
    """A regex over *folded* text matching ``name`` as whole words, any run
    of 1-5 non-word characters between its words."""
    words = _WORD.findall(fold(name))
    return re.compile(r"(?<![^\W_])" + r"[\W_]{1,5}".join(map(re.escape, words)) + r"(?![^\W_])")


def _email_pattern(email: str) -> re.Pattern:
    return re.compile(r"(?<![\w.+-])" + re.escape(fold(email.strip())) + r"(?![\w-])")


def _phone_pattern(phone: str) -> re.Pattern | None:
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) < 6:
        return None
    sep = r"[\s.\-/()]{0,3}"
    national = sep.join(digits)
    alternatives = [national]
    if digits.startswith("0"):  # the same number written internationally: +31 6 ..., 0031 6 ...
        alternatives.append(r"(?:\+|00)31" + sep + r"(?:\(0\))?" + sep + sep.join(digits[1:]))
    return re.compile(r"(?<![\d+])(?:" + "|".join(alternatives) + r")(?!\d)")


@dataclass
class Needles:
    """What to redact for one person: name patterns, contact patterns, and
    the names judged too unspecific (with the reason)."""

    names: list[tuple[str, re.Pattern]] = field(default_factory=list)
    contacts: list[re.Pattern] = field(default_factory=list)
    ignored: list[NameRule] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.names or self.contacts)


def needles_for(profile: Any) -> Needles:
    """The names (current display name and earlier ones from its revisions,
    longest first so "Jan de Vries-Bakker" wins over "Jan de Vries") and the
    contact details of ``profile`` (an ``Item`` of type profile)."""
    names = [profile.title] + [r.title for r in profile.revisions]
    out = Needles()
    seen: set[str] = set()
    for name in sorted({n.strip() for n in names if n and n.strip()}, key=lambda n: (-len(n), n)):
        key = " ".join(_WORD.findall(fold(name)))
        if key in seen:
            continue
        seen.add(key)
        rule = judge_name(name)
        if rule.used:
            out.names.append((name, name_pattern(name)))
        else:
            out.ignored.append(rule)
    if profile.contact_email and "@" in profile.contact_email:
        out.contacts.append(_email_pattern(profile.contact_email))
    phone = _phone_pattern(profile.contact_phone or "")
    if phone is not None:
        out.contacts.append(phone)
    return out


# -- redacting one value -----------------------------------------------------------------
def redact_text(text: str, needles: Needles, slug: bool = False) -> tuple[str, int]:
    """``(new_text, hits)``: ``text`` with every occurrence of a name replaced
    by ``[naam verwijderd]`` (``naam-verwijderd`` when ``slug``) and every
    contact detail by ``[contactgegevens verwijderd]``."""
    if not text or not needles:
        return text, 0
    folded, where = fold_with_map(text)
    spans: list[tuple[int, int, str]] = []
    taken = [False] * len(folded)
    marker = REDACTED_SLUG if slug else REDACTED
    for patterns, mark in (([p for _, p in needles.names], marker),
                           (needles.contacts, REDACTED_SLUG if slug else REDACTED_CONTACT)):
        for pattern in patterns:
            for m in pattern.finditer(folded):
                if m.end() == m.start() or any(taken[m.start():m.end()]):
                    continue
                taken[m.start():m.end()] = [True] * (m.end() - m.start())
                start, end = where[m.start()], where[m.end() - 1] + 1
                while end < len(text) and unicodedata.combining(text[end]):
                    end += 1  # a decomposed accent on the last letter belongs to the name
                spans.append((start, end, mark))
    if not spans:
        return text, 0
    out = text
    for start, end, mark in sorted(spans, reverse=True):
        out = out[:start] + mark + out[end:]
    return out, len(spans)


def redact_value(value: Any, needles: Needles, slug: bool = False) -> tuple[Any, int]:
    """Like ``redact_text`` for a JSON value (dicts, lists, strings; keys kept)."""
    if isinstance(value, str):
        return redact_text(value, needles, slug)
    if isinstance(value, list):
        parts = [redact_value(v, needles, slug) for v in value]
        return [p for p, _ in parts], sum(n for _, n in parts)
    if isinstance(value, dict):
        out, hits = {}, 0
        for k, v in value.items():
            out[k], n = redact_value(v, needles, slug or k in SLUG_KEYS)
            hits += n
        return out, hits
    return value, 0


# -- the walk over the schema ---------------------------------------------------------------
def text_columns() -> list[tuple[Any, list[Any]]]:
    """``(table, [columns])`` of every table with String/Text/JSON columns,
    minus ``SKIP_TABLES`` and secret-like columns."""
    out = []
    for table in db.metadata.sorted_tables:
        if table.name in SKIP_TABLES or not table.primary_key.columns:
            continue
        cols = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))
                and not c.primary_key and not _SKIP_COLUMN.search(c.name)]
        if cols:
            out.append((table, cols))
    return out


@dataclass
class Hit:
    table: str
    key: tuple  # primary key values
    column: str
    hits: int
    new_value: Any
    label: str = ""  # Dutch, for the preview: where, without the text itself

    @property
    def field_label(self) -> Any:
        return FIELD_LABELS.get(self.column, self.column)


def scan(needles: Needles, skip: Any = None) -> list[Hit]:
    """Every (row, column) holding one of ``needles``, with its redacted value.
    ``skip(table_name, row_mapping) -> bool`` leaves rows out (the rows the
    erasure deletes anyway)."""
    if not needles:
        return []
    found: list[Hit] = []
    for table, cols in text_columns():
        pk = list(table.primary_key.columns)
        for row in db.session.execute(select(table)).mappings():
            if skip is not None and skip(table.name, row):
                continue
            for col in cols:
                value = row[col.name]
                if value is None:
                    continue
                is_slug = f"{table.name}.{col.name}" in SLUG_COLUMNS
                if isinstance(col.type, JSON):
                    new, n = redact_value(value, needles, is_slug)
                else:
                    new, n = redact_text(value, needles, is_slug)
                if n:
                    found.append(Hit(table.name, tuple(row[c.name] for c in pk), col.name, n, new))
    _label(found, needles)
    return found


def _label(found: list[Hit], needles: Needles) -> None:
    """Fill ``Hit.label``: the item or row the text is in, its own title redacted."""
    item_ids = set()
    for h in found:
        if h.table == "items":
            item_ids.add(h.key[0])
    rev_items = {}
    if any(h.table == "revisions" for h in found):
        revs = db.metadata.tables["revisions"]
        ids = [h.key[0] for h in found if h.table == "revisions"]
        for rid, item_id, number, state in db.session.execute(
                select(revs.c.id, revs.c.item_id, revs.c.number, revs.c.state).where(revs.c.id.in_(ids))):
            rev_items[rid] = (item_id, number, state)
            item_ids.add(item_id)
    items = db.metadata.tables["items"]
    titles = {}
    if item_ids:
        for iid, typ, title in db.session.execute(
                select(items.c.id, items.c.type, items.c.title).where(items.c.id.in_(item_ids))):
            titles[iid] = f"{TYPE_LABELS.get(typ, typ)} “{redact_text(title, needles)[0]}”"
    for h in found:
        if h.table == "items":
            h.label = titles.get(h.key[0], f"Item {h.key[0]}")
        elif h.table == "revisions" and h.key[0] in rev_items:
            item_id, number, state = rev_items[h.key[0]]
            kind = "wijziging ter beoordeling" if state == "pending" else f"versie {number}"
            h.label = f"{titles.get(item_id, 'Item')}, {kind}"
        else:
            table = db.metadata.tables[h.table]
            title = ""
            if "title" in table.c:
                value = db.session.scalar(select(table.c.title).where(
                    *[c == v for c, v in zip(table.primary_key.columns, h.key)]))
                title = f" “{redact_text(value or '', needles)[0]}”"
            h.label = f"{TABLE_LABELS.get(h.table, h.table)}{title} (nr. {h.key[0]})"


def apply(found: list[Hit]) -> set[int]:
    """Write the redacted values (one UPDATE per row and column, by primary
    key, in the caller's transaction). Item rows get their optimistic-lock
    version bumped, so an editor opened before the erasure cannot save the
    name back; a changed item slug stays unique per type (random suffix).
    Returns the ids of items whose own row or revisions changed (to reindex)."""
    touched: set[int] = set()
    items = db.metadata.tables["items"]
    revisions = db.metadata.tables["revisions"]
    for h in found:
        table = db.metadata.tables[h.table]
        where = [c == v for c, v in zip(table.primary_key.columns, h.key)]
        values: dict[str, Any] = {h.column: h.new_value}
        if h.table == "items":
            touched.add(h.key[0])
            values["version"] = items.c.version + 1
            if h.column == "slug":
                values["slug"] = _free_slug(table, h.new_value, h.key[0])
        elif h.table == "collections" and h.column == "slug":
            values["slug"] = _free_slug(table, h.new_value, h.key[0])
        elif h.table == "revisions":
            touched.add(db.session.scalar(select(revisions.c.item_id).where(*where)))
        db.session.execute(update(table).where(*where).values(values))
    return touched


def _free_slug(table: Any, slug: str, own_id: int) -> str:
    slug = slug[:190]
    base = slug
    same_type = []
    if "type" in table.c:
        kind = db.session.scalar(select(table.c.type).where(table.c.id == own_id))
        same_type = [table.c.type == kind]
    while db.session.scalar(select(table.c.id).where(table.c.slug == slug, table.c.id != own_id, *same_type)):
        slug = f"{base[:180]}-{secrets.token_hex(3)}"
    return slug
