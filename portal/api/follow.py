"""Following another portal: import its public practices and lessons through
its API (``/api/v1``, read anonymously), marked with their source, and keep
them up to date on every run.

Each imported item carries ``extra["source"]``: ``{"portal": base URL,
"type", "slug", "url": the page there, "updated_at": as the source last said}``.
A run creates what is new, updates what changed at the source (by its
``updated_at``), leaves the rest alone, and withdraws (sets to draft) items
the source no longer shows publicly. Items are written through
``save_item`` / ``set_status``, so validation, revisions, the audit log and
the search index work as for any other change.

A local decision wins over the source: an imported item that a curator here
archived or withdrew stays so; the follow keeps its text up to date (saved
with its local status) but never publishes it again. Only items the follow
itself withdrew (the source stopped showing them) come back when the source
shows them again.

The source's answers are read with limits (``MAX_RESPONSE`` bytes,
``MAX_DEPTH`` levels of nesting): a broken or hostile source gives a Dutch
``FollowError``, never a crash.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from .. import permissions
from ..errors import PermissionDenied, PortalError, ValidationFailed
from ..extensions import db
from ..models import Item
from ..services.items import SYSTEM, save_item, set_status

FOLLOW_TYPES = ("practice", "lesson")
#: Front-matter keys not taken from the source: the region follows from the
#: municipality here; ``contact`` and ``related`` name the source's slugs.
DROPPED = ("type", "region", "contact", "related", "source")
MAX_RESPONSE = 20 * 1024 * 1024
#: Deepest nesting of arrays and objects accepted in an answer (the portal's own API needs 4).
MAX_DEPTH = 32
TIMEOUT = 20
#: Note of the revision with which a follow run withdraws an item the source no longer shows.
WITHDRAWN_NOTE = "niet meer openbaar bij "


class FollowError(PortalError):
    """The source could not be read (network, HTTP status, not JSON)."""

    status = 502


@dataclass
class FollowReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    #: archived or withdrawn here: not published again (their text may still be in ``updated``)
    kept: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def normalise_base(url: str) -> str:
    """``https://portal.example.nl/api/v1/`` -> ``https://portal.example.nl``.
    Raises ``ValidationFailed`` for anything but an http(s) URL with a host."""
    text = (url or "").strip().rstrip("/")
    for suffix in ("/api/v1/openapi.json", "/api/v1"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValidationFailed({"url": [f"'{url[:200]}' is geen adres van een portaal (http:// of https://)."]})
    return text


class _SameSourceRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the same scheme, host and port as the
    request it answers: a source must not send the portal to another
    address (an internal service, cloud metadata, ``ftp://``; SSRF, OWASP
    ASVS 5.0 V1.3 / CWE-918), whose answer would be read as the source's."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if (new.scheme, new.netloc) != (old.scheme, old.netloc):
            raise urllib.error.HTTPError(newurl, code, f"doorverwijzing naar een ander adres ({newurl[:200]})",
                                         headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SameSourceRedirects)


def http_json(url: str, retries: int = 4, sleep: Callable[[float], None] = time.sleep) -> Any:
    """GET ``url`` and parse JSON; raises ``FollowError`` on any failure.
    A 429 (the source's rate limit) is waited out: ``Retry-After`` seconds
    when given (at most 60), else 5, 10, 20, 40; then it counts as a failure."""
    request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                   "User-Agent": "kennisportaal-follow/1"})
    for attempt in range(retries + 1):
        try:
            with _OPENER.open(request, timeout=TIMEOUT) as response:  # nosec B310: scheme checked
                raw = response.read(MAX_RESPONSE + 1)
            break
        except urllib.error.HTTPError as exc:
            if exc.code != 429 or attempt == retries:
                raise FollowError(f"{url} kon niet worden gelezen: {exc}") from exc
            wait = exc.headers.get("Retry-After", "") if exc.headers else ""
            sleep(min(float(wait), 60.0) if wait.isdigit() else 5.0 * 2 ** attempt)
        except OSError as exc:  # URLError, timeouts
            raise FollowError(f"{url} kon niet worden gelezen: {exc}") from exc
    return parse_json(raw, url)


def _nesting_depth(raw: bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` in the JSON text ``raw``
    (brackets inside strings do not count). One pass over the bytes, never
    recursive and never backtracking: a regex for the strings restarted at
    every quote of an unterminated string (``"\\"\\"…``), quadratic time
    that let a hostile source hang a follow run."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def parse_json(raw: bytes, url: str) -> Any:
    """Parse a source's answer with limits: at most ``MAX_RESPONSE`` bytes and
    ``MAX_DEPTH`` levels of nesting, UTF-8 JSON. Raises ``FollowError`` with
    a Dutch message naming ``url`` (never ``RecursionError`` or ``MemoryError``)."""
    if len(raw) > MAX_RESPONSE:
        raise FollowError(f"{url}: het antwoord is te groot (meer dan {MAX_RESPONSE // (1024 * 1024)} MB).")
    if _nesting_depth(raw) > MAX_DEPTH:
        raise FollowError(f"{url}: het antwoord is te diep genest (meer dan {MAX_DEPTH} niveaus); "
                          "dit is geen antwoord van een portaal.")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise FollowError(f"{url} gaf geen geldige JSON.") from exc


def _remote_items(base: str, fetch: Callable[[str], Any], types: tuple[str, ...]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for item_type in types:
        page = 1
        while True:
            data = fetch(f"{base}/api/v1/items?type={item_type}&per_page=100&page={page}")
            if not isinstance(data, dict) or not isinstance(data.get("items"), list):
                raise FollowError(f"{base} gaf geen lijst met items: is dit een portaal?")
            found += [i for i in data["items"] if isinstance(i, dict) and i.get("type") == item_type
                      and isinstance(i.get("slug"), str)]
            pages = data.get("pages") or 1
            if not isinstance(pages, int) or page >= pages or page >= 1000:
                break
            page += 1
    return found


def _followed(base: str, types: tuple[str, ...]) -> dict[tuple[str, str], Item]:
    """Local items imported from ``base``, by the source's (type, slug)."""
    out = {}
    for item in db.session.scalars(select(Item).where(Item.type.in_(types))):
        source = (item.extra or {}).get("source")
        if isinstance(source, dict) and source.get("portal") == base:
            out[(item.type, str(source.get("slug")))] = item
    return out


def _withdrawn_here(item: Item) -> bool:
    """Did a local decision take this imported item out of the library
    (archived, or set to draft by anyone but a follow run)?"""
    if item.status == "published":
        return False
    if (item.review_state or "") == "archived":
        return True
    last = item.revisions[-1] if item.revisions else None
    return last is None or not (last.note or "").startswith(WITHDRAWN_NOTE)


def _front_matter(detail: dict[str, Any], base: str, creating: bool) -> dict[str, Any]:
    if not isinstance(detail, dict) or not isinstance(detail.get("front_matter") or {}, dict):
        raise TypeError("geen item")
    meta = {k: v for k, v in (detail.get("front_matter") or {}).items() if k not in DROPPED}
    if not creating:
        meta.pop("slug", None)  # keep the local slug
    meta["status"] = "published"
    meta["visibility"] = "public"
    page = detail.get("url")
    if not (isinstance(page, str) and page.startswith(("http://", "https://"))):
        page = None  # shown as a link: never a javascript: or data: URL from elsewhere
    meta["source"] = {"portal": base, "type": detail["type"], "slug": detail["slug"],
                      "url": page, "updated_at": detail.get("updated_at")}
    return meta


def follow_portal(actor: Any, url: str, *, fetch: Callable[[str], Any] | None = None,
                  types: tuple[str, ...] = FOLLOW_TYPES, progress: Callable[[int], None] | None = None
                  ) -> FollowReport:
    """Import or refresh the public ``types`` items of the portal at ``url``
    as ``actor`` (an admin or the system). ``fetch(url) -> parsed JSON``
    defaults to an HTTP GET. Raises ``PermissionDenied``, ``ValidationFailed``
    (a bad URL) or ``FollowError`` (the source's list could not be read; then
    nothing is withdrawn). A bad item is reported in ``problems`` and skipped.
    """
    if actor is not SYSTEM and not permissions.can_administer(actor):
        raise PermissionDenied("Alleen een beheerder mag een ander portaal volgen.")
    base = normalise_base(url)
    fetch = fetch or http_json
    report = FollowReport()
    remote = _remote_items(base, fetch, types)
    local = _followed(base, types)
    for summary in remote:
        key = (summary["type"], str(summary.get("slug")))
        label = f"{key[0]}/{key[1]}"
        existing = local.pop(key, None)
        if progress:
            progress(1)
        if summary.get("status") != "published":
            continue
        kept_here = existing is not None and _withdrawn_here(existing)
        same = (existing is not None
                and ((existing.extra or {}).get("source") or {}).get("updated_at") == summary.get("updated_at"))
        if same and (kept_here or existing.status == "published"):
            (report.kept if kept_here else report.unchanged).append(label)
            continue
        try:
            detail = fetch(f"{base}/api/v1/items/{urllib.parse.quote(key[0])}/{urllib.parse.quote(key[1])}")
            meta = _front_matter(detail, base, creating=existing is None)
            if kept_here:
                meta["status"] = existing.status  # the text follows the source; the decision stays local
            saved = save_item(actor, key[0], meta, str(detail.get("body") or ""), item=existing,
                              note=f"gevolgd van {base}")
        except (ValidationFailed, FollowError, KeyError, TypeError, AttributeError) as exc:
            db.session.rollback()
            message = exc.message if isinstance(exc, PortalError) else f"onvolledig antwoord ({exc})"
            report.problems.append(f"{label}: {message}")
            continue
        if kept_here:
            report.kept.append(label)
        (report.created if existing is None else report.updated).append(f"{saved.type}/{saved.slug}")
    for item in local.values():
        if item.status == "published":
            set_status(actor, item, "draft", note=f"{WITHDRAWN_NOTE}{base}")
            report.withdrawn.append(f"{item.type}/{item.slug}")
    return report
