"""The JSON API under ``/api/v1`` (issue #8) and the page where users make
their API tokens.

Who is calling:

* ``Authorization: Bearer <token>``: the token's user (a personal token from
  ``/account/sleutels`` or ``portal api-token create``). Such requests are
  exempt from CSRF: a browser never adds this header by itself.
* no ``Authorization`` header: the logged-in user of the session cookie, or
  an anonymous visitor. Writes by cookie session need a valid CSRF token
  (``X-CSRFToken`` header), exactly as the web forms do.
* a bad, unknown or revoked token: 401, never a silent fall-back to anonymous.

Every answer is JSON, errors too: ``{"status": 404, "message": "...",
"errors": {field: message}}`` (``errors`` only for invalid input).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from ..errors import Conflict, PortalError, ValidationFailed
from ..extensions import csrf, db, limiter

bp = Blueprint("api", __name__, url_prefix="/api/v1")

#: Dutch messages for HTTP errors, as on the HTML error pages.
MESSAGES = {
    400: "Het verzoek klopt niet.",
    401: "Geef een geldige API-sleutel mee: Authorization: Bearer <sleutel>.",
    403: "U mag dit niet.",
    404: "Dit bestaat niet, of u mag het niet zien.",
    405: "Deze methode kan hier niet.",
    409: "Iemand anders heeft dit item intussen opgeslagen.",
    413: "Het verzoek is te groot.",
    415: "Stuur JSON (Content-Type: application/json).",
    429: "Te veel verzoeken achter elkaar. Wacht even en probeer het opnieuw.",
    500: "Er ging iets mis aan onze kant. Er is niets opgeslagen.",
}
DEFAULT_RATE_LIMIT = "300 per minute"
DEFAULT_WRITE_RATE_LIMIT = "60 per minute"


def json_error(status: int, message: str | None = None, errors: dict[str, Any] | None = None, **extra: Any):
    """A JSON error response ``(response, status)``: ``{"status", "message"}``
    plus ``errors`` (field -> one Dutch message) when given."""
    body: dict[str, Any] = {"status": status, "message": message or MESSAGES.get(status, "Fout.")}
    if errors:
        body["errors"] = {k: " ".join(v) if isinstance(v, (list, tuple)) else str(v) for k, v in errors.items()}
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="portal"'
    return response


def wants_json() -> bool:
    """True for requests to the API (errors there are JSON, never pages)."""
    return request.path == "/api" or request.path.startswith("/api/")


def api_actor():
    """The caller: the token's user, else the session's user (or anonymous)."""
    return g.get("api_user") or current_user


def token_authenticated() -> bool:
    return g.get("api_user") is not None


def _bearer() -> str | None:
    """The token of ``Authorization: Bearer <token>``; ``""`` for any other
    Authorization header; ``None`` without one."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ""
    return token.strip()


def _token_user():
    """The user of the request's bearer token (``None`` when there is no
    valid one), looked up once per request."""
    from ..services.api_tokens import authenticate

    if "api_token_user" not in g:
        token = _bearer()
        g.api_token_user = authenticate(token) if token else None
    return g.api_token_user


@bp.before_request
def _authenticate():
    token = _bearer()
    if token is not None:
        user = _token_user()
        if user is None:
            return json_error(401, "Deze API-sleutel is onbekend, ingetrokken of hoort bij een geblokkeerd account.")
        g.api_user = user
        return None
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        if not current_user.is_authenticated:
            return json_error(401)
        csrf.protect()  # a cookie session writes only with a CSRF token
    return None


@bp.after_request
def _no_store(response):
    """Answers for a known caller may hold members-only data: never cached."""
    if token_authenticated() or current_user.is_authenticated:
        response.headers["Cache-Control"] = "private, no-store"
    response.headers.setdefault("Vary", "Authorization, Cookie")
    return response


@bp.errorhandler(ValidationFailed)
def _validation_failed(exc: ValidationFailed):
    db.session.rollback()
    return json_error(400, "De invoer is niet in orde.", errors=exc.errors)


@bp.errorhandler(Conflict)
def _conflict(exc: Conflict):
    db.session.rollback()
    return json_error(409, exc.message or MESSAGES[409])


@bp.errorhandler(PortalError)
def _portal_error(exc: PortalError):
    db.session.rollback()
    return json_error(exc.status, exc.message)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    from flask_wtf.csrf import CSRFError

    if isinstance(exc, CSRFError):
        return json_error(400, "CSRF-token ontbreekt of is ongeldig. Gebruik een API-sleutel, of stuur "
                               "het CSRF-token mee in de kop X-CSRFToken.")
    return json_error(exc.code or 500)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    import logging

    logging.getLogger("portal").exception("unexpected error on %s", request.path)
    db.session.rollback()
    return json_error(500)


def _limit_key() -> str:
    """Rate-limit per valid token, else per client address (so made-up
    tokens cannot each get a fresh allowance)."""
    from ..extensions import _client_key

    user = _token_user()
    if user is not None:
        return f"{current_app.instance_path}|user|{user.id}"
    return _client_key()


def _read_limit() -> str:
    return current_app.config.get("API_RATE_LIMIT", DEFAULT_RATE_LIMIT)


def write_limit() -> str:
    return current_app.config.get("API_WRITE_RATE_LIMIT", DEFAULT_WRITE_RATE_LIMIT)


limiter.limit(_read_limit, key_func=_limit_key)(bp)

from . import views  # noqa: E402,F401  (registers the routes)
from .account import bp as account_bp  # noqa: E402


def init_app(app: Flask) -> None:
    """Register the API, the token page and the ``portal api-token`` commands."""
    from .cli import api_token_group, follow_command

    import os

    # create_app's config wins, then PORTAL_API_(WRITE_)RATE_LIMIT, then the default.
    app.config.setdefault("API_RATE_LIMIT", os.environ.get("PORTAL_API_RATE_LIMIT") or DEFAULT_RATE_LIMIT)
    app.config.setdefault("API_WRITE_RATE_LIMIT",
                          os.environ.get("PORTAL_API_WRITE_RATE_LIMIT") or DEFAULT_WRITE_RATE_LIMIT)
    csrf.exempt(bp)  # checked in _authenticate: only token requests skip it
    app.register_blueprint(bp)
    app.register_blueprint(account_bp)
    app.cli.add_command(api_token_group)
    app.cli.add_command(follow_command)
