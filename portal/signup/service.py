"""Vetted membership (issue #9): the verbs behind sign-up, confirmation,
access requests and the domain allow-list.

Rules:

* A sign-up whose e-mail domain (the part after the last ``@``, lower-cased,
  IDNA-normalised with UTS #46, https://unicode.org/reports/tr46/) is on the
  allow-list of the chosen municipality makes an inactive account and mails a
  signed link (itsdangerous, salt ``SALT``) that works once, for 48 hours;
  confirming it (a POST) activates the account as a ``member``.
* Any other sign-up becomes an :class:`AccessRequest` (no account). It first
  proves the address the same way (a signed link, salt ``REQUEST_SALT``,
  once, 48 hours; a POST with the password chosen at sign-up): until then
  nobody is told about it, it is listed nowhere, and after 48 hours it is
  deleted. Once confirmed, the curators of the municipality's area and the
  admins are notified; they approve it (the account is made) or refuse it
  with a reason. Both are mailed. (Without this step anyone could file a
  request under someone else's address, and only the curator's judgement
  would stand in the way.)
* Links in these mails are built by :mod:`portal.links` (``BASE_URL``, never
  the visitor's ``Host`` header in production).
* The answer to a sign-up never tells whether the address has an account:
  an account holder gets an e-mail saying so instead (OWASP ASVS 5.0 6.3.x
  / Authentication Cheat Sheet, "account enumeration").

Every verb validates, writes in one transaction and commits once; errors are
``ValidationFailed`` (Dutch, per field), ``NotFound`` or ``PermissionDenied``.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import idna
from flask import current_app, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from .. import links, permissions
from ..database import begin_write
from ..errors import NotFound, PermissionDenied, ValidationFailed
from ..extensions import db
from ..models import AccessRequest, AllowedDomain, Municipality, OutboxMessage, SignupConfirmation, User
from ..models.base import utcnow
from ..models.users import hash_password, verify_password
from ..services.accounts import mails_to_exactly, password_problems, record
from ..services.notifications import in_language_of, in_language_of_address, notify
from ..validation import EMAIL_RE, MAX_EMAIL

#: A confirmation link works this long, once.
CONFIRM_LIFETIME = timedelta(hours=48)
SALT = "portal.signup.confirm"
#: The salt of the links that confirm the address of an access request.
REQUEST_SALT = "portal.signup.request"
MAX_NAME = 200
MAX_MOTIVATION = 2000
MAX_REASON = 2000
#: What a decided request keeps of the password hash: nothing.
ERASED = ""
#: The form fields a sign-up reads; anything else in the form is ignored.
SIGNUP_FIELDS = ("name", "email", "municipality", "password", "motivation")


# -- domains ----------------------------------------------------------------------------


def normalise_domain(value: str) -> str:
    """``"Gemeente.Delft.NL."`` -> ``"gemeente.delft.nl"``; ``"bücher.nl"``
    -> ``"xn--bcher-kva.nl"`` (UTS #46 mapping, then IDNA 2008 A-labels).
    Raises ``ValueError`` for anything that is not a domain of at least two
    labels."""
    text = (value or "").strip().lstrip("@").rstrip(".")
    if not text or len(text) > 253 or any(ch.isspace() for ch in text):
        raise ValueError(value)
    try:
        ascii_form = idna.encode(text, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValueError(value) from exc
    if "." not in ascii_form or len(ascii_form) > 253:
        raise ValueError(value)
    return ascii_form


def email_domain(email: str) -> str | None:
    """The normalised domain of ``email`` (after its last ``@``), or None."""
    _local, at, domain = (email or "").rpartition("@")
    if not at:
        return None
    try:
        return normalise_domain(domain)
    except ValueError:
        return None


def canonical_email(email: str) -> str | None:
    """``email`` as it is stored, mailed and compared: the local part
    lower-cased, the domain as :func:`normalise_domain` makes it (the one the
    allow-list is checked on), e.g. ``"An@ＤＥＬＦＴ.nl"`` -> ``"an@delft.nl"``.
    None when the local part is empty or holds a control, format (bidi,
    zero-width, soft hyphen) or whitespace character, or the domain is not
    one, or when a mail to it would reach another address too
    (``accounts.mails_to_exactly``). Without this the domain that was
    checked (after UTS #46 mapping) and the mailbox that gets the link and
    the account could differ."""
    local, at, domain = (email or "").strip().rpartition("@")
    if not at or not local or any(_is_odd(ch) or ch.isspace() for ch in local):
        return None
    clean = email_domain(email.strip())
    if clean is None:
        return None
    canonical = f"{local.lower()}@{clean}"
    # the mail must go to this address and nowhere else (encoded words, commas, <...>)
    return canonical if mails_to_exactly(canonical) else None


def domain_allowed(municipality: Municipality, email: str) -> bool:
    """Whether ``email``'s domain is on ``municipality``'s allow-list (exact
    match: a subdomain counts only when it is listed itself)."""
    domain = email_domain(email)
    if domain is None:
        return False
    return db.session.scalar(select(AllowedDomain.id).where(
        AllowedDomain.municipality_id == municipality.id, AllowedDomain.domain == domain)) is not None


def _municipality(value: str) -> Municipality | None:
    from ..services.common import municipality_resolver

    return municipality_resolver()(value or "")


def allowed_domains() -> list[AllowedDomain]:
    """Every allow-list entry, by municipality name then domain."""
    return list(db.session.scalars(select(AllowedDomain).join(AllowedDomain.municipality)
                                   .order_by(Municipality.name, AllowedDomain.domain)))


def add_domain(actor: Any, municipality: str, domain: str) -> AllowedDomain:
    """Allow ``domain`` for ``municipality`` (CBS code or name). Admins only.
    Raises ``PermissionDenied`` or ``ValidationFailed`` (``municipality``,
    ``domain``); adding a listed domain again is refused too."""
    if not permissions.can_administer(actor):
        raise PermissionDenied(_("Alleen een beheerder mag e-maildomeinen toestaan."))
    errors: dict[str, list[str]] = {}
    muni = _municipality(municipality)
    if muni is None:
        errors["municipality"] = [_("Kies een gemeente uit de lijst (naam of CBS-code, bijvoorbeeld GM0503).")]
    try:
        clean = normalise_domain(domain)
    except ValueError:
        clean = ""
        errors["domain"] = [_("Vul een domeinnaam in zoals gemeente.nl (zonder @ en zonder http://).")]
    if errors:
        raise ValidationFailed(errors)
    begin_write()
    if db.session.scalar(select(AllowedDomain.id).where(AllowedDomain.municipality_id == muni.id,
                                                        AllowedDomain.domain == clean)):
        db.session.rollback()
        raise ValidationFailed({"domain": [_("Het domein %(domain)s staat al op de lijst van %(municipality)s.",
                                             domain=clean, municipality=muni.name)]})
    row = AllowedDomain(municipality_id=muni.id, domain=clean, created_by_id=getattr(actor, "id", None))
    db.session.add(row)
    record(actor, "signup.domain_add", clean, municipality=muni.cbs_code)
    db.session.commit()
    return row


def remove_domain(actor: Any, municipality: str, domain: str) -> None:
    """Take ``domain`` off ``municipality``'s allow-list. Admins only.
    Raises ``PermissionDenied``, ``ValidationFailed`` or ``NotFound``."""
    if not permissions.can_administer(actor):
        raise PermissionDenied(_("Alleen een beheerder mag e-maildomeinen verwijderen."))
    muni = _municipality(municipality)
    if muni is None:
        raise ValidationFailed({"municipality": [_("Kies een gemeente uit de lijst (naam of CBS-code, bijvoorbeeld GM0503).")]})
    try:
        clean = normalise_domain(domain)
    except ValueError:
        raise ValidationFailed({"domain": [_("Vul een domeinnaam in zoals gemeente.nl (zonder @ en zonder http://).")]})
    begin_write()
    row = db.session.scalar(select(AllowedDomain).where(AllowedDomain.municipality_id == muni.id,
                                                        AllowedDomain.domain == clean))
    if row is None:
        db.session.rollback()
        raise NotFound(_("Het domein %(domain)s staat niet op de lijst van %(municipality)s.",
                         domain=clean, municipality=muni.name))
    db.session.delete(row)
    record(actor, "signup.domain_remove", clean, municipality=muni.cbs_code)
    db.session.commit()


def remove_domain_by_id(actor: Any, domain_id: int) -> None:
    """``remove_domain`` for the entry ``domain_id`` (the admin page)."""
    row = db.session.get(AllowedDomain, domain_id)
    if row is None:
        raise NotFound(_("Dit domein staat niet (meer) op de lijst."))
    remove_domain(actor, row.municipality.cbs_code, row.domain)


# -- sign-up ------------------------------------------------------------------------------


@dataclass
class SignupResult:
    """What a sign-up did (for tests and the audit; the visitor sees none of it):
    ``outcome`` is ``"confirm"``, ``"request"``, ``"existing"`` or ``"pending_request"``."""

    outcome: str
    email: str


def _clean(text: Any) -> str:
    return str(text or "").strip()


def _is_odd(ch: str) -> bool:
    """A control (Cc: C0, DEL, C1) or format character (Cf: bidi overrides,
    zero-width characters, soft hyphen), or a lone surrogate (Cs)."""
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs")


def _has_control(text: str) -> bool:
    return any(_is_odd(ch) for ch in text)


def _has_control_beyond_lines(text: str) -> bool:
    """``_has_control`` for multi-line text: tabs and line ends are allowed."""
    return any(_is_odd(ch) and ch not in "\t\r\n" for ch in text)


def validate_signup(form: dict[str, Any]) -> tuple[dict[str, str], Municipality | None, bool]:
    """Check a sign-up form (only the keys in ``SIGNUP_FIELDS`` are read).
    Returns ``(values, municipality, allowed)``; raises ``ValidationFailed``
    with Dutch messages per field."""
    values = {key: _clean(form.get(key)) if key != "password" else str(form.get(key) or "") for key in SIGNUP_FIELDS}
    values["email"] = values["email"].lower()
    errors: dict[str, list[str]] = {}
    if not values["name"]:
        errors["name"] = [_("Vul uw naam in.")]
    elif len(values["name"]) > MAX_NAME or _has_control(values["name"]):
        errors["name"] = [_("Een naam heeft hoogstens %(n)s tekens, zonder regeleinden.", n=MAX_NAME)]
    email = values["email"]
    canonical = canonical_email(email) if email and len(email) <= MAX_EMAIL and EMAIL_RE.match(email) else None
    if not email:
        errors["email"] = [_("Vul uw e-mailadres in.")]
    elif canonical is None or len(canonical) > MAX_EMAIL or not EMAIL_RE.match(canonical):
        errors["email"] = [_("Vul een geldig e-mailadres in, zoals naam@gemeente.nl.")]
    else:
        # stored, mailed and compared as the address whose domain is checked
        email = values["email"] = canonical
    muni = None
    if not values["municipality"]:
        errors["municipality"] = [_("Kies de gemeente waarvoor u werkt.")]
    elif _has_control(values["municipality"]) or len(values["municipality"]) > 20:
        errors["municipality"] = [_("Kies een gemeente uit de lijst.")]
    else:
        muni = db.session.scalar(select(Municipality).where(Municipality.cbs_code == values["municipality"].upper()))
        if muni is None:
            errors["municipality"] = [_("Kies een gemeente uit de lijst.")]
    if not values["password"]:
        errors["password"] = [_("Kies een wachtwoord.")]
    else:
        problems = password_problems(values["password"], email=email, name=values["name"])
        if problems:
            errors["password"] = problems
    allowed = bool(muni is not None and "email" not in errors and domain_allowed(muni, email))
    if len(values["motivation"]) > MAX_MOTIVATION:
        errors["motivation"] = [_("Een toelichting heeft hoogstens %(n)s tekens.", n=MAX_MOTIVATION)]
    elif _has_control_beyond_lines(values["motivation"]):
        errors["motivation"] = [_("Een toelichting mag geen onzichtbare tekens of stuurtekens bevatten.")]
    elif muni is not None and "email" not in errors and not allowed and not values["motivation"]:
        errors["motivation"] = [_(
            "Uw e-mailadres hoort niet bij een domein dat de gemeente %(municipality)s toelaat. Schrijf kort wie u "
            "bent en waarom u toegang vraagt; een regionale coördinator of beheerder beoordeelt uw aanvraag.",
            municipality=muni.name)]
    if errors:
        raise ValidationFailed(errors)
    return values, muni, allowed


def _serializer(salt: str = SALT) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode("utf-8")).hexdigest()


def _mail(to: str, subject: str, body: str) -> None:
    db.session.add(OutboxMessage(to_address=to, subject=subject[:300],
                                 body=body + "\n\n-- " + _("Kennisportaal sleutelfiguren") + "\n"))


def queue_mail(to: str, subject: str, body: str) -> None:
    """Put a plain-text mail to ``to`` in the outbox, in the caller's
    transaction (sent later by ``portal send-mail``), with the portal's
    signature; ``subject`` is cut at 300 characters. For mails to one
    address that is not a notification (sign-up, password reset)."""
    _mail(to, subject, body)


def _pending_confirmation(user: User) -> SignupConfirmation | None:
    """The unused confirmation of ``user``'s self sign-up, if any (such a user is inactive). One an
    admin closed (``accounts.set_active``: no token left) does not count: a sign-up cannot renew it."""
    return db.session.scalar(select(SignupConfirmation).where(
        SignupConfirmation.user_id == user.id, SignupConfirmation.confirmed_at.is_(None),
        SignupConfirmation.token_hash.is_not(None)))


def deciders_of(municipality: Municipality) -> list[User]:
    """Active curators who curate ``municipality`` (``permissions.can_publish``
    over the municipality's area), and every active admin. Sorted by id."""
    users = db.session.scalars(select(User).where(User.active.is_(True), User.role.in_(("curator", "admin")))
                               .order_by(User.id)).all()
    area = _Area(municipality)
    return [u for u in users if u.role == "admin" or permissions.can_publish(u, area)]


@dataclass
class _Area:
    """The curation area of one municipality, in the shape the item
    predicates read (``municipalities``, ``region_id``): whoever may publish
    an item of this municipality decides its access requests."""

    municipality: Municipality

    @property
    def municipalities(self) -> list[Municipality]:
        return [self.municipality]

    region_id = None


def can_decide(user: Any, request_row: AccessRequest) -> bool:
    """May ``user`` see and decide ``request_row``? The curators of its
    municipality's area (the same rule as publishing its items) and admins."""
    return permissions.can_administer(user) or permissions.can_publish(user, _Area(request_row.municipality))


def sign_up(form: dict[str, Any]) -> SignupResult:
    """Handle an anonymous sign-up (``form``: the fields of ``SIGNUP_FIELDS``;
    other keys are ignored: role and status are never read from a form).

    Outcomes (the visitor is told the same in every case):
    ``confirm``: a new (or renewed) inactive account and a confirmation mail;
    ``request``: a new (or renewed) unconfirmed access request and a mail
    with the link that confirms the address (nobody else is told yet);
    ``existing``: the address has an account: a mail saying so;
    ``pending_request``: a confirmed access request of this address is still
    open: a mail saying so. Unconfirmed requests past their 48 hours are
    deleted on the way. Links: :func:`portal.links.external_url`.
    Raises ``ValidationFailed``.
    """
    values, muni, allowed = validate_signup(form)
    password_hash = hash_password(values["password"])  # same work on every path
    try:
        return _record_sign_up(values, muni, allowed, password_hash)
    except IntegrityError:
        # the same address signed up twice at once (PostgreSQL runs both; the unique e-mail of
        # users stops the second): once more, it now finds the first one's row and renews it
        db.session.rollback()
        return _record_sign_up(values, muni, allowed, password_hash)


def _record_sign_up(values: dict[str, str], muni: Municipality, allowed: bool, password_hash: str) -> SignupResult:
    """The writing half of :func:`sign_up`, one transaction."""
    email = values["email"]
    begin_write()
    _purge_unconfirmed()
    user = db.session.scalar(select(User).where(User.email == email))
    pending = _pending_confirmation(user) if user is not None else None
    if user is not None and not (pending is not None and not user.active):
        if user.password_hash:
            body = _("Iemand, waarschijnlijk u, heeft zich met dit e-mailadres aangemeld bij het Kennisportaal "
                     "sleutelfiguren. U hebt al een account. Log in via %(url)s. Bent u uw wachtwoord vergeten? "
                     "Kies dan ‘Wachtwoord vergeten?’ op die pagina.\n\nHebt u zich niet aangemeld? Dan hoeft "
                     "u niets te doen.", url=links.external_url("auth.login"))
        else:  # made by single sign-on: no password to log in or to reset
            body = _("Iemand, waarschijnlijk u, heeft zich met dit e-mailadres aangemeld bij het Kennisportaal "
                     "sleutelfiguren. U hebt al een account; u logt in via uw organisatie. Ga naar %(url)s en "
                     "kies de knop van uw organisatie.\n\nHebt u zich niet aangemeld? Dan hoeft u niets te doen.",
                     url=links.external_url("auth.login"))
        _mail(email, _("Aanmelding bij het Kennisportaal sleutelfiguren: u hebt al een account"), body)
        record(None, "signup.existing", email, municipality=muni.cbs_code)
        db.session.commit()
        return SignupResult("existing", email)
    if allowed:
        if user is None:
            user = User(email=email, role="member", active=False)
            db.session.add(user)
        user.name = values["name"]
        user.municipality_id = muni.id
        user.password_hash = password_hash
        user.active = False
        db.session.flush()
        nonce = secrets.token_urlsafe(24)
        if pending is None:
            pending = SignupConfirmation(user_id=user.id)
            db.session.add(pending)
        pending.token_hash = _hash(nonce)  # a newer link replaces the older one
        pending.created_at = utcnow()
        pending.expires_at = utcnow() + CONFIRM_LIFETIME
        db.session.flush()
        token = _serializer().dumps([pending.id, nonce])
        link = links.external_url("signup.confirm", token=token)
        _mail(email, _("Bevestig uw aanmelding bij het Kennisportaal sleutelfiguren"), _(
            "Welkom bij het Kennisportaal sleutelfiguren. Bevestig uw aanmelding voor de gemeente "
            "%(municipality)s via deze link (48 uur geldig, één keer te gebruiken):\n\n%(link)s\n\n"
            "Hebt u zich niet aangemeld? Dan hoeft u niets te doen: zonder bevestiging wordt er geen account actief.",
            municipality=muni.name, link=link))
        record(None, "signup.submit", email, municipality=muni.cbs_code)
        db.session.commit()
        return SignupResult("confirm", email)
    open_request = db.session.scalar(select(AccessRequest.id).where(AccessRequest.email == email,
                                                                   AccessRequest.status == "pending"))
    if open_request is not None:
        _mail(email, _("Uw aanvraag voor het Kennisportaal sleutelfiguren wordt nog beoordeeld"), _(
            "Er is al een aanvraag voor toegang met dit e-mailadres. Een regionale coördinator of beheerder "
            "beoordeelt die; u krijgt bericht zodra er een besluit is.\n\nHebt u zich niet aangemeld? Dan hoeft "
            "u niets te doen."))
        record(None, "signup.request_repeated", email, request=open_request)
        db.session.commit()
        return SignupResult("pending_request", email)
    row = db.session.scalar(select(AccessRequest).where(AccessRequest.email == email,
                                                       AccessRequest.status == "unconfirmed")
                            .order_by(AccessRequest.id.desc()))
    nonce = secrets.token_urlsafe(24)
    fields = {"name": values["name"], "municipality_id": muni.id, "password_hash": password_hash,
              "motivation": values["motivation"], "created_at": utcnow(),
              "expires_at": utcnow() + CONFIRM_LIFETIME, "token_hash": _hash(nonce)}
    if row is None:
        row = AccessRequest(email=email, status="unconfirmed", reason="", **fields)
        db.session.add(row)
    else:  # a newer sign-up replaces what an unconfirmed one said, and its link
        for key, value in fields.items():
            setattr(row, key, value)
    db.session.flush()
    link = links.external_url("signup.confirm_request", token=_serializer(REQUEST_SALT).dumps([row.id, nonce]))
    _mail(email, _("Bevestig uw aanvraag voor het Kennisportaal sleutelfiguren"), _(
        "U vroeg toegang tot het Kennisportaal sleutelfiguren voor de gemeente %(municipality)s. Uw e-mailadres "
        "hoort niet bij een domein dat die gemeente rechtstreeks toelaat; daarom beoordeelt een regionale "
        "coördinator of beheerder uw aanvraag. Bevestig eerst dat dit uw e-mailadres is via deze link (48 uur "
        "geldig, één keer te gebruiken):\n\n%(link)s\n\nPas daarna gaat uw aanvraag naar de beoordelaars.\n\n"
        "Hebt u zich niet aangemeld? Dan hoeft u niets te doen: zonder bevestiging wordt de aanvraag na 48 uur "
        "verwijderd.", municipality=muni.name, link=link))
    record(None, "signup.submit", email, request=row.id, municipality=muni.cbs_code)
    db.session.commit()
    return SignupResult("request", email)


def _purge_unconfirmed() -> int:
    """Delete the unconfirmed access requests whose link has expired (with
    the password hash they hold), in the current transaction; returns how
    many."""
    result = db.session.execute(delete(AccessRequest).where(
        AccessRequest.status == "unconfirmed", AccessRequest.expires_at < utcnow()))
    return result.rowcount or 0


def purge_unconfirmed_requests() -> int:
    """Delete expired unconfirmed access requests and commit; returns how
    many (for housekeeping; every sign-up does it too)."""
    begin_write()
    count = _purge_unconfirmed()
    db.session.commit()
    return count


# -- confirmation ---------------------------------------------------------------------------------


def _expired() -> ValidationFailed:
    return ValidationFailed({"token": [_(
        "Deze bevestigingslink is verlopen: hij werkt 48 uur. Meld u opnieuw aan; u krijgt dan een nieuwe link.")]})


def _forged() -> ValidationFailed:
    return ValidationFailed({"token": [_(
        "Deze bevestigingslink klopt niet. Gebruik de hele link uit de e-mail, of meld u opnieuw aan.")]})


def _token_parts(token: str, salt: str) -> tuple[int, str]:
    """``(row id, nonce)`` of a link signed with ``salt`` at most 48 hours
    ago; raises ``ValidationFailed`` (``token``: forged or expired)."""
    try:
        row_id, nonce = _serializer(salt).loads(token or "", max_age=int(CONFIRM_LIFETIME.total_seconds()))
        return int(row_id), str(nonce)
    except SignatureExpired:
        raise _expired()
    except (BadSignature, ValueError, TypeError):
        raise _forged()


def _check_nonce(row: Any, nonce: str, used_message: str) -> None:
    """Raise ``ValidationFailed`` (``token``) unless ``row`` is unused, holds
    the hash of ``nonce`` and has not expired."""
    if row.confirmed_at is not None or not row.token_hash or not secrets.compare_digest(row.token_hash, _hash(nonce)):
        raise ValidationFailed({"token": [used_message]})
    if row.expires_at is None or row.expires_at < utcnow():
        raise _expired()


def _get(model: Any, row_id: int, lock: bool) -> Any:
    """``db.session.get``; with ``lock``, re-read and lock the row (``SELECT
    ... FOR UPDATE``) for the rest of the write transaction: on PostgreSQL
    ``begin_write`` takes no lock, so two decisions or confirmations at once
    would both see the row still open (approved *and* refused). SQLite
    ignores it (its ``BEGIN IMMEDIATE`` already serialises writers)."""
    if not lock:
        return db.session.get(model, row_id)
    return db.session.get(model, row_id, with_for_update=True, populate_existing=True)


def _confirmation_for(token: str, lock: bool = False) -> SignupConfirmation:
    """The open confirmation of ``token``; raises ``ValidationFailed``
    (``token``) saying whether the link is forged, expired or used."""
    confirmation_id, nonce = _token_parts(token, SALT)
    row = _get(SignupConfirmation, confirmation_id, lock)
    if row is None:
        raise _forged()
    _check_nonce(row, nonce, _(
        "Deze bevestigingslink is al gebruikt, of vervangen door een nieuwere link. Is uw account bevestigd? "
        "Dan kunt u inloggen."))
    user = row.user
    if user.municipality is None or not domain_allowed(user.municipality, user.email):
        # the domain left the allow-list after the link was sent: the link no longer vets anyone
        raise ValidationFailed({"token": [_(
            "Deze bevestigingslink werkt niet meer: uw e-maildomein wordt niet meer rechtstreeks toegelaten. "
            "Meld u opnieuw aan; een regionale coördinator of beheerder beoordeelt dan uw aanvraag.")]})
    return row


def check_confirmation(token: str) -> User:
    """The account that ``token`` would confirm (nothing is written).
    Raises ``ValidationFailed`` (``token``)."""
    return _confirmation_for(token).user


def confirm(token: str, password: str) -> User:
    """Use the confirmation link ``token``: the account becomes an active
    member; the link is used up. ``password`` must be the one chosen at
    sign-up: whoever owns the mailbox but did not sign up (someone else
    typed their address) cannot switch on an account someone else holds the
    password of by one careless click (pre-hijacking of accounts).
    Raises ``ValidationFailed`` (``token`` or ``password``)."""
    row = _confirmation_for(token)  # clear errors before taking the write lock
    if not password:
        raise ValidationFailed({"password": [_("Vul het wachtwoord in dat u bij de aanmelding koos.")]})
    if not verify_password(row.user.password_hash, password):
        raise ValidationFailed({"password": [_(
            "Dit is niet het wachtwoord dat bij de aanmelding is gekozen. Hebt u zich niet zelf aangemeld? "
            "Bevestig dan niet; het account blijft uit.")]})
    begin_write()
    row = _confirmation_for(token, lock=True)  # again inside the write transaction, locked: once only
    row.confirmed_at = utcnow()
    row.token_hash = None
    user = row.user
    user.active = True
    user.role = "member"
    user.new_session_token()
    record(user, "signup.confirm", user.email, municipality=user.municipality.cbs_code if user.municipality else "")
    db.session.commit()
    return user


def _unconfirmed_request_for(token: str, lock: bool = False) -> AccessRequest:
    """The unconfirmed access request of ``token``; raises
    ``ValidationFailed`` (``token``) saying whether the link is forged,
    expired or used."""
    request_id, nonce = _token_parts(token, REQUEST_SALT)
    row = _get(AccessRequest, request_id, lock)
    if row is None:
        raise _forged()
    if row.status != "unconfirmed":
        raise ValidationFailed({"token": [_(
            "Deze bevestigingslink is al gebruikt. Uw aanvraag ligt bij een regionale coördinator of beheerder; "
            "u krijgt bericht zodra er een besluit is.")]})
    _check_nonce(row, nonce, _(
        "Deze bevestigingslink is vervangen door een nieuwere link. Gebruik de link uit de laatste e-mail."))
    return row


def check_request_confirmation(token: str) -> AccessRequest:
    """The unconfirmed access request that ``token`` would confirm (nothing
    is written). Raises ``ValidationFailed`` (``token``)."""
    return _unconfirmed_request_for(token)


def confirm_request(token: str, password: str) -> AccessRequest:
    """Use the link ``token`` that confirms the address of an access
    request: it becomes ``pending``, its applicant gets a receipt, and the
    curators of the municipality's area and the admins are notified (only
    now). ``password`` must be the one chosen at sign-up, for the reason
    given at :func:`confirm`. When the address has an open request by now
    (it cannot have two), this one is dropped and nobody is told twice.
    Raises ``ValidationFailed`` (``token`` or ``password``)."""
    row = _unconfirmed_request_for(token)  # clear errors before taking the write lock
    if not password:
        raise ValidationFailed({"password": [_("Vul het wachtwoord in dat u bij de aanmelding koos.")]})
    if not verify_password(row.password_hash, password):
        raise ValidationFailed({"password": [_(
            "Dit is niet het wachtwoord dat bij de aanmelding is gekozen. Hebt u zich niet zelf aangemeld? "
            "Bevestig dan niet; de aanvraag wordt na 48 uur verwijderd.")]})
    begin_write()
    row = _unconfirmed_request_for(token, lock=True)  # again inside the write transaction, locked: once only
    other = db.session.scalar(select(AccessRequest.id).where(AccessRequest.email == row.email,
                                                             AccessRequest.status == "pending"))
    if other is not None:
        db.session.delete(row)
        record(None, "signup.request_repeated", row.email, request=other)
        db.session.commit()
        return db.session.get(AccessRequest, other)
    row.status = "pending"
    row.confirmed_at = utcnow()
    row.token_hash = None
    muni = row.municipality
    _mail(row.email, _("Uw aanvraag voor het Kennisportaal sleutelfiguren is ontvangen"), _(
        "Uw e-mailadres is bevestigd. Het hoort niet bij een domein dat de gemeente %(municipality)s rechtstreeks "
        "toelaat. Daarom beoordeelt een regionale coördinator of beheerder uw aanvraag. U krijgt bericht zodra er "
        "een besluit is.", municipality=muni.name))
    notify(deciders_of(muni), "access_request",  # stored Dutch; shown and mailed in each reader's language
           "Nieuwe aanvraag voor toegang voor de gemeente %(municipality)s" % {"municipality": muni.name},
           url_for("signup.request_detail", request_id=row.id))
    record(None, "signup.request", row.email, request=row.id, municipality=muni.cbs_code)
    db.session.commit()
    return row


# -- access requests ---------------------------------------------------------------------------


def pending_requests(actor: Any) -> list[AccessRequest]:
    """Open access requests ``actor`` may decide, oldest first (admins: all;
    curators: their area's). Raises ``PermissionDenied`` for anyone else."""
    if not permissions.can_curate(actor):
        raise PermissionDenied(_("Alleen regionale coördinatoren en beheerders zien aanvragen voor toegang."))
    rows = db.session.scalars(select(AccessRequest).where(AccessRequest.status == "pending")
                              .order_by(AccessRequest.created_at, AccessRequest.id)).all()
    return [r for r in rows if can_decide(actor, r)]


def pending_count(actor: Any) -> int:
    """How many open (confirmed) access requests ``actor`` may decide; 0 for
    anyone who may not curate. Admins: one count; curators: a count per
    municipality and those municipalities (two small queries)."""
    if not permissions.can_curate(actor):
        return 0
    if permissions.can_administer(actor):
        return db.session.scalar(select(func.count(AccessRequest.id)).where(AccessRequest.status == "pending")) or 0
    counts = dict(db.session.execute(select(AccessRequest.municipality_id, func.count(AccessRequest.id))
                                     .where(AccessRequest.status == "pending")
                                     .group_by(AccessRequest.municipality_id)).all())
    if not counts:
        return 0
    return sum(counts[m.id] for m in db.session.scalars(select(Municipality).where(Municipality.id.in_(counts)))
               if permissions.can_publish(actor, _Area(m)))


def get_request(actor: Any, request_id: int, lock: bool = False) -> AccessRequest:
    """The access request ``request_id`` if ``actor`` may decide it; else
    ``NotFound`` (a curator of another area does not learn that it exists).
    ``lock``: see :func:`_get`."""
    row = _get(AccessRequest, request_id, lock)
    if row is None or row.status == "unconfirmed" or not can_decide(actor, row):
        raise NotFound(_("Deze aanvraag bestaat niet, of u mag haar niet zien."))
    return row


def _open_request(actor: Any, request_id: int, lock: bool = False) -> AccessRequest:
    row = get_request(actor, request_id, lock)
    if row.status != "pending":
        raise ValidationFailed({"request": [_("Over deze aanvraag is al besloten.")]})
    return row


def approve_request(actor: Any, request_id: int) -> User:
    """Approve the access request: its applicant becomes an active member of
    its municipality, with the password chosen at sign-up, and gets a mail.
    An inactive account of the same address still waiting for its
    confirmation is activated instead. Raises ``NotFound`` or
    ``ValidationFailed`` (``request``: already decided, or the address
    has an account by now)."""
    _open_request(actor, request_id)
    begin_write()
    row = _open_request(actor, request_id, lock=True)
    user = db.session.scalar(select(User).where(User.email == row.email))
    if user is not None:
        pending = _pending_confirmation(user)
        if pending is None or user.active:
            db.session.rollback()
            raise ValidationFailed({"request": [_(
                "Er bestaat inmiddels al een account met dit e-mailadres. Weiger de aanvraag met die reden.")]})
        pending.confirmed_at = utcnow()
        pending.token_hash = None
    else:
        user = User(email=row.email)
        db.session.add(user)
    user.name = row.name
    user.municipality_id = row.municipality_id
    user.password_hash = row.password_hash
    user.role = "member"
    user.active = True
    user.new_session_token()
    row.password_hash = ERASED
    row.status = "approved"
    row.decided_by_id = getattr(actor, "id", None)
    row.decided_at = utcnow()
    db.session.flush()
    row.user_id = user.id
    with in_language_of(user):  # the applicant's language, not the curator's
        _mail(row.email, _("Uw aanvraag voor het Kennisportaal sleutelfiguren is goedgekeurd"), _(
            "Uw aanvraag voor toegang voor de gemeente %(municipality)s is goedgekeurd. U kunt nu inloggen met uw "
            "e-mailadres en het wachtwoord dat u bij de aanvraag koos: %(url)s",
            municipality=row.municipality.name, url=links.external_url("auth.login")))
    record(actor, "signup.approve", row.email, request=row.id, municipality=row.municipality.cbs_code)
    db.session.commit()
    return user


def refuse_request(actor: Any, request_id: int, reason: str) -> AccessRequest:
    """Refuse the access request with ``reason`` (required, mailed to the
    applicant); the stored password hash is erased. Raises ``NotFound`` or
    ``ValidationFailed`` (``reason``, ``request``)."""
    reason = _clean(reason)
    _open_request(actor, request_id)
    if not reason:
        raise ValidationFailed({"reason": [_("Geef een reden; de aanvrager krijgt die per e-mail.")]})
    if len(reason) > MAX_REASON:
        raise ValidationFailed({"reason": [_("Een reden heeft hoogstens %(n)s tekens.", n=MAX_REASON)]})
    begin_write()
    row = _open_request(actor, request_id, lock=True)
    row.status = "refused"
    row.reason = reason
    row.password_hash = ERASED
    row.decided_by_id = getattr(actor, "id", None)
    row.decided_at = utcnow()
    with in_language_of_address(row.email):  # the applicant's language, not the curator's
        _mail(row.email, _("Uw aanvraag voor het Kennisportaal sleutelfiguren is afgewezen"), _(
            "Uw aanvraag voor toegang voor de gemeente %(municipality)s is afgewezen. De reden:\n\n%(reason)s\n\n"
            "Hebt u vragen? Neem contact op met de regionale coördinator van uw gemeente.",
            municipality=row.municipality.name, reason=reason))
    record(actor, "signup.refuse", row.email, request=row.id, municipality=row.municipality.cbs_code)
    db.session.commit()
    return row
