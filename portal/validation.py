"""Validation of item data, shared by the importer, the web forms and the API.

Input is a front-matter-like mapping (keys of ``shared/content-format.md``);
output is a clean mapping of Python values, or a ``ValidationFailed`` whose
``errors`` map each key to Dutch messages a municipal employee understands.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import format_number
from flask_babel import gettext as _

from . import taxonomy
from .errors import ValidationFailed

SLUG_RE = re.compile(r"^[a-z0-9-]+$")
#: Linear: the labels of the domain cannot contain dots, so the engine never
#: tries the ways to split a run of dots (the old ``[^@\s]+\.[^@\s]+$`` was
#: quadratic on "a@" + "." * 50_000 + " ").
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s.]{1,63}(?:\.[^@\s.]{1,63}){1,20}$")


def valid_email(text: str) -> bool:
    """Is ``text`` one e-mail address the outbox can mail, and only that
    mailbox? Shape (``EMAIL_RE``, at most ``MAX_EMAIL`` characters) and no
    encoded words, commas, groups or ``<...>`` that would make the ``To``
    header parse as another or as several mailboxes
    (``accounts.mails_to_exactly``). Every path that stores an address
    (forms, import, API, ``portal create-user``) asks this one question."""
    from .services.accounts import mails_to_exactly

    return len(text) <= MAX_EMAIL and bool(EMAIL_RE.match(text)) and mails_to_exactly(text)
MAX_EMAIL = 254  # RFC 5321, section 4.5.3.1.3
ISO639_1 = re.compile(r"^[a-z]{2}$")

#: Keys every item may carry, then the keys of each type, each with its kind.
COMMON_KEYS = {
    "type": "type", "title": "text", "slug": "slug", "summary": "text",
    "municipality": "municipalities", "region": "text", "themes": "list:theme",
    "phase": "list:phase", "steps": "list:step", "visibility": "enum:visibility",
    "status": "enum:status", "date": "date", "language": "language", "tags": "words",
    "reviewed": "date", "review_due": "date",
}
TYPE_KEYS = {
    "practice": {
        "municipal_role": "enum:municipal_role", "target_groups": "list:target_group",
        "key_figure_types": "list:key_figure_type", "evidence": "enum:evidence",
        "started": "date", "ended": "date", "contact": "slug", "related": "slugs",
    },
    "profile": {
        "role": "text", "organisation": "text", "key_figure_type": "enum:key_figure_type",
        "formal": "bool", "expertise": "words", "languages": "languages",
        "communities": "words", "outside_office_hours": "bool", "contact_email": "email",
        "contact_phone": "text", "consent": "date",
        # the portal's own keys (issue #5): what was agreed, to which text, until when
        "consent_scope": "text", "consent_version": "text", "consent_expires": "date",
        "contact_route": "enum:contact_route",
    },
    "lesson": {"outcome": "enum:outcome", "related": "slugs"},
}
#: Kinds whose clean value is a list.
LIST_KINDS = {"words", "slugs", "languages", "municipalities"}
#: Front-matter key -> Item attribute where they differ.
COLUMN_OF = {"phase": "phases", "municipality": "municipalities"}

MAX_EXTRA = 50_000  # bytes of JSON for keys the format does not know
MAX_BODY = 200_000  # characters of Markdown; far beyond any real practice
#: The dates a person can mean: older or later ones are typing errors, and a
#: year near 9999 breaks date arithmetic (consent + 24 months, review + 12).
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2199, 12, 31)
MAX_TEXT = {"summary": 5000, "title": 300, "slug": 200, "role": 300, "organisation": 300, "contact_phone": 60,
            "consent_scope": 300, "consent_version": 60}


@dataclass
class Vocabulary:
    """Allowed keys per controlled list (built-in plus a library's additions)
    and a municipality resolver ``resolve(name_or_code) -> object | None``."""

    extra: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    resolve_municipality: Any = None

    def allowed(self, kind: str) -> dict[str, tuple[str, str]]:
        merged = dict(taxonomy.BUILTIN[kind])
        merged.update(self.extra.get(kind, {}))
        return merged


def _as_list(value: Any) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip())


def _has_non_finite(value: Any) -> bool:
    """True when ``value`` holds a float NaN or infinity, at any depth (iterative)."""
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, float) and not math.isfinite(current):
            return True
        if isinstance(current, dict):
            stack.extend(current.values())
        elif isinstance(current, (list, tuple)):
            stack.extend(current)
    return False


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "ja", "yes", "1", "on"}:
        return True
    if text in {"false", "nee", "no", "0", "off", ""}:
        return False
    raise ValueError(value)


def allowed_keys(item_type: str) -> dict[str, str]:
    """All known front-matter keys of ``item_type`` with their kinds."""
    return {**COMMON_KEYS, **TYPE_KEYS.get(item_type, {})}


#: Characters that XML 1.0 forbids (https://www.w3.org/TR/xml/#charsets) and
#: that mean nothing in text a person types or pastes: C0 controls other
#: than tab and line ends, DEL, lone surrogates, U+FFFE/U+FFFF. Stored, they
#: would break every Atom feed and XML export that carries the item.
_UNWANTED_CHARS = re.compile("[\x00-\x08\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def clean_text(text: str) -> str:
    """``text`` without unwanted control characters: vertical tab and form
    feed (line and page breaks pasted from word processors) become a space,
    CR LF and CR become LF (browsers send textareas with CR LF), the other
    characters of :data:`_UNWANTED_CHARS` are dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x0b", " ").replace("\x0c", " ")
    return _UNWANTED_CHARS.sub("", text)


def clean_value(value: Any) -> Any:
    """:func:`clean_text` on every string in ``value`` (lists and mappings too)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [clean_value(v) for v in value]
    if isinstance(value, dict):
        return {clean_value(k) if isinstance(k, str) else k: clean_value(v) for k, v in value.items()}
    return value


def validate_item(data: dict[str, Any], item_type: str, vocab: Vocabulary, body: str = "") -> dict[str, Any]:
    """Validate a front-matter mapping for an item of ``item_type``.

    Returns ``{"fields": {...}, "extra": {...}}``: ``fields`` maps Item
    attributes to clean values (dates as ``date``, lists as lists, municipalities
    as resolved objects); ``extra`` holds keys the format does not know, kept
    as they were. Raises ``ValidationFailed`` naming every bad key and value.
    """
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    known = allowed_keys(item_type)

    def err(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    for key, value in data.items():
        value = clean_value(value)
        kind = known.get(key)
        if kind is None:
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError, RecursionError):
                if _has_non_finite(value):
                    err(key, _("NaN en Infinity zijn geen getallen die bewaard kunnen worden; gebruik een gewoon "
                               "getal of tekst."))
                else:
                    err(key, _("Deze waarde kan niet bewaard worden: gebruik tekst, getallen, ja/nee, lijsten of "
                               "tabellen."))
                continue
            extra[key] = value
            continue
        try:
            result = _check(key, kind, value, vocab, err)
        except (TypeError, ValueError):
            err(key, _kind_message(kind, value))
            continue
        if result is not _SKIP:
            clean[COLUMN_OF.get(key, key)] = result

    title = clean.get("title", "")
    if not title:
        err("title", _("Vul een titel in; bij een profiel de naam die getoond wordt."))
    if item_type == "profile" and clean.get("visibility") == "public":
        err("visibility", _("Een profiel kan nooit openbaar zijn; kies 'members' of 'municipality'."))
    if extra and len(json.dumps(extra)) > MAX_EXTRA:
        err("front matter", _("De extra sleutels zijn samen te groot (meer dan %(kb)s kB).", kb=MAX_EXTRA // 1000))
    if clean.get("visibility") == "region" and not clean.get("region") and not any(
            getattr(m, "region_id", None) for m in clean.get("municipalities") or []):
        err("visibility", _("'Alleen eigen regio' kan alleen met een gemeente die in een regio ligt; kies een andere "
                            "gemeente of zichtbaarheid."))
    if item_type == "profile" and clean.get("consent_expires") and clean.get("consent") \
            and clean["consent_expires"] <= clean["consent"]:
        err("consent_expires", _("De toestemming moet verlopen ná de datum van toestemming."))
    if clean.get("visibility") == "municipality" and not clean.get("municipalities"):
        err("visibility", _("'Alleen eigen gemeente' kan alleen met een gemeente; kies een gemeente of een andere "
                            "zichtbaarheid."))
    if len(body or "") > MAX_BODY:
        err("body", _("De tekst is te lang: hoogstens %(n)s tekens.", n=format_number(MAX_BODY)))
    if clean.get("started") and clean.get("ended") and clean["ended"] < clean["started"]:
        err("ended", _("De einddatum ligt vóór de startdatum."))
    if errors:
        raise ValidationFailed(errors)
    return {"fields": clean, "extra": extra}


_SKIP = object()


def _kind_message(kind: str, value: Any) -> str:
    shown = str(value)[:80]
    if kind == "date":
        return _("'%(value)s' is geen datum; schrijf die als JJJJ-MM-DD, bijvoorbeeld 2018-07-20.", value=shown)
    if kind == "bool":
        return _("'%(value)s' is geen ja/nee-waarde; gebruik true of false.", value=shown)
    return _("'%(value)s' is geen geldige waarde.", value=shown)


def _check(key: str, kind: str, value: Any, vocab: Vocabulary, err) -> Any:
    if kind == "type":
        return _SKIP  # decided by the caller (folder default, front matter wins)
    if kind == "text":
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            raise ValueError(value)
        text = str(value).strip()
        limit = MAX_TEXT.get(key)
        if limit and len(text) > limit:
            err(key, _("Te lang: %(n)s tekens, hoogstens %(limit)s.", n=len(text), limit=limit))
            return _SKIP
        return text
    if kind == "slug":
        if value is None or value == "":
            return None
        text = str(value).strip()
        if not SLUG_RE.match(text) or len(text) > MAX_TEXT["slug"]:
            err(key, _("'%(value)s' is geen geldige korte naam: alleen kleine letters a-z, cijfers en streepjes.",
                       value=text[:80]))
            return _SKIP
        return text
    if kind == "slugs":
        out = []
        for v in _as_list(value):
            text = str(v).strip()
            if not SLUG_RE.match(text):
                err(key, _("'%(value)s' is geen geldige korte naam: alleen kleine letters a-z, cijfers en streepjes.",
                           value=text[:80]))
            else:
                out.append(text)
        return out
    if kind == "date":
        if value in (None, ""):
            return None
        day = _as_date(value)
        if not MIN_DATE <= day <= MAX_DATE:
            err(key, _("De datum %(date)s bij '%(field)s' kan niet kloppen: kies een datum tussen %(low)s en %(high)s.",
                       date=day.isoformat(), field=key, low=MIN_DATE.isoformat(), high=MAX_DATE.isoformat()))
            return _SKIP
        return day
    if kind == "bool":
        return None if value is None else _as_bool(value)
    if kind == "email":
        if value in (None, ""):
            return None
        text = str(value).strip()
        if not valid_email(text):
            err(key, _("'%(value)s' is geen e-mailadres.", value=text[:80]))
            return _SKIP
        return text
    if kind == "language":
        text = str(value).strip()
        if text not in ("nl", "en"):
            err(key, _("Onbekende taal '%(value)s': kies nl of en.", value=text[:20]))
            return _SKIP
        return text
    if kind == "languages":
        out = []
        for v in _as_list(value):
            text = str(v).strip().lower()
            if not ISO639_1.match(text):
                err(key, _("'%(value)s' is geen taalcode van twee letters (ISO 639-1), zoals nl, tr, ar of so.",
                           value=text[:20]))
            else:
                out.append(text)
        return out
    if kind == "words":
        out = []
        for v in _as_list(value):
            if isinstance(v, (dict, list)):
                raise ValueError(v)
            text = str(v).strip()
            if text:
                out.append(text)
        return out
    if kind == "municipalities":
        out = []
        for v in _as_list(value):
            found = vocab.resolve_municipality(str(v)) if vocab.resolve_municipality else None
            if found is None:
                err(key, _("Onbekende gemeente '%(value)s': gebruik de officiële naam (zoals 's-Hertogenbosch) of "
                           "de CBS-code (zoals GM0503).", value=str(v)[:80]))
            elif found not in out:
                out.append(found)
        return out
    if kind.startswith("enum:"):
        vocab_kind = kind.split(":", 1)[1]
        allowed = vocab.allowed(vocab_kind) if vocab_kind in taxonomy.BUILTIN else {}
        text = str(value).strip()
        if text not in allowed:
            err(key, _("Onbekende waarde '%(value)s'; toegestaan: %(allowed)s.", value=text[:80],
                       allowed=", ".join(allowed)))
            return _SKIP
        return text
    if kind.startswith("list:"):
        vocab_kind = kind.split(":", 1)[1]
        allowed = vocab.allowed(vocab_kind)
        out = []
        for v in _as_list(value):
            text = str(v).strip()
            if text not in allowed:
                err(key, _("Onbekende waarde '%(value)s'; toegestaan: %(allowed)s.", value=text[:80],
                           allowed=", ".join(allowed)))
            elif text not in out:
                out.append(text)
        return out
    raise AssertionError(kind)
