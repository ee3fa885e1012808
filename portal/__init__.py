"""The portal: where Dutch municipalities share practices, lessons learned
and the key figures who make them work.

``create_app(config=None)`` builds the app: configuration (defaults, then
``PORTAL_*`` environment variables, then ``config``), extensions, blueprints,
error handlers and the ``portal`` command line.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask, render_template, request
from flask_babel import get_locale

from . import config as config_module
from .errors import PortalError
from .extensions import babel, csrf, db, limiter, login_manager, migrate

MIGRATIONS_DIR = os.path.join(os.path.dirname(__file__), "migrations")
#: Only this site's own scripts, styles and images; no framing; forms post here only.
CSP = ("default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build a configured Flask app. ``config`` overrides everything else."""
    instance_path = (config or {}).get("INSTANCE_PATH") or os.environ.get("PORTAL_INSTANCE_PATH")
    app = Flask(__name__, instance_path=instance_path or None, instance_relative_config=True)
    app.config.update(config_module.defaults(app.instance_path))
    app.config.update(config_module.from_environment())
    app.config.update(config or {})
    os.makedirs(app.instance_path, exist_ok=True)
    if (config or {}).get("SECRET_KEY"):
        app.config["SECRET_KEY_FROM_ENV"] = True
    config_module.check_production(app.config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = config_module.instance_secret_key(app.instance_path)
    if app.config["ENV"] == "production":
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
    app.config["TRUSTED_HOSTS"] = config_module.trusted_hosts(app.config)
    if int(app.config.get("PROXY_COUNT") or 0) > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_prefix=n)
    _configure_engine(app)
    from . import logs

    logs.configure(app)

    from .database import init_session_events

    init_session_events()
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    csrf.init_app(app)
    # Flask-Limiter keeps ``enabled`` on its one module-level object and takes
    # it as the default for the next app: say it per app, so an app built with
    # RATELIMIT_ENABLED=False (a test) never switches limits off for others.
    app.config.setdefault("RATELIMIT_ENABLED", True)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    from flask_babel import lazy_gettext

    login_manager.login_message = lazy_gettext("Log in om deze pagina te zien.")
    login_manager.localize_callback = str  # the lazy message, translated when flashed (a session holds str only)
    login_manager.login_message_category = "info"

    from .web.paging import init_app as init_paging

    init_paging(app)  # bounded <int:...> in every route; before the blueprints
    from .auth import bp as auth_bp
    from .web import bp as web_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(web_bp)
    from .network import bp as network_bp

    app.register_blueprint(network_bp)
    from .web.people import bp as people_bp

    app.register_blueprint(people_bp)
    from .web.curation import bp as curation_bp

    app.register_blueprint(curation_bp)
    from .web.guide import bp as guide_bp
    from .web.insight import bp as insight_bp

    app.register_blueprint(insight_bp)
    app.register_blueprint(guide_bp)
    from .api import init_app as init_api
    from .web.feeds import bp as feeds_bp

    init_api(app)
    app.register_blueprint(feeds_bp)
    from .web.statement import bp as statement_bp

    app.register_blueprint(statement_bp)
    from .web.collections import bp as collections_bp

    app.register_blueprint(collections_bp)
    from .web.resume import bp as resume_bp

    app.register_blueprint(resume_bp)
    from .web.follows import bp as follows_bp; app.register_blueprint(follows_bp)  # noqa: E702  issue #9 follows
    from .signup import bp as signup_bp; app.register_blueprint(signup_bp)  # noqa: E702  issue #9
    from .web.language import bp as language_bp

    app.register_blueprint(language_bp)
    from .web.public import register as register_public_gate

    register_public_gate(app)
    register_error_handlers(app)

    from .web.filters import register as register_filters

    register_filters(app)

    from .cli import register_commands

    register_commands(app)
    return app


