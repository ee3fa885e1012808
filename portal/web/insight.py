"""The curators' insight page (issue #9): what the library holds, where
contributions come from, and what people search for and do not find, as
server-rendered SVG charts, each with the same figures in a table."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from ..services import insight as insight_service

bp = Blueprint("insight", __name__)


@bp.route("/inzicht")
@login_required
def dashboard():
    """Curators and admins only (403 for other members, via ``PermissionDenied``)."""
    report = insight_service.insight_report(current_user)
    return render_template(
        "insight/dashboard.html", report=report, map_classes=insight_service.MAP_CLASSES,
        map_credit=insight_service.MAP_CREDIT, pairs=_pairs, week_rows=_week_rows,
    ), 200, {"Cache-Control": "private, no-store"}


def _pairs(rows) -> list[tuple[str, int]]:
    """``[(key, label, {"total": n, ...})]`` -> ``[(label, n)]`` for a bar chart."""
    return [(label, counts["total"]) for _key, label, counts in rows]


def _week_rows(weeks) -> list[tuple[str, int]]:
    """``[(monday, n)]`` -> ``[("dd-mm", n)]`` for the column chart."""
    return [(monday.strftime("%d-%m"), n) for monday, n in weeks]
