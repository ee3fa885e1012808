"""In-app notifications and the e-mail outbox (issue #4)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow
from .users import User


class Notification(db.Model):
    """A message for one user inside the portal ("Meldingen"); ``link`` is a
    path inside the portal, ``read_at`` is empty until the user opened it."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(String(500))
    link: Mapped[str] = mapped_column(String(500), default="")
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship()


class OutboxMessage(db.Model):
    """An e-mail waiting to be sent by ``portal send-mail`` (only where
    ``PORTAL_SMTP_HOST`` is set); ``sent_at`` is set once the server accepted it."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str] = mapped_column(String(500), default="", server_default="")
    #: Issue #9 (digests): an HTML alternative to ``body`` ("" = plain text
    #: only) and extra headers (``{"List-Unsubscribe": "<https://...>", ...}``).
    html_body: Mapped[str] = mapped_column(Text, default="", server_default="")
    headers: Mapped[dict | None] = mapped_column(JSON)
