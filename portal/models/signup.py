"""Vetted membership (issue #9): the e-mail domains each municipality allows
for self sign-up, the confirmation of such sign-ups, and access requests
from everyone else."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow
from .places import Municipality
from .users import User

#: States of an access request: ``unconfirmed`` until the applicant used the
#: link mailed to the address (nobody sees or is told about it before that),
#: then ``pending`` until a curator or admin decides.
ACCESS_REQUEST_STATES = ("unconfirmed", "pending", "approved", "refused")


class AllowedDomain(db.Model):
    """An e-mail domain whose holders may sign up for ``municipality`` on
    their own (after confirming their address). ``domain`` is lower-case
    ASCII (IDNA A-labels: ``xn--...``); only an exact match counts."""

    __tablename__ = "allowed_domains"
    __table_args__ = (UniqueConstraint("municipality_id", "domain", name="uq_allowed_domains_municipality_domain"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(253), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    municipality: Mapped[Municipality] = relationship()


class SignupConfirmation(db.Model):
    """The open confirmation of a self sign-up: the account ``user_id`` stays
    inactive until the link is used. ``token_hash``: SHA-256 of the link's
    one-time nonce (cleared once used); ``expires_at``: 48 hours after the
    sign-up; ``confirmed_at``: when it was used."""

    __tablename__ = "signup_confirmations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    token_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship()


class AccessRequest(db.Model):
    """A sign-up from an address the municipality does not allow: no account
    exists until a curator of the municipality's region (or an admin)
    approves. ``password_hash`` (argon2id) is the password chosen at sign-up;
    it moves to the account on approval and is erased on any decision.

    The request first proves the address: ``status`` is ``unconfirmed``,
    ``token_hash`` the SHA-256 of the mailed link's one-time nonce and
    ``expires_at`` 48 hours after the (latest) sign-up; an unconfirmed
    request past ``expires_at`` is deleted. Using the link sets
    ``confirmed_at``, clears ``token_hash`` and makes it ``pending``."""

    __tablename__ = "access_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(200))
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(300), default="")
    motivation: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="unconfirmed", index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    token_hash: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)

    municipality: Mapped[Municipality] = relationship()
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
