"""Nothing lost when a session expires while editing (issue #4).

A contributor whose session ended (30 minutes idle, see ``portal.auth``)
presses Save: the posted item form is kept here, server-side, under a random
token (only its SHA-256 is stored) for ``KEEP_FOR``; the login page sends
them back to the form with ``?hervat=<token>`` and the form is filled with
the kept text, once, and only for the same user while they may still edit
that item (or create that type). Never in the browser's storage.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, func, select

from .. import permissions
from ..database import begin_write
from ..extensions import db
from ..models import Item, KeptForm, User
from ..models.base import utcnow
from .common import audit

KEEP_FOR = timedelta(hours=2)
MAX_FIELDS = 200
MAX_CHARS = 1_000_000
#: Never kept: the CSRF token belongs to the ended session.
SKIPPED = {"csrf_token"}


def stored_size(kept: list[list[str]]) -> int:
    """Characters the JSON column stores for ``kept``: ``json.dumps`` with
    its ASCII escapes (what SQLAlchemy's ``JSON`` type writes), so one
    astral character counts 12, not 1; the bound is on what lands on disk."""
    return len(json.dumps(kept))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def keep_form(user_id: int, item_type: str, item: Item | None, fields: list[tuple[str, str]]) -> str | None:
    """Keep a posted item form of user ``user_id`` (``item`` ``None``: a new
    item of ``item_type``) and return the token for the resume link, or
    ``None`` when there is nothing to keep (too big, unknown user). Expired
    kept forms are removed on the way; an audit row records the keeping."""
    kept = [[str(k), str(v)] for k, v in fields if k not in SKIPPED][:MAX_FIELDS]
    if stored_size(kept) > MAX_CHARS:
        return None
    begin_write()
    now = utcnow()
    db.session.execute(delete(KeptForm).where(KeptForm.expires_at < now))
    if db.session.get(User, user_id) is None:
        db.session.commit()
        return None
    token = secrets.token_urlsafe(32)
    row = KeptForm(token_hash=_hash(token), user_id=user_id, item_type=item_type,
                   item_id=item.id if item is not None else None, fields=kept,
                   created_at=now, expires_at=now + KEEP_FOR)
    db.session.add(row)
    db.session.flush()
    audit(None, "form.kept", f"item:{item.id}" if item is not None else f"new:{item_type}", user_id=user_id)
    db.session.commit()
    return token


def take_form(actor: Any, token: str, item_type: str, item: Item | None) -> list[tuple[str, str]] | None:
    """The kept form behind ``token`` as ``[(name, value), ...]``, deleted on
    the way (one use), when it belongs to ``actor``, is not expired, was kept
    for this very page (``item``, or a new ``item_type``) and ``actor`` may
    still edit that item or create that type. A kept form ``actor`` may no
    longer use is discarded; one of another user (or another page) is left
    alone and ``None`` returned."""
    if not token or len(token) > 100 or not getattr(actor, "is_authenticated", False):
        return None
    begin_write()
    row = db.session.scalar(select(KeptForm).where(KeptForm.token_hash == _hash(token)))
    if row is None or row.user_id != actor.id:
        db.session.rollback()
        return None
    if row.item_type != item_type or row.item_id != (item.id if item is not None else None):
        db.session.rollback()
        return None
    allowed = permissions.can_edit(actor, item) if item is not None else permissions.can_create(actor, item_type)
    expired = row.expires_at < utcnow()
    fields = [(k, v) for k, v in row.fields]
    target = f"item:{item.id}" if item is not None else f"new:{item_type}"
    db.session.delete(row)
    audit(actor, "form.restored" if allowed and not expired else "form.discarded", target)
    db.session.commit()
    return fields if allowed and not expired else None


# -- a form posted after the whole session cookie was gone (issue #4) -------------------------
# No user is known: the CSRF check refused the post because its token lived in
# the lost session. The text is kept under a random token (its SHA-256 here,
# the token itself only in an HttpOnly cookie of that browser) and handed back
# once, in the same form, to whoever logs in in that browser and may still use
# that form. It is never saved as an item by this: only a fresh, CSRF-checked
# submit of the restored form does that.

#: How long a form kept without a session waits for its author: as long as
#: one kept with a session. Short on purpose: on a shared browser (a town
#: hall's front desk) the text goes to whoever logs in there next and may use
#: the form, so a long wait would hand more of it to the wrong colleague.
KEEP_WITHOUT_SESSION_FOR = KEEP_FOR
#: At most this many characters (names and values together) are kept per form.
MAX_CHARS_WITHOUT_SESSION = 300_000
#: At most this many forms kept without a session at any time (all visitors).
MAX_ROWS_WITHOUT_SESSION = 5_000


def _kept_fields(fields: list[tuple[str, str]]) -> list[list[str]]:
    return [[str(k), str(v)] for k, v in fields if k not in SKIPPED][:MAX_FIELDS]


def fits_without_session(fields: list[tuple[str, str]]) -> bool:
    """Whether ``fields`` may be kept without a session (something to keep,
    at most ``MAX_CHARS_WITHOUT_SESSION`` characters as stored: :func:`stored_size`)."""
    kept = _kept_fields(fields)
    return bool(kept) and stored_size(kept) <= MAX_CHARS_WITHOUT_SESSION


def keep_form_without_session(endpoint: str, item_type: str, slug: str | None,
                              fields: list[tuple[str, str]]) -> str | None:
    """Keep the text fields of a form posted to ``endpoint`` (``web.create``
    or ``web.edit``; ``slug`` for an edit) without any session; returns the
    token for the browser's cookie, or ``None`` when nothing is kept (too
    big, or the table is full of unexpired forms). Expired forms are removed
    on the way. Nothing is looked up about the item: the visitor is unknown."""
    from ..models import SessionlessForm

    if not fits_without_session(fields):
        return None
    kept = _kept_fields(fields)
    if slug is not None and len(slug) > 200:
        return None
    begin_write()
    now = utcnow()
    db.session.execute(delete(SessionlessForm).where(SessionlessForm.expires_at < now))
    count = db.session.scalar(select(func.count(SessionlessForm.id)))
    if count >= MAX_ROWS_WITHOUT_SESSION:
        db.session.commit()
        return None
    token = secrets.token_urlsafe(32)
    db.session.add(SessionlessForm(token_hash=_hash(token), endpoint=endpoint, item_type=item_type, slug=slug,
                                   fields=kept, created_at=now, expires_at=now + KEEP_WITHOUT_SESSION_FOR))
    audit(None, "form.kept_without_session", f"{endpoint}:{item_type}:{slug or ''}"[:200])
    db.session.commit()
    return token


def take_form_without_session(actor: Any, token: str, endpoint: str, item_type: str,
                              item: Item | None) -> list[tuple[str, str]] | None:
    """The form kept under ``token`` as ``[(name, value), ...]`` when it was
    kept for this very page (``endpoint``, ``item_type``, ``item``'s slug),
    is not expired, and ``actor`` (logged in) may still edit ``item`` (or
    create ``item_type``). A matching form is deleted on the way, used or
    not (one use); a form of another page is left alone. ``None`` otherwise."""
    slug = item.slug if item is not None else None
    target = f"item:{item.id}" if item is not None else f"new:{item_type}"
    return take_page_form_without_session(
        actor, token, endpoint, item_type, slug, target,
        lambda: permissions.can_edit(actor, item) if item is not None else permissions.can_create(actor, item_type))


def take_page_form_without_session(actor: Any, token: str, endpoint: str, item_type: str, slug: str | None,
                                   target: str, allowed: Callable[[], bool]) -> list[tuple[str, str]] | None:
    """The form kept under ``token`` without a session, as
    ``[(name, value), ...]``, when it was kept for this very page
    (``endpoint``, ``item_type``, ``slug``: what
    :func:`keep_form_without_session` was given), is not expired and
    ``allowed()`` (may ``actor``, logged in, still use that form?). A
    matching form is deleted on the way, used or not (one use; audit
    ``target``); a form of another page is left alone. ``None`` otherwise."""
    from ..models import SessionlessForm

    if not token or len(token) > 100 or not getattr(actor, "is_authenticated", False):
        return None
    begin_write()
    row = db.session.scalar(select(SessionlessForm).where(SessionlessForm.token_hash == _hash(token)))
    if row is None or (row.endpoint, row.item_type, row.slug) != (endpoint, item_type, slug):
        db.session.rollback()
        return None
    may = allowed()
    expired = row.expires_at < utcnow()
    fields = [(k, v) for k, v in row.fields]
    db.session.delete(row)
    audit(actor, "form.restored" if may and not expired else "form.discarded", target)
    db.session.commit()
    return fields if may and not expired else None


# -- forms that are not item forms (the network's question and answer forms) ---------------
# Kept with a session in ``kept_forms`` like an item form, with ``item_id``
# empty and ``item_type`` naming the page: ``"question"`` (asking) or
# ``"answer:<question id>"`` (answering that question); see ``portal.network.kept``.


def take_page_form(actor: Any, token: str, page: str, allowed: Callable[[], bool]) -> list[tuple[str, str]] | None:
    """The form kept with :func:`keep_form` (``item`` ``None``, ``item_type``
    ``page``) behind ``token``, deleted on the way (one use), when it
    belongs to ``actor``, was kept for ``page``, is not expired and
    ``allowed()``; a kept form ``actor`` may no longer use is discarded; one
    of another user or page is left alone. ``None`` unless usable."""
    if not token or len(token) > 100 or not getattr(actor, "is_authenticated", False):
        return None
    begin_write()
    row = db.session.scalar(select(KeptForm).where(KeptForm.token_hash == _hash(token)))
    if row is None or row.user_id != actor.id or row.item_type != page or row.item_id is not None:
        db.session.rollback()
        return None
    may = allowed()
    expired = row.expires_at < utcnow()
    fields = [(k, v) for k, v in row.fields]
    db.session.delete(row)
    audit(actor, "form.restored" if may and not expired else "form.discarded", f"new:{page}")
    db.session.commit()
    return fields if may and not expired else None
