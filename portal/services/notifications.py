"""In-app notifications and the e-mail outbox (issue #4).

``notify`` adds rows to the caller's transaction (the workflow services commit
them together with the change they announce); the e-mail copies wait in the
outbox until ``send_pending_mail`` (``portal send-mail``) hands them to the
SMTP server named by ``PORTAL_SMTP_HOST``. Without that setting nothing is
sent and nothing is lost: the messages stay pending.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterable
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, select, update

from .. import permissions
from ..database import begin_write
from ..errors import NotFound
from ..extensions import db
from ..models import Item, Notification, OutboxMessage, User
from ..models.base import utcnow
from .common import audit

PER_PAGE = 20
PROFILE_MAIL = "Er is een melding over een profiel van een sleutelfiguur; log in om haar te lezen"


def publishers_of(item: Item) -> list[User]:
    """Active curators who may publish ``item`` (``permissions.can_publish``
    decides); when there are none, the active admins, so a submission never
    goes unseen. Sorted by id."""
    users = db.session.scalars(
        select(User).where(User.active.is_(True), User.role.in_(("curator", "admin"))).order_by(User.id)
    ).all()
    curators = [u for u in users if u.role == "curator" and permissions.can_publish(u, item)]
    return curators or [u for u in users if u.role == "admin"]


def notify(users: Iterable[Any], kind: str, message: str, link: str = "", item: Item | None = None,
           exclude: Any = None) -> int:
    """Add a notification and an outbox e-mail for each of ``users`` (people,
    not ``SYSTEM``; ``exclude`` is left out: nobody is told about their own
    action) to the current transaction; returns how many were added."""
    from flask import current_app

    base = (current_app.config.get("BASE_URL") or "").rstrip("/")
    skip = getattr(exclude, "id", None)
    count = 0
    seen: set[int] = set()
    for user in users:
        uid = getattr(user, "id", None)
        if uid is None or uid == skip or uid in seen:
            continue
        seen.add(uid)
        db.session.add(Notification(user_id=uid, kind=kind, message=message[:500], link=link[:500],
                                    item_id=item.id if item is not None else None))
        if getattr(user, "email", ""):
            # A key figure's name never leaves the portal by e-mail.
            text = PROFILE_MAIL if item is not None and item.type == "profile" else message
            body = f"{text}\n\n{base}{link}\n\n-- Kennisportaal sleutelfiguren\n"
            db.session.add(OutboxMessage(to_address=user.email, subject=f"Kennisportaal: {text}"[:300],
                                         body=body))
        count += 1
    return count


def unread_count(user: Any) -> int:
    """Number of unread notifications of ``user`` (0 for anonymous visitors)."""
    if not getattr(user, "is_authenticated", False) or getattr(user, "id", None) is None:
        return 0
    return db.session.scalar(
        select(func.count(Notification.id)).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    ) or 0


def list_notifications(user: Any, page: int = 1) -> tuple[list[Notification], int]:
    """``(notifications of page, total)`` of ``user``, newest first."""
    total = db.session.scalar(select(func.count(Notification.id)).where(Notification.user_id == user.id)) or 0
    rows = db.session.scalars(
        select(Notification).where(Notification.user_id == user.id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .offset((max(page, 1) - 1) * PER_PAGE).limit(PER_PAGE)
    ).all()
    return list(rows), total


def mark_read(user: Any, notification_id: int) -> Notification:
    """Mark one of ``user``'s notifications read and return it; ``NotFound``
    for another user's (or no) notification."""
    begin_write()
    note = db.session.get(Notification, notification_id)
    if note is None or note.user_id != getattr(user, "id", None):
        db.session.rollback()
        raise NotFound("Deze melding bestaat niet.")
    if note.read_at is None:
        note.read_at = utcnow()
        audit(user, "notification.read", f"notification/{note.id}")
    db.session.commit()
    return note


def mark_all_read(user: Any) -> int:
    """Mark every unread notification of ``user`` read; returns how many."""
    begin_write()
    result = db.session.execute(
        update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    audit(user, "notification.read_all", f"user/{user.id}", count=result.rowcount)
    db.session.commit()
    return result.rowcount or 0


def send_pending_mail(config: dict, limit: int = 200) -> dict[str, int]:
    """Send outbox messages not sent yet, oldest first, through SMTP.

    ``config`` keys: ``SMTP_HOST`` (without it nothing is sent and
    ``{"sent": 0, "failed": 0, "pending": n}`` is returned), ``SMTP_PORT``
    (25), ``SMTP_USER`` / ``SMTP_PASSWORD`` (login after STARTTLS when set),
    ``SMTP_STARTTLS`` ("1" to require it), ``MAIL_FROM``. Each message is
    committed on its own: a failure raises nothing, it counts an attempt and
    keeps the error text for the next run. Returns counts.
    """
    pending_q = select(func.count(OutboxMessage.id)).where(OutboxMessage.sent_at.is_(None))
    host = config.get("SMTP_HOST")
    if not host:
        return {"sent": 0, "failed": 0, "pending": db.session.scalar(pending_q) or 0}
    ids = db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.sent_at.is_(None))
                             .order_by(OutboxMessage.id).limit(limit)).all()
    db.session.commit()
    sender = config.get("MAIL_FROM") or "noreply@localhost"
    sent = failed = 0
    smtp = None
    try:
        for mid in ids:
            begin_write()
            msg = db.session.get(OutboxMessage, mid)
            if msg is None or msg.sent_at is not None:  # another run got it
                db.session.rollback()
                continue
            email = EmailMessage()
            email["From"] = sender
            email["To"] = msg.to_address
            email["Subject"] = msg.subject
            email.set_content(msg.body)
            msg.attempts = (msg.attempts or 0) + 1
            try:
                if smtp is None:
                    smtp = smtplib.SMTP(host, int(config.get("SMTP_PORT") or 25), timeout=30)
                    if str(config.get("SMTP_STARTTLS") or "") == "1":
                        smtp.starttls(context=ssl.create_default_context())
                    if config.get("SMTP_USER"):
                        smtp.login(config["SMTP_USER"], config.get("SMTP_PASSWORD") or "")
                smtp.send_message(email)
            except (OSError, smtplib.SMTPException) as exc:
                msg.last_error = f"{type(exc).__name__}: {exc}"[:500]
                failed += 1
                smtp = None
            else:
                msg.sent_at = utcnow()
                msg.last_error = ""
                sent += 1
            db.session.commit()
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
    return {"sent": sent, "failed": failed, "pending": db.session.scalar(pending_q) or 0}
