"""The accessibility statement (toegankelijkheidsverklaring, issue #8): a
static page in the format of the Dutch government's model statement
(digitoegankelijk.nl), linked from every page's footer."""

from __future__ import annotations

import os
from datetime import date

from flask import Blueprint, current_app, render_template
from flask_babel import format_date

bp = Blueprint("statement", __name__)

#: When the statement was last checked against the site (shown on the page).
STATEMENT_DATE = date(2026, 11, 29)  # shown in the interface language


@bp.route("/toegankelijkheid")
def accessibility():
    """The accessibility statement; public, the same for everyone. The contact
    address for accessibility problems is ``ACCESSIBILITY_CONTACT`` in the
    configuration or ``PORTAL_ACCESSIBILITY_CONTACT`` in the environment (an
    e-mail address); without one the page names the route through the
    municipality's coordinator."""
    contact = (current_app.config.get("ACCESSIBILITY_CONTACT")
               or os.environ.get("PORTAL_ACCESSIBILITY_CONTACT") or "").strip()
    return render_template("web/accessibility.html", statement_date=format_date(STATEMENT_DATE, "long"), contact=contact)
