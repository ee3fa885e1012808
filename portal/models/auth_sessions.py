"""Per-device login sessions and single sign-on identities (issue #7).

``UserSession``: one row per login on one device (browser). The session
and remember cookie carry a random per-device token; only its SHA-256 is
stored here. Ending the row ends that device's session at its next request.

``UserIdentity``: an OpenID Connect account at a municipality's identity
provider, keyed on ``(issuer, subject)`` (OpenID Connect Core 1.0 section
5.7: the only stable identifier), never on e-mail.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow


class UserSession(db.Model):
    __tablename__ = "user_sessions"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_user_sessions_token_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: SHA-256 (hex) of the per-device token in the cookie
    token_hash: Mapped[str] = mapped_column(String(64))
    #: SHA-256 (hex) of the user's ``session_token`` at login: when that token
    #: changes (logout everywhere, password reset, deactivation) the row is dead
    generation: Mapped[str] = mapped_column(String(64))
    #: ``password`` or ``oidc:<tenant>``
    method: Mapped[str] = mapped_column(String(80), default="password")
    user_agent: Mapped[str] = mapped_column(String(400), default="")
    remember: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)


class UserIdentity(db.Model):
    __tablename__ = "user_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_user_identities_issuer_subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: the ``iss`` and ``sub`` claims of the provider's ID token
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    #: the configured tenant key (``PORTAL_OIDC_TENANTS``) it came through
    tenant: Mapped[str] = mapped_column(String(40), default="")
    #: the e-mail the provider asserted at the first login (information only)
    email: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
