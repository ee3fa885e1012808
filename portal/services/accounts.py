"""Accounts: password policy, password change and reset, sessions, login
throttling, deactivation, roles, and the deployment check.

Outside rules followed here: OWASP ASVS 5.0 chapter V6 (authentication) and
V7 (session management), and NIST SP 800-63B section 5.1.1.2 (memorised
secrets: at least 12 characters here, any Unicode, no truncation, no
composition rules, refuse common and context-specific passwords).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from .. import permissions
from ..database import begin_write
from ..errors import NotFound, PermissionDenied, ValidationFailed
from ..extensions import db
from ..i18n import N_
from ..models import User
from ..models.users import ALL_ROLES
from ..models.base import utcnow
from ..models.users import normalise_password
from . import api_tokens
from .common import audit

MIN_PASSWORD_LENGTH = 12
#: Longer input is refused (never cut off): argon2id hashes any length, this
#: only bounds the work one request can cause.
MAX_PASSWORD_LENGTH = 1024
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt"
#: Words of this portal and its users' world, refused as a password's core.
CONTEXT_WORDS = frozenset({
    "kennisportaal", "kennisportaalsleutelfiguren", "portaal", "sleutelfiguren", "sleutelfiguur",
    "gemeente", "gemeenten", "wachtwoord", "welkom", "password", "polarisatie", "radicalisering",
})

#: A reset link works this long, once, and only while it is the newest one.
RESET_TOKEN_LIFETIME = timedelta(hours=1)
#: Dutch msgid (translated where it is shown: ``_(RESET_LINK_INVALID)``).
RESET_LINK_INVALID = N_("Deze herstellink is ongeldig, al gebruikt of verlopen. Vraag een nieuwe aan via "
                        "‘Wachtwoord vergeten?’ op de inlogpagina.")

#: Per-account throttling: after FREE_FAILURES failed logins in a row, the
#: account refuses every login for a delay that doubles per further failure
#: (30 s, 1 min, 2 min ... at most 15 min). A success resets the count; so
#: does an hour without failures.
FREE_FAILURES = 5
FIRST_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(minutes=15)
FAILURE_MEMORY = timedelta(hours=1)

#: Runs on a keyboard or in counting order ("123456789012", "qwertyuiopas").
_SEQUENCES = tuple(seq for base in ("0123456789" * 4, "abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm",
                                    "azertyuiopqsdfghjklmwxcvbn", "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p")
                   for seq in (base, base[::-1]))
_EDGE = re.compile(r"^[\W\d_]+|[\W\d_]+$")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (casefolded), from
    ``portal/data/common-passwords.txt``."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines if line.strip() and not line.startswith("#"))


def mails_to_exactly(address: str) -> bool:
    """Would a mail with ``To: <address>`` go to ``address`` and nowhere else?

    The outbox builds an ``email.message.EmailMessage`` and SMTP's envelope
    recipients are parsed back out of its ``To`` header
    (``smtplib.SMTP.send_message``). An address with one ``@`` can still
    parse as several, or as another: an RFC 2047 encoded word
    (``=?utf-8?b?...?=x@gemeente.nl`` decodes to ``kwaad@elders.example,
    x@gemeente.nl``), a comma, a ``<...>`` or a group. Such an address would
    let a confirmation link reach a mailbox outside the checked domain.
    True only when the header parses back to exactly ``[("", address)]``
    and holds no encoded word."""
    from email.errors import HeaderParseError
    from email.message import EmailMessage
    from email.utils import getaddresses

    if not address or "=?" in address or any(ord(ch) < 32 or ord(ch) == 127 for ch in address):
        return False
    message = EmailMessage()
    try:
        message["To"] = address
        parsed = getaddresses(message.get_all("To") or [])
    except (HeaderParseError, ValueError, TypeError, IndexError):
        return False
    return parsed == [("", address)]


def password_problems(password: str, *, email: str = "", name: str = "") -> list[str]:
    """Return Dutch messages for everything wrong with ``password`` as a new
    password for the account ``email`` (empty list: acceptable).

    Refused: shorter than 12 or longer than 1024 characters (after NFKC
    normalisation; spaces and any Unicode count), a common password, or one
    whose letters without leading/trailing digits and symbols are a common
    password, a word of this portal (``gemeente2025``) or part of the
    user's e-mail address or name. No composition rules (NIST SP 800-63B).
    """
    text = normalise_password(password)
    if len(text) < MIN_PASSWORD_LENGTH:
        return [_("Kies een wachtwoord van minstens %(n)s tekens; een zin van een paar woorden werkt goed.",
                  n=MIN_PASSWORD_LENGTH)]
    if len(text) > MAX_PASSWORD_LENGTH:
        return [_("Een wachtwoord heeft hoogstens %(n)s tekens.", n=MAX_PASSWORD_LENGTH)]
    folded = text.casefold()
    core = _EDGE.sub("", folded)
    squeezed = re.sub(r"[\W_]+", "", folded)
    common = common_passwords()
    if (folded in common or core in common or squeezed in common
            or len(set(squeezed)) < 3 or any(squeezed in seq for seq in _SEQUENCES)):
        return [_("Dit wachtwoord staat op de lijst van veelgebruikte wachtwoorden; kies een ander.")]
    context = set(CONTEXT_WORDS)
    email = (email or "").strip().casefold()
    if email:
        local, _at, domain = email.partition("@")
        context.add(email)
        context.update(p for p in re.split(r"[\W_]+", local + "." + domain) if len(p) >= 3)
        for whole in (local, domain, domain.rsplit(".", 1)[0]):
            context.add(re.sub(r"[\W_]+", "", whole))
    context.update(p for p in re.split(r"[\W_]+", (name or "").casefold()) if len(p) >= 3)
    if core in context or squeezed in context or _EDGE.sub("", squeezed) in context:
        return [_("Het wachtwoord lijkt te veel op de naam van het portaal, uw e-mailadres of uw naam; kies een ander.")]
    local = email.partition("@")[0] if email else ""
    if len(local) >= 4 and local in folded:
        return [_("Het wachtwoord bevat het deel van uw e-mailadres vóór de @ (‘%(local)s’); kies een ander.",
                  local=local)]
    return []


def safe_text(value: Any, limit: int = 200) -> str:
    """``value`` as one line for a log or audit record: newlines, tabs and
    other control characters escaped (``\\n``), cut at ``limit``."""
    text = str(value if value is not None else "")
    out = []
    for ch in text:
        if ch in "\r\n\t" or ord(ch) < 32 or ord(ch) == 127 or ch in "\u2028\u2029\x85":
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)[:limit]


def record(actor: Any, action: str, target: str = "", **detail: Any) -> None:
    """Add an audit row with ``target`` and string details escaped to one line.
    Callers never pass passwords, tokens or cookies."""
    clean = {k: safe_text(v) if isinstance(v, str) else v for k, v in detail.items()}
    audit(actor, action, safe_text(target), **clean)


# --- password change and reset ---------------------------------------------

def change_password(user: User, current: str, new: str, *, end_other_sessions: bool = False) -> User:
    """Set ``user``'s password to ``new`` after checking ``current``; the
    user is mailed that it changed.

    Raises ``ValidationFailed`` with ``current_password`` or ``new_password``
    messages; nothing is written then (but a wrong ``current`` counts as a
    failed login). With ``end_other_sessions`` the session token changes:
    every other session and remember cookie of the user ends (the caller
    logs the current session in again) and every API key of the user is
    revoked (a thief's copy of either stops working).
    """
    errors: dict[str, list[str]] = {}
    reauthenticate(user, current, field="current_password", reason="password_change")
    problems = password_problems(new or "", email=user.email, name=user.name)
    if problems:
        errors["new_password"] = problems
    elif user.check_password(new):
        errors["new_password"] = [_("Het nieuwe wachtwoord is gelijk aan het huidige.")]
    if errors:
        raise ValidationFailed(errors)
    begin_write()
    user = db.session.get(User, user.id)
    user.set_password(new)
    user.password_changed_at = utcnow()
    user.reset_token_hash = user.reset_token_expires = None
    if end_other_sessions:
        user.new_session_token()
        api_tokens.revoke_all_for(user, user, reason="auth.password_change")
    record(user, "auth.password_change", user.email, ended_other_sessions=bool(end_other_sessions))
    _notify_password_changed(user)
    db.session.commit()
    return user


def _notify_password_changed(user: User) -> None:
    """Mail ``user`` that their password changed (OWASP ASVS 5.0 6.3.7 /
    4.0 2.2.3: users are notified after a credential update or reset), in
    the caller's transaction. No link in it: a mail that says "your password
    changed" and carries a link is what phishing looks like."""
    from ..signup.service import queue_mail
    from .notifications import in_language_of

    with in_language_of(user):
        queue_mail(user.email, _("Uw wachtwoord voor het Kennisportaal sleutelfiguren is gewijzigd"), _(
            "Het wachtwoord van uw account bij het Kennisportaal sleutelfiguren is zojuist gewijzigd. Was u "
            "dat zelf? Dan hoeft u niets te doen.\n\nWas u dit niet? Kies dan meteen ‘Wachtwoord vergeten?’ "
            "op de inlogpagina van het portaal om een nieuw wachtwoord in te stellen, en meld het aan de "
            "beheerder."))


def reauthenticate(user: Any, password: str | None, *, field: str, reason: str) -> None:
    """Check the current ``password`` of the logged-in ``user`` before a
    sensitive action (password change, making an API key; OWASP ASVS 5.0
    7.5.1). Returns None when it is right.

    Raises ``ValidationFailed({field: [...]})`` when the account is
    throttled (nothing counted, so waiting helps), or the password is
    missing or wrong: that counts as a failed login on the account (audited
    as ``auth.password_change_failed`` or ``auth.reauth_failed`` with
    ``purpose=reason``), so a stolen session is no way around the login
    throttle. ``reason``: ``password_change`` or ``api_token_create``.
    """
    user = db.session.get(User, user.id)
    if user is None:
        raise PermissionDenied(_("Dit account bestaat niet meer."))
    if login_delay(user).total_seconds() > 0:  # the login throttle holds here too
        raise ValidationFailed({field: [
            _("Te veel mislukte pogingen met dit account. Wacht een paar minuten en probeer het opnieuw.")]})
    if not password:
        raise ValidationFailed({field: [_("Vul uw huidige wachtwoord in.")]})
    if not user.check_password(password):
        record_failed_login(user, user.email, reason=reason)
        raise ValidationFailed({field: [_("Het huidige wachtwoord klopt niet.")]})


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_reset_token(user: User) -> str:
    """Give ``user`` a new reset token in the current transaction and return
    it (43 URL-safe characters). Only its SHA-256 is stored, in the one
    column that holds it: the user's previous token stops working."""
    token = secrets.token_urlsafe(32)
    user.reset_token_hash = _token_hash(token)
    user.reset_token_expires = utcnow() + RESET_TOKEN_LIFETIME
    return token


def issue_password_reset(actor: Any, email: str) -> tuple[User, str]:
    """Make a new password-reset token for the user ``email``; returns
    ``(user, token)``. Only its SHA-256 is stored; it works once, for one
    hour, and a newer token replaces it. Admins and the system only
    (``portal password-reset``; the self-service form uses
    :func:`request_password_reset`). Raises ``PermissionDenied`` or ``NotFound``."""
    if not permissions.can_administer(actor):
        raise PermissionDenied(_("Alleen een beheerder mag een herstellink maken."))
    begin_write()
    user = db.session.scalar(select(User).where(User.email == (email or "").strip().lower()))
    if user is None:
        db.session.rollback()
        raise NotFound(_("Er is geen gebruiker met e-mailadres '%(email)s'.", email=email))
    token = _new_reset_token(user)
    record(actor, "auth.password_reset_issued", user.email)
    db.session.commit()
    return user, token


def has_password(user: Any) -> bool:
    """Whether ``user`` can log in with a password at all (an account made
    by single sign-on has none: ``password_hash`` is empty)."""
    return bool(getattr(user, "password_hash", ""))


def request_password_reset(email: str) -> str:
    """Self-service "Wachtwoord vergeten?" for the typed address ``email``
    (OWASP ASVS 5.0 V6.4; Forgot Password Cheat Sheet). Returns what was
    done, for tests and the audit only; the visitor is always told the same.

    Outcomes: ``link`` (an active account with a password: a new reset
    token, which replaces any older one, and a mail with the link, one hour,
    once); ``sso`` (an active account without a password, made by single
    sign-on: a mail saying to log in through the organisation, no link);
    ``inactive`` (deactivated, or a sign-up never confirmed: nothing is
    mailed); ``unknown`` (no account: nothing is mailed). Every outcome
    writes one audit row ``auth.password_reset_requested`` (``known``,
    ``outcome``) in one transaction, so the work and the time taken differ
    little between them; the mail waits in the outbox (sent later by
    ``portal send-mail``), so no SMTP time shows in the answer. What is left
    (two more row writes for ``link``: a few milliseconds) cannot be
    measured through the per-address limit of the form (a handful of
    requests per address per hour, whoever sends them). The mail
    goes to the stored address of the account, never to the typed text.
    Needs a request context (links: :func:`portal.links.external_url`)."""
    from ..signup.service import canonical_email
    from .notifications import in_language_of

    typed = (email or "").strip()[:320]
    wanted = canonical_email(typed) or typed.lower()
    begin_write()
    # a NUL is in no stored address, and PostgreSQL refuses it in a query (a 500 instead of the one answer)
    user = db.session.scalar(select(User).where(User.email == wanted)) if "\x00" not in wanted else None
    if user is None:
        outcome = "unknown"
    elif not user.is_active:
        outcome = "inactive"
    elif has_password(user):
        outcome = "link"
        token = _new_reset_token(user)
        with in_language_of(user):
            _queue_reset_link(user, token)
    else:
        outcome = "sso"
        with in_language_of(user):
            _queue_sso_hint(user)
    record(None, "auth.password_reset_requested", user.email if user is not None else typed[:200],
           known=user is not None, outcome=outcome)
    db.session.commit()
    return outcome


def _queue_reset_link(user: User, token: str) -> None:
    from .. import links
    from ..signup.service import queue_mail

    queue_mail(user.email, _("Nieuw wachtwoord instellen voor het Kennisportaal sleutelfiguren"), _(
        "Iemand, waarschijnlijk u, vroeg om een nieuw wachtwoord voor uw account bij het Kennisportaal "
        "sleutelfiguren. Stel een nieuw wachtwoord in via deze link (één uur geldig, één keer te "
        "gebruiken):\n\n%(link)s\n\nNa het instellen bent u op alle apparaten uitgelogd.\n\nHebt u dit "
        "niet gevraagd? Dan hoeft u niets te doen: uw wachtwoord blijft zoals het is.",
        link=links.external_url("auth.reset_password", token=token)))


def _queue_sso_hint(user: User) -> None:
    from flask import current_app

    from .. import links
    from ..models import UserIdentity
    from ..signup.service import queue_mail

    tenants = current_app.config.get("OIDC_TENANTS") or {}
    names = sorted({(tenants.get(i.tenant) or {}).get("name") or i.tenant for i in db.session.scalars(
        select(UserIdentity).where(UserIdentity.user_id == user.id))}) or [_("uw organisatie")]
    queue_mail(user.email, _("Inloggen bij het Kennisportaal sleutelfiguren"), _(
        "Iemand, waarschijnlijk u, vroeg om een nieuw wachtwoord voor uw account bij het Kennisportaal "
        "sleutelfiguren. Uw account heeft geen wachtwoord: u logt in via uw organisatie (%(names)s). Ga naar "
        "%(url)s en kies de knop van uw organisatie. Lukt dat niet? Neem contact op met de ICT-servicedesk "
        "van uw organisatie.\n\nHebt u dit niet gevraagd? Dan hoeft u niets te doen.",
        names=", ".join(names), url=links.external_url("auth.login")))


def user_for_reset_token(token: str) -> User | None:
    """The active user whose open, unexpired reset token is ``token``, else None."""
    if not token or len(token) > 200:
        return None
    user = db.session.scalar(select(User).where(User.reset_token_hash == _token_hash(token)))
    if user is None or not user.active or not user.reset_token_expires or user.reset_token_expires < utcnow():
        return None
    return user


def reset_password(token: str, new: str) -> User:
    """Set a new password through a reset token. The token is used up, every
    session and API key of the user ends, the failed-login count is cleared
    and the user is mailed that the password changed.
    Raises ``ValidationFailed`` (``token`` or ``new_password``)."""
    user = user_for_reset_token(token)
    if user is None:
        raise ValidationFailed({"token": [_(RESET_LINK_INVALID)]})
    problems = password_problems(new or "", email=user.email, name=user.name)
    if problems:
        raise ValidationFailed({"new_password": problems})
    begin_write()
    user = user_for_reset_token(token)  # re-read inside the write transaction: used once
    if user is None:
        db.session.rollback()
        raise ValidationFailed({"token": [_(RESET_LINK_INVALID)]})
    user.set_password(new)
    user.password_changed_at = utcnow()
    user.reset_token_hash = user.reset_token_expires = None
    user.failed_logins = 0
    user.last_failed_login = None
    user.new_session_token()
    api_tokens.revoke_all_for(None, user, reason="auth.password_reset")
    record(None, "auth.password_reset", user.email)
    _notify_password_changed(user)
    db.session.commit()
    return user


# --- login throttling ---------------------------------------------------------

def login_delay(user: User) -> timedelta:
    """How long ``user`` must wait before a login is tried at all (zero: now)."""
    n = user.failed_logins or 0
    if n < FREE_FAILURES or user.last_failed_login is None:
        return timedelta(0)
    now = utcnow()
    if now - user.last_failed_login > FAILURE_MEMORY:
        return timedelta(0)
    delay = min(FIRST_DELAY * (2 ** min(n - FREE_FAILURES, 20)), MAX_DELAY)
    return max(timedelta(0), user.last_failed_login + delay - now)


def record_login(user: User, password: str | None = None, **detail: Any) -> None:
    """A successful login: clear the failure count, rehash an old-style
    password hash with ``password`` (the one just checked), audit (with
    ``detail``, e.g. ``method="oidc", tenant=...``), commit."""
    begin_write()
    user = db.session.get(User, user.id)
    if password is not None and user.needs_rehash():
        user.set_password(password)
    user.failed_logins = 0
    user.last_failed_login = None
    record(user, "auth.login", user.email, **detail)
    db.session.commit()


def rehash_password(user: User, password: str) -> None:
    """Store a current (argon2id) hash of ``password``, just checked against
    an old-style hash of ``user``; nothing else changes. Commits."""
    begin_write()
    user = db.session.get(User, user.id)
    if user.needs_rehash():
        user.set_password(password)
    db.session.commit()


def record_failed_login(user: User | None, email: str, *, throttled: bool = False, reason: str = "login") -> None:
    """A failed login for ``email`` (``user`` None when unknown): count it on
    the account (not while throttled, so waiting helps), audit, commit.
    ``reason``: ``login``, or ``password_change`` / ``api_token_create`` for a
    wrong current password asked again (``reauthenticate``)."""
    begin_write()
    if user is not None and not throttled:
        user = db.session.get(User, user.id)
        if user.last_failed_login and utcnow() - user.last_failed_login > FAILURE_MEMORY:
            user.failed_logins = 0
        user.failed_logins = (user.failed_logins or 0) + 1
        user.last_failed_login = utcnow()
    if reason == "login":
        record(None, "auth.login_failed", email[:200], known=user is not None, throttled=throttled)
    elif reason == "password_change":
        record(user, "auth.password_change_failed", email[:200])
    else:
        record(user, "auth.reauth_failed", email[:200], purpose=reason)
    db.session.commit()


# --- sessions, deactivation, roles --------------------------------------------

def end_sessions(user: User, *, reason: str = "auth.logout") -> None:
    """End every session and remember cookie of ``user`` server-side (a
    plain logout: the user's API keys stay valid)."""
    begin_write()
    user = db.session.get(User, user.id)
    user.new_session_token()
    record(user, reason, user.email)
    db.session.commit()


def end_sessions_for(actor: Any, email: str | None = None) -> int:
    """End every session and revoke every API key of the user ``email``, or
    of every user when ``email`` is None (ASVS 5.0 7.4.5: an administrator
    ends sessions for security reasons, so no credential of the account may
    survive). Admins only; returns how many accounts were affected; raises
    ``PermissionDenied`` or ``NotFound``."""
    if not permissions.can_administer(actor):
        raise PermissionDenied(_("Alleen een beheerder mag sessies beëindigen."))
    begin_write()
    users = [_find(email)] if email is not None else list(db.session.scalars(select(User)))
    revoked = 0
    for user in users:
        user.new_session_token()
        revoked += api_tokens.revoke_all_for(actor, user, reason="auth.sessions_ended")
    record(actor, "auth.sessions_ended", email or "*", accounts=len(users), api_tokens_revoked=revoked)
    db.session.commit()
    return len(users)


def _find(email: str) -> User:
    user = db.session.scalar(select(User).where(User.email == (email or "").strip().lower()))
    if user is None:
        db.session.rollback()
        raise NotFound(_("Er is geen gebruiker met e-mailadres '%(email)s'.", email=email))
    return user


def set_active(actor: Any, email: str, active: bool) -> User:
    """(De)activate the account ``email``; deactivating ends all its sessions
    and revokes its API keys (activating again brings none back). Admins
    only; raises ``PermissionDenied`` or ``NotFound``."""
    if not permissions.can_administer(actor):
        raise PermissionDenied(_("Alleen een beheerder mag accounts (de)activeren."))
    from ..models import SignupConfirmation

    begin_write()
    user = _find(email)
    user.active = bool(active)
    if not active:
        user.new_session_token()
        api_tokens.revoke_all_for(actor, user, reason="user.deactivate")
    # An admin's decision closes a self sign-up still waiting for its link: the link dies, a new sign-up
    # cannot renew it, and single sign-on cannot take it over (``stale_signup``).
    pending = db.session.scalar(select(SignupConfirmation).where(SignupConfirmation.user_id == user.id,
                                                                 SignupConfirmation.confirmed_at.is_(None)))
    if pending is not None:
        pending.token_hash = None
    record(actor, "user.activate" if active else "user.deactivate", user.email)
    db.session.commit()
    return user


def set_role(actor: Any, email: str, role: str) -> User:
    """Give the account ``email`` the role ``role`` (one of ``ROLES``); its
    sessions end and its API keys are revoked, so the new rights hold from
    the next login (and a new key). Admins only;
    raises ``PermissionDenied``, ``NotFound`` or ``ValidationFailed``."""
    if not permissions.can_administer(actor):
        raise PermissionDenied(_("Alleen een beheerder mag rollen wijzigen."))
    if role not in ALL_ROLES:
        raise ValidationFailed({"role": [_("Onbekende rol '%(role)s'; kies uit %(roles)s.", role=role,
                                           roles=", ".join(ALL_ROLES))]})
    begin_write()
    user = _find(email)
    old = user.role
    user.role = role
    user.new_session_token()
    api_tokens.revoke_all_for(actor, user, reason="user.role_change")
    record(actor, "user.role_change", user.email, old=old, new=role)
    db.session.commit()
    return user


def set_municipality(actor: Any, email: str, municipality: str) -> User:
    """Put the account ``email`` in ``municipality`` (official name, everyday
    name or CBS code such as ``GM0503``; see ``common.municipality_resolver``).
    Rights that follow from the municipality (its region's profiles and
    contact details, a curator's region) hold from the next request.
    Audited as ``user.municipality_change`` (old and new CBS code). Admins
    only; raises ``PermissionDenied``, ``NotFound`` (no such user) or
    ``ValidationFailed({"municipality": [...]})`` for an unknown or
    ambiguous municipality, naming the candidates."""
    from ..models import Municipality
    from .common import municipality_resolver

    if not permissions.can_administer(actor):
        raise PermissionDenied(_("Alleen een beheerder mag de gemeente van een account wijzigen."))
    begin_write()
    user = _find(email)
    text = (municipality or "").strip()
    muni = municipality_resolver()(text) if text else None
    if muni is None:
        db.session.rollback()
        if not text:
            raise ValidationFailed({"municipality": [_("Geef een gemeente: de officiële naam of de CBS-code (bijv. GM0503).")]})
        candidates = sorted(m.name for m in db.session.scalars(
            select(Municipality).where(Municipality.name.ilike(f"{text.replace('%', '').replace('_', '')} (%")))) \
            if len(text) >= 2 else []
        if candidates:
            raise ValidationFailed({"municipality": [_(
                "'%(text)s' kan meerdere gemeenten zijn: %(names)s. Gebruik de officiële naam of de CBS-code.",
                text=text, names=", ".join(candidates))]})
        raise ValidationFailed({"municipality": [_(
            "Onbekende gemeente '%(text)s'. Gebruik de officiële naam (zoals 'Delft' of \"'s-Hertogenbosch\") "
            "of de CBS-code (zoals GM0503).", text=text)]})
    old = user.municipality.cbs_code if user.municipality else None
    user.municipality = muni
    record(actor, "user.municipality_change", user.email, old=old or "", new=muni.cbs_code)
    db.session.commit()
    return user


# --- deployment check -----------------------------------------------------------

def deployment_problems(config) -> tuple[list[str], list[str]]:
    """Check ``config`` (a Flask config mapping) as a production set-up.
    Returns ``(errors, warnings)``, each a list of Dutch sentences; any error
    means the configuration is not safe for production (like Django's
    ``check --deploy``)."""
    from ..config import DEVELOPMENT_KEYS, MIN_SECRET_LENGTH

    errors: list[str] = []
    warnings: list[str] = []
    if config.get("ENV") != "production":
        errors.append(_("PORTAL_ENV is niet 'production': cookies zijn niet Secure en HSTS staat uit."))
    key = config.get("SECRET_KEY") or ""
    if key in DEVELOPMENT_KEYS or len(key) < MIN_SECRET_LENGTH:
        errors.append(_("De geheime sleutel (PORTAL_SECRET_KEY) is een ontwikkelsleutel of korter dan %(n)s tekens.",
                        n=MIN_SECRET_LENGTH))
    elif not config.get("SECRET_KEY_FROM_ENV"):
        errors.append(_("PORTAL_SECRET_KEY is niet gezet: de sleutel komt uit de instance-map; zet een vaste sleutel, "
                        "gelijk voor alle servers."))
    if config.get("DEBUG"):
        errors.append(_("Debug staat aan: tracebacks en configuratie kunnen zichtbaar worden."))
    if config.get("TESTING"):
        errors.append(_("TESTING staat aan."))
    if config.get("WTF_CSRF_ENABLED") is False:
        errors.append(_("CSRF-bescherming (WTF_CSRF_ENABLED) staat uit."))
    for name in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        if not config.get(name):
            errors.append(_("%(name)s staat uit: de cookie kan over onversleuteld HTTP gaan.", name=name))
    for name in ("SESSION_COOKIE_HTTPONLY", "REMEMBER_COOKIE_HTTPONLY"):
        if not config.get(name):
            errors.append(_("%(name)s staat uit: scripts in de browser kunnen de cookie lezen.", name=name))
    if str(config.get("SESSION_COOKIE_SAMESITE") or "").lower() not in ("lax", "strict"):
        errors.append(_("SESSION_COOKIE_SAMESITE is niet Lax of Strict."))
    if not int(config.get("PROXY_COUNT") or 0):
        errors.append(_("PORTAL_PROXY_COUNT is 0: achter een reverse proxy met TLS ziet het portaal dan niet "
                        "het echte adres van de bezoeker (inlogbeperking per adres werkt niet) en niet dat het verzoek "
                        "https was."))
    if not config.get("REQUIRE_TOTP_FOR_ADMINS", True):
        errors.append(_("PORTAL_REQUIRE_TOTP_FOR_ADMINS staat uit: beheerders en privacyfunctionarissen "
                        "kunnen zonder tweestapsverificatie inloggen."))
    for key, tenant in sorted((config.get("OIDC_TENANTS") or {}).items()):
        for field in ("issuer", "discovery_url"):
            if not str(tenant.get(field, "")).startswith("https://"):
                variable = f"PORTAL_OIDC_{key.upper()}_{field.upper()}"
                errors.append(_("%(name)s begint niet met https://: de inlog via de gemeente moet over TLS gaan.",
                                name=variable))
    from ..links import base_url_problem  # links in e-mails never come from the Host header

    if (problem := base_url_problem(config)) is not None:
        errors.append(problem)
    if str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("sqlite"):
        warnings.append(_("De database is SQLite; gebruik PostgreSQL in productie (PORTAL_DATABASE_URL)."))
    if str(config.get("RATELIMIT_STORAGE_URI", "memory://")).startswith("memory"):
        warnings.append(_("Mislukte inlogpogingen worden per worker geteld (memory://); "
                          "zet PORTAL_RATELIMIT_STORAGE_URI op redis:// om ze te delen."))
    if str(config.get("LOG_LEVEL", "")).upper() == "DEBUG":
        warnings.append(_("PORTAL_LOG_LEVEL is DEBUG: logs kunnen meer vastleggen dan nodig."))
    return errors, warnings


# --- TOTP second factor (issue #7) ------------------------------------------------
#
# RFC 6238 TOTP (SHA-1, 6 digits, 30-second steps: what authenticator apps
# use) through pyotp; OWASP ASVS 5.0 V6.5 (general authentication factor
# requirements: single use, rate limited, recovery codes) and V6.6.

#: Roles that must use a second factor when REQUIRE_TOTP_FOR_ADMINS is on.
TOTP_REQUIRED_ROLES = ("admin", "privacy")
#: Accepted clock drift: one 30-second step before or after now.
TOTP_DRIFT_STEPS = 1
TOTP_ISSUER = "Kennisportaal"
RECOVERY_CODE_COUNT = 8
#: Dutch msgid; translated where it is raised (``_(_TOTP_INVALID)``)
_TOTP_INVALID = "De code klopt niet of is al gebruikt. Gebruik de nieuwste code uit uw app."


def _fernet():
    """A Fernet key derived from the app's SECRET_KEY (SHA-256 with a
    purpose label), so the TOTP secret is encrypted at rest."""
    import base64

    from cryptography.fernet import Fernet
    from flask import current_app

    digest = hashlib.sha256(b"portal totp secret v1\x00" + str(current_app.config["SECRET_KEY"]).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode("ascii")).decode("ascii")


def totp_secret(user: User) -> str | None:
    """The plain base32 TOTP secret of ``user`` (enrolling or enrolled), or
    None (none set, or encrypted with another SECRET_KEY)."""
    from cryptography.fernet import InvalidToken

    if not user.totp_secret:
        return None
    try:
        return _fernet().decrypt(user.totp_secret.encode("ascii")).decode("ascii")
    except (InvalidToken, ValueError):
        return None


def totp_required(user: Any, config) -> bool:
    """True when ``user`` must have a second factor (an admin or privacy
    officer while ``REQUIRE_TOTP_FOR_ADMINS`` is on) and has none yet."""
    return (bool(config.get("REQUIRE_TOTP_FOR_ADMINS", True)) and getattr(user, "role", None) in TOTP_REQUIRED_ROLES
            and not getattr(user, "totp_enabled", False))


def totp_uri(user: User, secret: str) -> str:
    """The ``otpauth://totp/...`` URI for an authenticator app."""
    import pyotp

    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


def group_secret(secret: str) -> str:
    """``"ABCD EFGH ..."``: the base32 secret in groups of four, to type in."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def start_totp_enrollment(user: User) -> str:
    """Give ``user`` a new, not yet active TOTP secret (kept until confirmed,
    replaced by a new start). Returns the base32 secret. Raises
    ``ValidationFailed({"code": ...})`` when TOTP is already on."""
    import pyotp

    begin_write()
    user = db.session.get(User, user.id)
    if user.totp_enabled:
        db.session.rollback()
        raise ValidationFailed({"code": [_("Tweestapsverificatie staat al aan.")]})
    secret = pyotp.random_base32()
    user.totp_secret = _seal(secret)
    user.totp_last_step = None
    record(user, "auth.totp_enrollment_started", user.email)
    db.session.commit()
    return secret


def _clean_code(code: str | None) -> str:
    return re.sub(r"[\s\-]+", "", code or "").lower()


def _matching_step(secret: str, code: str, last_step: int | None) -> int | None:
    """The time step (now ± drift) whose code is ``code`` and that is newer
    than ``last_step``; None when there is none (wrong or replayed)."""
    import time

    import pyotp

    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    now = int(time.time()) // totp.interval
    for step in range(now - TOTP_DRIFT_STEPS, now + TOTP_DRIFT_STEPS + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            if last_step is not None and step <= last_step:
                return None  # used before: no replay within its window
            return step
    return None


def _new_recovery_codes() -> tuple[list[str], str]:
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _i in range(RECOVERY_CODE_COUNT)]
    return codes, "\n".join(_token_hash(c.replace("-", "")) for c in codes)


def confirm_totp(user: User, code: str) -> list[str]:
    """Switch TOTP on for ``user`` once ``code`` is a current code of the
    pending secret. Returns the new recovery codes (shown once; only their
    SHA-256 is stored). Audited ``auth.totp_enabled``. Raises
    ``ValidationFailed({"code": [...]})``: no pending secret, or a wrong code
    (audited ``auth.totp_failed``, nothing else written)."""
    begin_write()
    user = db.session.get(User, user.id)
    secret = totp_secret(user)
    if user.totp_enabled or secret is None:
        db.session.rollback()
        raise ValidationFailed({"code": [_("Begin opnieuw met het instellen van tweestapsverificatie.")]})
    step = _matching_step(secret, _clean_code(code), user.totp_last_step)
    if step is None:
        record(user, "auth.totp_failed", user.email, purpose="enrollment")
        db.session.commit()
        raise ValidationFailed({"code": [_(_TOTP_INVALID)]})
    codes, hashes = _new_recovery_codes()
    user.totp_last_step = step
    user.totp_enabled_at = utcnow()
    user.totp_recovery_codes = hashes
    record(user, "auth.totp_enabled", user.email)
    db.session.commit()
    return codes


def check_second_factor(user: User, code: str, *, purpose: str = "login") -> bool:
    """Check ``code`` (a 6-digit TOTP code or a recovery code) for ``user``
    and use it up: the time step is remembered (no replay), a recovery code
    is deleted (audited ``auth.totp_recovery_used``). A wrong code counts
    as a failed login (per-account throttle) and is audited
    ``auth.totp_failed``. The caller checks ``login_delay`` first. Commits;
    returns whether the code was right."""
    begin_write()
    # locked (SELECT ... FOR UPDATE) and re-read: on PostgreSQL begin_write takes no lock, and two
    # requests with one code at once would both find it unused (a replayed TOTP step, a recovery
    # code that works twice). SQLite ignores it: BEGIN IMMEDIATE already serialises writers.
    user = db.session.get(User, user.id, with_for_update=True, populate_existing=True)
    secret = totp_secret(user)
    cleaned = _clean_code(code)
    ok = False
    if user.totp_enabled and secret is not None:
        step = _matching_step(secret, cleaned, user.totp_last_step)
        if step is not None:
            user.totp_last_step = step
            ok = True
        elif re.fullmatch(r"[0-9a-f]{12}", cleaned):
            hashes = (user.totp_recovery_codes or "").split()
            wanted = _token_hash(cleaned)
            if wanted in hashes:
                hashes.remove(wanted)
                user.totp_recovery_codes = "\n".join(hashes)
                record(user, "auth.totp_recovery_used", user.email, remaining=len(hashes))
                ok = True
    if ok:
        db.session.commit()
        return True
    if user.last_failed_login and utcnow() - user.last_failed_login > FAILURE_MEMORY:
        user.failed_logins = 0
    user.failed_logins = (user.failed_logins or 0) + 1
    user.last_failed_login = utcnow()
    record(user, "auth.totp_failed", user.email, purpose=purpose)
    db.session.commit()
    return False


def disable_totp(user: User, password: str | None, code: str | None) -> User:
    """Switch TOTP off for ``user``: needs the current ``password`` and a
    current code (or a recovery code). Audited ``auth.totp_disabled``.
    Raises ``ValidationFailed`` (``current_password`` or ``code``); a wrong
    password or code counts as a failed login."""
    reauthenticate(user, password, field="current_password", reason="totp_disable")
    if not check_second_factor(user, code or "", purpose="disable"):
        raise ValidationFailed({"code": [_(_TOTP_INVALID)]})
    begin_write()
    user = db.session.get(User, user.id)
    _clear_totp(user)
    record(user, "auth.totp_disabled", user.email)
    db.session.commit()
    return user


def _clear_totp(user: User) -> None:
    user.totp_secret = user.totp_enabled_at = user.totp_last_step = user.totp_recovery_codes = None


def reset_totp(actor: Any, email: str) -> User:
    """Remove the second factor of the account ``email`` (lost phone): every
    session of it ends and its API keys are revoked; audited
    ``auth.totp_reset``. Admins and the system only; raises
    ``PermissionDenied`` or ``NotFound``."""
    if not permissions.can_administer(actor):
        raise PermissionDenied(_("Alleen een beheerder mag tweestapsverificatie van een account verwijderen."))
    begin_write()
    user = _find(email)
    _clear_totp(user)
    user.new_session_token()
    api_tokens.revoke_all_for(actor, user, reason="auth.totp_reset")
    record(actor, "auth.totp_reset", user.email)
    db.session.commit()
    return user


# --- per-device sessions (issue #7; OWASP ASVS 5.0 V7.5.2) ---------------------------
#
# Every login makes a ``UserSession`` row; the cookie carries
# ``"<user id>.<user session token>.<device token>"``. The user token ends
# every session at once (logout everywhere, password reset, role change,
# deactivation: see above); the device token ends one.

#: ``last_seen_at`` is written at most this often per session (seconds):
#: "last active" to five minutes is precise enough, and a reading request
#: rarely writes (ASVS 5.0 3.5.3 is about the user's data, but fewer writes
#: on GET keep it that way for everything else)
SESSION_SEEN_RESOLUTION = 300


def _generation(user: User) -> str:
    return _token_hash("generation:" + (user.session_token or ""))


def start_device_session(user: User, *, user_agent: str = "", method: str = "password",
                         remember: bool = False) -> str:
    """Record a new login of ``user`` on one device; returns the device token
    (43 URL-safe characters, for the cookie; only its SHA-256 is stored).
    ``method``: ``password`` or ``oidc:<tenant>``. Dead rows of the user
    (ended, of an old session token, or older than twice ABSOLUTE_TIMEOUT)
    are deleted on the way. Commits."""
    from ..models import UserSession

    from flask import current_app
    from sqlalchemy import delete, or_

    begin_write()
    user = db.session.get(User, user.id)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    # rows that can never log in again: ended, of an old user token, or past twice the absolute limit
    horizon = now - 2 * current_app.config.get("ABSOLUTE_TIMEOUT", timedelta(hours=12))
    db.session.execute(delete(UserSession).where(
        UserSession.user_id == user.id,
        or_(UserSession.ended_at.is_not(None), UserSession.generation != _generation(user),
            UserSession.created_at < horizon)))
    db.session.add(UserSession(user_id=user.id, token_hash=_token_hash(token), generation=_generation(user),
                               method=method[:80], user_agent=safe_text(user_agent, 400), remember=remember,
                               created_at=now, last_seen_at=now))
    db.session.commit()
    return token


def device_session(user: User, token: str, *, max_age: timedelta | None = None):
    """The live ``UserSession`` of ``user`` whose device token is ``token``
    (not ended, of the user's current session token, younger than
    ``max_age``), else None."""
    from ..models import UserSession

    if not token or len(token) > 100:
        return None
    row = db.session.scalar(select(UserSession).where(UserSession.token_hash == _token_hash(token)))
    if (row is None or row.user_id != user.id or row.ended_at is not None
            or not secrets.compare_digest(row.generation, _generation(user))):
        return None
    if max_age is not None and utcnow() - row.created_at > max_age:
        return None
    return row


def touch_device_session(session_id: int) -> None:
    """Set ``last_seen_at`` of the session ``session_id`` to now, when it is
    older than ``SESSION_SEEN_RESOLUTION`` seconds. Commits."""
    from ..models import UserSession

    row = db.session.get(UserSession, session_id)
    if row is None or (utcnow() - row.last_seen_at).total_seconds() < SESSION_SEEN_RESOLUTION:
        return
    begin_write()
    row = db.session.get(UserSession, session_id)
    row.last_seen_at = utcnow()
    db.session.commit()


def list_device_sessions(user: User, *, idle: timedelta, absolute: timedelta) -> list:
    """The live sessions of ``user``, newest activity first: not ended, of
    the current session token, started within ``absolute``, and (unless
    remember-me) active within ``idle``. Returns ``UserSession`` rows."""
    from ..models import UserSession

    user = db.session.get(User, user.id)
    now = utcnow()
    rows = db.session.scalars(select(UserSession).where(
        UserSession.user_id == user.id, UserSession.ended_at.is_(None),
        UserSession.generation == _generation(user), UserSession.created_at > now - absolute,
    ).order_by(UserSession.last_seen_at.desc(), UserSession.id.desc()))
    return [r for r in rows if r.remember or now - r.last_seen_at <= idle]


def end_device_session(actor: User, session_id: int, *, reason: str = "auth.session_ended") -> None:
    """End the session ``session_id`` of ``actor`` (that device's cookies die
    at once). Only one's own sessions: another user's id is ``NotFound``
    (the same answer as an id that does not exist). Audited. Commits."""
    from ..models import UserSession

    begin_write()
    row = db.session.get(UserSession, session_id)
    if row is None or row.user_id != actor.id or row.ended_at is not None:
        db.session.rollback()
        raise NotFound(_("Deze sessie bestaat niet of is al beëindigd."))
    row.ended_at = utcnow()
    record(actor, reason, actor.email, session=row.id)
    db.session.commit()


def end_other_device_sessions(actor: User, keep_id: int | None) -> int:
    """End every live session of ``actor`` except ``keep_id``; returns how
    many. Audited ``auth.sessions_ended_others``. Commits."""
    from ..models import UserSession

    begin_write()
    rows = list(db.session.scalars(select(UserSession).where(
        UserSession.user_id == actor.id, UserSession.ended_at.is_(None))))
    now = utcnow()
    n = 0
    for row in rows:
        if row.id != keep_id:
            row.ended_at = now
            n += 1
    record(actor, "auth.sessions_ended_others", actor.email, sessions=n)
    db.session.commit()
    return n


def describe_user_agent(text: str | None) -> str:
    """A short Dutch-neutral summary of a User-Agent header: ``"Firefox op
    Windows"``, ``"Chrome op Android"``; ``""`` when nothing is recognised.
    Order matters: Edge and Opera also say Chrome, Chrome also says Safari."""
    ua = text or ""
    browser = next((name for token, name in (
        ("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"), ("Safari/", "Safari"), ("curl/", "curl")) if token in ua), "")
    system = next((name for token, name in (
        ("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
        ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux")) if token in ua), "")
    if browser and system:
        return f"{browser} / {system}"
    return browser or system


# --- single sign-on through OpenID Connect (issue #7; ASVS 5.0 V10) ----------------

class SsoRefused(Exception):
    """A single sign-on login that must not succeed; ``reason`` is an audit
    code word, ``message`` the Dutch text for the user."""

    def __init__(self, reason: str, message: str):
        super().__init__(reason)
        self.reason = reason
        self.message = message


def sso_user(tenant_key: str, tenant: dict, claims: dict, *, link_to: User | None = None) -> tuple[User, bool]:
    """The account for a verified ID token's ``claims`` (``iss``, ``sub``,
    optional ``email`` and ``name``) from ``tenant`` (an entry of
    ``OIDC_TENANTS``). Returns ``(user, created)``. Commits.

    Rules (docs/security.md, "Single sign-on"): the account is found by
    ``(issuer, subject)`` only, never by e-mail. An unknown pair is linked to
    ``link_to`` (a logged-in user who asked for it on their sessions page),
    or else makes a new *member* account in the tenant's municipality,
    without a password. When the address belongs to a self sign-up that was
    never confirmed nor used (:func:`stale_signup`), that account becomes
    the new one (:func:`_take_over_signup`: its password and form data are
    dropped): the tenant is an allow-listed municipal provider whose
    ``email`` claim counts as verified unless it says otherwise
    (:func:`_email_claim_verified`), and only for an address on its own
    municipality's allow-list (:func:`_tenant_vouches_for`). Any other
    account with the address stays
    untouched. Raises ``SsoRefused``: ``issuer_mismatch`` (``iss``
    is not the tenant's), ``inactive`` (the account is switched off),
    ``email_in_use`` (a new account would take an existing account's
    e-mail: that account's owner must link it from inside their account),
    ``no_email``, ``already_linked`` (the identity belongs to another
    account), ``municipality`` (the tenant's CBS code is unknown)."""
    from ..models import Municipality, UserIdentity

    issuer, subject = str(claims.get("iss") or ""), str(claims.get("sub") or "")
    if not subject or issuer != tenant["issuer"]:
        raise SsoRefused("issuer_mismatch", _("Deze inlog wordt niet vertrouwd."))
    begin_write()
    identity = db.session.scalar(select(UserIdentity).where(UserIdentity.issuer == issuer,
                                                            UserIdentity.subject == subject))
    created = False
    if identity is not None:
        user = db.session.get(User, identity.user_id)
        if link_to is not None and user.id != link_to.id:
            db.session.rollback()
            raise SsoRefused("already_linked", _("Deze gemeentelijke inlog hoort al bij een ander account."))
    elif link_to is not None:
        user = db.session.get(User, link_to.id)
        identity = UserIdentity(user_id=user.id, issuer=issuer, subject=subject, tenant=tenant_key,
                                email=str(claims.get("email") or "")[:320])
        db.session.add(identity)
        record(user, "auth.identity_linked", user.email, tenant=tenant_key, issuer=issuer)
    else:
        from ..signup.service import canonical_email  # the one form of an address (sign-up, here)

        email = canonical_email(str(claims.get("email") or "")[:400]) or ""
        if "@" not in email or len(email) > 320 or not mails_to_exactly(email):
            db.session.rollback()
            raise SsoRefused("no_email", _("Uw gemeentelijke inlog gaf geen e-mailadres door; "
                                           "vraag de beheerder om een account."))
        existing = db.session.scalar(select(User).where(User.email == email))
        stale = None
        if existing is not None and _email_claim_verified(claims) and _tenant_vouches_for(tenant, email):
            stale = stale_signup(existing)
        if existing is not None and stale is None:
            db.session.rollback()
            raise SsoRefused("email_in_use", _(
                "Er bestaat al een account met dit e-mailadres. Log in met uw wachtwoord en koppel uw "
                "gemeentelijke inlog daarna op de pagina Mijn sessies."))
        muni = db.session.scalar(select(Municipality).where(Municipality.cbs_code == tenant["municipality"]))
        if muni is None:
            db.session.rollback()
            raise SsoRefused("municipality", _("Deze gemeentelijke inlog is niet goed ingesteld; "
                                               "meld het de beheerder."))
        name = safe_text(claims.get("name") or email.split("@")[0], 200)
        if existing is not None:
            user = _take_over_signup(existing, stale, name=name, municipality=muni, tenant_key=tenant_key)
        else:
            user = User(email=email, name=name, role="member", municipality=muni)  # no password: SSO only
            db.session.add(user)
            db.session.flush()
            record(None, "user.create", email, role="member", via=f"oidc:{tenant_key}")
        identity = UserIdentity(user_id=user.id, issuer=issuer, subject=subject, tenant=tenant_key, email=email)
        db.session.add(identity)
        created = True
    if not user.is_active:
        db.session.rollback()
        raise SsoRefused("inactive", _("Dit account is uitgeschakeld."))
    identity.last_login_at = utcnow()
    db.session.commit()
    return user, created


def _email_claim_verified(claims: dict) -> bool:
    """Whether the ID token's ``email_verified`` lets its address take over
    a stale sign-up: absent (or null) counts as yes (an allow-listed municipal
    provider), otherwise only ``true`` or the string ``"true"``; ``"false"``,
    ``0`` and the like are a no (some providers send strings)."""
    value = claims.get("email_verified")
    return value is None or value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _tenant_vouches_for(tenant: dict, email: str) -> bool:
    """Whether ``tenant`` may vouch for ``email`` when taking over a sign-up:
    the address's domain is on the allow-list of the tenant's own
    municipality. Another municipality's provider (whose users may be able
    to edit their own ``email`` attribute: "nOAuth") never takes over an
    address outside its domains."""
    from ..models import Municipality
    from ..signup.service import domain_allowed

    muni = db.session.scalar(select(Municipality).where(Municipality.cbs_code == tenant.get("municipality")))
    return muni is not None and domain_allowed(muni, email)


#: Audit actions that mean an admin has decided about an account (then a sign-up is no longer stale).
_ADMIN_ACCOUNT_ACTIONS = ("user.deactivate", "user.activate", "user.role_change", "user.municipality_change",
                          "auth.password_reset_issued", "auth.sessions_ended", "auth.totp_reset")


def stale_signup(user: User):
    """The open ``SignupConfirmation`` of ``user`` when the account is a
    self sign-up that was never confirmed and never used, else None.

    Such an account proves nothing: anyone can type any address into the
    sign-up form. It is *not* stale (None) when it is active, was confirmed
    (the confirmation is used), was closed or touched by an admin (see
    :func:`set_active`; any of ``_ADMIN_ACCOUNT_ACTIONS`` in the audit log
    for its address), has another role than ``member``, or has ever had a
    session or a linked single sign-on identity. Reads only."""
    from ..models import AuditEvent, SignupConfirmation, UserIdentity, UserSession

    if user.active or user.role != "member" or user.password_changed_at is not None:
        return None
    pending = db.session.scalar(select(SignupConfirmation).where(SignupConfirmation.user_id == user.id))
    if pending is None or pending.confirmed_at is not None or not pending.token_hash:
        return None
    used = (db.session.scalar(select(UserSession.id).where(UserSession.user_id == user.id).limit(1))
            or db.session.scalar(select(UserIdentity.id).where(UserIdentity.user_id == user.id).limit(1))
            or db.session.scalar(select(AuditEvent.id).where(AuditEvent.target == user.email,
                                                             AuditEvent.action.in_(_ADMIN_ACCOUNT_ACTIONS))
                                 .limit(1)))
    return None if used else pending


def _take_over_signup(user: User, pending, *, name: str, municipality, tenant_key: str) -> User:
    """Turn the stale self sign-up ``user`` (``stale_signup`` gave
    ``pending``) into the single sign-on account of the provider that has
    just vouched for the address, in the current transaction.

    Everything the sign-up form said is dropped, the password above all:
    whoever typed the address chose it, and keeping it would let them log
    in to the real owner's account later (pre-account-takeover). The
    confirmation link is used up (it now says "already used"), no reset
    token survives. Audited ``signup.confirmed_by_sso``."""
    user.password_hash = ""  # single sign-on only, as a new SSO account
    user.name = name
    user.municipality = municipality
    user.role = "member"
    user.active = True
    user.reset_token_hash = user.reset_token_expires = None
    user.failed_logins = 0
    user.last_failed_login = None
    _clear_totp(user)
    user.new_session_token()
    pending.confirmed_at = utcnow()
    pending.token_hash = None
    db.session.flush()
    record(None, "signup.confirmed_by_sso", user.email, via=f"oidc:{tenant_key}",
           municipality=municipality.cbs_code)
    return user


# --- recovery codes (issue #7; ASVS 5.0 V6.5.2) -----------------------------------------

def regenerate_recovery_codes(user: User, password: str | None, code: str | None) -> list[str]:
    """Replace all recovery codes of ``user`` by new ones; returns them
    (shown once; only SHA-256 hashes are stored, the old codes stop working
    in the same transaction). Needs the current ``password`` and a current
    TOTP code (a recovery code is not accepted here). Audited
    ``auth.totp_recovery_regenerated``. Raises ``ValidationFailed``
    (``current_password`` or ``code``); wrong answers count as failed logins."""
    if not user.totp_enabled:
        raise ValidationFailed({"code": [_("Tweestapsverificatie staat niet aan.")]})
    reauthenticate(user, password, field="current_password", reason="totp_recovery")
    cleaned = _clean_code(code)
    if not re.fullmatch(r"\d{6}", cleaned):
        cleaned = "no-totp-code"  # a recovery code is refused here, and counted as a failure
    if not check_second_factor(user, cleaned, purpose="recovery_codes"):
        raise ValidationFailed({"code": [_("De code klopt niet of is al gebruikt. Gebruik de nieuwste code uit uw app.")]})
    begin_write()
    user = db.session.get(User, user.id)
    codes, hashes = _new_recovery_codes()
    user.totp_recovery_codes = hashes
    record(user, "auth.totp_recovery_regenerated", user.email)
    db.session.commit()
    return codes
