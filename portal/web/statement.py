"""The accessibility statement (toegankelijkheidsverklaring, issue #8): a
static page in the format of the Dutch government's model statement
(digitoegankelijk.nl), linked from every page's footer."""

from __future__ import annotations

import os

from flask import Blueprint, current_app, render_template

bp = Blueprint("statement", __name__)

#: When the statement was last checked against the site (shown on the page).
STATEMENT_DATE = "29 november 2026"


@bp.route("/toegankelijkheid")
def accessibility():
    """The accessibility statement; public, the same for everyone. The contact
    address for accessibility problems is ``ACCESSIBILITY_CONTACT`` in the
    configuration or ``PORTAL_ACCESSIBILITY_CONTACT`` in the environment (an
    e-mail address); without one the page names the route through the
    municipality's coordinator."""
    contact = (current_app.config.get("ACCESSIBILITY_CONTACT")
               or os.environ.get("PORTAL_ACCESSIBILITY_CONTACT") or "").strip()
    return render_template("web/accessibility.html", statement_date=STATEMENT_DATE, contact=contact)
