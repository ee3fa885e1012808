"""Item forms posted by a browser whose session cookie was gone (issue #4).

The CSRF check refuses such a post (its token lived in the session), so no
user is known yet: the form is kept under a random token whose SHA-256 is
stored here and whose value sits in a short-lived HttpOnly cookie of that
browser; after logging in, the same browser gets the text back in the same
form (see ``portal.services.kept_forms`` and ``portal.web.resume``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow


class SessionlessForm(db.Model):
    """A kept form without a user: ``endpoint`` (``web.create`` or
    ``web.edit``), the item type and (for an edit) the slug of the page it
    was posted to, the posted text fields, and when it expires."""

    __tablename__ = "kept_forms_without_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    endpoint: Mapped[str] = mapped_column(String(40))
    item_type: Mapped[str] = mapped_column(String(20))
    slug: Mapped[str | None] = mapped_column(String(200), nullable=True)
    fields: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