def _configure_engine(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://"):  # Heroku-style URLs
        uri = app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + uri[len("postgres://"):]
    elif uri.startswith("postgresql://"):
        uri = app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + uri[len("postgresql://"):]
    if uri.startswith("sqlite"):
        opts = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        opts.setdefault("connect_args", {}).update({"timeout": 30})
        if uri.startswith("sqlite:///"):
            os.makedirs(os.path.dirname(uri[len("sqlite:///"):]) or ".", exist_ok=True)


def _select_locale():
    """Dutch unless the visitor chose English with the header's switch
    (cookie; see ``portal.web.language``)."""
    from .web.language import select_locale

    return select_locale()


def _retry_after_seconds(exc: Exception) -> int:
    """Seconds until the rate limit that refused this request lets it through
    again (at least 1): from Flask-Limiter's breached limit of the request,
    else the limit's whole window, else 60."""
    import math
    import time

    from .extensions import limiter

    try:
        current = limiter.current_limit
        if current is not None and current.breached:
            window = int(current.limit.get_expiry())
            return max(1, min(window, math.ceil(current.reset_at - time.time())))
    except Exception:  # storage unreachable: fall back to the window
        logging.getLogger("portal").warning("could not read the rate-limit window")
    item = getattr(getattr(exc, "limit", None), "limit", None)
    if item is not None:
        return max(1, int(item.get_expiry()))
    return 60


def _wait_in_words(seconds: int) -> str:
    """Dutch: 1 -> 'ongeveer 1 seconde', 45 -> 'ongeveer 45 seconden',
    61 -> 'ongeveer 2 minuten' (minutes rounded up); in the interface language."""
    from flask_babel import ngettext

    if seconds < 60:
        return ngettext("ongeveer %(num)d seconde", "ongeveer %(num)d seconden", seconds)
    minutes = -(-seconds // 60)
    return ngettext("ongeveer %(num)d minuut", "ongeveer %(num)d minuten", minutes)


def register_error_handlers(app: Flask) -> None:
    """Map domain errors and HTTP errors to Dutch pages, once, for every view.
    Never shows a traceback, SQL or configuration."""
    from werkzeug.exceptions import HTTPException

    from flask_babel import gettext as _
    from flask_babel import lazy_gettext as _l

    titles = {
        400: _l("Ongeldige invoer"), 403: _l("Geen toegang"), 404: _l("Niet gevonden"),
        405: _l("Niet toegestaan"), 409: _l("Conflict"), 413: _l("Bestand te groot"),
        429: _l("Te veel verzoeken"), 500: _l("Er ging iets mis"),
    }

    def render(status: int, message: str, **extra: Any):
        from .api import json_error, wants_json

        if wants_json():  # the API answers in JSON, also for routing errors
            return json_error(status, str(message), **extra)
        return render_template("errors/error.html", status=status, title=titles.get(status, _("Fout")),
                               message=message, **extra), status

    @app.errorhandler(PortalError)
    def portal_error(exc: PortalError):
        return render(exc.status, exc.message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        from flask_wtf.csrf import CSRFError

        if isinstance(exc, CSRFError):
            from .web.resume import keep_form_after_csrf_failure

            kept = keep_form_after_csrf_failure()  # the item form, posted after the session was gone (issue #4)
            if kept is not None:
                return kept
            return render(400, _("Het formulier is verlopen of ongeldig. Laad de pagina opnieuw en probeer het nog eens."))
        from werkzeug.exceptions import SecurityError

        if isinstance(exc, SecurityError):
            # A Host outside TRUSTED_HOSTS: no URL adapter exists, so no page
            # with links can be built; a short plain answer that echoes nothing.
            return app.response_class("400 Onbekende host / Unknown host\n", status=400, mimetype="text/plain")
        messages = {
            400: _l("Het verzoek klopt niet. Controleer wat u hebt ingevuld en probeer het opnieuw."),
            403: _l("U hebt geen toegang tot deze pagina. Denkt u dat dit niet klopt? Neem contact op met de beheerder."),
            404: _l("Deze pagina bestaat niet (meer), of u mag haar niet zien."),
            429: _l("U hebt te veel verzoeken achter elkaar gedaan. Wacht even en probeer het opnieuw."),
            405: _l("Deze handeling kan op deze manier niet."),
            413: _l("Het bestand is te groot."),
        }
        return render(exc.code or 500, messages.get(exc.code, _l("Dit verzoek kon niet worden uitgevoerd.")))

    @app.errorhandler(429)
    def too_many_requests(exc: HTTPException):
        """429 from Flask-Limiter (login, change password, API keys, the API):
        says how long to wait, in words and in ``Retry-After`` (seconds)."""
        seconds = _retry_after_seconds(exc)
        wait = _wait_in_words(seconds)
        if request.endpoint in ("auth.login", "auth.change_password", "api_account.tokens"):
            message = _("Er zijn vanaf uw netwerkadres te veel mislukte pogingen gedaan. Wacht %(wait)s "
                        "en probeer het dan opnieuw.", wait=wait)
        else:
            message = _("U hebt te veel verzoeken achter elkaar gedaan. Wacht %(wait)s en probeer het dan opnieuw.",
                        wait=wait)
        response = app.make_response(render(429, message, retry_after=seconds))
        response.status_code = 429
        response.headers["Retry-After"] = str(seconds)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        from flask import g

        logging.getLogger("portal").exception("unexpected error on %s", request.path)
        db.session.rollback()
        message = _("Er ging iets mis aan onze kant. Probeer het later opnieuw.")
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            message += " " + _("Wat u net verstuurde, is niet opgeslagen.")
        return render(500, message, request_id=getattr(g, "request_id", None))

    @app.after_request
    def security_headers(response):
        """Every response: no framing, no MIME sniffing, a strict referrer
        policy and a CSP without inline script or outside sources; pages for
        a logged-in user (they may hold profiles) are never stored by caches."""
        from flask_login import current_user

        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if app.config.get("ENV") == "production":
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if current_user and getattr(current_user, "is_authenticated", False):
            response.headers["Cache-Control"] = "private, no-store"
        return response

    @app.context_processor
    def inject():
        return {"current_locale": str(get_locale() or "nl")}
