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
from email import policy as email_policy
from email.message import EmailMessage
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select, update

from .. import permissions
from ..database import begin_write
from ..errors import NotFound
from ..extensions import db
from ..i18n import N_, stored_text
from ..models import Item, Notification, OutboxMessage, User
from ..models.base import utcnow
from .common import audit

PER_PAGE = 20
PROFILE_MAIL = N_("Er is een melding over een profiel van een sleutelfiguur; log in om haar te lezen")


#: The forms of the (Dutch) messages stored in ``notifications.message``,
#: translated only when shown (issue #8): a stored message that matches a
#: form is shown in the reader's language with its parts (titles, names,
#: dates) as stored; any other message is shown as stored.
_STORED_FORMS = (
    N_("Wijziging ter beoordeling: %(title)s"),
    N_("Gepubliceerd: %(title)s"),
    N_("Opnieuw ter beoordeling: %(title)s"),
    N_("Ter beoordeling: %(title)s"),
    N_("Teruggestuurd met commentaar: %(title)s"),
    N_("Wijziging goedgekeurd: %(title)s"),
    N_("Wijziging teruggestuurd met commentaar: %(title)s"),
    N_("Er is een plaats vrijgekomen: u bent nu aangemeld voor %(title)s op %(date)s."),
    N_("Nieuw antwoord op een vraag die u volgt: %(title)s"),
    N_("Er is een beste antwoord gekozen bij een vraag die u volgt: %(title)s"),
    N_("Een vraag die u volgt is gesloten: %(title)s"),
    N_("De toestemming van sleutelfiguur %(title)s verloopt op %(date)s. "
       "Vraag om nieuwe toestemming, anders verdwijnt het profiel."),
    N_("Nieuw verzoek om kennis te maken met sleutelfiguur %(title)s."),
    N_("Uw verzoek om kennis te maken is doorgestuurd; de persoon neemt contact met u op als die dat wil."),
    N_("Uw verzoek om kennis te maken is niet doorgestuurd."),
    N_("Nieuw profiel van een sleutelfiguur (in wat u volgt)"),
    N_("Nieuw profiel van een sleutelfiguur (in dossier %(collection)s)"),
    N_("Nieuwe les: %(title)s (in wat u volgt)"),
    N_("Nieuwe les: %(title)s (in dossier %(collection)s)"),
    N_("Nieuwe werkwijze: %(title)s (in wat u volgt)"),
    N_("Nieuwe werkwijze: %(title)s (in dossier %(collection)s)"),
    N_("Nieuwe aanvraag voor toegang voor de gemeente %(municipality)s"),
)


def mail_language(user: Any) -> str:
    """The language of e-mails to ``user``: their stored choice
    (``User.language``, set with the header's switch) when it is a supported
    interface language, else Dutch. ``user`` may be ``None``."""
    from ..web.language import DEFAULT, LANGUAGES

    lang = getattr(user, "language", None)
    return lang if lang in LANGUAGES else DEFAULT


def mail_language_for(address: str) -> str:
    """:func:`mail_language` of the account with e-mail ``address``
    (compared in lower case); Dutch when there is none."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == (address or "").lower())) \
        if address else None
    return mail_language(user)


def in_language_of(user: Any):
    """A context manager: render an e-mail to ``user`` in
    :func:`mail_language` (``flask_babel.force_locale``), e.g.
    ``with in_language_of(user): subject = _("...")``."""
    return force_locale(mail_language(user))


def in_language_of_address(address: str):
    """As :func:`in_language_of`, for the account with e-mail ``address``
    (Dutch when there is none, e.g. an applicant without an account yet)."""
    return force_locale(mail_language_for(address))


def display_message(note: Notification) -> str:
    """``note.message`` in the interface language: the stored Dutch text
    matched against ``_STORED_FORMS`` and translated with the matched parts
    filled in; unknown text as stored (``portal.i18n.stored_text``)."""
    return stored_text(note.message, _STORED_FORMS)


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
           exclude: Any = None, mail: bool = True) -> int:
    """Add a notification and an outbox e-mail for each of ``users`` (people,
    not ``SYSTEM``; ``exclude`` is left out: nobody is told about their own
    action) to the current transaction; returns how many were added.
    ``mail=False``: in-app only (news of what a member follows reaches their
    mailbox through the digest instead, ``portal.services.follows``)."""
    from flask import current_app

    from ..links import site_root

    base = site_root(current_app.config)  # BASE_URL; never the Host header in production
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
        if mail and getattr(user, "email", ""):
            with in_language_of(user):  # the recipient's language, not the sender's
                # A key figure's name never leaves the portal by e-mail.
                text = _(PROFILE_MAIL) if item is not None and item.type == "profile" \
                    else stored_text(message, _STORED_FORMS)
                subject = _("Kennisportaal: %(text)s", text=text)
                body = f"{text}\n\n{base}{link}\n\n-- {_('Kennisportaal sleutelfiguren')}\n"
            db.session.add(OutboxMessage(to_address=user.email, subject=subject[:300], body=body))
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
        raise NotFound(_("Deze melding bestaat niet."))
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


#: how outbox e-mails are serialised (SMTP line endings, long header lines unfolded)
MAIL_POLICY = email_policy.SMTP.clone(max_line_length=998)


def as_email(msg: OutboxMessage, sender: str) -> EmailMessage:
    """The e-mail for an outbox row: plain text, plus an HTML alternative
    when ``html_body`` is set, plus the row's extra ``headers`` (issue #9:
    ``List-Unsubscribe`` and ``List-Unsubscribe-Post``, RFC 8058); a header
    that would replace From, To or Subject, or holds a line break, is left out."""
    # Lines up to RFC 5322's hard limit of 998: with the default 78, Python
    # folds a long ``<https://...>`` as an RFC 2047 encoded word, and mail
    # clients then cannot read the one-click unsubscribe address (RFC 8058).
    email = EmailMessage(policy=MAIL_POLICY)
    email["From"] = sender
    email["To"] = msg.to_address
    email["Subject"] = msg.subject
    email.set_content(msg.body)
    if msg.html_body:
        email.add_alternative(msg.html_body, subtype="html")
    for name, value in (msg.headers or {}).items():
        if name.lower() not in ("from", "to", "subject") and "\n" not in value and "\r" not in value:
            email[name] = value
    return email


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
            msg.attempts = (msg.attempts or 0) + 1
            from .accounts import mails_to_exactly

            if not mails_to_exactly(msg.to_address):
                # An address that would parse as another or as several mailboxes
                # (encoded words, commas, groups) is never handed to SMTP.
                msg.last_error = "address refused: it does not name exactly one mailbox"
                failed += 1
                db.session.commit()
                continue
            email = as_email(msg, sender)
            try:
                if smtp is None:
                    smtp = smtplib.SMTP(host, int(config.get("SMTP_PORT") or 25), timeout=30)
                    if str(config.get("SMTP_STARTTLS") or "") == "1":
                        smtp.starttls(context=ssl.create_default_context())
                    if config.get("SMTP_USER"):
                        smtp.login(config["SMTP_USER"], config.get("SMTP_PASSWORD") or "")
                # The envelope names the stored address itself, not what the To header parses to.
                smtp.send_message(email, to_addrs=[msg.to_address])
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
