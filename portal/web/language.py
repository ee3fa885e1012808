"""The interface language (issue #8): Dutch by default, English on request.

The visitor's explicit choice, made with the switch in every page's header
(``POST /taal`` with a CSRF token; works without JavaScript), is kept in the
cookie ``portal_lang`` for a year. Nothing else chooses the language: the
browser's ``Accept-Language`` is deliberately not followed, because the
portal's rule is Dutch first (its users are Dutch public servants, many of
whom run an English-language browser or operating system and still expect
the Dutch service), and because one URL then always shows the same language
until the visitor changes it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, redirect, request, url_for

bp = Blueprint("language", __name__)

#: Supported interface languages, the default first.
LANGUAGES = ("nl", "en")
DEFAULT = "nl"
COOKIE = "portal_lang"
COOKIE_AGE = 365 * 24 * 3600  # seconds


def select_locale() -> str:
    """Flask-Babel's locale selector: the cookie when it holds a supported
    language, else Dutch. Outside a request (command line, e-mails sent by
    ``portal send-mail``): Dutch."""
    if not request:
        return DEFAULT
    wanted = request.cookies.get(COOKIE, "")
    return wanted if wanted in LANGUAGES else DEFAULT


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


@bp.post("/taal")
def switch():
    """Set the interface language. Form: ``lang`` (``nl``/``en``; anything
    else keeps the current language) and ``next`` (the local page to return
    to). Answers 303 to ``next``; 400 without a valid CSRF token."""
    response = redirect(_safe_next(request.form.get("next")), code=303)
    lang = request.form.get("lang", "")
    if lang in LANGUAGES:
        response.set_cookie(COOKIE, lang, max_age=COOKIE_AGE, samesite="Lax", httponly=True,
                            secure=request.is_secure)
    return response
