"""Unbound extension objects, bound to an app in ``create_app``."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
def _client_key() -> str:
    """The client address (as ProxyFix reports it behind a proxy), per
    installation: several apps in one process (tests) keep separate counts."""
    from flask import current_app

    return f"{current_app.instance_path}|{get_remote_address()}"


# Storage from RATELIMIT_STORAGE_URI (memory:// per worker by default, redis:// shared).
limiter = Limiter(key_func=_client_key)
