"""Bringing an installation to a usable state (``portal init``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, select

from .. import search
from ..exchange import FileProblem
from ..extensions import db
from ..models import Item, User
from .items import SYSTEM
from .library import create_user, import_library, load_municipalities


@dataclass
class InitReport:
    municipalities: int = 0
    imported: int | None = None  # None: the database already had items
    problems: list[FileProblem] = field(default_factory=list)
    admin_email: str | None = None
    admin_password: str | None = None  # set only when the admin was created now
    index_rebuilt: bool = False
    changes_applied: int = 0


def upgrade_database() -> None:
    """Bring the schema to the newest Alembic migration."""
    from flask_migrate import upgrade

    from .. import MIGRATIONS_DIR

    upgrade(directory=MIGRATIONS_DIR, revision="heads")


def initialise(load_content: bool = True, admin_email: str | None = None) -> InitReport:
    """Idempotent set-up: schema, municipalities, the starter library (only
    when there are no items), a first admin with a random password (only when
    there is no admin), and a usable search index."""
    report = InitReport()
    upgrade_database()
    report.municipalities = load_municipalities()
    if load_content and not db.session.scalar(select(func.count(Item.id))):
        result = import_library(SYSTEM, current_app.config["CONTENT_DIR"])
        report.imported, report.problems = len(result.created), result.problems
    if not db.session.scalar(select(func.count(User.id)).where(User.role == "admin")):
        email = admin_email or os.environ.get("PORTAL_ADMIN_EMAIL", "admin@example.org")
        _user, password = create_user(SYSTEM, email, "admin", name="Beheerder")
        report.admin_email, report.admin_password = email, password
    report.index_rebuilt = search.ensure_index()
    if not report.index_rebuilt:
        report.changes_applied = search.catch_up()
    return report
