"""Configuration: defaults, then ``PORTAL_*`` environment variables, then an
explicit mapping passed to ``create_app``. Nothing is read at import time.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

#: Environment variables the portal reads, with the config key each fills.
ENV_KEYS = {
    "PORTAL_DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "PORTAL_INDEX_DIR": "INDEX_DIR",
    "PORTAL_SECRET_KEY": "SECRET_KEY",
    "PORTAL_CONTENT_DIR": "CONTENT_DIR",
    "PORTAL_BASE_URL": "BASE_URL",
    "PORTAL_SYNONYMS_FILE": "SYNONYMS_FILE",
    "PORTAL_ENV": "ENV",
    "PORTAL_PROXY_COUNT": "PROXY_COUNT",
    "PORTAL_LOG_LEVEL": "LOG_LEVEL",
    "PORTAL_RATELIMIT_STORAGE_URI": "RATELIMIT_STORAGE_URI",
    # e-mail outbox (``portal send-mail``); without a host nothing is sent
    "PORTAL_SMTP_HOST": "SMTP_HOST",
    "PORTAL_SMTP_PORT": "SMTP_PORT",
    "PORTAL_SMTP_USER": "SMTP_USER",
    "PORTAL_SMTP_PASSWORD": "SMTP_PASSWORD",
    "PORTAL_SMTP_STARTTLS": "SMTP_STARTTLS",
    "PORTAL_MAIL_FROM": "MAIL_FROM",
    "PORTAL_ATTACHMENTS_DIR": "ATTACHMENTS_DIR",
    "PORTAL_SEARCH_CACHE_MB": "SEARCH_CACHE_MB",
}

#: Secret keys that must never run in production (examples from docs and tests).
DEVELOPMENT_KEYS = {"dev", "development", "secret", "changeme", "test-secret-key-not-for-production"}
MIN_SECRET_LENGTH = 32


class InsecureConfiguration(RuntimeError):
    """Start-up refused: the configuration is not safe for production."""


def check_production(config) -> None:
    """Refuse to start in production (``PORTAL_ENV=production``) without a
    fixed, strong secret key from the environment, or with debug on.
    Raises ``InsecureConfiguration`` (a Dutch message). ``CHECK_PRODUCTION``
    False skips the check: only for ``portal check-deploy``, which reports
    these problems and more itself."""
    if config.get("ENV") != "production" or config.get("CHECK_PRODUCTION") is False:
        return
    key = config.get("SECRET_KEY") or ""
    if not config.get("SECRET_KEY_FROM_ENV"):
        raise InsecureConfiguration("PORTAL_SECRET_KEY ontbreekt: in productie is een vaste geheime sleutel nodig, dezelfde voor elke worker.")
    if key in DEVELOPMENT_KEYS or len(key) < MIN_SECRET_LENGTH:
        raise InsecureConfiguration(f"PORTAL_SECRET_KEY is een ontwikkelsleutel of korter dan {MIN_SECRET_LENGTH} tekens.")
    if config.get("DEBUG"):
        raise InsecureConfiguration("Debug staat aan; in productie moet die uit.")

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def defaults(instance_path: str) -> dict:
    """Return the default settings for an app whose instance folder is
    ``instance_path`` (a directory that may not exist yet)."""
    return {
        "SQLALCHEMY_DATABASE_URI": "sqlite:///" + os.path.join(instance_path, "portal.sqlite3"),
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        "INDEX_DIR": str(PROJECT_ROOT / "search_index"),
        "CONTENT_DIR": str(PROJECT_ROOT / "content"),
        "SYNONYMS_FILE": None,
        "BASE_URL": "",
        "SEARCH_PER_PAGE": 10,
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "BABEL_DEFAULT_LOCALE": "nl",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Amsterdam",
        "LANGUAGES": ("nl", "en"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "MAX_CONTENT_LENGTH": 12 * 1024 * 1024,
        "ENV": "development",
        "PROXY_COUNT": 0,
        # decoded search postings kept per worker process (portal.search.dense)
        "SEARCH_CACHE_MB": 256,
        "LOG_JSON": True,
        "LOG_LEVEL": "INFO",
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_HEADERS_ENABLED": False,
        #: failed logins per client address before 429 (Flask-Limiter syntax)
        "LOGIN_FAILURE_LIMIT": "30 per minute;300 per hour",
        #: admins and privacy officers must set up TOTP (PORTAL_REQUIRE_TOTP_FOR_ADMINS)
        "REQUIRE_TOTP_FOR_ADMINS": True,
        #: OpenID Connect tenants allowed to log users in (see ``oidc_tenants``)
        "OIDC_TENANTS": {},
    }


_FALSE = ("0", "false", "no", "off", "")
#: fields of one OpenID Connect tenant, each ``PORTAL_OIDC_<KEY>_<FIELD>``
OIDC_FIELDS = ("NAME", "ISSUER", "DISCOVERY_URL", "CLIENT_ID", "CLIENT_SECRET", "MUNICIPALITY")
_TENANT_KEY = re.compile(r"[a-z0-9]{1,40}")


def oidc_tenants(environ) -> dict[str, dict[str, str]]:
    """The allow-list of OpenID Connect tenants (municipalities' identity
    providers) from the environment: ``PORTAL_OIDC_TENANTS=delft,utrecht``
    and per key ``PORTAL_OIDC_DELFT_NAME`` (button text), ``_ISSUER``
    (exact ``iss``), ``_DISCOVERY_URL`` (``.../.well-known/openid-configuration``),
    ``_CLIENT_ID``, ``_CLIENT_SECRET`` and ``_MUNICIPALITY`` (CBS code such
    as ``GM0503``). Returns ``{key: {"name", "issuer", "discovery_url",
    "client_id", "client_secret", "municipality"}}``. Raises ``ValueError``
    naming the variable for a bad key or a missing field."""
    out: dict[str, dict[str, str]] = {}
    for key in (k.strip().lower() for k in (environ.get("PORTAL_OIDC_TENANTS") or "").split(",")):
        if not key:
            continue
        if not _TENANT_KEY.fullmatch(key):
            raise ValueError(f"PORTAL_OIDC_TENANTS: '{key}' is not a key of 1-40 letters a-z and digits")
        tenant = {}
        for field in OIDC_FIELDS:
            name = f"PORTAL_OIDC_{key.upper()}_{field}"
            value = (environ.get(name) or "").strip()
            if not value:
                raise ValueError(f"{name} is missing (tenant '{key}' of PORTAL_OIDC_TENANTS)")
            tenant[field.lower()] = value
        out[key] = tenant
    return out


def from_environment(environ: os._Environ | dict | None = None) -> dict:
    """Return the settings given by ``PORTAL_*`` variables in ``environ``."""
    environ = os.environ if environ is None else environ
    out = {key: environ[name] for name, key in ENV_KEYS.items() if environ.get(name)}
    if "SECRET_KEY" in out:
        out["SECRET_KEY_FROM_ENV"] = True
    if "PROXY_COUNT" in out:
        out["PROXY_COUNT"] = int(out["PROXY_COUNT"])
    if "SEARCH_CACHE_MB" in out:
        value = out["SEARCH_CACHE_MB"].strip()
        if not value.isdigit():
            raise ValueError(f"PORTAL_SEARCH_CACHE_MB: '{value}' is not a whole number of megabytes (0 or more)")
        out["SEARCH_CACHE_MB"] = int(value)
    if environ.get("PORTAL_REQUIRE_TOTP_FOR_ADMINS") is not None:
        out["REQUIRE_TOTP_FOR_ADMINS"] = environ["PORTAL_REQUIRE_TOTP_FOR_ADMINS"].strip().lower() not in _FALSE
    tenants = oidc_tenants(environ)
    if tenants:
        out["OIDC_TENANTS"] = tenants
    if (environ.get("PORTAL_TRUSTED_HOSTS") or "").strip():
        out["TRUSTED_HOSTS"] = [h.strip().lower() for h in environ["PORTAL_TRUSTED_HOSTS"].split(",") if h.strip()]
    return out


def trusted_hosts(config) -> list[str] | None:
    """The host names this portal answers to (Flask's ``TRUSTED_HOSTS``; a
    request for any other ``Host`` gets 400): ``PORTAL_TRUSTED_HOSTS``
    (comma-separated) when given, else in production the host of
    ``PORTAL_BASE_URL``, else ``None`` (any host, for development). A forged
    ``Host`` header then cannot reach feeds, the API, calendar files or any
    page that builds absolute links from the request (OWASP ASVS 5.0 V13)."""
    if config.get("TRUSTED_HOSTS"):
        return list(config["TRUSTED_HOSTS"])
    if config.get("ENV") == "production" and config.get("BASE_URL"):
        from urllib.parse import urlsplit

        host = urlsplit(str(config["BASE_URL"])).hostname
        return [host] if host else None
    return None


def instance_secret_key(instance_path: str) -> str:
    """Return the secret key kept in ``<instance>/secret_key``, creating it once.

    A fixed key per installation keeps sessions and CSRF tokens valid across
    gunicorn workers and restarts; a random key per process would break both.
    """
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: when two workers start at once, one writes and the other reads.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
