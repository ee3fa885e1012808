"""Users and their roles."""

from __future__ import annotations

import hmac
import secrets
import unicodedata
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from werkzeug.security import check_password_hash

from ..extensions import db
from .base import utcnow
from .places import Municipality

#: Roles in ascending order of power; each includes what the ones before it may do.
ROLES = ("member", "contributor", "curator", "admin")
#: Roles beside that ladder, each with the ladder role whose rights it has:
#: a privacy officer (functionaris gegevensbescherming, issue #5) has a
#: member's rights and is the only one who reads the privacy audit log.
SIDE_ROLES = {"privacy": "member"}
ALL_ROLES = ROLES + tuple(SIDE_ROLES)



#: argon2id with the OWASP Password Storage Cheat Sheet's minimum settings
#: (19 MiB, 2 passes, 1 lane; its first choice). werkzeug's scrypt default
#: (N=2**15) is below that sheet's scrypt minimum (N=2**17) and slower here.
PASSWORD_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    """An argon2id hash (``$argon2id$...``) of the NFKC-normalised password."""
    return PASSWORD_HASHER.hash(normalise_password(password))


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``: an argon2id hash, or a
    werkzeug ``scrypt:`` hash from before argon2id (with or without the
    normalisation). Never raises for a malformed hash: False."""
    if not stored:
        return False
    if stored.startswith("$argon2"):
        try:
            return PASSWORD_HASHER.verify(stored, normalise_password(password))
        except (VerificationError, InvalidHashError):
            return False
    if check_password_hash(stored, normalise_password(password)):
        return True
    return normalise_password(password) != password and check_password_hash(stored, password)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(300), default="")
    role: Mapped[str] = mapped_column(String(20), default="member")
    municipality_id: Mapped[int | None] = mapped_column(ForeignKey("municipalities.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: Part of every session and remember cookie (see ``get_id``); a new value
    #: ends every session of the user (logout, password change, deactivation).
    session_token: Mapped[str] = mapped_column(String(64), default=lambda: secrets.token_urlsafe(32),
                                               server_default="")
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: failed logins in a row, and when the last one was (per-account throttling)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_failed_login: Mapped[datetime | None] = mapped_column(DateTime)
    #: SHA-256 of the one open password-reset token, and until when it works
    reset_token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    reset_token_expires: Mapped[datetime | None] = mapped_column(DateTime)
    #: TOTP second factor (issue #7): the secret, encrypted with a key derived
    #: from SECRET_KEY (``portal.services.totp``); set while enrolling, in use
    #: once ``totp_enabled_at`` is set. ``totp_last_step``: the last accepted
    #: 30-second time step (a code is refused again, no replay).
    #: ``totp_recovery_codes``: SHA-256 hashes of the unused recovery codes,
    #: one a line.
    totp_secret: Mapped[str | None] = mapped_column(String(300))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(DateTime)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    totp_recovery_codes: Mapped[str | None] = mapped_column(Text)
    #: The interface language the user chose with the header's switch
    #: (``portal.web.language.LANGUAGES``); ``None``: never chose, Dutch. Used
    #: when they log in without the language cookie and for every e-mail to them.
    language: Mapped[str | None] = mapped_column(String(5), nullable=True)

    municipality: Mapped[Municipality | None] = relationship()

    def set_password(self, password: str) -> None:
        """Hash with argon2id (:data:`PASSWORD_HASHER`), never store the plain
        text. The whole password counts (no truncation); Unicode is
        NFKC-normalised first so that the same passphrase typed on another
        keyboard matches (NIST SP 800-63B 5.1.1.2)."""
        self.password_hash = hash_password(password)

    def check_password(self, password: str) -> bool:
        return verify_password(self.password_hash, password)

    def needs_rehash(self) -> bool:
        """True for a hash of an older kind or weaker settings (werkzeug's
        scrypt from before argon2id): rehash after the next good login."""
        return not self.password_hash.startswith("$argon2") or PASSWORD_HASHER.check_needs_rehash(self.password_hash)

    def get_id(self) -> str:
        """What flask-login stores in the session and remember cookie:
        ``"<id>.<session_token>"``; the user loader accepts it only while the
        token is current, so a new token kills every copied cookie."""
        return f"{self.id}.{self.session_token}"

    def token_matches(self, token: str) -> bool:
        return bool(self.session_token) and hmac.compare_digest(self.session_token.encode(), token.encode())

    def new_session_token(self) -> None:
        """End every session of this user (effective at their next request)."""
        self.session_token = secrets.token_urlsafe(32)

    @property
    def totp_enabled(self) -> bool:
        """True when the TOTP second factor is switched on."""
        return self.totp_enabled_at is not None and bool(self.totp_secret)

    @property
    def is_active(self) -> bool:  # flask-login refuses inactive users
        return bool(self.active)

    @property
    def region_id(self) -> int | None:
        return self.municipality.region_id if self.municipality else None

    def has_role(self, role: str) -> bool:
        """True when this user's role is ``role`` or a more powerful one. A
        side role (``privacy``) is held only by name, never implied."""
        if role in SIDE_ROLES:
            return self.role == role
        own = SIDE_ROLES.get(self.role, self.role)
        return ROLES.index(own) >= ROLES.index(role)

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


def normalise_password(password: str) -> str:
    """NFKC form of ``password`` (str -> str), nothing else removed."""
    return unicodedata.normalize("NFKC", password or "")
