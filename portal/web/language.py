"""The interface language (issue #8): Dutch by default, English on request.

The visitor's explicit choice, made with the switch in every page's header
(``POST /taal`` with a CSRF token; works without JavaScript), is kept in the
cookie ``portal_lang`` for a year. Nothing else chooses the language: the
browser's ``Accept-Language`` is deliberately not followed, because the
portal's rule is Dutch first (its users are Dutch public servants, many of
whom run an English-language browser or operating system and still expect
the Dutch service), and because one URL then always shows the same language
until the visitor changes it.

A logged-in member's choice is also stored on their account
(``User.language``): when they log in on a browser without the cookie, the
stored language applies (and the cookie is set again), and every e-mail to
them is written in it (``portal.services.notifications.mail_language``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, g, redirect, request, url_for
from flask_login import current_user

bp = Blueprint("language", __name__)

#: Supported interface languages, the default first.
LANGUAGES = ("nl", "en")
DEFAULT = "nl"
COOKIE = "portal_lang"
COOKIE_AGE = 365 * 24 * 3600  # seconds


def select_locale() -> str:
    """Flask-Babel's locale selector: the cookie when it holds a supported
    language, else the logged-in user's stored language, else Dutch.
    Outside a request (command line, e-mails sent by ``portal send-mail``):
    Dutch; e-mails choose their recipient's language with ``force_locale``."""
    if not request:
        return DEFAULT
    wanted = request.cookies.get(COOKIE, "")
    if wanted in LANGUAGES:
        return wanted
    stored = _stored_language()
    return stored or DEFAULT


def _stored_language() -> str | None:
    """The logged-in user's stored language, or ``None``. Loading the user
    may itself translate a message (a flash on an ended session), which asks
    for the locale again: that inner call gets ``None`` instead of recursing."""
    if g.get("_portal_locale_busy"):
        return None
    g._portal_locale_busy = True
    try:
        lang = getattr(current_user, "language", None) if current_user.is_authenticated else None
    finally:
        g._portal_locale_busy = False
    return lang if lang in LANGUAGES else None


def _safe_next(target: str | None) -> str:
    """A local path to go back to (never another site): ``next`` when it is a
    path on this site without control characters (a CR/LF would make the
    ``Location`` header fail with a 500; a tab is dropped by browsers, which
    turns ``/\t/evil`` into ``//evil``), else the home page."""
    if target and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//") \
                and "\\" not in target:
            return target
    return url_for("web.home")


@bp.after_app_request
def _vary_on_cookie(response):
    """A page's language follows the cookie: tell caches (``Vary: Cookie``)
    so no shared cache hands an English page to a Dutch visitor."""
    if response.mimetype == "text/html":
        response.vary.add("Cookie")
    return response


@bp.after_app_request
def _restore_cookie(response):
    """A logged-in user whose browser has no language cookie (a new browser,
    cleared cookies) and who chose a language before gets the cookie back,
    so the page after logging out keeps that language. Only when the user
    was already loaded for this request: this hook loads nobody."""
    if request.cookies.get(COOKIE, "") in LANGUAGES or request.endpoint == "language.switch" \
            or request.path.startswith("/api/"):
        return response
    user = g.get("_login_user")
    lang = getattr(user, "language", None) if getattr(user, "is_authenticated", False) else None
    if lang in LANGUAGES:
        response.set_cookie(COOKIE, lang, max_age=COOKIE_AGE, samesite="Lax", httponly=True,
                            secure=request.is_secure)
    return response


def remember_choice(user, lang: str) -> None:
    """Store ``lang`` (one of ``LANGUAGES``) as ``user``'s language, one
    transaction; nothing happens when it is already stored."""
    from ..database import begin_write
    from ..extensions import db

    if getattr(user, "language", None) == lang:
        return
    begin_write()
    user.language = lang
    db.session.commit()


@bp.post("/taal")
def switch():
    """Set the interface language. Form: ``lang`` (``nl``/``en``; anything
    else keeps the current language) and ``next`` (the local page to return
    to). Answers 303 to ``next``; 400 without a valid CSRF token."""
    response = redirect(_safe_next(request.form.get("next")), code=303)
    lang = request.form.get("lang", "")
    if lang in LANGUAGES:
        if current_user.is_authenticated:
            remember_choice(current_user, lang)  # also for logging in elsewhere, and for e-mails
        response.set_cookie(COOKIE, lang, max_age=COOKIE_AGE, samesite="Lax", httponly=True,
                            secure=request.is_secure)
    return response
