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
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

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


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def keep_form(user_id: int, item_type: str, item: Item | None, fields: list[tuple[str, str]]) -> str | None:
    """Keep a posted item form of user ``user_id`` (``item`` ``None``: a new
    item of ``item_type``) and return the token for the resume link, or
    ``None`` when there is nothing to keep (too big, unknown user). Expired
    kept forms are removed on the way; an audit row records the keeping."""
    kept = [[str(k), str(v)] for k, v in fields if k not in SKIPPED][:MAX_FIELDS]
    if sum(len(k) + len(v) for k, v in kept) > MAX_CHARS:
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
