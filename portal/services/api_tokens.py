"""Personal API tokens: make, list, revoke, and authenticate a request.

A token is ``secrets.token_urlsafe(32)`` (256 random bits); only its SHA-256
hash is stored, so a copy of the database gives no one access. The token is
returned once, by :func:`create_token`, and cannot be shown again.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from .. import permissions
from ..database import begin_write
from ..errors import NotFound, PermissionDenied, ValidationFailed
from ..extensions import db
from ..models import ApiToken, User
from ..models.base import utcnow
from .common import audit

#: Active tokens one user may hold at once.
MAX_ACTIVE = 20
MAX_NAME = 100


def hash_token(token: str) -> str:
    """Hex SHA-256 of ``token`` (the only form in which it is stored)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _may_manage(actor: Any, user: User) -> bool:
    """The user themself (while active), an admin, or the system actor."""
    own = getattr(actor, "is_authenticated", False) and getattr(actor, "id", None) == user.id
    return bool(own and user.is_active) or permissions.can_administer(actor)


def create_token(actor: Any, user: User, name: str = "", *, password: str | None = None) -> tuple[ApiToken, str]:
    """Make a token for ``user`` (the user themself, an admin or the system
    actor); returns ``(row, token)``. ``token`` is shown once and never stored.

    A logged-in user (anyone but the system actor of the command line) must
    give their current ``password``: a stolen session alone mints no key
    (OWASP ASVS 5.0 7.5.1, re-authentication before a sensitive change). A
    wrong password counts as a failed login on the account, like the
    change-password form (see ``accounts.reauthenticate``).

    Raises ``PermissionDenied`` for anyone else, ``ValidationFailed``
    (``{"password": [...]}`` for a missing or wrong password or a throttled
    account, ``{"name": [...]}``) for a name over 100 characters or when the
    user already holds ``MAX_ACTIVE`` active tokens.
    """
    from . import accounts
    from .items import SYSTEM

    if not _may_manage(actor, user):
        raise PermissionDenied(_("U mag geen sleutel voor deze gebruiker maken."))
    name = (name or "").strip()
    if len(name) > MAX_NAME:
        raise ValidationFailed({"name": [_("De naam van de sleutel is te lang (hoogstens %(n)s tekens).", n=MAX_NAME)]})
    if actor is not SYSTEM:
        accounts.reauthenticate(actor, password, field="password", reason="api_token_create")
    begin_write()
    active = db.session.scalar(select(func.count(ApiToken.id))
                               .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)))
    if active >= MAX_ACTIVE:
        db.session.rollback()
        raise ValidationFailed({"name": [_("U hebt al %(n)s actieve sleutels; trek er eerst een in.", n=MAX_ACTIVE)]})
    token = secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, token_hash=hash_token(token), prefix=token[:8])
    db.session.add(row)
    db.session.flush()
    audit(actor, "api_token.create", user.email, token_id=row.id, prefix=row.prefix)
    db.session.commit()
    return row, token


def revoke_all_for(actor: Any, user: User, *, reason: str) -> int:
    """Revoke every active token of ``user`` inside the caller's write
    transaction (the caller has called ``begin_write()`` and commits); adds
    one ``api_token.revoke_all`` audit row (with ``count`` and ``reason``)
    when any was active. Returns how many were revoked. For the services
    that end a user's sessions for security reasons (password change or
    reset, deactivation, role change, ``portal end-sessions``)."""
    rows = list(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id,
                                                          ApiToken.revoked_at.is_(None))))
    now = utcnow()
    for row in rows:
        row.revoked_at = now
    if rows:
        audit(actor, "api_token.revoke_all", user.email, count=len(rows), reason=reason,
              prefixes=[row.prefix for row in rows])
    return len(rows)


def list_tokens(actor: Any, user: User) -> list[ApiToken]:
    """``user``'s tokens, newest first (revoked ones included). Raises
    ``PermissionDenied`` for anyone but the user, an admin or the system."""
    if not _may_manage(actor, user):
        raise PermissionDenied(_("U mag de sleutels van deze gebruiker niet zien."))
    return list(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                   .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def revoke_token(actor: Any, token_id: int) -> ApiToken:
    """Revoke token ``token_id`` at once (revoking twice is harmless).
    Raises ``NotFound`` when it does not exist or belongs to someone the
    actor may not manage (so other users' token ids are not revealed)."""
    begin_write()
    row = db.session.get(ApiToken, token_id)
    if row is None or not _may_manage(actor, row.user):
        raise NotFound(_("Deze sleutel bestaat niet."))
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit(actor, "api_token.revoke", row.user.email, token_id=row.id, prefix=row.prefix)
    db.session.commit()
    return row


def authenticate(token: str) -> User | None:
    """The active user whose active token ``token`` is, else ``None``.
    Reads only; a lookup by hash reveals nothing through its timing."""
    if not token or len(token) > 200:
        return None
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    user = row.user
    return user if user is not None and user.is_active else None
