"""Absolute links for e-mails and other messages read outside the browser.

One rule for every such link: the site's address is ``BASE_URL``
(``PORTAL_BASE_URL``) when it is set. Only when it is unset *and* the portal
does not run in production does the address of the current request stand in
(handy on a laptop). The request's ``Host`` header is the visitor's to
choose, so building e-mailed links from it lets anyone send a real mail of
the portal with a link to their own host (host-header poisoning of reset and
confirmation links: OWASP Web Security Testing Guide, WSTG-INPV-17; OWASP
ASVS 5.0 V13.2 / V3.x). In production without ``BASE_URL`` the links stay
relative (useless, but harmless) and ``portal check-deploy`` reports the
missing setting (:func:`base_url_problem`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app, has_request_context, request, url_for


def site_root(config: Any = None) -> str:
    """The scheme and host (and path prefix, if any) to put before a path,
    without a trailing slash, e.g. ``"https://portaal.example.nl"``.

    ``config``: a Flask config mapping (default: the current app's).
    Returns ``BASE_URL`` when set; otherwise, outside production and inside
    a request, the request's own root (``request.host_url``); otherwise
    ``""`` (links stay relative)."""
    config = current_app.config if config is None else config
    base = str(config.get("BASE_URL") or "").strip().rstrip("/")
    if base:
        return base
    if config.get("ENV") != "production" and has_request_context():
        return request.host_url.rstrip("/")
    return ""


def absolute(path: str, config: Any = None) -> str:
    """``path`` (``"/inloggen"``; an absolute URL is returned unchanged)
    prefixed with :func:`site_root`."""
    if not path or urlsplit(path).scheme:
        return path
    return site_root(config) + (path if path.startswith("/") else "/" + path)


def external_url(endpoint: str, **values: Any) -> str:
    """``url_for(endpoint, **values)`` made absolute with :func:`site_root`
    (never from the ``Host`` header when ``BASE_URL`` is set). Needs an
    application context; outside a request, ``url_for`` needs
    ``SERVER_NAME`` or a test request context, like Flask's own."""
    return absolute(url_for(endpoint, **values))


def base_url_problem(config: Any) -> str | None:
    """Why ``config``'s ``BASE_URL`` is not fit for production, as a Dutch
    sentence, or None when it is: it must be set, start with ``https://``,
    name a host, and carry no user name, password, query or fragment."""
    from flask_babel import gettext as _

    value = str(config.get("BASE_URL") or "").strip()
    if not value:
        return _("PORTAL_BASE_URL is niet gezet: links in e-mails (aanmelding, wachtwoordherstel, meldingen, "
                 "overzichten) zouden dan van de Host-header van de bezoeker afhangen. Zet het adres van het "
                 "portaal, zoals https://portaal.example.nl.")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme != "https" or not host or parts.username or parts.password \
            or parts.query or parts.fragment:
        return _("PORTAL_BASE_URL (%(value)s) is geen https-adres zoals https://portaal.example.nl: links in "
                 "e-mails moeten over TLS naar het portaal zelf wijzen.", value=value)
    return None
